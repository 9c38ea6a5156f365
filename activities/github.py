"""GitHub REST v3: the release prerequisites the runbook checks before a deployment or a hotfix."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.http import SHORTEST_WAIT, retry_after
from runbook.integrations import Endpoint
from runbook.prerequisites import (
    HOTFIX,
    STANDARD,
    Prerequisite,
    PrerequisiteReport,
    PrerequisiteRequest,
    judge_ci,
    judge_on_main,
    judge_release_notes,
    judge_review,
    no_pull_request,
    unknown_version,
)

API_VERSION = "2022-11-28"
# GitHub's largest page: one request for all but the busiest commits.
_PAGE_SIZE = 100
# GitHub's advice when a secondary limit does not say how long to wait.
_UNTOLD_RATE_LIMIT_WAIT = 60.0
# A primary limit resets hourly; the workflow should rather try again than sleep that long unseen.
_LONGEST_RATE_LIMIT_WAIT = timedelta(minutes=15)
_RATE_LIMIT_STATUSES = {403, 429}
# A version that names no commit: GitHub answers 422 ("No commit found for SHA"), the sandbox 404.
_NO_COMMIT_STATUSES = (404, 422)


class GithubActivities:
    def __init__(self, http: httpx.AsyncClient, endpoint: Endpoint, repository: str) -> None:
        self._http = http
        self._repository = repository
        self._repo_url = f"{endpoint.url.rstrip('/')}/repos/{repository}"
        self._headers = {
            "Authorization": f"Bearer {endpoint.secret.get_secret_value()}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }

    @activity.defn
    async def check_prerequisites(self, request: PrerequisiteRequest) -> PrerequisiteReport:
        sha, release = await asyncio.gather(self._resolve(request.version), self._release(request.version))
        if sha is None:
            return unknown_version(request.version, self._repository, STANDARD)
        ci, review = await asyncio.gather(self._ci(sha), self._review(sha))
        checks = [ci, review, judge_release_notes(release, request.version)]
        return PrerequisiteReport(version=request.version, commit=sha, checks=checks)

    @activity.defn
    async def check_hotfix_ready(self, request: PrerequisiteRequest) -> PrerequisiteReport:
        sha = await self._resolve(request.version)
        if sha is None:
            return unknown_version(request.version, self._repository, HOTFIX)
        # The resolved sha, not the tag, so that what is on main is the very commit whose CI is judged.
        compare, ci = await asyncio.gather(self._json(f"/compare/{request.ref}...{sha}"), self._ci(sha))
        return PrerequisiteReport(
            version=request.version, commit=sha, checks=[judge_on_main(compare, request.version, request.ref), ci]
        )

    async def _resolve(self, version: str) -> str | None:
        response = await self._get(self._url(f"/commits/{version}"), allow=_NO_COMMIT_STATUSES)
        return None if response.status_code in _NO_COMMIT_STATUSES else str(response.json()["sha"])

    async def _release(self, version: str) -> dict[str, Any] | None:
        response = await self._get(self._url(f"/releases/tags/{version}"), allow=(404,))
        return None if response.status_code == 404 else response.json()

    async def _ci(self, sha: str) -> Prerequisite:
        combined, runs = await asyncio.gather(
            self._json(f"/commits/{sha}/status", per_page=_PAGE_SIZE),
            self._all_pages(f"/commits/{sha}/check-runs", key="check_runs"),
        )
        return judge_ci(combined, runs)

    async def _review(self, sha: str) -> Prerequisite:
        pulls = await self._json(f"/commits/{sha}/pulls")
        if not pulls:
            return no_pull_request(sha)
        return judge_review(await self._all_pages(f"/pulls/{pulls[0]['number']}/reviews"))

    def _url(self, path: str) -> str:
        return f"{self._repo_url}{path}"

    async def _json(self, path: str, **params: Any) -> Any:
        return (await self._get(self._url(path), params)).json()

    async def _all_pages(self, path: str, key: str | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        url: str | None = self._url(path)
        params: dict[str, Any] | None = {"per_page": _PAGE_SIZE}
        while url:
            response = await self._get(url, params)
            page = response.json()
            items.extend(page[key] if key else page)
            # The next page's URL carries the query already.
            url, params = response.links.get("next", {}).get("url"), None
        return items

    async def _get(self, url: str, params: dict[str, Any] | None = None, allow: tuple[int, ...] = ()) -> httpx.Response:
        response = await self._http.get(url, params=params, headers=self._headers)
        if response.is_error and response.status_code not in allow:
            raise _failure(response, self._repository, time.time())
        return response


def _failure(response: httpx.Response, repository: str, now: float) -> ApplicationError:
    status = response.status_code
    where = f"GET {response.request.url.path}"
    message = _message(response)
    wait = _rate_limit_wait(response, message, now)
    if wait is not None:
        return ApplicationError(
            f"GitHub rate limit reached ({status} to {where}); trying again in {wait.total_seconds():.0f} s",
            type="GithubRateLimited",
            next_retry_delay=wait,
        )
    if status >= 500:
        return ApplicationError(f"GitHub answered {status} to {where}: {message}", type="GithubUnavailable")
    if status == 401:
        return ApplicationError(
            f"GitHub refused the token (401 to {where}): {message}", type="GithubUnauthorized", non_retryable=True
        )
    if status in (403, 404):
        # GitHub answers 404, not 403, for a private repository the token may not read.
        text = (
            f"GitHub answered {status} to {where} ({message}): "
            f"is {repository} the repository, and may the token read it?"
        )
        return ApplicationError(text, type="GithubRepositoryUnreadable", non_retryable=True)
    return ApplicationError(f"GitHub refused {where}: {status} {message}", type="GithubRefused", non_retryable=True)


def _rate_limit_wait(response: httpx.Response, message: str, now: float) -> timedelta | None:
    if response.status_code not in _RATE_LIMIT_STATUSES:
        return None
    headers, told = response.headers, retry_after(response)
    if told is not None:
        seconds = told.total_seconds()
    elif headers.get("x-ratelimit-remaining") == "0":
        reset = headers.get("x-ratelimit-reset")
        seconds = float(reset) - now if reset else _UNTOLD_RATE_LIMIT_WAIT
    elif response.status_code == 429 or "rate limit" in message.lower():
        seconds = _UNTOLD_RATE_LIMIT_WAIT
    else:
        return None
    return min(max(timedelta(seconds=seconds), SHORTEST_WAIT), _LONGEST_RATE_LIMIT_WAIT)


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    return str(body.get("message", "")) if isinstance(body, dict) else response.reason_phrase
