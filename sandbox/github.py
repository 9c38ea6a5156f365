"""GitHub's REST API as a well-run repository answers it, unless one prerequisite is set to fail.

As GitHub does, it refuses a malformed Authorization (401 "Bad credentials") and puts its
rate-limit headers on every answer; an outage of 403 or 429 answers as GitHub's primary rate limit
(x-ratelimit-remaining 0 until x-ratelimit-reset) or, with a Retry-After, its secondary one.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from runbook.config import UnknownName
from sandbox.recorder import Recorder, now_iso
from sandbox.web import Handler, json_response

MERGED_PR = 42
REVIEWER = "bob"
CHECKS = ("build", "unit-tests", "integration-tests")
GITHUB_FAILURES = ["ci", "review", "release_notes"]
# Requests an hour: with a token, and without one (by IP address).
RATE_LIMIT, UNAUTHENTICATED_RATE_LIMIT = 5000, 60
RATE_LIMIT_WINDOW = 3600
RATE_LIMITED = (403, 429)
# The schemes GitHub takes a token in.
TOKEN_SCHEMES = ("Bearer", "token")
RATE_LIMITS_DOCS = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
PRIMARY_LIMIT_MESSAGE = "API rate limit exceeded for user ID 1."
SECONDARY_LIMIT_MESSAGE = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."


@dataclass
class RateBudget:
    """One credential's primary rate limit: its requests in the window ending at `reset`."""

    limit: int
    used: int = 0
    reset: int = 0


