"""Names from the command line and the UI, checked before anything starts."""

from __future__ import annotations

import re

class InvalidInput(ValueError):
    """Input refused before anything starts; the message names the value and what is allowed."""


# A container image tag: what a version is, on ECS.
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def version(text: str) -> str:
    if not _VERSION.match(text):
        raise InvalidInput(f"bad version {text!r}: an image tag of letters, digits, '.', '_' and '-' (e.g. v1.2.3)")
    return text


def reason(text: str) -> str:
    if not text.strip():
        raise InvalidInput("empty reason: say why (--reason TEXT)")
    return text.strip()
