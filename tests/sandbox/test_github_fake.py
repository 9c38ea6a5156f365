"""The GitHub fake's credentials and rate limits, as GitHub answers them, and the worker's GitHub
activity waiting exactly as long as the fake's rate limit says."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from werkzeug.test import Client

from activities.github import GithubActivities
from runbook.config import load_config
from runbook.integrations import Endpoint
from runbook.prerequisites import PrerequisiteRequest
from sandbox.fakes import Fakes
from sandbox.web import WebApp

CONFIG = load_config()
STATUS = "/github/repos/skillancer/platform/commits/v1.2.0/status"
TOKEN = {"Authorization": "Bearer ghp_sandbox"}
RATE_LIMIT_HEADERS = {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset"}


@pytest.fixture
def github() -> Client:
    return Client(WebApp(Fakes(CONFIG).rules()))


def test_every_answer_carries_githubs_rate_limit_headers(github: Client) -> None:
    first, second = (
        github.get(STATUS, headers=TOKEN),
        github.get("/github/repos/skillancer/platform/issues", headers=TOKEN),
    )
    assert (first.status_code, second.status_code) == (200, 404)
    for answer, used in ((first, 1), (second, 2)):
        assert RATE_LIMIT_HEADERS <= set(answer.headers.keys(lower=True))
        assert (answer.headers["x-ratelimit-limit"], answer.headers["x-ratelimit-used"]) == ("5000", str(used))
        assert answer.headers["x-ratelimit-remaining"] == str(5000 - used)
        assert answer.headers["x-ratelimit-resource"] == "core"
        assert 3500 < int(answer.headers["x-ratelimit-reset"]) - time.time() <= 3600
    # Without a token GitHub serves public data, against the IP address's 60 an hour.
    assert github.get(STATUS).headers["x-ratelimit-limit"] == "60"


@pytest.mark.parametrize(
    "authorization", ["ghp_sandbox", "Basic c2FuZGJveA==", "Bearer", "Bearer two words", "OAuth ghp_sandbox"]
)
def test_a_malformed_authorization_is_bad_credentials(github: Client, authorization: str) -> None:
    answer = github.get(STATUS, headers={"Authorization": authorization})
    assert answer.status_code == 401
    assert answer.json == {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
    assert github.get(STATUS, headers={"Authorization": "token ghp_sandbox"}).status_code == 200


@pytest.mark.parametrize("status", [403, 429])
def test_a_primary_rate_limit_answers_remaining_0_until_the_reset(github: Client, status: int) -> None:
    github.post("/_sandbox/outages", json={"system": "github", "status": status})
    limited = github.get(STATUS, headers=TOKEN)
    assert limited.status_code == status
    assert limited.json["message"].startswith("API rate limit exceeded")
    assert (limited.headers["x-ratelimit-remaining"], limited.headers["x-ratelimit-used"]) == ("0", "5000")
    assert int(limited.headers["x-ratelimit-reset"]) > time.time()
    assert "Retry-After" not in limited.headers
    assert github.get(STATUS, headers=TOKEN).status_code == 200


@pytest.mark.parametrize("status", [403, 429])
def test_a_secondary_rate_limit_says_when_to_retry(github: Client, status: int) -> None:
    github.post("/_sandbox/outages", json={"system": "github", "status": status, "retry_after": 30})
    limited = github.get(STATUS, headers=TOKEN)
    assert limited.status_code == status and limited.headers["Retry-After"] == "30"
    assert limited.json["message"].startswith("You have exceeded a secondary rate limit")
    assert limited.headers["x-ratelimit-remaining"] == "4999"


# The worker's activity against the fake, served on a free port ----------------------------------


@pytest.fixture
async def activities(fakes_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, GithubActivities]]:
    async with httpx.AsyncClient(base_url=fakes_url, timeout=10) as http:
        endpoint = Endpoint(provider="sandbox", url=f"{fakes_url}/github", secret=SecretStr("ghp_sandbox"))
        yield http, GithubActivities(http, endpoint, CONFIG.github.repository)
        await http.delete("/_sandbox/outages")


async def test_the_activity_waits_out_the_fakes_secondary_limit_as_told(activities) -> None:
    fake, github = activities
    await fake.post("/_sandbox/outages", json={"system": "github", "status": 429, "retry_after": 42})
    with pytest.raises(ApplicationError) as limited:
        await github.check_hotfix_ready(PrerequisiteRequest(version="v1.2.0"))
    assert limited.value.type == "GithubRateLimited" and not limited.value.non_retryable
    assert limited.value.next_retry_delay is not None and limited.value.next_retry_delay.total_seconds() == 42


async def test_the_activity_waits_for_the_fakes_primary_limit_to_reset(activities) -> None:
    fake, github = activities
    await fake.post("/_sandbox/outages", json={"system": "github", "status": 403})
    with pytest.raises(ApplicationError) as limited:
        await github.check_hotfix_ready(PrerequisiteRequest(version="v1.2.0"))
    assert limited.value.type == "GithubRateLimited" and not limited.value.non_retryable
    # The fake's window resets an hour after its first call; the activity waits at most 15 minutes.
    assert limited.value.next_retry_delay is not None and limited.value.next_retry_delay.total_seconds() == 15 * 60


async def test_the_activity_takes_bad_credentials_as_final(activities, fakes_url: str) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        endpoint = Endpoint(provider="sandbox", url=f"{fakes_url}/github", secret=SecretStr("two words"))
        github = GithubActivities(http, endpoint, CONFIG.github.repository)
        with pytest.raises(ApplicationError) as refused:
            await github.check_hotfix_ready(PrerequisiteRequest(version="v1.2.0"))
    assert refused.value.type == "GithubUnauthorized" and refused.value.non_retryable
    assert "Bad credentials" in str(refused.value)
