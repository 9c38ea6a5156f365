"""What a verification says in Slack."""

from __future__ import annotations


def checklist_reminder(verification_id: str, environment: str, pending: list[str]) -> str:
    return f"Verification {verification_id} of {environment} waits for: {', '.join(pending)}"
