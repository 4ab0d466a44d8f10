"""Compares two runs of MLflow's server tests, one against `mlflow server` and one against `runyard server` (each a
JUnit XML report), and lists every test that passes on MLflow's server and not on Runyard's, apart from the
deliberate differences that README.md lists. Exits 1 when any other test is left, so `make mlflow-parity` fails.

Usage: python tests/mlflow_parity/compare.py MLFLOW.xml RUNYARD.xml [README.md]
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

_TABLE_START = "<!-- mlflow-parity-differences:start -->"
_TABLE_END = "<!-- mlflow-parity-differences:end -->"
_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*(.+?)\s*\|\s*$")


def outcomes(report: Path) -> dict[str, str]:
    """`file::test[param]` -> passed, failed, error or skipped."""
    result = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        name = f"{module.rsplit('/', 1)[-1]}.py::{case.get('name')}"
        if case.find("failure") is not None:
            result[name] = "failed"
        elif case.find("error") is not None:
            result[name] = "error"
        elif case.find("skipped") is not None:
            result[name] = "skipped"
        else:
            result[name] = "passed"
    return result


def _matches(pattern: str, name: str) -> bool:
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), name) is not None


def documented_differences(readme: Path) -> dict[str, str]:
    """Pattern (on `file.py::test[param]`, `*` matching anything, brackets literal) -> the reason, from the
    README's table."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(_TABLE_START), text.find(_TABLE_END)
    if start < 0 or end < start:
        raise SystemExit(f"{readme}: the table of deliberate differences is missing")
    rows = (_ROW.match(line) for line in text[start:end].splitlines())
    return {row.group(1): row.group(2) for row in rows if row}


def say(line: str) -> None:
    sys.stdout.write(line + "\n")


def main(mlflow_report: Path, runyard_report: Path, readme: Path) -> int:
    on_mlflow, on_runyard = outcomes(mlflow_report), outcomes(runyard_report)
    differences = documented_differences(readme)
    passed_on_mlflow = sorted(name for name, outcome in on_mlflow.items() if outcome == "passed")
    regressions: list[tuple[str, str, str | None]] = []
    explained: list[tuple[str, str, str | None]] = []
    for name in passed_on_mlflow:
        outcome = on_runyard.get(name, "not run")
        if outcome in ("passed", "skipped"):
            continue
        reason = next((why for pattern, why in differences.items() if _matches(pattern, name)), None)
        (explained if reason else regressions).append((name, outcome, reason))
    only_runyard = sorted(n for n, o in on_runyard.items() if o == "passed" and on_mlflow.get(n) != "passed")
    say(
        f"{len(passed_on_mlflow)} pass on mlflow server; on runyard server "
        f"{len(passed_on_mlflow) - len(regressions) - len(explained)} of them pass, "
        f"{len(explained)} differ as documented, {len(regressions)} differ without a reason"
    )
    if only_runyard:
        say(f"{len(only_runyard)} pass on runyard server only")
    for name, outcome, reason in explained:
        say(f"  documented  {name} ({outcome}): {reason}")
    for name, outcome, _ in regressions:
        say(f"  UNEXPLAINED {name} ({outcome})")
    return 1 if regressions else 0


if __name__ == "__main__":
    arguments = [Path(argument) for argument in sys.argv[1:]]
    if len(arguments) not in (2, 3):
        raise SystemExit(__doc__)
    readme = arguments[2] if len(arguments) == 3 else Path(__file__).resolve().parents[2] / "README.md"
    raise SystemExit(main(arguments[0], arguments[1], readme))
