"""The deployment log in S3 against the sandbox's moto: records written at the same moment all stay found."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from activities.aws import build_aws_clients
from activities.records import RecordsActivities, RecordStore
from runbook.records import DeploymentRecord, ServiceChange, VerifiedQuery

WRITERS = 16


@pytest.fixture
def store(sandbox_stack) -> RecordStore:
    aws = build_aws_clients(sandbox_stack.config)
    return RecordStore(aws.s3, sandbox_stack.config.aws.records_bucket)


def record(environment: str, n: int, **fields) -> DeploymentRecord:
    return DeploymentRecord(
        id=f"deploy-{environment}-{n:02d}",
        kind="deployment",
        environment=environment,
        state="COMPLETED",
        requested_by="alice",
        started_at=datetime.now(UTC),
        ended_at=datetime.now(UTC),
        version=f"v7.{n}.0",
        verification_passed=True,
        **fields,
    )


def test_records_of_one_environment_written_at_the_same_moment_are_all_found(store):
    """A production deployment writes its staging record after it released the staging lock: a
    staging deployment finishing then writes the same environment's log at the same moment."""
    environment = f"race-{uuid.uuid4().hex[:8]}"
    activities = RecordsActivities(store)
    records = [record(environment, n) for n in range(WRITERS)]
    start = threading.Barrier(WRITERS)

    def write(one: DeploymentRecord) -> None:
        start.wait()
        activities.write_record(one)

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, records))

    assert sorted(r.id for r in store.index(environment).records) == [r.id for r in records]
    found = {
        r.version: activities.find_verified(VerifiedQuery(environment=environment, version=r.version)) for r in records
    }
    assert {version: answer.record_id for version, answer in found.items()} == {r.version: r.id for r in records}


def test_the_index_keeps_the_order_records_were_written_and_a_retry_does_not_add_one(store):
    environment = f"order-{uuid.uuid4().hex[:8]}"
    first, second, third = (record(environment, n) for n in range(3))
    for one in (first, second):
        store.write(one)
    store.write(second)  # a retry: the same record again
    store.write(third)
    assert [r.id for r in store.index(environment).records] == [first.id, second.id, third.id]
    assert store.index(f"empty-{uuid.uuid4().hex[:8]}").records == []


def test_the_newest_record_that_deployed_a_revision_names_the_one_it_replaced(store):
    environment = f"replaced-{uuid.uuid4().hex[:8]}"

    def change(before: str, after: str, outcome: str = "deployed") -> ServiceChange:
        return ServiceChange(
            service="market-svc",
            before_arn=before,
            before_version="",
            after_arn=after,
            after_version="",
            outcome=outcome,
        )

    store.write(record(environment, 0, changes=[change("arn:1", "arn:3")]))
    store.write(record(environment, 1, changes=[change("arn:2", "arn:3")]))
    store.write(record(environment, 2, changes=[change("arn:9", "arn:3", "rolled_back")]))
    index = store.index(environment)
    assert index.replaced_revision("market-svc", "arn:3") == "arn:2"
    assert index.replaced_revision("market-svc", "arn:4") is None
