"""The exact bytes a decision's signer signs (runbook/proof.py says what a proof is), made from plain
JSON values: the CLI signs without importing pydantic, so that a signed `runbook approve` starts as
fast as an unsigned one (bench/approvals.py); the workflow checks the same bytes from its model."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from runbook.status import jsonable


def claims(
    kind: str, signed_at: datetime, *, subject: str = "", workflow_id: str = "", decision: str = ""
) -> dict[str, str]:
    """A proof's fields but its signature, as the worker's converter writes them (Proof, dumped)."""
    return {
        "kind": kind,
        "signed_at": jsonable(signed_at),
        "subject": subject,
        "workflow_id": workflow_id,
        "decision": decision,
    }


def statement(proof_claims: Mapping[str, Any], payload: Mapping[str, Any]) -> bytes:
    """Canonical JSON of the proof's claims and the payload's fields (but the proof)."""
    content = {name: value for name, value in payload.items() if name != "proof"}
    return json.dumps(
        {"runbook-decision": 1, "proof": dict(proof_claims), "payload": content},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode()
