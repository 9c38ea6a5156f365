"""The base of the project's models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """A pydantic model whose validator is built when it is first used, not when its module is
    imported: the project defines some 120 models and a command touches a handful (`runbook status`
    reads one status and one configuration), so building them all at import was most of the CLI's
    start-up beyond the SDK's own."""

    model_config = ConfigDict(defer_build=True)
