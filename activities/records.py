"""The deployment log in S3: a JSON object per record, and an index entry per record (see runbook.records)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from temporalio import activity

from runbook.records import (
    DeploymentRecord,
    RecordIndex,
    VerifiedAnswer,
    VerifiedQuery,
    index_entry_key,
    index_key,
    index_prefix,
    record_key,
    verified_record,
)

# Index entries read at once: an environment's log is read whole by each reader.
_READERS = 8


class RecordStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def index(self, environment: str) -> RecordIndex:
        """Every record of the environment, oldest first: the earlier single index object's, then
        the entries listed under the index prefix in key order."""
        try:
            legacy = RecordIndex.model_validate_json(self._read(index_key(environment))).records
        except self._s3.exceptions.NoSuchKey:
            legacy = []
        keys = sorted(
            entry["Key"]
            for page in self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=index_prefix(environment)
            )
            for entry in page.get("Contents", [])
        )
        with ThreadPoolExecutor(_READERS) as pool:
            entries = [DeploymentRecord.model_validate_json(body) for body in pool.map(self._read, keys)]
        return RecordIndex.of(environment, [*legacy, *entries])

    def write(self, record: DeploymentRecord) -> None:
        """Idempotent: writing the same record again replaces its object and its index entry. No
        shared object is read and written back, so writers of one environment never lose a record."""
        body = record.model_dump_json(indent=2).encode()
        self._s3.put_object(Bucket=self._bucket, Key=record_key(record.environment, record.id), Body=body)
        self._s3.put_object(Bucket=self._bucket, Key=index_entry_key(record), Body=body)

    def _read(self, key: str) -> bytes:
        return self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()


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
