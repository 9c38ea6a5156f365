"""The Slack Web API's fake: the methods the workers call, answered as Slack answers them."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from sandbox.recorder import Recorder
from sandbox.web import json_response, request_body


class SlackFake:
    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "conversations.create": self._create_channel,
            "conversations.invite": self._invite,
        }

    def rules(self, recorder: Recorder) -> list[Rule]:
        return [Rule("/slack/api/<method>", endpoint=recorder.recorded("slack", self.call), methods=["GET", "POST"])]

    def call(self, request: Request, method: str) -> Response:
        action = self._methods.get(method)
        if action is None:
            return json_response({"ok": False, "error": "unknown_method"})
        arguments = request_body(request)
        payload = arguments if isinstance(arguments, dict) else dict(request.args)
        return json_response({"ok": True, **action(payload)})

    def _timestamp(self) -> str:
        # Slack's ts doubles as the message id, so it must be unique.
        return f"{int(time.time())}.{next(self._counter):06d}"

    def _post_message(self, payload: dict[str, Any]) -> dict[str, Any]:
        ts = self._timestamp()
        message = {"text": payload.get("text", ""), "ts": ts}
        return {"channel": payload.get("channel"), "ts": ts, "message": message}

    def _update(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"channel": payload.get("channel"), "ts": payload.get("ts"), "text": payload.get("text", "")}

    def _create_channel(self, payload: dict[str, Any]) -> dict[str, Any]:
        channel_id = f"C{next(self._counter):08d}"
        return {"channel": {"id": channel_id, "name": payload.get("name"), "created": int(time.time())}}

    def _invite(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"channel": {"id": payload.get("channel")}}
