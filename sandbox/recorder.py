"""Every call the fakes and the fleet's operations API take, in order, and the outages that refuse some."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox.outages import Outages
from sandbox.web import Handler, request_body


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Recorder:
    """Every call, in order; `outages` decides which calls are refused (and recorded as such)."""

    def __init__(self, outages: Outages | None = None) -> None:
        self._lock = threading.Lock()
        self._calls: list[dict[str, object]] = []
        self.outages = outages or Outages()

    def record(self, system: str, request: Request, **fields: object) -> None:
        call = {
            "system": system,
            "method": request.method,
            "path": request.path,
            "query": dict(request.args),
            "body": request_body(request),
            # So tests can tell which credential a worker really sent.
            "authorization": request.headers.get("Authorization", ""),
            "time": now_iso(),
            **fields,
        }
        with self._lock:
            self._calls.append(call)

    def calls(self, system: str | None = None) -> list[dict[str, object]]:
        with self._lock:
            return [call for call in self._calls if system is None or call["system"] == system]

    def clear(self) -> int:
        with self._lock:
            count = len(self._calls)
            self._calls.clear()
            return count

    def recorded(self, system: str, handler: Handler, action: str | None = None) -> Handler:
        """`handler` on the record, answering as an outage of `system` (or of its `action`) would."""

        def handle(request: Request, **arguments: Any) -> Response:
            outage = self.outages.take(system, action)
            if outage is not None and outage.mode == "drop":
                self.record(system, request, injected="dropped")
                response = handler(request, **arguments)
                _drop_connection(request)
                return response
            if outage is not None:
                # Refused calls stay on the record, marked, so delivered and refused can be told apart.
                self.record(system, request, injected=outage.status)
                return outage.response()
            self.record(system, request)
            return handler(request, **arguments)

        return handle


def _drop_connection(request: Request) -> None:
    """The call is applied; its answer is lost, as when a connection breaks before the reply: the
    client sees the server disconnect and cannot tell whether anything happened."""
    connection = request.environ.get("werkzeug.socket")
    if isinstance(connection, socket.socket):
        connection.shutdown(socket.SHUT_RDWR)
