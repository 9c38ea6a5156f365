"""A recording fake of each environment's operations API: rate limiting and the maintenance page.

Incident mitigations call it; like the other fakes it only records and answers, the fleet's
behaviour does not change.
"""

from __future__ import annotations

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from runbook.config import UnknownName
from sandbox.fakes import Recorder
from sandbox.web import ApiError, json_response, request_json


class OpsFake:
    def __init__(self, environments: list[str]) -> None:
        self._environments = environments

    def rules(self, recorder: Recorder) -> list[Rule]:
        return [
            Rule("/<env>/_ops/rate-limit", endpoint=recorder.recorded("ops", self.rate_limit), methods=["POST"]),
            Rule("/<env>/_ops/maintenance", endpoint=recorder.recorded("ops", self.maintenance), methods=["POST"]),
        ]

    def rate_limit(self, request: Request, env: str) -> Response:
        body = self._body(request, env)
        return json_response(
            {
                "environment": env,
                "rate_limit": {
                    "services": body.get("services", []),
                    "requests_per_second": body.get("requests_per_second"),
                },
            }
        )

    def maintenance(self, request: Request, env: str) -> Response:
        body = self._body(request, env)
        return json_response({"environment": env, "maintenance": bool(body.get("enabled", True))})

    def _body(self, request: Request, env: str) -> dict:
        if env not in self._environments:
            raise ApiError(404, str(UnknownName("environment", env, self._environments)))
        return request_json(request)
