"""The runbook's release prerequisites, judged from what GitHub's REST API answers.

Pure: the requests are in activities/github.py. A standard deployment needs CI passing, a reviewed
and approved change and release notes ("Team notified in #deployments" is Slack's); a hotfix needs
its commit on main with CI green.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator

from runbook import validate
from runbook.base import Model

CI = "ci"
REVIEW = "review"
RELEASE_NOTES = "release_notes"
ON_MAIN = "on_main"

STANDARD = [CI, REVIEW, RELEASE_NOTES]
HOTFIX = [ON_MAIN, CI]

# Neutral and skipped are how a check run says it chose not to gate this commit.
_PASSING_CONCLUSIONS = {"success", "neutral", "skipped"}
_FAILED_STATUSES = {"failure", "error"}
# From `main...tag`: "behind" or "identical" mean every commit of the tag is already on main.
_ON_BASE = {"identical", "behind"}
# A reviewer's later comment neither withdraws an approval nor answers a change request.
_DECISIONS = {"APPROVED", "CHANGES_REQUESTED"}
# GitHub turns a dismissed review's state into this: its author's decision no longer counts.
_DISMISSED = "DISMISSED"


class PrerequisiteRequest(Model):
    # Validated as an image tag, so the version is safe to put in a URL path as it is.
    version: Annotated[str, AfterValidator(validate.version)]
    ref: str = "main"


class Prerequisite(Model):
    name: str
    passed: bool
    detail: str


class PrerequisiteReport(Model):
    version: str
    commit: str = ""
    checks: list[Prerequisite]

    @property
    def failures(self) -> list[Prerequisite]:
        return [check for check in self.checks if not check.passed]

    @property
    def passed(self) -> bool:
        return not self.failures


def judge_ci(combined_status: dict[str, Any], check_runs: list[dict[str, Any]]) -> Prerequisite:
    """Commit statuses (the older API) and check runs (Actions and apps) both count as CI."""
    failing: list[str] = []
    pending: list[str] = []
    statuses = combined_status.get("statuses", [])
    for status in statuses:
        if status.get("state") in _FAILED_STATUSES:
            failing.append(f"{status.get('context')} ({status['state']})")
        elif status.get("state") == "pending":
            pending.append(str(status.get("context")))
    for run in check_runs:
        if run.get("status") != "completed":
            pending.append(f"{run.get('name')} ({run.get('status')})")
        elif run.get("conclusion") not in _PASSING_CONCLUSIONS:
            failing.append(f"{run.get('name')} ({run.get('conclusion')})")
    # GitHub reports "pending" for a commit no status was ever posted to.
    state = combined_status.get("state")
    no_statuses = combined_status.get("total_count", len(statuses)) == 0
    if no_statuses and not check_runs:
        # A commit CI never ran on is unknown, not green.
        return Prerequisite(name=CI, passed=False, detail="no CI reported on this commit: no statuses, no check runs")
    statuses_pass = state == "success" or no_statuses
    if statuses_pass and not failing and not pending:
        return Prerequisite(
            name=CI, passed=True, detail=f"{len(check_runs)} check runs and {len(statuses)} statuses passed"
        )
    parts = [f"{label}: {', '.join(names)}" for label, names in (("failing", failing), ("pending", pending)) if names]
    # The combined state covers every status, also those beyond the page GitHub listed.
    return Prerequisite(name=CI, passed=False, detail="; ".join(parts) or f"combined commit status {state}")


def judge_review(reviews: list[dict[str, Any]]) -> Prerequisite:
    """GitHub's merge rule: each reviewer's latest approval or change request stands, a dismissal
    withdraws it, and one change request blocks every approval. Reviews come oldest first."""
    decisions: dict[str, str] = {}
    reviewers: list[str] = []
    for review in reviews:
        login = _login(review)
        if login not in reviewers:
            reviewers.append(login)
        if review.get("state") in _DECISIONS:
            decisions[login] = review["state"]
        elif review.get("state") == _DISMISSED:
            decisions.pop(login, None)
    approvers = [login for login in reviewers if decisions.get(login) == "APPROVED"]
    requested = [login for login in reviewers if decisions.get(login) == "CHANGES_REQUESTED"]
    if approvers and not requested:
        return Prerequisite(name=REVIEW, passed=True, detail=f"approved by {', '.join(approvers)}")
    if not reviews:
        return Prerequisite(name=REVIEW, passed=False, detail="no reviews")
    undecided = [login for login in reviewers if login not in decisions]
    parts = [
        f"{label} {', '.join(logins)}"
        for label, logins in (
            ("changes requested by", requested),
            ("approved by", approvers),
            ("no decision from", undecided),
        )
        if logins
    ]
    return Prerequisite(name=REVIEW, passed=False, detail=f"not approved: {'; '.join(parts)}")


def no_pull_request(sha: str) -> Prerequisite:
    return Prerequisite(
        name=REVIEW, passed=False, detail=f"no pull request brought commit {sha[:12]}, so nothing was reviewed"
    )


def judge_release_notes(release: dict[str, Any] | None, version: str) -> Prerequisite:
    """`release` is GitHub's release for the tag, None when it has none."""
    if release is None:
        return Prerequisite(name=RELEASE_NOTES, passed=False, detail=f"no release notes for {version}")
    if not (release.get("body") or "").strip():
        return Prerequisite(
            name=RELEASE_NOTES, passed=False, detail=f"the release for {version} has an empty description"
        )
    where = f" at {release['html_url']}" if release.get("html_url") else ""
    return Prerequisite(name=RELEASE_NOTES, passed=True, detail=f"release notes for {version}{where}")


def judge_on_main(compare: dict[str, Any], version: str, branch: str = "main") -> Prerequisite:
    """`compare` is GitHub's comparison `{branch}...{the version's commit}`."""
    status = compare.get("status")
    if status in _ON_BASE:
        return Prerequisite(name=ON_MAIN, passed=True, detail=f"{version} is on {branch}")
    detail = f"{version} is not on {branch}: {branch} lacks {compare.get('ahead_by', '?')} of its commits ({status})"
    return Prerequisite(name=ON_MAIN, passed=False, detail=detail)


def unknown_version(version: str, repository: str, names: list[str]) -> PrerequisiteReport:
    # The repository is named because a wrong one in runbook.toml looks exactly like this.
    detail = f"no commit for version {version} in {repository}"
    return PrerequisiteReport(
        version=version, checks=[Prerequisite(name=name, passed=False, detail=detail) for name in names]
    )


def _login(review: dict[str, Any]) -> str:
    # A deleted account's reviews come back with no user; GitHub shows them as "ghost".
    return str((review.get("user") or {}).get("login", "ghost"))
