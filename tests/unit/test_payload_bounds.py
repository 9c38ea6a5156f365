"""Every text a person can send in a signal or update is bounded: what is taken stays in a
workflow's state, in every `status` answer and in what an incident carries across continue-as-new."""

from __future__ import annotations

from typing import Any

import pytest

from runbook import deployment, incident_payloads, verification
from runbook.models import Payload

PAYLOADS = sorted(
    {
        model
        for module in (deployment, incident_payloads, verification)
        for model in vars(module).values()
        if isinstance(model, type) and issubclass(model, Payload) and model is not Payload
    },
    key=lambda model: model.__name__,
)


def unbounded_texts(schema: dict[str, Any], path: str) -> list[str]:
    kind = schema.get("type")
    if kind == "string" and "enum" not in schema and "maxLength" not in schema:
        return [path]
    if kind == "array":
        return unbounded_texts(schema.get("items", {}), f"{path}[]")
    return [found for option in schema.get("anyOf", []) for found in unbounded_texts(option, path)]


@pytest.mark.parametrize("model", PAYLOADS, ids=[model.__name__ for model in PAYLOADS])
def test_every_text_field_of_a_payload_has_a_length_limit(model: type[Payload]):
    properties = model.model_json_schema()["properties"]
    assert [f for name, field in properties.items() for f in unbounded_texts(field, name)] == []


def test_the_payloads_are_all_here():
    assert len(PAYLOADS) >= 10
