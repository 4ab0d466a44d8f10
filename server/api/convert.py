"""Stored rows → MLflow's JSON messages (proto field names, int64 as numbers, unset fields omitted)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Row

from server.store.logged_models import STATUS_NAMES
from server.store.models import Experiment, LoggedModel, ModelVersion, RegisteredModel, Run
from server.store.runs import LatestValue, RunData


def key_values(pairs: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in pairs.items()]


def metric_value(value: float, is_nan: bool) -> float | str:
    """NaN travels as the string "NaN", as protobuf's JSON printer writes it."""
    return "NaN" if is_nan else value


def experiment_json(experiment: Experiment, tags: Mapping[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "experiment_id": str(experiment.experiment_id),
        "name": experiment.name,
        "artifact_location": experiment.artifact_location,
        "lifecycle_stage": experiment.lifecycle_stage,
        "last_update_time": experiment.last_update_time,
        "creation_time": experiment.creation_time,
    }
    if tags:
        body["tags"] = key_values(tags)
    return body


def run_info_json(run: Run | Row[Any]) -> dict[str, Any]:
    """A run's info from its ORM object or from a search page's row (same attribute names)."""
    body: dict[str, Any] = {
        "run_id": run.run_uuid,
        "run_uuid": run.run_uuid,
        "run_name": run.name,
        "experiment_id": str(run.experiment_id),
        "user_id": run.user_id,
        "status": run.status,
        "start_time": run.start_time,
        "artifact_uri": run.artifact_uri,
        "lifecycle_stage": run.lifecycle_stage,
    }
    if run.end_time is not None:
        body["end_time"] = run.end_time
    return body


def latest_metric_json(metric: LatestValue) -> dict[str, Any]:
    return {
        "key": metric.key,
        "value": metric_value(metric.value, metric.is_nan),
        "timestamp": metric.timestamp,
        "step": metric.step,
    }


def run_json(run: Run | Row[Any], data: RunData) -> dict[str, Any]:
    run_data: dict[str, Any] = {}
    if data.metrics:
        run_data["metrics"] = [latest_metric_json(m) for m in data.metrics]
    if data.params:
        run_data["params"] = key_values(data.params)
    if data.tags:
        run_data["tags"] = key_values(data.tags)
    inputs: dict[str, Any] = {}
    if data.dataset_inputs:
        inputs["dataset_inputs"] = [
            {
                "tags": key_values(item.tags),
                "dataset": _omit_none(
                    name=item.dataset.name,
                    digest=item.dataset.digest,
                    source_type=item.dataset.source_type,
                    source=item.dataset.source,
                    schema=item.dataset.schema,
                    profile=item.dataset.profile,
                ),
            }
            for item in data.dataset_inputs
        ]
    if data.model_inputs:
        inputs["model_inputs"] = [{"model_id": link.model_id} for link in data.model_inputs]
    outputs: dict[str, Any] = {}
    if data.model_outputs:
        outputs["model_outputs"] = [{"model_id": link.model_id, "step": link.step} for link in data.model_outputs]
    return {"info": run_info_json(run), "data": run_data, "inputs": inputs, "outputs": outputs}


def logged_model_json(
    model: LoggedModel, *, params: Mapping[str, str], tags: Mapping[str, str], metrics: list[dict[str, Any]]
) -> dict[str, Any]:
    info = _omit_none(
        model_id=model.model_id,
        experiment_id=str(model.experiment_id),
        name=model.name,
        creation_timestamp_ms=model.creation_timestamp_ms,
        last_updated_timestamp_ms=model.last_updated_timestamp_ms,
        artifact_uri=model.artifact_uri,
        status=STATUS_NAMES.get(model.status, "LOGGED_MODEL_STATUS_UNSPECIFIED"),
        model_type=model.model_type,
        source_run_id=model.source_run_id,
        status_message=model.status_message,
    )
    if tags:
        info["tags"] = key_values(tags)
    data: dict[str, Any] = {}
    if params:
        data["params"] = key_values(params)
    if metrics:
        data["metrics"] = metrics
    return {"info": info, "data": data}


def page_json(field: str, items: list[dict[str, Any]], next_page_token: str | None) -> dict[str, Any]:
    """A search response: empty lists and the token of a last page are omitted, as MLflow's JSON printer does."""
    body: dict[str, Any] = {field: items} if items else {}
    if next_page_token:
        body["next_page_token"] = next_page_token
    return body


def _omit_none(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def model_version_json(
    version: ModelVersion, *, name: str, tags: Mapping[str, str], aliases: list[str]
) -> dict[str, Any]:
    """`status` is always sent: a missing one reads as PENDING_REGISTRATION and the client would poll."""
    body = _omit_none(
        name=name,
        version=str(version.version),
        creation_timestamp=version.creation_timestamp,
        last_updated_timestamp=version.last_updated_timestamp,
        description=version.description,
        current_stage=version.current_stage,
        source=version.source,
        run_id=version.run_id,
        run_link=version.run_link,
        status=version.status,
        model_id=version.model_id,
    )
    if tags:
        body["tags"] = key_values(tags)
    if aliases:
        body["aliases"] = aliases
    return body


def registered_model_json(
    model: RegisteredModel,
    *,
    tags: Mapping[str, str],
    aliases: Mapping[str, int],
    latest_versions: list[dict[str, Any]],
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": model.name,
        "creation_timestamp": model.creation_timestamp,
        "last_updated_timestamp": model.last_updated_timestamp,
    }
    if model.description:
        body["description"] = model.description
    if latest_versions:
        body["latest_versions"] = latest_versions
    if tags:
        body["tags"] = key_values(tags)
    if aliases:
        body["aliases"] = [{"alias": alias, "version": str(version)} for alias, version in aliases.items()]
    return body
