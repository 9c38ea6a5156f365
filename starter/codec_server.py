"""The codec server: lets the Temporal UI (and `temporal --codec-endpoint`) show encrypted payloads
to whoever runs it with the keys, and vouches for who sent a decision from the UI.
`runbook-codec-server [--host 127.0.0.1] [--port 8888]`: on the loopback unless told otherwise
(`--host 0.0.0.0` in a container, whose published port is what decides who reaches it).

Temporal's codec server protocol: POST /encode and POST /decode (also under a namespace segment,
/NAMESPACE/decode, as the CLI's endpoint template makes them) take and answer `{"payloads": [...]}`,
each payload in protobuf JSON (metadata values and data base64). The UI calls from the browser, so
its origin gets CORS answers. With RUNBOOK_CODEC_SERVER_TOKEN set, a request must carry
`Authorization: Bearer <token>` (the UI's codec settings can pass one; the scheme in any case).
Without RUNBOOK_ENCRYPTION_KEYS, payloads pass through both ways (the server then only attests).

UI logins ([approvals] ui_issuer set): the UI, run with TEMPORAL_CODEC_PASS_ACCESS_TOKEN=true,
sends its user's OIDC access token as the bearer. A bearer that is not RUNBOOK_CODEC_SERVER_TOKEN
must then be a token of that issuer (starter/ui_login.py), or the request is answered 401 with the
reason. At /encode, every JSON payload naming a person ("approver" or "user") without a proof must
name the logged-in user (their name or email, runbook.people), or the whole request is answered
403; a decision that may carry a proof (approve, reject, decide, acknowledge, mitigate) gets one:
the codec server's ed25519 attestation (RUNBOOK_CODEC_KEY, whose public half is [approvals]
codec_key) of the payload and the login (runbook/proof.py, kind "ui"). A request without a bearer
is served as before: its decisions arrive unverified. With the sandbox's issuer the key defaults to
the sandbox's seed; with another, a missing or mismatched key stops the server at start.

A bad request is answered 400 with the reason. A request not received within the timeout is
answered 408, and past a bound on connections served at once (a thread each) a new one is
answered 503 at once: clients that stall cannot pile up threads.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import json
import os
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload, Payloads

from runbook.codec import KEYS_VARIABLE, EncryptionCodec, UndecryptablePayload
from runbook.config import ConfigError, RunbookConfig, load_config
from runbook.deployment import ApprovePayload, DecidePayload, RejectPayload
from runbook.incident_payloads import AcknowledgePayload, MitigatePayload
from runbook.integrations import SANDBOX_HOST, attestation_key, sandbox_secret
from runbook.people import People
from runbook.proof import attest, unsigned
from starter.ui_login import IssuerUnreachable, Login, LoginRefused, LoginVerifier

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8888
TOKEN_VARIABLE = "RUNBOOK_CODEC_SERVER_TOKEN"
CODEC_KEY_VARIABLE = "RUNBOOK_CODEC_KEY"
JSON_ENCODING = b"json/plain"
PERSON_FIELDS = ("approver", "user")
# The decisions whose payloads take a proof: another payload with a person (an incident's update)
# is checked against the login but left as it is, since its model has no "proof" to receive.
PROVABLE = (ApprovePayload, RejectPayload, DecidePayload, AcknowledgePayload, MitigatePayload)
# A whole history page decodes in one request; far beyond it is a mistake or an attack.
MAX_BODY_BYTES = 64 * 1024 * 1024
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"
# Time enough for a history page from a browser on a slow link; a client that takes longer stalls.
REQUEST_TIMEOUT_S = 30.0
# The UI decodes a page in a few requests at once; a few users of one server stay far below this.
MAX_CONNECTIONS = 32
_BUSY_REASON = b"too many connections at once; try again"
_BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\n"
    b"Content-Length: " + str(len(_BUSY_REASON)).encode() + b"\r\n\r\n" + _BUSY_REASON
)


class NotTheLogin(Exception):
    """A payload names someone other than the logged-in UI user: the request is answered 403."""


class UiAttester:
    """Checks the UI user's token and attests the decisions they send (the module's docstring)."""

    def __init__(
        self,
        verifier: LoginVerifier,
        people: People,
        key: Ed25519PrivateKey,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.verifier, self.people, self._key, self._clock = verifier, people, key, clock

    def attest(self, payloads: list[Payload], login: Login) -> list[Payload]:
        return [self._attested(payload, login) for payload in payloads]

    def _attested(self, payload: Payload, login: Login) -> Payload:
        if payload.metadata.get("encoding") != JSON_ENCODING:
            return payload
        try:
            content = json.loads(payload.data)
        except (ValueError, UnicodeDecodeError):
            return payload
        field = next((name for name in PERSON_FIELDS if isinstance(content, dict) and name in content), None)
        if field is None or "proof" in content or not isinstance(content[field], str):
            return payload
        subject = self._login_of(content[field], login)
        if not any(set(content) <= set(model.model_fields) for model in PROVABLE):
            return payload
        claims = unsigned("ui", self._clock(), subject=subject)
        proof = attest(claims, content, self._key).model_dump(mode="json")
        data = json.dumps({**content, "proof": proof}, separators=(",", ":")).encode()
        return Payload(metadata=dict(payload.metadata), data=data)

    def _login_of(self, named: str, login: Login) -> str:
        """The login's subject or email that is the person `named`, or NotTheLogin."""
        person = self.people.resolve(named)
        for subject in (login.subject, login.email):
            if person is not None and self.people.is_login_of(person, subject):
                return subject
        raise NotTheLogin(f"payload's person {named[:100]!r} is not the UI login {login.email or login.subject!r}")