class GitHubFake:
    """Answers as a well-run repository would, unless one prerequisite is set to fail."""

    def __init__(self) -> None:
        self.failing: str | None = None
        self._lock = threading.Lock()
        self._budgets: dict[str, RateBudget] = {}

    def rules(self, recorder: Recorder) -> list[Rule]:
        repo = "/github/repos/<owner>/<repo>"
        routes = [
            (f"{repo}/commits/<path:ref>/status", self.combined_status),
            (f"{repo}/commits/<path:ref>/check-runs", self.check_runs),
            (f"{repo}/commits/<path:ref>/pulls", self.pulls),
            (f"{repo}/commits/<path:ref>", self.commit),
            (f"{repo}/pulls", self.pulls),
            (f"{repo}/pulls/<int:number>", self.pull),
            (f"{repo}/pulls/<int:number>/reviews", self.reviews),
            (f"{repo}/releases/tags/<path:tag>", self.release),
            (f"{repo}/compare/<path:spec>", self.compare),
            ("/github/<path:rest>", self.not_found),
        ]
        return [
            Rule(path, endpoint=self._metered(recorder.recorded("github", _authenticated(handler))), methods=["GET"])
            for path, handler in routes
        ]

    def _metered(self, handler: Handler) -> Handler:
        """Every answer, refused ones too, with the rate-limit headers of its caller's budget; a 403 or
        429 (an outage) as GitHub's rate limit: secondary if it says when to retry, else primary."""

        def handle(request: Request, **arguments: object) -> Response:
            response = handler(request, **arguments)
            budget = self._count(request.headers.get("Authorization", ""))
            used, remaining = budget.used, max(budget.limit - budget.used, 0)
            if response.status_code in RATE_LIMITED:
                secondary = "Retry-After" in response.headers
                if not secondary:
                    used, remaining = budget.limit, 0
                message = SECONDARY_LIMIT_MESSAGE if secondary else PRIMARY_LIMIT_MESSAGE
                response.set_data(json.dumps({"message": message, "documentation_url": RATE_LIMITS_DOCS}))
            response.headers.update(
                {
                    "x-ratelimit-limit": str(budget.limit),
                    "x-ratelimit-remaining": str(remaining),
                    "x-ratelimit-used": str(used),
                    "x-ratelimit-reset": str(budget.reset),
                    "x-ratelimit-resource": "core",
                }
            )
            return response

        return handle

    def _count(self, authorization: str) -> RateBudget:
        now = int(time.time())
        with self._lock:
            budget = self._budgets.setdefault(
                authorization, RateBudget(RATE_LIMIT if authorization else UNAUTHENTICATED_RATE_LIMIT)
            )
            if now >= budget.reset:
                budget.used, budget.reset = 0, now + RATE_LIMIT_WINDOW
            budget.used += 1
            return RateBudget(budget.limit, budget.used, budget.reset)

    def set_failing(self, failing: object) -> None:
        if failing is not None and failing not in GITHUB_FAILURES:
            raise UnknownName("failing prerequisite", str(failing), [*GITHUB_FAILURES, "null"])
        self.failing = failing if isinstance(failing, str) else None

    def commit(self, request: Request, owner: str, repo: str, ref: str) -> Response:
        """Every version names a commit of this well-run repository."""
        return json_response({"sha": _sha(ref), "commit": {"message": f"Release {ref}"}})

    def combined_status(self, request: Request, owner: str, repo: str, ref: str) -> Response:
        failed = self.failing == "ci"
        statuses = [
            {"context": f"ci/{name}", "state": "failure" if failed and name == CHECKS[-1] else "success"}
            for name in CHECKS
        ]
        state = "failure" if failed else "success"
        return json_response({"state": state, "sha": _sha(ref), "total_count": len(statuses), "statuses": statuses})

    def check_runs(self, request: Request, owner: str, repo: str, ref: str) -> Response:
        runs = [
            {
                "name": name,
                "head_sha": _sha(ref),
                "status": "completed",
                "conclusion": "failure" if self.failing == "ci" and name == CHECKS[-1] else "success",
            }
            for name in CHECKS
        ]
        return json_response({"total_count": len(runs), "check_runs": runs})

    def pulls(self, request: Request, owner: str, repo: str, ref: str = "") -> Response:
        head = ref or request.args.get("head", "release")
        return json_response([_merged_pull(owner, repo, head)])

    def pull(self, request: Request, owner: str, repo: str, number: int) -> Response:
        return json_response({**_merged_pull(owner, repo, "release"), "number": number})

    def reviews(self, request: Request, owner: str, repo: str, number: int) -> Response:
        state = "COMMENTED" if self.failing == "review" else "APPROVED"
        return json_response([{"id": number * 10 + 1, "state": state, "user": {"login": REVIEWER}}])

    def release(self, request: Request, owner: str, repo: str, tag: str) -> Response:
        if self.failing == "release_notes":
            return _github_not_found()
        body = f"release notes for {tag}: marketplace search fixes, faster payouts, dependency updates."
        return json_response(
            {
                "tag_name": tag,
                "name": tag,
                "body": body,
                "draft": False,
                "prerelease": False,
                "html_url": f"https://github.com/{owner}/{repo}/releases/tag/{tag}",
                "published_at": now_iso(),
            }
        )

    def compare(self, request: Request, owner: str, repo: str, spec: str) -> Response:
        base, separator, head = spec.partition("...")
        if not separator:
            return _github_not_found()
        # "behind" (or "identical"): head is an ancestor of base, that is, the ref is on main.
        identical = base == head
        return json_response(
            {
                "status": "identical" if identical else "behind",
                "ahead_by": 0,
                "behind_by": 0 if identical else 3,
                "base_commit": {"sha": _sha(base)},
                "merge_base_commit": {"sha": _sha(head)},
            }
        )

    def not_found(self, request: Request, rest: str) -> Response:
        return _github_not_found()


def _sha(ref: str) -> str:
    return hashlib.sha1(ref.encode()).hexdigest()


def _merged_pull(owner: str, repo: str, head: str) -> dict[str, object]:
    return {
        "number": MERGED_PR,
        "state": "closed",
        "title": f"Release {head}",
        "merged": True,
        "merged_at": now_iso(),
        "head": {"ref": head, "sha": _sha(head)},
        "base": {"ref": "main"},
        "html_url": f"https://github.com/{owner}/{repo}/pull/{MERGED_PR}",
    }


def _authenticated(handler: Handler) -> Handler:
    """No Authorization is an unauthenticated call, which GitHub serves; a malformed one it refuses."""

    def handle(request: Request, **arguments: object) -> Response:
        authorization = request.headers.get("Authorization")
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme not in TOKEN_SCHEMES or not token or any(c.isspace() for c in token):
                return json_response(
                    {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}, 401
                )
        return handler(request, **arguments)

    return handle


def _github_not_found() -> Response:
    return json_response({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, 404)
