"""What people typed, made fit for each destination: one function per provider's rules.

The templates pass every value that came from a person or an outside system through the function
of their destination, never their own markup (`:rocket:`, the `@name` mentions they build).
Every such value sits on one line of its template, so each function also folds line breaks and
other control characters into a space: a summary cannot forge the template's "- Status:" line.
"""

from __future__ import annotations

import re

_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Slack mrkdwn, "Escaping text": &, < and > are Slack's control characters, and only these three.
# Escaped, a typed <!channel>, <@U…> or <https://…|label> is shown as typed instead of notifying
# everyone or disguising a link.
_SLACK = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# The status page is public and shows its text as typed: no markup of any kind reaches it.
_MARKUP = str.maketrans("", "", "<>")
# PagerDuty Events API v2: payload.summary is plain text of at most 1024 characters.
PAGER_SUMMARY_LIMIT = 1024


def _one_line(text: str) -> str:
    return _BREAKS.sub(" ", text).strip()


def slack_line(text: str) -> str:
    return _one_line(text).translate(_SLACK)


def status_page_line(text: str) -> str:
    return _one_line(text).translate(_MARKUP)


def pager_summary(text: str) -> str:
    line = _one_line(text)
    return line if len(line) <= PAGER_SUMMARY_LIMIT else line[: PAGER_SUMMARY_LIMIT - 1] + "…"
