"""Judging each release prerequisite from the JSON GitHub answers."""

import pytest
from pydantic import ValidationError

from runbook.prerequisites import (
    Prerequisite,
    PrerequisiteReport,
    PrerequisiteRequest,
    judge_ci,
    judge_on_main,
    judge_release_notes,
    judge_review,
    unknown_version,
)

GREEN = {"state": "success", "total_count": 1, "statuses": [{"context": "ci/build", "state": "success"}]}
NO_STATUSES = {"state": "pending", "total_count": 0, "statuses": []}


def run(name: str, conclusion: str | None = "success", status: str = "completed") -> dict:
    return {"name": name, "status": status, "conclusion": conclusion}


def review(login: str, state: str) -> dict:
    return {"state": state, "user": {"login": login}}


def test_ci_passes_on_green_statuses_and_runs_that_succeeded_or_chose_not_to_gate():
    verdict = judge_ci(GREEN, [run("build"), run("docs", "skipped"), run("lint", "neutral")])
    assert verdict == Prerequisite(name="ci", passed=True, detail="3 check runs and 1 statuses passed")


def test_ci_passes_with_check_runs_alone_though_github_calls_no_statuses_pending():
    assert judge_ci(NO_STATUSES, [run("build")]).passed


def test_a_commit_no_ci_reported_on_fails_ci():
    assert judge_ci(NO_STATUSES, []) == Prerequisite(
        name="ci", passed=False, detail="no CI reported on this commit: no statuses, no check runs"
    )


def test_ci_names_every_failing_and_pending_check():
    combined = {
        "state": "failure",
        "total_count": 2,
        "statuses": [{"context": "ci/e2e", "state": "error"}, {"context": "deploy/preview", "state": "pending"}],
    }
    runs = [run("build"), run("unit-tests", "failure"), run("flaky", "cancelled"), run("slow", None, "queued")]
    verdict = judge_ci(combined, runs)
    assert not verdict.passed
    assert (
        verdict.detail
        == "failing: ci/e2e (error), unit-tests (failure), flaky (cancelled); pending: deploy/preview, slow (queued)"
    )


def test_ci_fails_on_the_combined_state_when_the_failing_status_is_beyond_the_listed_page():
    verdict = judge_ci(
        {"state": "failure", "total_count": 150, "statuses": [{"context": "ci/build", "state": "success"}]}, []
    )
    assert (verdict.passed, verdict.detail) == (False, "combined commit status failure")


def test_an_approval_is_named():
    assert (
        judge_review([review("carol", "COMMENTED"), review("bob", "APPROVED"), review("alice", "APPROVED")]).detail
        == "approved by bob, alice"
    )


def test_changes_requested_after_an_approval_withdraw_it():
    verdict = judge_review([review("bob", "APPROVED"), review("bob", "CHANGES_REQUESTED"), review("bob", "COMMENTED")])
    assert (verdict.passed, verdict.detail) == (False, "not approved: changes requested by bob")


def test_an_approval_after_changes_requested_stands_and_a_later_comment_keeps_it():
    assert judge_review(
        [review("bob", "CHANGES_REQUESTED"), review("bob", "APPROVED"), review("bob", "COMMENTED")]
    ).passed


def test_comments_and_dismissed_reviews_are_no_approval():
    verdict = judge_review(
        [review("bob", "COMMENTED"), review("carol", "DISMISSED"), review("dave", "CHANGES_REQUESTED")]
    )
    assert (verdict.passed, verdict.detail) == (
        False,
        "not approved: changes requested by dave; no decision from bob, carol",
    )


def test_one_reviewers_change_request_blocks_anothers_approval():
    verdict = judge_review(
        [review("dave", "CHANGES_REQUESTED"), review("bob", "APPROVED"), review("dave", "COMMENTED")]
    )
    assert (verdict.passed, verdict.detail) == (False, "not approved: changes requested by dave; approved by bob")


def test_a_dismissed_review_withdraws_its_authors_decision():
    assert judge_review([review("dave", "DISMISSED"), review("bob", "APPROVED")]).passed
    verdict = judge_review([review("bob", "APPROVED"), review("bob", "DISMISSED"), review("bob", "COMMENTED")])
    assert (verdict.passed, verdict.detail) == (False, "not approved: no decision from bob")


def test_no_reviews_and_a_deleted_reviewer():
    assert judge_review([]) == Prerequisite(name="review", passed=False, detail="no reviews")
    assert judge_review([{"state": "APPROVED", "user": None}]).detail == "approved by ghost"


def test_release_notes_need_a_release_with_a_description():
    assert judge_release_notes(None, "v1.2.0") == Prerequisite(
        name="release_notes", passed=False, detail="no release notes for v1.2.0"
    )
    assert judge_release_notes({"body": "  \n"}, "v1.2.0").detail == "the release for v1.2.0 has an empty description"
    assert judge_release_notes({"body": None}, "v1.2.0").passed is False
    notes = judge_release_notes(
        {"body": "Faster payouts.", "html_url": "https://github.com/o/r/releases/tag/v1.2.0"}, "v1.2.0"
    )
    assert (notes.passed, notes.detail) == (
        True,
        "release notes for v1.2.0 at https://github.com/o/r/releases/tag/v1.2.0",
    )


@pytest.mark.parametrize(
    ("status", "passed"), [("identical", True), ("behind", True), ("ahead", False), ("diverged", False)]
)
def test_a_version_is_on_main_when_main_already_has_all_its_commits(status, passed):
    assert judge_on_main({"status": status, "ahead_by": 0 if passed else 2}, "v1.2.1").passed is passed


def test_a_version_off_main_says_how_many_commits_are_missing():
    verdict = judge_on_main({"status": "ahead", "ahead_by": 2, "behind_by": 0}, "v1.2.1", "release")
    assert verdict.detail == "v1.2.1 is not on release: release lacks 2 of its commits (ahead)"


def test_a_report_passes_only_when_every_prerequisite_does():
    ok, bad = (
        Prerequisite(name="ci", passed=True, detail=""),
        Prerequisite(name="review", passed=False, detail="no reviews"),
    )
    assert PrerequisiteReport(version="v1", checks=[ok]).passed
    report = PrerequisiteReport(version="v1", checks=[ok, bad])
    assert not report.passed and report.failures == [bad]


def test_an_unknown_version_fails_every_prerequisite_asked_for():
    report = unknown_version("v9.9.9", "skillancer/platform", ["on_main", "ci"])
    assert report.commit == "" and [(check.name, check.passed) for check in report.checks] == [
        ("on_main", False),
        ("ci", False),
    ]
    assert report.checks[0].detail == "no commit for version v9.9.9 in skillancer/platform"


@pytest.mark.parametrize("version", ["", "../../admin", "v1.2.0?x=1", "v1 2"])
def test_a_version_that_is_no_tag_is_refused(version):
    with pytest.raises(ValidationError):
        PrerequisiteRequest(version=version)
