"""The deployment log: one record per deployment, hotfix or rollback, and an index per environment.

The runbook's "Update deployment log", kept in S3. Rollbacks read it to find the revision a
deployment replaced; hotfixes read it to know whether a version passed verification on staging.

The index is a prefix, not an object: each record is also an entry of its own under
`records/ENV/index/`, named by the moment it ended, so writers never read, change and write back a
shared object, and records written at the same moment are all kept. Readers list the prefix in key
order. `records/ENV/index.json`, the single object earlier versions kept, is still read first.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import Field

from runbook.base import Model


class ServiceChange(Model):
    service: str
    before_arn: str
    before_version: str
    after_arn: str
    after_version: str
    outcome: str = ""


class DeploymentRecord(Model):
    id: str
    kind: str
    environment: str
    state: str
    requested_by: str
    started_at: datetime
    ended_at: datetime | None = None
    version: str = ""
    reason: str = ""
    approver: str = ""
    incident: str = ""
    verification_passed: bool | None = None
    changes: list[ServiceChange] = Field(default_factory=list)
    # Production's key user flows nobody confirmed before the checklist's deadline.
    unconfirmed: list[str] = Field(default_factory=list)


class RecordIndex(Model):
    environment: str
    records: list[DeploymentRecord] = Field(default_factory=list)

    def upsert(self, record: DeploymentRecord) -> None:
        self.records = [existing for existing in self.records if existing.id != record.id] + [record]

    @classmethod
    def of(cls, environment: str, records: Iterable[DeploymentRecord]) -> RecordIndex:
        """The index of records in the order given; a record seen again (same id) moves to the end."""
        by_id: dict[str, DeploymentRecord] = {}
        for record in records:
            by_id.pop(record.id, None)
            by_id[record.id] = record
        return cls(environment=environment, records=list(by_id.values()))

    def replaced_revision(self, service: str, current_arn: str) -> str | None:
        """The revision that the change which put `current_arn` in place had replaced."""
        for record in reversed(self.records):
            for change in record.changes:
                if change.service == service and change.after_arn == current_arn and change.outcome == "deployed":
                    return change.before_arn
        return None


class VerifiedQuery(Model):
    environment: str
    version: str


class VerifiedAnswer(Model):
    record_id: str = ""


def verified_record(index: RecordIndex, version: str) -> str:
    """The newest record in which this version passed verification, or ""."""
    for record in reversed(index.records):
        if record.version == version and record.verification_passed:
            return record.id
    return ""


def record_key(environment: str, record_id: str) -> str:
    return f"records/{environment}/{record_id}.json"


def index_key(environment: str) -> str:
    """The single index object of earlier versions: read, never written."""
    return f"records/{environment}/index.json"


def index_prefix(environment: str) -> str:
    return f"records/{environment}/index/"


def index_entry_key(record: DeploymentRecord) -> str:
    """The record's own index entry: keys sort as the records ended (then by id), and writing the
    same record again (an activity's retry) replaces its entry."""
    moment = record.ended_at or record.started_at
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return f"{index_prefix(record.environment)}{moment:%Y%m%dT%H%M%S%fZ}-{record.id}.json"
