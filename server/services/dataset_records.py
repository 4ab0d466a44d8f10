"""The records of an evaluation dataset: reading the client's JSON, MLflow's merge of records with the same inputs
(`SqlEvaluationDatasetRecord.merge` and the SQL store's `upsert_dataset_records`), the schema MLflow infers, and
cursor pages.

A batch is checked whole before anything is written, and is written in the request's one transaction, so a bad
record leaves the dataset as it was. Two records have the same inputs exactly when MLflow would say so: their
canonical JSON (keys sorted) is the same, so key order does not matter, and `1`, `1.0` and `true` differ.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from server.errors import MlflowError

MLFLOW_USER = "mlflow.user"  # the tag the client sets to the local user: creator and updater of a record
SOURCE_TYPES = ("UNSPECIFIED", "TRACE", "HUMAN", "DOCUMENT", "CODE")
RECORD_ID_PREFIX = "dr-"
DEFAULT_PAGE, MAX_PAGE = 1000, 10_000
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
_SCHEMA_TYPES = ((bool, "boolean"), (int, "integer"), (float, "float"), (str, "string"), (list, "array"))


def _json_type(value: Any) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


class JsonCodec:
    """orjson, except where a text needs Python's parser (`NaN`, `Infinity`, integers past 64 bits, which the
    client's `json.dumps` writes): from then on the batch is written back with Python's encoder too, so those
    values survive instead of becoming null."""

    def __init__(self) -> None:
        self.exact = False

    def loads(self, text: str) -> Any:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            self.exact = True
            return json.loads(text)

    def dumps(self, value: Any) -> str:
        return json.dumps(value) if self.exact else orjson.dumps(value).decode()


def _has_special_number(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_special_number(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_special_number(v) for v in value)
    return False


def input_hash(inputs: dict[str, Any], codec: JsonCodec) -> str:
    """SHA-256 of the inputs' canonical JSON. MLflow hashes `json.dumps(inputs, sort_keys=True)`; orjson's sorted
    form tells the same inputs apart five times faster, so it is used wherever it is exact: everywhere but for
    `NaN` and infinities (which it writes as null) and integers past 64 bits (which it refuses). Those take
    Python's form, which no orjson text can equal, so the hash stays one function of the inputs."""
    if not (codec.exact and _has_special_number(inputs)):
        try:
            return hashlib.sha256(orjson.dumps(inputs, option=orjson.OPT_SORT_KEYS)).hexdigest()
        except orjson.JSONEncodeError:
            pass
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


@dataclass(slots=True)
class Incoming:
    """One record of a batch, checked; `outputs` counts only when `has_outputs` (MLflow tells an absent key from
    an explicit null)."""

    input_hash: str
    inputs: dict[str, Any]
    has_outputs: bool
    outputs: Any
    expectations: dict[str, Any] | None
    tags: dict[str, Any] | None
    source: dict[str, Any] | None
    source_id: str | None

    @property
    def user(self) -> str | None:
        user = (self.tags or {}).get(MLFLOW_USER)
        return None if user is None else str(user)


def _present(record: dict[str, Any], key: str) -> Any:
    """The record's value for `key`; NaN, which a DataFrame holds where a row has no value, counts as none."""
    value = record.get(key)
    return None if isinstance(value, float) and math.isnan(value) else value


def _object(record: dict[str, Any], key: str, index: int) -> dict[str, Any] | None:
    value = _present(record, key)
    if value is not None and not isinstance(value, dict):
        raise MlflowError.invalid_parameter(f"Record {index}: '{key}' must be a JSON object, not {_json_type(value)}.")
    return value


def _source(record: dict[str, Any], index: int) -> tuple[dict[str, Any] | None, str | None]:
    """MLflow's `DatasetRecordSource`: a known type (any case) and an object of source data; the source id is the
    data's `trace_id` for traces, else its `source_id`."""
    source = _present(record, "source")
    if source is None:
        return None, None
    if (
        not isinstance(source, dict)
        or not isinstance(source.get("source_type"), str)
        or set(source)
        - {
            "source_type",
            "source_data",
        }
    ):
        raise MlflowError.invalid_parameter(
            f"Record {index}: 'source' must be a JSON object with a 'source_type' string and optionally a "
            "'source_data' object."
        )
    source_type = source["source_type"].upper()
    if source_type not in SOURCE_TYPES:
        raise MlflowError.invalid_parameter(
            f"Invalid dataset record source type: {source_type}. Valid source types: {list(SOURCE_TYPES)}"
        )
    data = source.get("source_data") or {}
    if not isinstance(data, dict):
        raise MlflowError.invalid_parameter(f"Record {index}: 'source_data' must be a JSON object.")
    source_id = data.get("trace_id") if source_type == "TRACE" else data.get("source_id")
    return {"source_type": source_type, "source_data": data}, None if source_id is None else str(source_id)


def _incoming(record: Any, index: int, codec: JsonCodec) -> Incoming:
    if not isinstance(record, dict):
        raise MlflowError.invalid_parameter(
            f"Each record must be a dictionary; record {index} is {_json_type(record)}."
        )
    inputs = record.get("inputs", {})
    if not isinstance(inputs, dict):
        raise MlflowError.invalid_parameter(
            f"Record {index}: 'inputs' must be a JSON object, not {_json_type(inputs)}."
        )
    source, source_id = _source(record, index)
    return Incoming(
        input_hash=input_hash(inputs, codec),
        inputs=inputs,
        has_outputs="outputs" in record,
        outputs=record.get("outputs"),
        expectations=_object(record, "expectations", index),
        tags=_object(record, "tags", index),
        source=source,
        source_id=source_id,
    )


