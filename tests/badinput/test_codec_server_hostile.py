"""The codec server given hostile requests over raw sockets: a ciphertext too short to hold a nonce,
a Content-Length in non-ASCII digits, a body nested 100,000 deep, the Bearer scheme in another case,
clients that send half a body and stall, and more connections than it serves at once. Each bad
request is answered 400 with a reason (never a dropped connection and a traceback); slow clients
are answered 408 and disconnected after the timeout while others are served; past the bound, a
connection is answered 503 at once instead of holding a thread.

The server runs in this process on a free port, with a short timeout and a small bound, so that
everything stops by itself within seconds.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from typing import NamedTuple

import httpx
import pytest

from runbook.codec import KEYS_VARIABLE, EncryptionCodec
from starter.codec_server import CodecServer
from tests.support import serving

TOKEN = "s3cret-token"
TIMEOUT_S = 1.5  # the server's, for slow clients
BOUND = 6  # connections the server serves at once
PATIENCE_S = 10.0  # how long a test waits for any answer: far beyond TIMEOUT_S
KEY = base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def server() -> Iterator[CodecServer]:
    codec = EncryptionCodec.from_environment({KEYS_VARIABLE: f"2026-11:{KEY}"})
    assert codec is not None
    server = CodecServer(0, codec, set(), TOKEN, request_timeout_s=TIMEOUT_S, max_connections=BOUND)
    with serving(server, poll_interval=0.1):
        yield server


def port_of(server: CodecServer) -> int:
    return server.server_address[1]


def request(body: bytes, *, length: str | None = None, authorization: str = f"Bearer {TOKEN}") -> bytes:
    head = [
        "POST /decode HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: {authorization}",
        "Content-Type: application/json",
        f"Content-Length: {len(body) if length is None else length}",
    ]
    # Latin-1, as http.server decodes a header: '²' arrives as the one character it is.
    return "\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + body


def read_answer(sock: socket.socket, patience: float = PATIENCE_S) -> str:
    """The status line and body the server answered; or how the connection ended without one."""
    sock.settimeout(patience)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return f"no answer, still open after {patience:.1f} s" if not received else f"stalled: {received[:80]!r}"
    except ConnectionResetError:
        return "connection reset"
    if not received:
        return "dropped: connection closed without an answer"
    head, _, body = received.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode(errors="replace").split(" ", 1)[1]
    return f"{status}: {body.decode(errors='replace')}"


def exchange(server: CodecServer, raw: bytes) -> str:
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=PATIENCE_S) as sock:
        sock.sendall(raw)
        return read_answer(sock)


def short_ciphertext() -> bytes:
    metadata = {"encoding": b"binary/encrypted", "encryption-key-id": b"2026-11"}
    payload = {
        "metadata": {name: base64.b64encode(value).decode() for name, value in metadata.items()},
        "data": base64.b64encode(b"abc").decode(),
    }
    return json.dumps({"payloads": [payload]}).encode()


class Case(NamedTuple):
    name: str
    raw: bytes
    expected: str  # how the answer must begin


CASES = [
    Case("ciphertext of 3 bytes under a held key ID", request(short_ciphertext()), "400 Bad Request: payload"),
    Case("Content-Length '²' (a digit to str, not to int)", request(b"{}", length="²"), "400 Bad Request"),
    Case("Content-Length '٣' in UTF-8", request(b"{}", length="٣".encode().decode("latin-1")), "400 Bad Request"),
    Case("a body nested 100,000 deep", request(b"[" * 100_000 + b"]" * 100_000), "400 Bad Request"),
    Case("scheme 'bearer', lower case", request(b"{}", authorization=f"bearer {TOKEN}"), "200 OK"),
    Case("scheme 'BEARER', upper case", request(b"{}", authorization=f"BEARER {TOKEN}"), "200 OK"),
    Case("the wrong token", request(b"{}", authorization="Bearer wrong"), "401 Unauthorized"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_hostile_request_is_answered_with_a_reason(server, case: Case, outcome_table, capsys):
    observed = exchange(server, case.raw)
    traceback = "Traceback" in capsys.readouterr().err
    outcome_table(
        "codec server: hostile requests",
        ("case", "expected", "observed"),
        case.name,
        case.expected,
        observed + (" (and a traceback on the server)" if traceback else ""),
    )
    assert observed.startswith(case.expected), observed
    assert not traceback
    if case.expected.startswith("400"):
        assert len(observed) > len("400 Bad Request: "), "a 400 must say why"


def slow_client(server: CodecServer) -> socket.socket:
    """Half a body sent, then silence."""
    sock = socket.create_connection(("127.0.0.1", port_of(server)), timeout=PATIENCE_S)
    sock.sendall(request(b'{"payloads": [', length="100"))
    return sock


def wait_for_threads(count: int) -> None:
    """Until the server has taken up the connections: a thread each, at least."""
    deadline = time.monotonic() + PATIENCE_S
    while threading.active_count() < count and time.monotonic() < deadline:
        time.sleep(0.05)


def test_slow_clients_are_timed_out_while_a_normal_request_is_answered(server, outcome_table):
    before = threading.active_count()
    slow = [slow_client(server) for _ in range(BOUND - 1)]
    try:
        wait_for_threads(before + len(slow))
        started = time.monotonic()
        normal = httpx.post(
            f"http://127.0.0.1:{port_of(server)}/decode",
            json={"payloads": []},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=PATIENCE_S,
        )
        normal_s = time.monotonic() - started
        deadline = started + PATIENCE_S
        answers = [read_answer(sock, patience=max(0.1, deadline - time.monotonic())) for sock in slow]
        held_s = time.monotonic() - started
    finally:
        for sock in slow:
            sock.close()
    outcome_table(
        "codec server: slow clients",
        ("case", "expected", "observed"),
        f"{len(slow)} clients stall mid-body; then a normal request",
        f"normal answered 200 at once; the slow ones 408 after about {TIMEOUT_S} s",
        f"normal {normal.status_code} after {normal_s:.2f} s; slow: {sorted(set(answers))} after {held_s:.1f} s",
    )
    assert normal.status_code == 200
    assert all(answer.startswith("408 Request Timeout") for answer in answers), answers
    assert held_s < PATIENCE_S


def test_past_the_bound_a_connection_is_answered_503_at_once(server, outcome_table):
    before = threading.active_count()
    slow = [slow_client(server) for _ in range(BOUND)]
    try:
        wait_for_threads(before + BOUND)
        threads = threading.active_count() - before
        extra = [slow_client(server) for _ in range(3)]
        try:
            answers = [read_answer(sock, patience=TIMEOUT_S / 2) for sock in extra]
        finally:
            for sock in extra:
                sock.close()
    finally:
        for sock in slow:
            sock.close()
    outcome_table(
        "codec server: slow clients",
        ("case", "expected", "observed"),
        f"{BOUND} clients stall (the bound), then 3 more connect",
        "the 3 answered 503 at once; threads bounded",
        f"{sorted(set(answers))}; {threads} threads for {BOUND} connections",
    )
    assert all(answer.startswith("503 Service Unavailable") for answer in answers), answers
    # One handler and one deadline timer per connection served.
    assert threads <= 2 * BOUND
