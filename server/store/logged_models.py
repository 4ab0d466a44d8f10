"""Queries on MLflow 3 logged models, their params, tags and metrics."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.errors import MlflowError
from server.store import scope
from server.store.dialect import insert_ignore, upsert
from server.store.models import LoggedModel, LoggedModelMetric, LoggedModelParam, LoggedModelTag

# LoggedModelStatus as stored (its proto numbers) and as named on the wire.
STATUS_NAMES = {
    0: "LOGGED_MODEL_STATUS_UNSPECIFIED",
    1: "LOGGED_MODEL_PENDING",
    2: "LOGGED_MODEL_READY",
    3: "LOGGED_MODEL_UPLOAD_FAILED",
}
STATUS_NUMBERS = {name: number for number, name in STATUS_NAMES.items()}


@dataclass(slots=True)
class LoggedModelData:
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[LoggedModelMetric] = field(default_factory=list)


def get_logged_model(session: Session, model_id: str, *, allow_deleted: bool = False) -> LoggedModel:
    model = session.get(LoggedModel, model_id)
    if model is None or scope.hides(session, model.experiment_id):
        raise MlflowError.not_found(f"Logged model with ID '{model_id}' not found.")
    if model.lifecycle_stage == "deleted" and not allow_deleted:
        raise MlflowError.not_found(f"Logged model with ID '{model_id}' not found.")
    return model


def load_data(session: Session, model_ids: Sequence[str]) -> dict[str, LoggedModelData]:
    data = {model_id: LoggedModelData() for model_id in model_ids}
    if not model_ids:
        return data
    for param in session.scalars(select(LoggedModelParam).where(LoggedModelParam.model_id.in_(model_ids))):
        data[param.model_id].params[param.key] = param.value
    for tag in session.scalars(select(LoggedModelTag).where(LoggedModelTag.model_id.in_(model_ids))):
        data[tag.model_id].tags[tag.key] = tag.value
    for metric in session.scalars(
        select(LoggedModelMetric)
        .where(LoggedModelMetric.model_id.in_(model_ids))
        .order_by(LoggedModelMetric.key, LoggedModelMetric.timestamp, LoggedModelMetric.step)
    ):
        data[metric.model_id].metrics.append(metric)
    return data


def set_params(session: Session, model_id: str, params: Mapping[str, str]) -> None:
    rows = [{"model_id": model_id, "key": k, "value": v} for k, v in params.items()]
    insert_ignore(session, LoggedModelParam, rows)


def set_tags(session: Session, model_id: str, tags: Mapping[str, str]) -> None:
    rows = [{"model_id": model_id, "key": k, "value": v} for k, v in tags.items()]
    upsert(session, LoggedModelTag, rows, update=["value"])


MODEL_VERSIONS_TAG = "mlflow.modelVersions"


def record_registration(session: Session, model_id: str, name: str, version: int) -> None:
    """Add `{name, version}` to the model's `mlflow.modelVersions` tag, as MLflow's server does on registration.

    The tag row is locked while it is rewritten, so concurrent registrations of one logged model do not drop each
    other's entries; the logged model's own row is left alone, so this never waits on a client's tag update."""
    current = session.scalar(
        select(LoggedModelTag.value)
        .where(LoggedModelTag.model_id == model_id, LoggedModelTag.key == MODEL_VERSIONS_TAG)
        .with_for_update()
    )
    try:
        entries = json.loads(current) if current else []
    except ValueError:
        entries = []
    entry = {"name": name, "version": version}
    if not isinstance(entries, list):
        entries = []
    if entry not in entries:
        entries.append(entry)
    set_tags(session, model_id, {MODEL_VERSIONS_TAG: json.dumps(entries)})


def delete_tag(session: Session, model_id: str, key: str) -> None:
    result = session.execute(
        delete(LoggedModelTag).where(LoggedModelTag.model_id == model_id, LoggedModelTag.key == key)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise MlflowError.not_found(f"No tag with key {key!r} found for model with ID {model_id!r}.")
