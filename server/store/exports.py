"""What `runyard export` lists: the default workspace's experiments (deleted ones too), each one's runs, traces and
logged models, and its registered models (prompts included); and a run's metric histories, streamed. Everything else of
one item is read by the same functions `runyard import` uses to read back what it wrote, so an export and an import
see a run the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from server.store.imports import StoredRun
from server.store.models import Experiment, LoggedModel, RegisteredModel, Run, Trace
from server.store.runs import load_run_data
from server.store.workspace_models import DEFAULT_WORKSPACE


def experiments(session: Session) -> list[Experiment]:
    """Every experiment of the default workspace, in every lifecycle stage, by id."""
    query = select(Experiment).where(Experiment.workspace == DEFAULT_WORKSPACE).order_by(Experiment.experiment_id)
    return list(session.scalars(query))


def run_ids(session: Session, experiment_id: int) -> list[str]:
    """The experiment's runs, deleted ones too, oldest first."""
    query = select(Run.run_uuid).where(Run.experiment_id == experiment_id).order_by(Run.start_time, Run.run_uuid)
    return list(session.scalars(query))


def run_without_history(session: Session, run_id: str) -> StoredRun | None:
    """The run as `runyard import` reads it back, but for its metric points: those are streamed (`metric_points`)."""
    run = session.get(Run, run_id)
    if run is None:
        return None
    data = load_run_data(session, [run_id])[run_id]
    return StoredRun(run=run, params=data.params, tags=data.tags, points=[], dataset_inputs=data.dataset_inputs)


def metric_keys(session: Session, run_id: str) -> list[str]:
    query = text("SELECT DISTINCT key FROM metrics WHERE run_uuid = :r ORDER BY key")
    keys: list[Any] = list(session.execute(query, {"r": run_id}).scalars())
    return [str(key) for key in keys]


_POINTS_PER_FETCH = 10_000


def metric_points(session: Session, run_id: str, key: str) -> Iterator[tuple[int, int, float, bool]]:
    """(timestamp, step, value, is_nan) of one metric's history in logging order, fetched in bounded batches (a
    server-side cursor on PostgreSQL), so a history of millions of points is never in memory at once."""
    query = text(
        "SELECT timestamp, step, value, is_nan FROM metrics WHERE run_uuid = :r AND key = :k "
        "ORDER BY timestamp, step, value"
    ).execution_options(stream_results=True, yield_per=_POINTS_PER_FETCH)
    rows: Iterator[tuple[Any, ...]] = iter(session.execute(query, {"r": run_id, "k": key}).tuples())
    for timestamp, step, value, nan in rows:
        yield int(timestamp), int(step), float(value), bool(nan)


def trace_ids(session: Session, experiment_id: int) -> list[str]:
    """The experiment's traces, oldest first."""
    query = (
        select(Trace.trace_id).where(Trace.experiment_id == experiment_id).order_by(Trace.request_time, Trace.trace_id)
    )
    return list(session.scalars(query))


def logged_model_ids(session: Session, experiment_id: int) -> list[str]:
    """The experiment's logged models that are not deleted (a deleted one is gone for MLflow's clients too)."""
    query = (
        select(LoggedModel.model_id)
        .where(LoggedModel.experiment_id == experiment_id, LoggedModel.lifecycle_stage != "deleted")
        .order_by(LoggedModel.creation_timestamp_ms, LoggedModel.model_id)
    )
    return list(session.scalars(query))


def registered_model_names(session: Session) -> list[str]:
    """The default workspace's registered models and prompts, by name."""
    query = (
        select(RegisteredModel.name)
        .where(RegisteredModel.workspace == DEFAULT_WORKSPACE)
        .order_by(RegisteredModel.name)
    )
    return list(session.scalars(query))
