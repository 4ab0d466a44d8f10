"""The result table (one row per measured quantity) and the header describing the machine and versions."""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass

from bench.config import Sizes

Cell = float | str  # a measurement, or why there is none ("error", "skipped", ...)


@dataclass(frozen=True)
class Row:
    """One line of the table. `higher` says which direction is better; `target` applies to Runyard."""

    key: str
    label: str
    unit: str
    higher: bool
    target: tuple[str, float] | None = None
    compare: bool = True  # False: no ratio column (e.g. memory growth near zero on both sides)
    ratio_target: float | None = None  # a target on the ratio to mlflow server instead of on Runyard's value

    def meets(self, value: float) -> bool:
        assert self.target is not None
        op, bound = self.target
        return {">=": value >= bound, "<=": value <= bound, "<": value < bound, ">": value > bound}[op]


def rows(sizes: Sizes, big: bool) -> list[Row]:
    t = sizes.threads
    table = [
        Row("batch", f"1. log-batch {sizes.batch_points:,} pts/call, 1 client", "points/s", True, (">=", 50_000)),
        Row("serial_rate", "2. log-metric serial", "calls/s", True, (">=", 600)),
        Row("serial_p50", "2. log-metric serial, p50 latency", "ms", False, ("<", 1.7)),
        Row("threaded_rate", f"3. log-metric, {t} threads", "calls/s", True, (">=", 1_000)),
        Row("runs_rate", f"4. create-run + log-batch (10 m, 5 p), {t} threads", "runs/s", True, (">=", 400)),
        Row(
            "search_ms",
            f"5. search {sizes.search_runs:,} runs (filter+order, 100), median of {sizes.search_calls}",
            "ms",
            False,
            ("<=", 40),
        ),
        Row("ui_page_ms", "5. the UI's runs table: first page of 100 by start time, median", "ms", False),
        Row("walk_ms", "5. every page of 100, metrics.loss < 0.5 and params.lr, by metrics.loss", "ms", False),
        Row("pages_1000_ms", f"5. all {sizes.search_runs:,} runs in pages of 1,000", "ms", False),
        Row("client_search_ms", f"5. stock client search_runs, all {sizes.search_runs:,} runs", "ms", False),
        Row(
            "history_s",
            f"6. get-history {sizes.history_batches * 1000:,} pts (pages of {sizes.history_page:,}), "
            f"median of {sizes.history_repeats}",
            "s",
            False,
            ("<=", 0.5),
        ),
        Row("upload", f"7. artifact {sizes.artifact_mib} MiB upload (PUT, streamed)", "MB/s", True, (">=", 300)),
        Row("download", f"7. artifact {sizes.artifact_mib} MiB download (GET, streamed)", "MB/s", True, (">=", 300)),
        Row("rss", "7. server peak RSS growth during transfer", "MiB", False, None, compare=False),
    ]
    if big:
        table.append(Row("big_search_ms", f"8. search {sizes.big_runs:,} runs, first page of 100", "ms", False))
    return table


def _number(value: float) -> str:
    if abs(value) >= 1_000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


def cell(value: Cell | None) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else _number(value)


def _ratio(row: Row, runyard: Cell | None, mlflow: Cell | None) -> str:
    if not row.compare or not isinstance(runyard, float) or not isinstance(mlflow, float) or min(runyard, mlflow) <= 0:
        return "-"
    ratio = runyard / mlflow if row.higher else mlflow / runyard
    return f"{ratio:.2f}x"


def _target(row: Row, runyard: Cell | None, mlflow: Cell | None = None) -> str:
    if row.ratio_target is not None:
        text = f"≥ {row.ratio_target:g}x mlflow server"
        ratio = _ratio(row, runyard, mlflow)
        if ratio != "-":
            text += "  ok" if float(ratio[:-1]) >= row.ratio_target else "  MISSED"
        return text
    if row.target is None:
        return "-"
    op, bound = row.target
    text = f"{op.replace('>=', '≥').replace('<=', '≤')} {bound:,g}"
    if isinstance(runyard, float):
        text += "  ok" if row.meets(runyard) else "  MISSED"
    return text


def table(spec: list[Row], results: dict[str, dict[str, Cell]], names: tuple[str, str]) -> str:
    """Renders the results (`results[side][row key]`, sides named by `names`) as an aligned text table."""
    runyard_name, mlflow_name = names
    header = ["workload", runyard_name, mlflow_name, "ratio (x faster)", "target (Runyard)"]
    body = []
    for row in spec:
        runyard = results.get(runyard_name, {}).get(row.key)
        mlflow = results.get(mlflow_name, {}).get(row.key)
        label = f"{row.label} [{row.unit}]"
        body.append([label, cell(runyard), cell(mlflow), _ratio(row, runyard, mlflow), _target(row, runyard, mlflow)])
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def render(line: list[str]) -> str:
        numbers = [text.rjust(width) for text, width in zip(line[1:4], widths[1:4], strict=True)]
        cells = [line[0].ljust(widths[0]), *numbers]
        return " | ".join([*cells, line[4].ljust(widths[4])]).rstrip()

    rule = "-+-".join("-" * width for width in widths)
    return "\n".join([render(header), rule, *(render(line) for line in body)])


def machine() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?")
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"machine: nproc={usable} ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()} ({platform.python_implementation()})"
    )


def load() -> str:
    """The load average: other work on the machine skews every number in the table."""
    try:
        with open("/proc/loadavg") as averages:
            one, five, fifteen = averages.read().split()[:3]
    except OSError:
        return "load average: ?"
    return f"load average: {one} {five} {fifteen} (1, 5, 15 min)"


def ratios_by_round(spec: list[Row], rounds: list[dict[str, dict[str, Cell]]], names: tuple[str, str]) -> str:
    """One line per compared row: the ratio of each round and their median (noise shows as spread across rounds)."""
    header = ["workload", *(f"round {i}" for i in range(1, len(rounds) + 1)), "median"]
    body = []
    for row in spec:
        if not row.compare:
            continue
        ratios = [_ratio(row, r.get(names[0], {}).get(row.key), r.get(names[1], {}).get(row.key)) for r in rounds]
        numbers = sorted(float(r[:-1]) for r in ratios if r != "-")
        median = f"{statistics.median(numbers):.2f}x" if numbers else "-"
        body.append([row.label, *ratios, median])
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [
        " | ".join([line[0].ljust(widths[0]), *(t.rjust(w) for t, w in zip(line[1:], widths[1:], strict=True))])
        for line in [header, *body]
    ]
    return "\n".join([lines[0], "-+-".join("-" * w for w in widths), *lines[1:]])
