"""How long each kind of text people write may be, in characters: the one place for each bound,
used by the payload models (what a signal or update carries) and by the CLI's parser, which
refuses a longer argument before anything starts. Light on purpose: the parser imports it without
pydantic."""

from __future__ import annotations

USER = 100  # who acts: `--as`, a payload's user or approver
NOTE = 2000  # a note, comment or reason; the action of an incident update
CHECKLIST_ITEM = 200
ETA = 200  # an incident update's estimated time to resolution
SUMMARY = 500  # an incident's summary, as it is declared
POSTMORTEM = 4000  # a resolution, root cause or impact: a paragraph of the post-mortem
NAME = 63  # a service's or environment's name: a DNS label
