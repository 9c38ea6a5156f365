"""Durations as people write them in runbook.toml and on the command line: 30s, 5m, 1h, 2d."""

import re
from datetime import timedelta

from runbook.validate import InvalidInput

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_PATTERN = re.compile(r"^(\d+)([smhd])$")


def parse_duration(text: str) -> timedelta:
    match = _PATTERN.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise InvalidInput(f"bad duration {text!r}: write a whole number and one of s, m, h, d (e.g. 30s, 5m, 1h, 2d)")
    amount, unit = match.groups()
    return timedelta(**{_UNITS[unit]: int(amount)})


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
