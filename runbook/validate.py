"""Names from the command line and the UI, checked before anything starts."""

from __future__ import annotations

import re


class InvalidInput(ValueError):
    """Input refused before anything starts; the message names the value and what is allowed."""


# A DNS label: safe in URLs, log group and ECS names, Slack text and search attributes alike.
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
# A container image tag: what a version is, on ECS.
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def name(kind: str, text: str) -> str:
    if not _NAME.match(text):
        raise InvalidInput(
            f"bad {kind} name {text!r}: lower-case letters, digits and '-', starting with a letter (e.g. market-svc)"
        )
    return text


def version(text: str) -> str:
    if not _VERSION.match(text):
        raise InvalidInput(f"bad version {text!r}: an image tag of letters, digits, '.', '_' and '-' (e.g. v1.2.3)")
    return text


def reason(text: str) -> str:
    if not text.strip():
        raise InvalidInput("empty reason: say why (--reason TEXT)")
    return text.strip()
