"""runbook.toml: where it is, how it is read, and the two parts of it that the commands asking a
running procedure need ([temporal] and [people]), taken without pydantic, so that `runbook status`
and `runbook approve` start within 1.3× of a bare SDK client (bench/cli_speed.py). Every other command, the
worker and the gateway validate the whole file (runbook/config.py), whose [temporal] is this
module's TemporalConfig; a [temporal] or [people] that is not plainly well formed here is handed to
that whole validation, which names the key and the rule."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from temporalio.converter import value_to_type

from runbook.ssh import key_blob

CONFIG_VARIABLE = "RUNBOOK_CONFIG"
CONFIG_NAME = "runbook.toml"


class ConfigError(Exception):
    """runbook.toml (or RUNBOOK_CONFIG) cannot be used; the message names file, key and rule."""


def config_path() -> Path:
    """RUNBOOK_CONFIG, else runbook.toml in the current directory. Never a file beside this code:
    installed, that is site-packages, where nobody keeps their configuration."""
    if named := os.environ.get(CONFIG_VARIABLE):
        return Path(named)
    here = Path.cwd() / CONFIG_NAME
    if not here.is_file():
        raise ConfigError(
            f"no {CONFIG_NAME}: {CONFIG_VARIABLE} is not set and {here} does not exist;"
            f" set {CONFIG_VARIABLE} to the file's path or run from its folder"
        )
    return here


def modified_at(path: Path) -> float:
    """The file's modification time, which keys what is read of it: read again once it changes."""
    try:
        return path.stat().st_mtime
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None


def read_toml(path: Path) -> dict[str, Any]:
    return read_toml_as_of(str(path), modified_at(path))


@lru_cache(maxsize=4)
def read_toml_as_of(path: str, mtime: float) -> dict[str, Any]:
    return parse_toml(Path(path).read_text(), path)


def parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from None


@dataclass(frozen=True)
class TemporalConfig:
    """Where the cluster is, for what neither the TEMPORAL_* environment nor a temporal.toml
    profile sets (runbook/temporal.py); an API key (Temporal Cloud) comes only from those two,
    being a secret."""

    # A key [temporal] does not know is refused, as in every other section.
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    address: str = "127.0.0.1:7233"
    namespace: str = "default"
    task_queue: str = "runbook"
    ui_url: str = "http://127.0.0.1:8233"
    # mTLS: a client certificate and its key, both or neither; a private CA if the server's is one.
    tls: bool = False
    tls_client_cert_path: str | None = None
    tls_client_key_path: str | None = None
    tls_server_ca_cert_path: str | None = None
    tls_server_name: str | None = None

    def __post_init__(self) -> None:
        if (self.tls_client_cert_path is None) != (self.tls_client_key_path is None):
            raise ValueError("tls_client_cert_path and tls_client_key_path go together: give both or neither")

    def workflow_link(self, workflow_id: str) -> str:
        """Where people open a workflow in the Temporal UI."""
        return f"{self.ui_url.rstrip('/')}/namespaces/{self.namespace}/workflows/{workflow_id}"


def resolve_person(known: Collection[str], name: str) -> str | None:
    """The configured person `name` means: the exact name, else the one name equal to it ignoring
    case (Alice is alice). Nothing else is folded: no spaces trimmed, no lookalikes."""
    if name in known:
        return name
    folded = name.casefold()
    matches = [person for person in known if person.casefold() == folded]
    return matches[0] if len(matches) == 1 else None


def unknown_person(known: Collection[str], name: str) -> str:
    """Why `name` is refused, naming who is known."""
    return f"unknown person {name!r}; [people] has {', '.join(known) or '(none)'}"


@dataclass(frozen=True)
class CommandSettings:
    """What a command asking a running procedure reads of runbook.toml: where Temporal is, and who
    the people are, with the SSH public keys that may sign their decisions."""

    temporal: TemporalConfig
    ssh_keys: Mapping[str, tuple[str, ...]]


def command_settings(path: Path | None = None) -> CommandSettings:
    path = path or config_path()
    tables = read_toml(path)
    try:
        return CommandSettings(_temporal(tables.get("temporal", {})), _ssh_keys(tables.get("people", {})))
    except (TypeError, ValueError):
        pass
    # Deferred: the whole validation (pydantic) is needed only to say what is wrong.
    from runbook.config import load_config

    config = load_config(path)
    return CommandSettings(config.temporal, {name: person.ssh_keys for name, person in config.people.root.items()})


def _temporal(table: Any) -> TemporalConfig:
    known = {field.name for field in dataclasses.fields(TemporalConfig)}
    if not isinstance(table, dict) or not set(table) <= known:
        raise TypeError("[temporal]: not a table of its known keys")
    temporal: TemporalConfig = value_to_type(TemporalConfig, table)
    return temporal


def _ssh_keys(table: Any) -> dict[str, tuple[str, ...]]:
    people: dict[str, dict[str, Any]] = value_to_type(dict[str, dict[str, Any]], table)
    keys = {name: person.get("ssh_keys", []) for name, person in people.items()}
    # A string is iterable too: the SDK would take "ssh-ed25519 AAAA…" for a list of characters.
    if not all(isinstance(lines, list) for lines in keys.values()):
        raise TypeError("[people]: ssh_keys not a list")
    found = {name: tuple(value_to_type(list[str], lines)) for name, lines in keys.items()}
    for lines in found.values():
        for line in lines:
            try:
                key_blob(line)
            except (IndexError, ValueError):
                raise TypeError("[people]: not an OpenSSH public key") from None
    return found
