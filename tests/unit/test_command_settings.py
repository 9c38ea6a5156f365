"""What `runbook status`, `approve` and the other commands asking a running procedure read of
runbook.toml without pydantic: the same [temporal] and [people] as the whole validation reads, the
same one-line error for a mistake in either, and nothing of the sections they do not use."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runbook.config import load_config, parse_config
from runbook.settings import ConfigError, command_settings

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "runbook.toml").read_text()
ALICE_KEY = (
    Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    .decode()
)
ALICE = "alice = { "


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "runbook.toml"
    path.write_text(text)
    return path


def with_alice_key(text: str) -> str:
    assert ALICE in text
    return text.replace(ALICE, f'{ALICE}ssh_keys = ["{ALICE_KEY}"], ', 1)


def test_they_read_what_the_whole_validation_reads(tmp_path):
    path = written(tmp_path, with_alice_key(TEXT).replace('address = "127.0.0.1:7233"', 'address = "10.0.0.5:7233"'))
    settings, config = command_settings(path), load_config(path)
    assert settings.temporal == config.temporal
    assert settings.temporal.address == "10.0.0.5:7233"
    assert settings.ssh_keys == {name: person.ssh_keys for name, person in config.people.root.items()}
    assert settings.ssh_keys["alice"] == (ALICE_KEY,)


@pytest.mark.parametrize(
    ("mistake", "said"),
    [
        (('address = "127.0.0.1:7233"', 'adress = "127.0.0.1:7233"'), "temporal.adress: Unexpected keyword argument"),
        (('address = "127.0.0.1:7233"', "address = 7233"), "temporal.address: Input should be a valid string"),
        (
            ('address = "127.0.0.1:7233"', 'address = "127.0.0.1:7233"\ntls_client_cert_path = "client.pem"'),
            "tls_client_cert_path and tls_client_key_path go together",
        ),
        ((ALICE, f'{ALICE}ssh_keys = "not a list", '), "people.alice.ssh_keys"),
        ((ALICE, f'{ALICE}ssh_keys = ["not-a-key"], '), "people.alice.ssh_keys"),
    ],
    ids=["unknown key", "wrong type", "certificate without key", "keys not a list", "not a key"],
)
def test_a_mistake_in_what_they_read_is_told_as_the_whole_validation_tells_it(tmp_path, mistake, said):
    text = TEXT.replace(*mistake, 1)
    assert text != TEXT
    path = written(tmp_path, text)
    with pytest.raises(ConfigError) as quick:
        command_settings(path)
    with pytest.raises(ConfigError) as whole:
        parse_config(text, str(path))
    assert said in str(quick.value)
    assert str(quick.value) == str(whole.value)


def test_a_mistake_elsewhere_does_not_stop_them_asking_a_running_procedure(tmp_path):
    """A broken [aws] stops a deployment from starting, not an SRE from reading one's status."""
    path = written(tmp_path, TEXT.replace('region = "us-east-1"', "region = 1", 1))
    with pytest.raises(ConfigError, match="aws.region"):
        load_config(path)
    assert command_settings(path).temporal.address == "127.0.0.1:7233"


def test_an_unreadable_file_is_one_line_naming_it(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read"):
        command_settings(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        command_settings(written(tmp_path, "[temporal\n"))
