"""How Slack and PagerDuty sign what they send an app: one formula each, for the gateway that
checks it and the sandbox's fakes that sign as the services do.

- Slack (api.slack.com/authentication/verifying-requests-from-slack): X-Slack-Signature is `v0=`
  and the hex HMAC-SHA256, keyed with the signing secret, of `v0:{X-Slack-Request-Timestamp}:{body}`.
- PagerDuty v3 webhooks (developer.pagerduty.com/docs/verifying-webhook-signatures):
  X-PagerDuty-Signature holds `v1=` and the hex HMAC-SHA256 of the body, keyed with the secret.
"""

from __future__ import annotations

import hashlib
import hmac


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    return "v0=" + _hmac_hex(secret, b"v0:" + timestamp.encode() + b":" + body)


def pagerduty_signature(secret: str, body: bytes) -> str:
    return "v1=" + _hmac_hex(secret, body)
