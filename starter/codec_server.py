"""The codec server: lets the Temporal UI (and `temporal --codec-endpoint`) show encrypted payloads
to whoever runs it with the keys. `python -m starter.codec_server [--port 8888]`, on 127.0.0.1 only.

Temporal's codec server protocol: POST /encode and POST /decode (also under a namespace segment,
/NAMESPACE/decode, as the CLI's endpoint template makes them) take and answer `{"payloads": [...]}`,
each payload in protobuf JSON (metadata values and data base64). The UI calls from the browser, so
its origin gets CORS answers. With RUNBOOK_CODEC_SERVER_TOKEN set, a request must carry
`Authorization: Bearer <token>` (the UI's codec settings can pass one).
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import sys
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


def ui_origins(ui_url: str) -> set[str]:
    """The UI's origin as configured, and as reached by the other loopback name a user may type."""
    parts = urlsplit(ui_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    twins = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}
    twin = twins.get(parts.hostname or "")
    return {origin, origin.replace(parts.hostname, twin, 1)} if twin and parts.hostname else {origin}


class CodecServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, codec: EncryptionCodec, origins: set[str], token: str | None) -> None:
        self.codec, self.origins, self.token = codec, origins, token
        super().__init__(("127.0.0.1", port), CodecRequestHandler)


class CodecRequestHandler(BaseHTTPRequestHandler):
    server: CodecServer
    server_version = "runbook-codec"

    def do_OPTIONS(self) -> None:
        self._answer(HTTPStatus.NO_CONTENT if self._operation() else HTTPStatus.NOT_FOUND)

    def do_POST(self) -> None:
        operation = self._operation()
        if operation is None:
            return self._answer(HTTPStatus.NOT_FOUND, "POST /encode or /decode")
        if not self._authorized():
            return self._answer(HTTPStatus.UNAUTHORIZED, f"Authorization: Bearer <{TOKEN_VARIABLE}> required")
        declared = self.headers.get("Content-Length", "0")
        if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
            return self._answer(
                HTTPStatus.BAD_REQUEST, f"a Content-Length of at most {MAX_BODY_BYTES} bytes is required"
            )
        try:
            payloads = json_format.Parse(
                self.rfile.read(int(declared)) or b"{}", Payloads(), ignore_unknown_fields=True
            )
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
        return hmac.compare_digest(
            self.headers.get("Authorization", "").encode(), f"Bearer {self.server.token}".encode()
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
