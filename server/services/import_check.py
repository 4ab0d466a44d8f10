"""The verification after an import: per experiment, what the source holds next to what the destination now holds
of the same runs (runs, metric points, params, artifact files and bytes) and traces (traces, spans, assessments),
and which runs and traces differ in content."""

from __future__ import annotations

from dataclasses import dataclass, field

from server.services.import_content import RunContent
from server.services.import_destination import Destination
from server.services.import_trace_content import TraceCounts
from server.store import import_traces, imports

COLUMNS = ("runs", "metric points", "params", "artifact files", "artifact bytes", "traces", "spans", "assessments")


@dataclass(slots=True)
class Tally:
    runs: int = 0
    metric_points: int = 0
    params: int = 0
    artifact_files: int = 0
    artifact_bytes: int = 0
    traces: int = 0
    spans: int = 0
    assessments: int = 0

    def values(self) -> tuple[int, ...]:
        return (
            self.runs,
            self.metric_points,
            self.params,
            self.artifact_files,
            self.artifact_bytes,
            self.traces,
            self.spans,
            self.assessments,
        )


@dataclass(frozen=True, slots=True)
class RunCounts:
    """What the table counts of one source run, kept instead of the run's content."""

    run_id: str
    metric_points: int
    params: int

    @classmethod
    def of(cls, content: RunContent) -> RunCounts:
        return cls(content.run_id, len(content.points), len(content.params))


@dataclass(slots=True)
class ExperimentCheck:
    """One row of the table. `differing_runs` are runs whose content read back from the destination is not the
    source's (the per-run checksum: every field, param, tag, metric point and dataset input compared);
    `differing_traces` the same for traces (every field, tag, metadata entry, span and assessment)."""

    name: str
    run_ids: list[str] = field(default_factory=list)
    trace_ids: list[str] = field(default_factory=list)
    source: Tally = field(default_factory=Tally)
    destination: Tally = field(default_factory=Tally)
    differing_runs: list[str] = field(default_factory=list)
    differing_traces: list[str] = field(default_factory=list)

    def count_source_run(self, run: RunCounts, artifact_files: list[tuple[str, int]]) -> None:
        self.run_ids.append(run.run_id)
        self.source.runs += 1
        self.source.metric_points += run.metric_points
        self.source.params += run.params
        self.source.artifact_files += len(artifact_files)
        self.source.artifact_bytes += sum(size for _, size in artifact_files)

    def count_source_trace(self, trace: TraceCounts) -> None:
        self.trace_ids.append(trace.trace_id)
        self.source.traces += 1
        self.source.spans += trace.spans
        self.source.assessments += trace.assessments

    @property
    def matches(self) -> bool:
        return self.source.values() == self.destination.values() and not self.differing_runs + self.differing_traces


def count_destination(check: ExperimentCheck, destination: Destination) -> None:
    """Fills `check.destination` from the destination's database and artifact store."""
    with destination.db.read() as session:
        totals = imports.run_totals(session, check.run_ids)
        traces = import_traces.trace_totals(session, check.trace_ids)
    files = [
        file for run_id in destination.existing_run_ids(check.run_ids) for file in destination.artifact_files(run_id)
    ]
    check.destination = Tally(
        runs=totals.runs,
        metric_points=totals.metric_points,
        params=totals.params,
        artifact_files=len(files),
        artifact_bytes=sum(size for _, size in files),
        traces=traces.traces,
        spans=traces.spans,
        assessments=traces.assessments,
    )


def table(checks: list[ExperimentCheck]) -> str:
    """Source / destination per column, a mark where they differ; a last column for runs and traces differing in
    content."""
    header = ["experiment", *COLUMNS, "content"]
    rows = [header]
    for check in checks:
        cells = [check.name]
        for mine, theirs in zip(check.source.values(), check.destination.values(), strict=True):
            cells.append(f"{mine:,}" if mine == theirs else f"{mine:,} / {theirs:,} DIFFERENT")
        differing = [
            f"{len(ids)} {noun} DIFFER"
            for ids, noun in ((check.differing_runs, "runs"), (check.differing_traces, "traces"))
            if ids
        ]
        cells.append(", ".join(differing) or "identical")
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)