def parse_batch(text: str, codec: JsonCodec) -> list[Incoming]:
    """The records of an upsert's `records` string: a JSON list of record objects."""
    try:
        records = codec.loads(text)
    except (ValueError, RecursionError) as error:
        raise MlflowError.invalid_parameter(f"Parameter 'records' is not valid JSON: {error}") from None
    if not isinstance(records, list):
        raise MlflowError.invalid_parameter(
            f"Parameter 'records' must be a JSON-encoded list of records, not {_json_type(records)}."
        )
    return [_incoming(record, index, codec) for index, record in enumerate(records)]


# --- merging ------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Merged:
    """A record as the batch leaves it: `seq` None for a new one. JSON parts are kept as text; a merge parses only
    what it changes."""

    seq: int | None
    outputs: str | None
    expectations: str | None
    tags: str | None
    last_updated_by: str | None
    row: dict[str, Any] = field(default_factory=dict)  # a new record's insert row


def record_id(now: int) -> str:
    """`dr-` and 32 hex digits as in MLflow, time first: a batch's ids land together at the end of the index."""
    return f"{RECORD_ID_PREFIX}{now:012x}{os.urandom(10).hex()}"


def new_record(dataset_id: str, incoming: Incoming, codec: JsonCodec, now: int) -> Merged:
    """A record MLflow creates: outputs `{}` when the client sent none, tags `{}`, its creator from the tags."""
    outputs = incoming.outputs if incoming.has_outputs else {}
    user = incoming.user
    merged = Merged(
        seq=None,
        outputs=None if outputs is None else codec.dumps(outputs),
        expectations=None if incoming.expectations is None else codec.dumps(incoming.expectations),
        tags=codec.dumps(incoming.tags or {}),
        last_updated_by=user,
    )
    merged.row = {
        "dataset_id": dataset_id,
        "input_hash": incoming.input_hash,
        "dataset_record_id": record_id(now),
        "inputs": codec.dumps(incoming.inputs),
        "source": None if incoming.source is None else codec.dumps(incoming.source),
        "source_id": incoming.source_id,
        "source_type": None if incoming.source is None else incoming.source["source_type"],
        "created_time": now,
        "created_by": user,
    }
    return merged


def _updated(text: str | None, changes: dict[str, Any], codec: JsonCodec) -> str:
    current = codec.loads(text) if text else None
    current = current if isinstance(current, dict) else {}
    current.update(changes)
    return codec.dumps(current)


def merge(merged: Merged, incoming: Incoming, codec: JsonCodec) -> None:
    """MLflow's merge: outputs replaced when sent (null clears them), expectations and tags updated key by key,
    the updater taken from the tags when they name one. Inputs, source, creator and creation time stay."""
    if incoming.has_outputs:
        merged.outputs = None if incoming.outputs is None else codec.dumps(incoming.outputs)
    if incoming.expectations:
        merged.expectations = _updated(merged.expectations, incoming.expectations, codec)
    if incoming.tags:
        merged.tags = _updated(merged.tags, incoming.tags, codec)
    if incoming.user is not None:
        merged.last_updated_by = incoming.user


# --- the schema MLflow infers -------------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "object"
    return next((name for kind, name in _SCHEMA_TYPES if isinstance(value, kind)), "unknown")


def updated_schema(existing: str | None, batch: Sequence[Incoming]) -> str | None:
    """The dataset's schema with the fields this batch brings (each field keeps the type it was first seen with),
    as MLflow's `_update_dataset_schema` writes it. Where MLflow fails (a dict of outputs after scalar outputs),
    the scalar type stays."""
    if not batch and not existing:
        return None
    schema: dict[str, Any] = (
        json.loads(existing) if existing else {"inputs": {}, "outputs": {}, "expectations": {}, "version": "1.0"}
    )
    for record in batch:
        _add_fields(schema["inputs"], record.inputs)
        if record.outputs is not None:
            if not isinstance(record.outputs, dict):
                schema["outputs"] = schema["outputs"] or _type_name(record.outputs)
            elif isinstance(schema["outputs"], dict):
                _add_fields(schema["outputs"], record.outputs)
        _add_fields(schema["expectations"], record.expectations or {})
    return json.dumps(schema)


def _add_fields(known: dict[str, str], values: dict[str, Any]) -> None:
    for key, value in values.items():
        if key not in known:
            known[key] = _type_name(value)


# --- pages --------------------------------------------------------------------------------------------------------


def page_size(max_results: int | None) -> int:
    """0 or absent means MLflow's 1,000; larger pages are cut to 10,000 (the rest follows the page token)."""
    if max_results is not None and max_results < 0:
        raise MlflowError.invalid_parameter(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer"
        )
    return min(max_results or DEFAULT_PAGE, MAX_PAGE)


def encode_cursor(seq: int) -> str:
    return base64.b64encode(f"seq:{seq}".encode()).decode()


def decode_cursor(token: str | None) -> int:
    if not token:
        return 0
    try:
        kind, _, seq = base64.b64decode(token, validate=True).decode().partition(":")
        if kind == "seq" and seq.isdigit():
            return int(seq)
    except (binascii.Error, UnicodeDecodeError):
        pass
    raise MlflowError.invalid_parameter(f"Invalid page token: {token}")
