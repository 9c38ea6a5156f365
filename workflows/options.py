"""How long an activity may take and how often it is tried: one place, typed, so that the SDK
checks every activity call's argument and result."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

# A short call to an outside system: retried a few times, never for long.
QUICK = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(seconds=60), retry_policy=RetryPolicy(maximum_attempts=5)
)

# An observation for a verdict: a few tries, then "could not be checked", which fails the check.
READ_ONLY = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(seconds=60), retry_policy=RetryPolicy(maximum_attempts=3)
)

# Watching PagerDuty for an acknowledgement: as long as an incident stays open, polling with a
# heartbeat (a dead worker is noticed, a cancel arrives within seconds), never given up on.
PAGER_WATCH = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(days=365),
    heartbeat_timeout=timedelta(seconds=15),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
    cancellation_type=workflow.ActivityCancellationType.TRY_CANCEL,
)

# A rollout wait heartbeats while it polls ECS; a worker that died is noticed this soon.
ROLLOUT_HEARTBEAT = timedelta(seconds=15)


def rollout_wait(timeout: timedelta) -> workflow.ActivityConfig:
    """The rollout wait gives up by itself at `timeout`; the activity gets a minute more to say so."""
    return workflow.ActivityConfig(
        start_to_close_timeout=timeout + timedelta(minutes=1),
        heartbeat_timeout=ROLLOUT_HEARTBEAT,
        retry_policy=RetryPolicy(maximum_attempts=3),
    )
