"""Rows written and read by `runyard import`: experiments and runs inserted with the ids, times and lifecycle they
had in the source (the server's own inserts stamp the present and start everything active), a run's full content
read back for comparison with its source, and the totals the verification table shows.

Everything else an imported run needs (params, tags, metric points, dataset inputs, its artifact folder's record)
goes through the same store functions the server's write paths use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.errors import ErrorCode, MlflowError
from server.store.base import Base
from server.store.dialect import upsert
from server.store.models import Experiment, ExperimentTag, Run
from server.store.raw import Raw, placeholders
from server.store.runs import DatasetInputData, load_run_data
from server.store.workspace_models import DEFAULT_WORKSPACE

# The largest experiment id each database's column holds (INTEGER: 64 bits in SQLite, 32 in PostgreSQL).
_LARGEST_EXPERIMENT_ID = {"sqlite": 2**63 - 1, "postgresql": 2**31 - 1}


def largest_experiment_id(session: Session) -> int:
    return _LARGEST_EXPERIMENT_ID.get(session.get_bind().dialect.name, 2**31 - 1)


def insert_experiment(
    session: Session,
    *,
    experiment_id: int | None,
    name: str,
    lifecycle_stage: str,
    creation_time: int,
    last_update_time: int,
    tags: Mapping[str, str],
    root: str,
) -> Experiment:
    """An experiment as it was in the source, its artifacts under `<root>/<id>` as the server's own would be. A
    given id is kept; on PostgreSQL the id sequence is moved past it, so the server's next experiment does not
    collide with it."""
    experiment = Experiment(
        experiment_id=experiment_id,
        workspace=DEFAULT_WORKSPACE,
        name=name,
        artifact_location="",
        lifecycle_stage=lifecycle_stage,
        creation_time=creation_time,
        last_update_time=last_update_time,
    )
    session.add(experiment)
    session.flush()
    experiment.artifact_location = f"{root}/{experiment.experiment_id}"
    rows = [{"experiment_id": experiment.experiment_id, "key": k, "value": v} for k, v in sorted(tags.items())]
    upsert(session, ExperimentTag, rows, update=["value"])
    if experiment_id is not None and session.get_bind().dialect.name == "postgresql":
        Raw(session).execute(
            "SELECT setval(pg_get_serial_sequence('experiments', 'experiment_id'), "
            "GREATEST((SELECT MAX(experiment_id) FROM experiments), 1))"
        )
    return experiment


@dataclass(frozen=True, slots=True)
class StoredRun:
    """A run as the destination holds it: its row, params, tags, every metric point, its dataset inputs."""

    run: Run
    params: dict[str, str]
    tags: dict[str, str]
    points: list[tuple[str, int, int, float, bool]]  # (key, timestamp, step, value, is_nan)
    dataset_inputs: list[DatasetInputData]


_IDS_PER_QUERY = 500  # well under SQLite's limit on bound parameters


def id_chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    """`ids` in slices short enough for one `IN (...)` each."""
    return [ids[i : i + _IDS_PER_QUERY] for i in range(0, len(ids), _IDS_PER_QUERY)]


def insert_as_imported(session: Session, row: Base, what: str) -> None:
    """`row` inserted with the id the source gave it. One made meanwhile under the same id (a client writing into
    the destination while the import runs) fails the import's transaction instead of being overwritten; `what`
    names it in the error ("trace tr-1…")."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise MlflowError(
            f"{what}: it was created in the destination while this import ran", ErrorCode.RESOURCE_ALREADY_EXISTS
        ) from None


def existing_run_ids(session: Session, run_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    raw = Raw(session)
    for chunk in id_chunks(run_ids):
        marks, params = placeholders("r", chunk)
        found.update(
            str(row[0]) for row in raw.execute(f"SELECT run_uuid FROM runs WHERE run_uuid IN ({marks})", params).all()
        )
    return found


def stored_run(session: Session, run_id: str) -> StoredRun | None:
    run = session.get(Run, run_id)
    if run is None:
        return None
    data = load_run_data(session, [run_id])[run_id]
    points = Raw(session).execute(
        "SELECT key, timestamp, step, value, is_nan FROM metrics WHERE run_uuid = :r", {"r": run_id}
    )
    return StoredRun(
        run=run,
        params=data.params,
        tags=data.tags,
        points=[(str(k), int(t), int(s), float(v), bool(n)) for k, t, s, v, n in points.all()],
        dataset_inputs=data.dataset_inputs,
    )


@dataclass(frozen=True, slots=True)
class RunTotals:
    runs: int = 0
    metric_points: int = 0
    params: int = 0


def run_totals(session: Session, run_ids: Sequence[str]) -> RunTotals:
    """How many of these runs the destination holds, and their metric points and params."""
    raw = Raw(session)
    totals = {"runs": 0, "metrics": 0, "params": 0}
    for chunk in id_chunks(run_ids):
        marks, params = placeholders("r", chunk)
        for table in totals:
            found = raw.execute(f"SELECT COUNT(*) FROM {table} WHERE run_uuid IN ({marks})", params).one_or_none()
            totals[table] += int(found[0]) if found else 0
    return RunTotals(runs=totals["runs"], metric_points=totals["metrics"], params=totals["params"])
