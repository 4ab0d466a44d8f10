"""`python -m server.worker.genai_entry NAME PARAMS RESULT`: the process a worker runs for one GenAI job.

It calls the MLflow function the allow-list names for NAME with the JSON arguments in the file PARAMS, and writes
its JSON return value to the file RESULT. MLflow's job functions read and write through the tracking store of the
server process they expect to run in; here that store is the REST client of the Runyard server that queued the job
(`MLFLOW_TRACKING_URI`, with the job's token), so the worker never touches the database.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from server.jobspec.genai import FUNCTIONS


def _use_tracking_server() -> None:
    import mlflow.server.handlers as handlers
    from mlflow.tracking._tracking_service.utils import _get_store

    # What the job functions' `_get_tracking_store()` returns from now on.
    handlers._tracking_store = _get_store()  # type: ignore[no-untyped-call]


def _function(name: str) -> Any:
    module_name, _, attribute = FUNCTIONS[name].rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


def main(argv: list[str]) -> int:
    """Exit 0 with `{"result": ...}` in RESULT, or 1 with `{"error": "<the exception's message>"}` there (the
    traceback goes to stderr, the job's log): the job's error is then what MLflow would show, not an exit code."""
    name, params_path, result_path = argv
    try:
        if name not in FUNCTIONS:
            raise ValueError(f"Invalid job name: {name}")
        params = json.loads(Path(params_path).read_text(encoding="utf-8"))
        _use_tracking_server()
        outcome: dict[str, Any] = {"result": _function(name)(**params)}
    except Exception as exc:  # the job's boundary: whatever the function raised is the job's error
        traceback.print_exc()
        outcome = {"error": str(getattr(exc, "message", None) or exc) or type(exc).__name__}
    Path(result_path).write_text(json.dumps(outcome, default=str), encoding="utf-8")
    return 0 if "result" in outcome else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
