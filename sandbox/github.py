"""GitHub's REST API as a well-run repository answers it, unless one prerequisite is set to fail."""

from __future__ import annotations

import hashlib

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from runbook.config import UnknownName
from sandbox.recorder import Recorder, now_iso
from sandbox.web import json_response

MERGED_PR = 42
REVIEWER = "bob"
CHECKS = ("build", "unit-tests", "integration-tests")
GITHUB_FAILURES = ["ci", "review", "release_notes"]


class GitHubFake:
    """Answers as a well-run repository would, unless one prerequisite is set to fail."""

    def __init__(self) -> None:
        self.failing: str | None = None

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
        return [Rule(path, endpoint=recorder.recorded("github", handler), methods=["GET"]) for path, handler in routes]

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


def _github_not_found() -> Response:
    return json_response({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, 404)