def ui_origins(ui_url: str) -> set[str]:
    """The UI's origin as configured, and as reached by the other loopback name a user may type."""
    parts = urlsplit(ui_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    twins = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}
    twin = twins.get(parts.hostname or "")
    return {origin, origin.replace(parts.hostname, twin, 1)} if twin and parts.hostname else {origin}


class CodecServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        port: int,
        codec: EncryptionCodec | None,
        origins: set[str],
        token: str | None,
        *,
        attester: UiAttester | None = None,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
        host: str = DEFAULT_HOST,
    ) -> None:
        self.codec, self.origins, self.token, self.attester = codec, origins, token, attester
        self.request_timeout_s = request_timeout_s
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__((host, port), CodecRequestHandler)

    # A TCP server's request is a socket (typeshed allows a UDP server's too).
    def process_request(self, request: socket.socket, client_address: tuple[str, int]) -> None:  # type: ignore[override]
        if not self._slots.acquire(blocking=False):
            # Answered on the accepting thread: a few bytes into a new socket's buffer do not block.
            with contextlib.suppress(OSError):
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request: socket.socket, client_address: tuple[str, int]) -> None:  # type: ignore[override]
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class CodecRequestHandler(BaseHTTPRequestHandler):
    server: CodecServer
    server_version = "runbook-codec"

    def setup(self) -> None:
        super().setup()
        # Each read and write waits at most the timeout ...
        self.connection.settimeout(self.server.request_timeout_s)
        # ... and so does the whole request: a client sending a byte at a time never waits for long.
        self.timed_out = False
        self._deadline = threading.Timer(self.server.request_timeout_s, self._stop_reading)
        self._deadline.daemon = True
        self._deadline.start()

    def handle(self) -> None:
        # A client that went away before its answer is no fault of the server's: no traceback.
        with contextlib.suppress(ConnectionError):
            super().handle()

    def finish(self) -> None:
        self._deadline.cancel()
        super().finish()

    def _stop_reading(self) -> None:
        """Past the deadline: a blocked read returns, and the answer (408) can still be written."""
        self.timed_out = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RD)

    def do_OPTIONS(self) -> None:
        self._answer(HTTPStatus.NO_CONTENT if self._operation() else HTTPStatus.NOT_FOUND)

    def do_POST(self) -> None:
        operation = self._operation()
        if operation is None:
            return self._answer(HTTPStatus.NOT_FOUND, "POST /encode or /decode")
        try:
            login = self._login()
        except LoginRefused as error:
            return self._answer(HTTPStatus.UNAUTHORIZED, str(error))
        except IssuerUnreachable as error:
            return self._answer(HTTPStatus.SERVICE_UNAVAILABLE, str(error))
        if login is None and not self._authorized():
            return self._answer(HTTPStatus.UNAUTHORIZED, f"Authorization: Bearer <{TOKEN_VARIABLE}> required")
        declared = self.headers.get("Content-Length", "0")
        # ASCII digits only: str.isdigit() also takes '²', which int() refuses.
        if not (declared.isascii() and declared.isdigit()) or int(declared) > MAX_BODY_BYTES:
            return self._answer(
                HTTPStatus.BAD_REQUEST, f"a Content-Length of at most {MAX_BODY_BYTES} bytes is required"
            )
        length = int(declared)
        received = b""
        try:
            received = self.rfile.read(length)
        except TimeoutError:  # stalled for a whole timeout between two reads
            self.timed_out = True
        if self.timed_out:
            return self._answer(
                HTTPStatus.REQUEST_TIMEOUT, f"the request was not received within {self.server.request_timeout_s:g} s"
            )
        if len(received) < length:
            return self._answer(HTTPStatus.BAD_REQUEST, f"the body ended before its Content-Length of {length} bytes")
        try:
            payloads = list(json_format.Parse(received or b"{}", Payloads(), ignore_unknown_fields=True).payloads)
            if operation == "encode" and login is not None and self.server.attester is not None:
                payloads = self.server.attester.attest(payloads, login)
            answer = Payloads(payloads=[self._transform(operation, payload) for payload in payloads])
        except (json_format.ParseError, DecodeError, UnicodeDecodeError) as error:
            return self._answer(HTTPStatus.BAD_REQUEST, f'expected {{"payloads": [...]}} in protobuf JSON: {error}')
        except UndecryptablePayload as error:
            return self._answer(HTTPStatus.BAD_REQUEST, str(error))
        except NotTheLogin as error:
            return self._answer(HTTPStatus.FORBIDDEN, str(error))
        # Spelled out: protobuf JSON leaves an empty list out, and the protocol always has the key.
        body = {"payloads": json_format.MessageToDict(answer).get("payloads", [])}
        self._answer(HTTPStatus.OK, json.dumps(body), content_type="application/json")

    def _operation(self) -> str | None:
        last = urlsplit(self.path).path.rstrip("/").rsplit("/", 1)[-1]
        return last if last in ("encode", "decode") else None

    def _transform(self, operation: str, payload: Payload) -> Payload:
        codec = self.server.codec
        if codec is None:
            return payload
        return codec.encrypt(payload) if operation == "encode" else codec.decrypt(payload)

    def _bearer(self) -> str:
        # An auth scheme is case-insensitive (RFC 9110, 11.1); the token is not.
        scheme, _, credentials = self.headers.get("Authorization", "").strip().partition(" ")
        return credentials.strip() if scheme.lower() == "bearer" else ""

    def _authorized(self) -> bool:
        if not self.server.token:
            return True
        return hmac.compare_digest(self._bearer().encode(), self.server.token.encode())

    def _login(self) -> Login | None:
        """The UI user a bearer token proves, or None: no issuer, no bearer, or the static token."""
        bearer = self._bearer()
        if self.server.attester is None or not bearer or (self.server.token and self._authorized()):
            return None
        return self.server.attester.verifier.verify(bearer)

    def _answer(self, status: HTTPStatus, body: str = "", content_type: str = "text/plain; charset=utf-8") -> None:
        encoded = body.encode()
        self.send_response(status)
        origin = self.headers.get("Origin")
        if origin in self.server.origins:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", ALLOWED_HEADERS)
            # The UI's "include cross-origin credentials" setting needs this to read the answer.
            self.send_header("Access-Control-Allow-Credentials", "true")
            self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Vary", "Origin")
        if encoded:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)


