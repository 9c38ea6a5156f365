"""The worker's payload converter: the pydantic converter, except that a payload a handler cannot
read becomes a refusal for it to record (runbook/codec.py says why); apart from the codec so that a
client asking only for runbook/status.py's dataclasses does not import pydantic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter

from runbook.codec import REASON_CHARACTERS, UNDECODABLE_ENCODING, UndecryptablePayload
from runbook.models import Undecodable


class WorkerPayloadConverter(PydanticPayloadConverter):
    """The worker's: the pydantic converter, except for values asked for untyped, as the SDK asks
    for the argument of a signal or update handler (typed Any). One it cannot read (undecryptable, not
    JSON, nested too deep, in an unknown encoding) becomes Undecodable(reason), which the handler
    refuses and records; raised, the SDK would drop the signal with a log line, or fail the update
    unrecorded. Typed values raise as before."""

    def from_payloads(self, payloads: Sequence[Payload], type_hints: list[type] | None = None) -> list[Any]:
        hints: list[type | None] = [*(type_hints or [])]
        hints += [None] * (len(payloads) - len(hints))
        return [self._value(payload, hint) for payload, hint in zip(payloads, hints, strict=False)]

    def _value(self, payload: Payload, hint: type | None) -> Any:
        undecodable = payload.metadata.get("encoding") == UNDECODABLE_ENCODING
        reason = payload.data.decode(errors="replace")[:REASON_CHARACTERS] if undecodable else ""
        if hint is not None and hint is not Any:
            if undecodable:
                raise UndecryptablePayload(reason)
            return super().from_payloads([payload], [hint])[0]
        if undecodable:
            return Undecodable(reason=reason)
        try:
            return super().from_payloads([payload])[0]
        except Exception as error:  # whatever stops reading it is the reason it is refused
            return Undecodable(reason=_reason(error))


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        text = "; ".join(detail["msg"] for detail in error.errors())
    else:
        text = str(error.args[0]) if error.args else type(error).__name__
    return text[:REASON_CHARACTERS]


WORKER_DATA_CONVERTER = DataConverter(payload_converter_class=WorkerPayloadConverter)
