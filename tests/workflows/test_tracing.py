"""With tracing on, the worker's client traces each workflow and activity it runs. Needs the
tracing extra, which `make install` installs (the dev extra includes it): without it this file
fails to import rather than being skipped, so the suite cannot pass with tracing untested."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

# The workflow sandbox re-imports this module to validate TracedProcedure.
with workflow.unsafe.imports_passed_through():
    from opentelemetry.sdk.trace.export import in_memory_span_exporter as in_memory

    from runbook.observability import start_tracing


@activity.defn
async def traced_step(name: str) -> str:
    return f"{name} done"


@workflow.defn
class TracedProcedure:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(traced_step, name, start_to_close_timeout=timedelta(seconds=10))


async def test_a_workflow_started_without_a_span_is_traced_with_its_activity(temporal_env):
    exporter = in_memory.InMemorySpanExporter()
    tracing = start_tracing(exporter, environ={"OTEL_SERVICE_NAME": "runbook-test"})
    # As the worker connects: the interceptor on the client, so every worker of that client has it.
    client = Client(**{**temporal_env.client.config(), "interceptors": [tracing.interceptor]})
    queue = f"tracing-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[TracedProcedure], activities=[traced_step]):
        # Started by a client without tracing, as the CLI starts procedures.
        result = await temporal_env.client.execute_workflow(
            TracedProcedure.run, "deploy staging", id=f"traced-{uuid.uuid4()}", task_queue=queue
        )
    assert result == "deploy staging done"
    tracing.provider.force_flush()
    spans = exporter.get_finished_spans()
    names = {span.name for span in spans}
    assert {"RunWorkflow:TracedProcedure", "StartActivity:traced_step", "RunActivity:traced_step"} <= names
    assert {span.resource.attributes["service.name"] for span in spans} == {"runbook-test"}
