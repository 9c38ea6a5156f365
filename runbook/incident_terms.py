"""The words an incident's people choose from: the status of an update, the mitigations a
commander may ask for. Kept apart from the models so that the CLI's parser offers them without
importing pydantic."""

from __future__ import annotations

from typing import Literal, get_args

UpdateStatus = Literal["Investigating", "Identified", "Mitigating", "Monitoring"]
UPDATE_STATUSES: tuple[str, ...] = get_args(UpdateStatus)
CommanderMitigation = Literal["scale_up", "rate_limit", "maintenance_page"]
MITIGATIONS: tuple[str, ...] = get_args(CommanderMitigation)
