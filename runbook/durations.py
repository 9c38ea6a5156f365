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


def elapsed(delta: timedelta) -> str:
    """How long, as people say it in a sentence (the messages, the post-mortem): 40 s, 11 min,
    2 h 5 min, 3 d 4 h."""
    seconds = max(0, int(delta.total_seconds()))
    days, hours, minutes = seconds // 86400, seconds % 86400 // 3600, seconds % 3600 // 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min" if minutes else f"{seconds} s"


def format_elapsed(delta: timedelta) -> str:
    """How long something took or has been going, as the CLI's columns show it: the two largest
    units, the second two digits wide so that a column of them lines up (42s, 3m 05s, 1h 02m,
    2d 03h); whole seconds, rounded down. In a sentence, `elapsed`; a configured window (1h, 14d),
    format_duration."""
    minutes, seconds = divmod(max(0, int(delta.total_seconds())), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"
