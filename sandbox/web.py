"""A small threaded WSGI server with JSON helpers, shared by the fleet and the fakes."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from sandbox.aws import HOST, ensure_port_free

Handler = Callable[..., Response]


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_response(payload: object, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def request_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object, or ApiError 400 saying what is wrong with it."""
    try:
        payload = json.loads(request.get_data(as_text=True) or "{}")
    except json.JSONDecodeError as error:
        raise ApiError(400, f"body is not JSON: {error}") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "body must be a JSON object")
    return payload


def request_body(request: Request) -> object:
    """Whatever the client sent, parsed as far as its content type allows, for recording."""
    text = request.get_data(as_text=True)
    if not text:
        return None
    if request.mimetype == "application/x-www-form-urlencoded":
        return dict(parse_qsl(text))
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


class WebApp:
    def __init__(self, rules: Iterable[Rule]) -> None:
        self._map = Map(list(rules), strict_slashes=False, merge_slashes=False)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        return self._dispatch(request)(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        adapter = self._map.bind_to_environ(request.environ)
        try:
            handler, arguments = adapter.match()
            return handler(request, **arguments)
        except NotFound:
            return json_response({"error": f"no route for {request.method} {request.path}"}, 404)
        except MethodNotAllowed as error:
            allowed = ", ".join(sorted(error.valid_methods or []))
            return json_response({"error": f"{request.method} not allowed; allowed: {allowed}"}, 405)
        except ApiError as error:
            return json_response({"error": error.message}, error.status)


class _QuietHandler(WSGIRequestHandler):
    # The sandbox logs events, not requests.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class WebServer:
    """Serves a WSGI app on 127.0.0.1 from a thread; every request gets its own thread."""

    def __init__(self, app: WebApp, port: int) -> None:
        # werkzeug answers a busy port with sys.exit(1), which would end a test run too.
        if port:
            ensure_port_free(port)
        self._server: BaseWSGIServer = make_server(HOST, port, app, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-web", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_port

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        # shutdown() waits for serve_forever(), which never began if start() was not reached.
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
