"""`runbook-codec-server --host`: where it listens, so that it can serve a UI from a container."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from runbook.codec import KEYS_VARIABLE

PROJECT = Path(__file__).resolve().parents[2]
KEYS = f"2026-11:{'A' * 43}="
# Another loopback address: answering there and not at 127.0.0.1 proves the server bound where told.
OTHER_LOOPBACK = "127.0.0.2"


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@pytest.fixture
def other_loopback_works() -> None:
    try:
        free_port(OTHER_LOOPBACK)
    except OSError:
        pytest.skip(f"{OTHER_LOOPBACK} is not a loopback address on this system")


def test_the_codec_server_listens_on_the_host_it_is_given(other_loopback_works: None):
    port = free_port(OTHER_LOOPBACK)
    process = subprocess.Popen(
        [sys.executable, "-m", "starter.codec_server", "--host", OTHER_LOOPBACK, "--port", str(port)],
        cwd=PROJECT,
        env={**os.environ, KEYS_VARIABLE: KEYS},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().decode().startswith(f"codec server at http://{OTHER_LOOPBACK}:{port}")
        answer = httpx.post(f"http://{OTHER_LOOPBACK}:{port}/decode", json={"payloads": []})
        assert answer.json() == {"payloads": []}
        with pytest.raises(httpx.ConnectError):
            httpx.post(f"http://127.0.0.1:{port}/decode", json={"payloads": []})
    finally:
        process.terminate()
        process.wait(timeout=10)
