"""The deployment log in S3: a JSON object per record and an index per environment."""

from __future__ import annotations

from typing import Any

from temporalio import activity

from runbook.records import (
    DeploymentRecord,
    RecordIndex,
    VerifiedAnswer,
    VerifiedQuery,
    index_key,
    record_key,
    verified_record,
)


class RecordStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def index(self, environment: str) -> RecordIndex:
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=index_key(environment))["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            return RecordIndex(environment=environment)
        return RecordIndex.model_validate_json(body)

    def write(self, record: DeploymentRecord) -> None:
        """Idempotent: writing the same record again replaces it, in the object and in the index."""
        self._s3.put_object(
            Bucket=self._bucket,
            Key=record_key(record.environment, record.id),
            Body=record.model_dump_json(indent=2).encode(),
        )
        index = self.index(record.environment)
        index.upsert(record)
        self._s3.put_object(
            Bucket=self._bucket, Key=index_key(record.environment), Body=index.model_dump_json().encode()
        )


class RecordsActivities:
    def __init__(self, store: RecordStore) -> None:
        self._store = store

    @activity.defn
    def write_record(self, record: DeploymentRecord) -> DeploymentRecord:
        self._store.write(record)
        return record

    @activity.defn
    def find_verified(self, query: VerifiedQuery) -> VerifiedAnswer:
        return VerifiedAnswer(record_id=verified_record(self._store.index(query.environment), query.version))
