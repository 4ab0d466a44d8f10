"""The trace phase of `runyard import`: MLflow 3 traces with their spans and assessments, experiment by experiment,
after the runs they were made in (a trace names its run in its `mlflow.sourceRun` metadata; run ids are kept, so
the link holds as it is).

Planned with the experiments and runs, so a conflict anywhere stops the import before anything is written; copied
after the runs, one transaction per trace; counted into the experiments' verification table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

import click

from server.cli.progress import progress
from server.services.import_check import ExperimentCheck
from server.services.import_destination import ExperimentPlan
from server.services.import_trace_content import TraceCounts
from server.services.import_trace_destination import TraceDestination
from server.services.import_trace_source import TraceSource

T = TypeVar("T")


@dataclass(slots=True)
class TracePlan:
    """The source's traces and what of them the destination lacks, keyed by source experiment id."""

    has_traces: bool = True
    to_import: dict[int, set[str]] = field(default_factory=dict)
    already_there: dict[int, list[TraceCounts]] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)

    def importing(self, experiment_id: int) -> int:
        return len(self.to_import.get(experiment_id, ()))

    def there(self, experiment_id: int) -> int:
        return len(self.already_there.get(experiment_id, ()))


def plan_traces(
    source: TraceSource, destination: TraceDestination, experiments: list[ExperimentPlan], *, since_ms: int | None
) -> TracePlan:
    """`since_ms` leaves out traces whose request started before it."""
    plan = TracePlan()
    if experiments and not source.has_traces(experiments[0].source.experiment_id):
        plan.has_traces = False
        click.echo(f"Warning: {source.source.uri} has no traces (MLflow 2.x): none imported.", err=True)
        return plan
    with progress(experiments, "Reading traces") as bar:
        for planned in bar:
            _plan_experiment(source, destination, planned, plan, since_ms)
    return plan


def _plan_experiment(
    source: TraceSource,
    destination: TraceDestination,
    planned: ExperimentPlan,
    plan: TracePlan,
    since_ms: int | None,
) -> None:
    key = planned.source.experiment_id
    to_import, there = plan.to_import.setdefault(key, set()), plan.already_there.setdefault(key, [])
    traces = list(source.traces(key, since_ms=since_ms))
    held = destination.trace_experiments([trace.trace_id for trace in traces])
    owners = destination.assessment_owners(
        [row["assessment_id"] for trace in traces if trace.trace_id not in held for row in trace.assessments]
    )
    for wanted in traces:
        held_in = held.get(wanted.trace_id)
        if held_in is None:
            to_import.add(wanted.trace_id)
            taken = sorted(
                (row["assessment_id"], owners[row["assessment_id"]])
                for row in wanted.assessments
                if row["assessment_id"] in owners
            )
            plan.conflicts.extend(
                f"assessment {assessment_id} of trace {wanted.trace_id}: the destination holds it on trace {owner}"
                for assessment_id, owner in taken
            )
            continue
        if not planned.existing or held_in != planned.destination_id:
            plan.conflicts.append(f"trace {wanted.trace_id}: the destination holds it in another experiment")
            continue
        stored = destination.stored_trace(wanted.trace_id)
        if stored is None:  # deleted in the destination since it was looked up
            to_import.add(wanted.trace_id)
        elif differences := wanted.differences(stored):
            plan.conflicts.append(
                f"trace {wanted.trace_id}: the destination's trace has another {', '.join(differences)}"
            )
        else:
            there.append(TraceCounts.of(wanted))


def copy_traces(
    source: TraceSource,
    destination: TraceDestination,
    plan: TracePlan,
    experiment_ids: dict[int, int],
    checks: dict[int, ExperimentCheck],
    *,
    since_ms: int | None,
) -> int:
    """Import the traces the plan lacks and count every planned trace into its experiment's check; returns how
    many were imported. `experiment_ids` maps source experiment ids to the destination's."""
    for key, counts in plan.already_there.items():
        for trace in counts:
            checks[key].count_source_trace(trace)
    imported = 0
    work = [key for key, trace_ids in plan.to_import.items() if trace_ids]
    with progress(work, "Importing traces (experiments)") as bar:
        for key in bar:
            wanted_ids = plan.to_import[key]
            for content in source.traces(key, since_ms=since_ms):
                if content.trace_id not in wanted_ids:
                    continue
                destination.import_trace(content, experiment_ids[key])
                checks[key].count_source_trace(TraceCounts.of(content))
                if destination.stored_trace(content.trace_id) != content:
                    checks[key].differing_traces.append(content.trace_id)
                imported += 1
    return imported
