"""What every HTTP integration reads the same way."""

from __future__ import annotations

from datetime import timedelta

import httpx

# A wait shorter than this would retry in a tight loop: a zero, or a reset already past on a skewed clock.
SHORTEST_WAIT = timedelta(seconds=1)


def retry_after(response: httpx.Response) -> timedelta | None:
    """The answer's Retry-After in seconds, at least a second; None when it has none (or an HTTP
    date, which none of our services send), so the caller's own backoff applies."""
    try:
        return max(timedelta(seconds=float(response.headers["Retry-After"])), SHORTEST_WAIT)
    except (KeyError, ValueError):
        return None
