"""The codec server: lets the Temporal UI (and `temporal --codec-endpoint`) show encrypted payloads
to whoever runs it with the keys. `python -m starter.codec_server [--port 8888]`, on 127.0.0.1 only.

Temporal's codec server protocol: POST /encode and POST /decode (also under a namespace segment,
/NAMESPACE/decode, as the CLI's endpoint template makes them) take and answer `{"payloads": [...]}`,
each payload in protobuf JSON (metadata values and data base64). The UI calls from the browser, so
its origin gets CORS answers. With RUNBOOK_CODEC_SERVER_TOKEN set, a request must carry
`Authorization: Bearer <token>` (the UI's codec settings can pass one; the scheme in any case).

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
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payloads

from runbook.codec import KEYS_VARIABLE, EncryptionCodec, UndecryptablePayload
from runbook.config import ConfigError, load_config

DEFAULT_PORT = 8888
TOKEN_VARIABLE = "RUNBOOK_CODEC_SERVER_TOKEN"
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
        codec: EncryptionCodec,
        origins: set[str],
        token: str | None,
        *,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.codec, self.origins, self.token = codec, origins, token
        self.request_timeout_s = request_timeout_s
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(("127.0.0.1", port), CodecRequestHandler)

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
        if not self._authorized():
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
            payloads = json_format.Parse(received or b"{}", Payloads(), ignore_unknown_fields=True)
            transform = self.server.codec.encrypt if operation == "encode" else self.server.codec.decrypt
            answer = Payloads(payloads=[transform(payload) for payload in payloads.payloads])
        except (json_format.ParseError, DecodeError, UnicodeDecodeError) as error:
            return self._answer(HTTPStatus.BAD_REQUEST, f'expected {{"payloads": [...]}} in protobuf JSON: {error}')
        except UndecryptablePayload as error:
            return self._answer(HTTPStatus.BAD_REQUEST, str(error))
        # Spelled out: protobuf JSON leaves an empty list out, and the protocol always has the key.
        body = {"payloads": json_format.MessageToDict(answer).get("payloads", [])}
        self._answer(HTTPStatus.OK, json.dumps(body), content_type="application/json")

    def _operation(self) -> str | None:
        last = urlsplit(self.path).path.rstrip("/").rsplit("/", 1)[-1]
        return last if last in ("encode", "decode") else None

    def _authorized(self) -> bool:
        if not self.server.token:
            return True
        # An auth scheme is case-insensitive (RFC 9110, 11.1); the token is not.
        scheme, _, credentials = self.headers.get("Authorization", "").strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode(), self.server.token.encode()
        )

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m starter.codec_server", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})")
    port = parser.parse_args(argv).port
    try:
        codec = EncryptionCodec.from_environment()
        config = load_config()
    except ConfigError as error:
        print(f"codec server: error: {error}", file=sys.stderr)
        return 2
    if codec is None:
        print(f"codec server: error: {KEYS_VARIABLE} is not set: there is no key to decode with", file=sys.stderr)
        return 2
    try:
        server = CodecServer(port, codec, ui_origins(config.temporal.ui_url), os.environ.get(TOKEN_VARIABLE) or None)
    except OSError as error:
        print(f"codec server: error: cannot listen on 127.0.0.1:{port}: {error.strerror}", file=sys.stderr)
        return 3
    keys = ", ".join(codec.key_ids)
    print(f"codec server at http://127.0.0.1:{port}, keys {keys} ({codec.encrypting_key_id} encrypts)", flush=True)
    with server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