def ui_attester(config: RunbookConfig, environ: Mapping[str, str] = os.environ) -> UiAttester | None:
    """The attester of UI logins when [approvals] names an issuer, or ConfigError naming what is missing."""
    approvals = config.approvals
    if not approvals.ui_issuer:
        return None
    text = environ.get(CODEC_KEY_VARIABLE, "")
    if not text and urlsplit(approvals.ui_issuer).hostname == SANDBOX_HOST:
        text = sandbox_secret(CODEC_KEY_VARIABLE, environ)
    if not text:
        raise ConfigError(
            f"{CODEC_KEY_VARIABLE} is not set: [approvals] ui_issuer = {approvals.ui_issuer!r} needs"
            " the codec server's attestation key (base64 of an ed25519 seed)"
        )
    key = attestation_key(text, CODEC_KEY_VARIABLE, "codec_key", approvals.codec_key)
    return UiAttester(LoginVerifier(approvals.ui_issuer, approvals.ui_audience), config.people, key)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="runbook-codec-server", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    args = parser.parse_args(argv)
    host, port = args.host, args.port
    try:
        codec = EncryptionCodec.from_environment()
        config = load_config()
        attester = ui_attester(config)
    except ConfigError as error:
        print(f"codec server: error: {error}", file=sys.stderr)
        return 2
    if codec is None and attester is None:
        print(
            f"codec server: error: {KEYS_VARIABLE} is not set and [approvals] ui_issuer is empty:"
            " nothing to decode or attest",
            file=sys.stderr,
        )
        return 2
    token = os.environ.get(TOKEN_VARIABLE) or None
    try:
        server = CodecServer(port, codec, ui_origins(config.temporal.ui_url), token, attester=attester, host=host)
    except OSError as error:
        print(f"codec server: error: cannot listen on {host}:{port}: {error.strerror}", file=sys.stderr)
        return 3
    keys = f"keys {', '.join(codec.key_ids)} ({codec.encrypting_key_id} encrypts)" if codec else "no encryption"
    logins = f", attests UI logins of {config.approvals.ui_issuer}" if attester else ""
    print(f"codec server at http://{host}:{port}, {keys}{logins}", flush=True)
    with server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
