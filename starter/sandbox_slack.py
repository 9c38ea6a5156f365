"""`runbook sandbox slack click MESSAGE_OR_WORKFLOW ACTION --as PERSON`: a person clicks a button in
the sandbox's Slack, as they would in Slack. The Slack fake sends the click to the gateway, signed as
Slack signs it; the gateway answers through the click's response URL, and that answer is what
this prints: who decided (the message now says so), or why the click was refused (shown to the
clicker alone, as an ephemeral message).

Exit codes: 0 the decision was taken, 1 refused (or no message carries that button), 2 bad input,
3 the sandbox or the gateway cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import httpx

from runbook.buttons import ACTIONS
from runbook.config import load_config
from runbook.integrations import sandbox_url
from starter.console import EXIT_FAILED, EXIT_OK, Unreachable, UsageError, print_json, visible

# How long the gateway has to answer through the response URL: it acknowledges within Slack's 3 s
# and sends the outcome once the workflow has answered.
ANSWER_WAIT = 10.0
POLL_INTERVAL = 0.1
# What a response did, and whether it says the decision was taken (the message replaced) or
# refused (a message only the clicker sees).
_TAKEN = {"replaced", "in_channel", "deleted"}


async def sandbox_slack_click(args: argparse.Namespace) -> int:
    if args.action not in ACTIONS:
        raise UsageError(f"unknown button {args.action!r}; the runbook's buttons are {', '.join(ACTIONS)}")
    config = load_config()
    person = config.people.get(args.user)
    if person is None or not person.slack_id:
        in_slack = sorted(name for name, known in config.people.root.items() if known.slack_id)
        raise UsageError(f"--as {args.user!r} has no slack_id in [people]; people Slack knows: {', '.join(in_slack)}")
    base = sandbox_url(config, "")
    async with httpx.AsyncClient(base_url=base, timeout=ANSWER_WAIT) as http:
        clicked = await _click(http, {"target": args.target, "action": args.action, "as": args.user})
        if isinstance(clicked, str):
            return _failed(clicked)
        if not 200 <= clicked["status"] < 300:
            return _failed(f"the gateway refused the click: HTTP {clicked['status']} {clicked['answer'][:200]}")
        response = await _answer(http, clicked["response_url"])
    return _report(args, person.slack_id, clicked, response)


async def _click(http: httpx.AsyncClient, click: dict[str, str]) -> dict[str, Any] | str:
    """The fake's account of the click, or why it could not be made."""
    try:
        answer = await http.post("/_sandbox/slack/click", json=click)
    except httpx.HTTPError as error:
        raise Unreachable(
            f"cannot reach the sandbox at {http.base_url}: {error or type(error).__name__} (is the stack up? make up)"
        ) from None
    refusal = str(answer.json().get("error", "")) if answer.status_code != 200 else ""
    if answer.status_code == 502:
        raise Unreachable(f"{refusal} (is the gateway up? make up)")
    if answer.status_code == 400:
        raise UsageError(refusal)
    if answer.status_code != 200:
        return refusal or f"the sandbox's Slack answered HTTP {answer.status_code}"
    body: dict[str, Any] = answer.json()
    return body


async def _answer(http: httpx.AsyncClient, response_url: str) -> dict[str, Any] | None:
    """The gateway's first message through the click's response URL, if it comes in time."""
    deadline = time.monotonic() + ANSWER_WAIT
    while time.monotonic() < deadline:
        answer = await http.get("/_sandbox/slack/responses", params={"response_url": response_url})
        answer.raise_for_status()
        responses = answer.json()["responses"]
        if responses:
            first: dict[str, Any] = responses[0]
            return first
        await asyncio.sleep(POLL_INTERVAL)
    return None


def _report(args: argparse.Namespace, slack_id: str, clicked: dict[str, Any], response: dict[str, Any] | None) -> int:
    taken = response is not None and response["effect"] in _TAKEN
    said = response["text"] if response is not None else ""
    if args.json:
        print_json(
            {
                "target": args.target,
                "action": args.action,
                "by": args.user,
                "slack_user": slack_id,
                "channel": clicked["channel"],
                "message_ts": clicked["message_ts"],
                "gateway_status": clicked["status"],
                "outcome": "taken" if taken else "refused" if response is not None else "no answer",
                "response": response,
            }
        )
    elif response is None:
        return _failed(f"the gateway said nothing through the click's response URL within {ANSWER_WAIT:.0f} s")
    else:
        shown = "the message now says" if taken else f"shown to {args.user} alone"
        print(f"{visible(args.target)}: {args.action} clicked by {args.user} ({slack_id}); {shown}: {visible(said)}")
    return EXIT_OK if taken else EXIT_FAILED


def _failed(reason: str) -> int:
    print(f"runbook: error: {visible(reason)}", file=sys.stderr)
    return EXIT_FAILED


HANDLERS = {("sandbox", "slack"): sandbox_slack_click}
