"""`runbook sandbox pagerduty ack INCIDENT-ID --as PERSON`: a person acknowledges an incident in the
sandbox's PagerDuty, as they would in PagerDuty's app: through its REST API, as their user (their
email in `From`). The worker reads the acknowledgement back as it would from PagerDuty, and the fake
sends the gateway PagerDuty's signed webhook; `--no-webhook` leaves the polling alone to find it."""

from __future__ import annotations

import argparse
import sys

import httpx

from runbook.config import load_config
from runbook.integrations import sandbox_secret, sandbox_url
from runbook.pager import API_VERSION
from starter.console import EXIT_FAILED, EXIT_OK, Unreachable, UsageError, print_json, visible

# Not PagerDuty's: the PagerDuty fake (sandbox/pagerduty.py) then acknowledges without its webhook.
# Defined here, where the CLI reads it, so that the CLI does not load the sandbox (moto) to send it.
NO_WEBHOOK_HEADER = "X-Sandbox-Webhook"


async def sandbox_pagerduty_ack(args: argparse.Namespace) -> int:
    config = load_config()
    person = config.people.get(args.user)
    reachable = sorted(name for name, known in config.people.root.items() if known.pagerduty_id and known.email)
    if person is None or not (person.pagerduty_id and person.email):
        raise UsageError(
            f"--as {args.user!r} is nobody PagerDuty knows (a [people] entry with an email and a pagerduty_id);"
            f" known: {', '.join(reachable) or 'none'}"
        )
    api = sandbox_url(config, "/pagerduty/api")
    headers = {
        "Authorization": f"Token token={sandbox_secret('PAGERDUTY_API_TOKEN')}",
        "Accept": API_VERSION,
        "From": person.email,
    }
    if args.no_webhook:
        headers[NO_WEBHOOK_HEADER] = "off"
    try:
        async with httpx.AsyncClient(base_url=api, headers=headers, timeout=10) as http:
            params = {"incident_key": args.id, "statuses[]": ["triggered", "acknowledged"]}
            found = await http.get("/incidents", params=params)
            found.raise_for_status()
            incidents = found.json()["incidents"]
            if not incidents:
                return _failed(f"no open PagerDuty incident has the incident key {args.id!r} in the sandbox")
            acknowledge = {"incident": {"type": "incident_reference", "status": "acknowledged"}}
            answer = await http.put(f"/incidents/{incidents[0]['id']}", json=acknowledge)
            answer.raise_for_status()
    except httpx.HTTPStatusError as error:
        return _failed(
            f"the sandbox's PagerDuty refused: HTTP {error.response.status_code} {error.response.text[:200]}"
        )
    except httpx.HTTPError as error:
        raise Unreachable(
            f"cannot reach the sandbox at {api}: {error or type(error).__name__} (is the stack up? make up)"
        ) from None
    incident = answer.json()["incident"]
    if args.json:
        shown = {"id": args.id, "pagerduty_incident": incident["id"], "status": incident["status"], "by": args.user}
        print_json({**shown, "webhook": not args.no_webhook})
    else:
        webhook = "no webhook" if args.no_webhook else "its webhook goes to the gateway"
        print(f"{args.id}: acknowledged in PagerDuty by {args.user} ({person.pagerduty_id}); {webhook}")
    return EXIT_OK


def _failed(reason: str) -> int:
    print(f"runbook: error: {visible(reason)}", file=sys.stderr)
    return EXIT_FAILED


HANDLERS = {("sandbox", "pagerduty"): sandbox_pagerduty_ack}
