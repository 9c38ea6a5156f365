"""PagerDuty's REST API as the incident uses it: escalation that reaches a person, and the
acknowledgement a person makes in PagerDuty coming back to the workflow.

The Events API's routing key selects a service, not a person: a second trigger only adds a log
entry to the open alert. So escalation goes through the REST API (add the person as responder, or
move the incident up its escalation policy), and the incident's status is read back from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from runbook.base import Model

# PagerDuty's REST API version, chosen by the Accept header: the worker, the fake and the sandbox CLI send or want it.
API_VERSION = "application/vnd.pagerduty+json;version=2"

# What escalate_page did, for the timeline.
EscalationAction = Literal["responder_added", "escalated", "unchanged"]


class PageEscalation(Model):
    """Escalate the PagerDuty incident whose incident_key is `dedup_key` to `to` ([people] name)."""

    dedup_key: str
    to: str
    # The workflow's escalation number: 1 for the first after the on-call. A person without a
    # PagerDuty ID is reached through the escalation policy instead: its level 1 is the on-call the
    # trigger paged, so escalation N asks for level N + 1.
    escalation: int = Field(ge=1)

    @property
    def policy_level(self) -> int:
        return self.escalation + 1


class PageEscalated(Model):
    action: EscalationAction
    # In words for the timeline, e.g. "added frank (PFRANK6) as responder".
    detail: str
    incident_id: str


class AcknowledgementWatch(Model):
    """Wait until the PagerDuty incident whose incident_key is `dedup_key` is acknowledged (or resolved)."""

    dedup_key: str


class PageAcknowledged(Model):
    status: Literal["acknowledged", "resolved"]
    # The person ([people] name) whose PagerDuty user acknowledged; unmapped, the user's name in PagerDuty.
    by: str
    pagerduty_user: str
    at: datetime
    incident_id: str


def acknowledged_in_pagerduty(pagerduty_user: str) -> str:
    """The note of an acknowledgement made in PagerDuty, however it reached the incident: the
    worker reading it back, or PagerDuty's webhook through the gateway."""
    return f"acknowledged in PagerDuty ({pagerduty_user})"
