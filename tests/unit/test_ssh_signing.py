"""The CLI's SSH signatures are the real thing: OpenSSH verifies them, the workflow's check
(runbook.ssh.verify) takes OpenSSH's, and nothing but the right key, message and namespace passes.
Keys are made with ssh-keygen; the agent is a real `ssh-agent -D` the test starts and stops."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbook import ssh
from starter import signing
from starter.console import UsageError
from tests.support import wait_for

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen")

KEY_TYPES = ["ed25519", "rsa"]
MESSAGE = b'{"runbook-decision":1,"payload":{"approver":"bob"}}'


def new_key(folder: Path, kind: str, passphrase: str = "", *options: str) -> Path:
    path = folder / f"id_{kind}_{uuid.uuid4().hex[:8]}"
    bits = ["-b", "2048"] if kind == "rsa" else []
    command = ["ssh-keygen", "-q", "-t", kind, *bits, *options, "-N", passphrase, "-C", "", "-f", path]
    subprocess.run(command, check=True)
    return path


def public_line(key: Path) -> str:
    return Path(f"{key}.pub").read_text().strip()


def openssh_verifies(folder: Path, key: Path, armored: str, message: bytes, namespace: str = "runbook") -> bool:
    allowed, signature = folder / "allowed_signers", folder / "message.sig"
    allowed.write_text(f"bob {public_line(key)}\n")
    signature.write_text(armored)
    command = ["ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "bob", "-n", namespace, "-s", signature]
    return subprocess.run(command, input=message, capture_output=True).returncode == 0


@pytest.mark.parametrize("kind", KEY_TYPES)
def test_openssh_verifies_what_a_key_file_signs_and_so_does_the_workflows_check(tmp_path, kind):
    key = new_key(tmp_path, kind)
    armored = signing.sign(signing.key_file_signer(str(key), "--key", ""), MESSAGE)

    assert armored.startswith("-----BEGIN SSH SIGNATURE-----\n")
    assert openssh_verifies(tmp_path, key, armored, MESSAGE)
    assert ssh.verify(armored, MESSAGE, [public_line(key)]) == fingerprint_of(key)


def test_an_older_pem_rsa_key_file_signs_too(tmp_path):
    key = new_key(tmp_path, "rsa", "", "-m", "PEM")
    assert key.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    armored = signing.sign(signing.key_file_signer(str(key), "--key", ""), MESSAGE)
    assert openssh_verifies(tmp_path, key, armored, MESSAGE)


@pytest.mark.parametrize("kind", KEY_TYPES)
def test_the_workflows_check_takes_what_ssh_keygen_signs(tmp_path, kind):
    key = new_key(tmp_path, kind)
    message = tmp_path / "message"
    message.write_bytes(MESSAGE)
    subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", key, "-n", "runbook", message], check=True)

    armored = Path(f"{message}.sig").read_text()
    assert ssh.verify(armored, MESSAGE, [public_line(key)]) == fingerprint_of(key)


@pytest.mark.parametrize("kind", KEY_TYPES)
def test_another_key_another_message_or_another_namespace_proves_nothing(tmp_path, kind):
    key, stranger = new_key(tmp_path, kind), new_key(tmp_path, "ed25519" if kind == "rsa" else "rsa")
    armored = signing.sign(signing.key_file_signer(str(key), "--key", ""), MESSAGE)
    message = tmp_path / "message"
    message.write_bytes(MESSAGE)
    subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", key, "-n", "git", message], check=True)

    assert ssh.verify(armored, MESSAGE, [public_line(stranger)]) is None
    assert ssh.verify(armored, MESSAGE.replace(b"bob", b"eve"), [public_line(key)]) is None
    assert ssh.verify(Path(f"{message}.sig").read_text(), MESSAGE, [public_line(key)]) is None
    assert not openssh_verifies(tmp_path, key, armored, MESSAGE, namespace="git")


@pytest.fixture
def agent(tmp_path) -> Iterator[str]:
    """A real ssh-agent on a socket of its own, stopped by its PID."""
    if shutil.which("ssh-agent") is None:
        pytest.skip("needs OpenSSH's ssh-agent")
    socket_path = str(tmp_path / "agent.sock")
    process = subprocess.Popen(["ssh-agent", "-D", "-a", socket_path], stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(socket_path), "ssh-agent's socket", 10, process=process)
        yield socket_path
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


@pytest.mark.parametrize("kind", KEY_TYPES)
def test_ssh_agent_signs_with_the_persons_key_only(tmp_path, agent, monkeypatch, kind):
    key, other = new_key(tmp_path, kind), new_key(tmp_path, "ed25519" if kind == "rsa" else "rsa")
    for added in (other, key):
        subprocess.run(["ssh-add", "-q", added], check=True, env={**os.environ, "SSH_AUTH_SOCK": agent})
    monkeypatch.setenv("SSH_AUTH_SOCK", agent)
    monkeypatch.delenv("RUNBOOK_SSH_KEY", raising=False)

    signer = signing.find_signer(None, "bob", (public_line(key),))
    assert signer is not None
    armored = signing.sign(signer, MESSAGE)

    assert ssh.verify(armored, MESSAGE, [public_line(key)]) == fingerprint_of(key)
    assert openssh_verifies(tmp_path, key, armored, MESSAGE)
    # The agent holds no key of this person's: unsigned, not signed with someone else's key.
    assert signing.find_signer(None, "bob", (public_line(new_key(tmp_path, "ed25519")),)) is None


def test_no_agent_and_no_key_is_unsigned(tmp_path, monkeypatch):
    key = new_key(tmp_path, "ed25519")
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "no-agent.sock"))
    monkeypatch.delenv("RUNBOOK_SSH_KEY", raising=False)
    assert signing.find_signer(None, "bob", (public_line(key),)) is None


def test_runbook_ssh_key_names_the_key_file(tmp_path, monkeypatch):
    key = new_key(tmp_path, "ed25519")
    monkeypatch.setenv("RUNBOOK_SSH_KEY", str(key))
    signer = signing.find_signer(None, "bob", (public_line(key),))
    assert signer is not None and signing.fingerprint(signer.public_key) == fingerprint_of(key)


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda folder: folder / "missing", "--key {path}: no such file"),
        (lambda folder: new_key(folder, "ed25519", passphrase="pass"), "--key {path}: encrypted; add it to ssh-agent"),
        (lambda folder: Path(f"{new_key(folder, 'ed25519')}.pub"), "--key {path}: not a private key"),
        (lambda folder: new_key(folder, "ecdsa"), "--key {path}: an ecdsa-sha2-nistp256 key; sign with"),
        (lambda folder: new_key(folder, "rsa"), "--key {path}: its key SHA256:"),
    ],
    ids=["missing", "encrypted", "public key", "ecdsa", "not the person's"],
)
def test_a_key_file_that_cannot_sign_for_the_person_is_refused_saying_why(tmp_path, make, said):
    path = make(tmp_path)
    persons_key = public_line(new_key(tmp_path, "ed25519"))
    with pytest.raises(UsageError) as refused:
        signing.find_signer(str(path), "bob", (persons_key,))
    assert str(refused.value).startswith(said.format(path=path))


def fingerprint_of(key: Path) -> str:
    listed = subprocess.run(["ssh-keygen", "-l", "-f", key], capture_output=True, text=True, check=True)
    return listed.stdout.split()[1]
