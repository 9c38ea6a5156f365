"""The runbook's mitigations when an incident is not deployment-related: scale up resources
(ECS desired count), enable rate limiting, redirect to the maintenance page.

The last two go to the environment's operations API beside its health endpoints
(`{base_url}/_ops/...`); the sandbox records them like the other fakes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from pydantic import SecretStr
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.aws import AwsClients
from activities.http import retry_after
from runbook.config import RunbookConfig
from runbook.incident import OpsApplied, OpsRequest, ScaleChange, ScaleUpRequest

# The operations API's rate limit when it does not say how long to wait.
OPS_RATE_LIMITED_BACKOFF = timedelta(seconds=5)


class MitigationActivities:
    def __init__(self, aws: AwsClients, http: httpx.AsyncClient, config: RunbookConfig, ops_token: SecretStr) -> None:
        self._ecs = aws.ecs
        self._http = http
        self._config = config
        self._ops_token = ops_token

    @activity.defn
    def scale_up(self, request: ScaleUpRequest) -> list[ScaleChange]:
        cluster = self._config.environment(request.environment).cluster
        changes = []
        for service, before in request.desired_before.items():
            after = self._config.scaling.scale_up_target(before)
            if after != before:
                self._ecs.update_service(cluster=cluster, service=service, desiredCount=after)
            changes.append(ScaleChange(service=service, before=before, after=after))
        return changes

    @activity.defn
    async def rate_limit(self, request: OpsRequest) -> OpsApplied:
        rps = self._config.incidents.rate_limit_rps
        await self._ops(
            request.environment,
            "rate-limit",
            {"services": request.services, "requests_per_second": rps, "incident": request.incident_id},
        )
        return OpsApplied(action="rate_limit", detail=f"{', '.join(request.services)} limited to {rps} requests/s")

    @activity.defn
    async def maintenance_page(self, request: OpsRequest) -> OpsApplied:
        await self._ops(
            request.environment,
            "maintenance",
            {"enabled": True, "services": request.services, "incident": request.incident_id},
        )
        return OpsApplied(action="maintenance_page", detail=f"{request.environment} redirects to the maintenance page")

    async def _ops(self, environment: str, operation: str, body: dict[str, Any]) -> None:
        url = f"{self._config.environment(environment).base_url.rstrip('/')}/_ops/{operation}"
        response = await self._http.post(
            url, json=body, headers={"Authorization": f"Bearer {self._ops_token.get_secret_value()}"}
        )
        if response.status_code == 429:
            raise ApplicationError(
                f"{operation}: rate limited",
                next_retry_delay=retry_after(response) or OPS_RATE_LIMITED_BACKOFF,
            )
        if response.is_client_error:
            raise ApplicationError(
                f"{operation} refused: HTTP {response.status_code} {response.text[:200]}", non_retryable=True
            )
        response.raise_for_status()
