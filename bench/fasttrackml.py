"""FastTrackML, the Go rewrite of the MLflow tracking server, as a second peer: its `fml` binary comes from the
`fasttrackml` wheel on PyPI, installed once into a benchmark venv of its own (the wheel's Python side pins
`mlflow<3`, which must not reach Runyard's environment; only the binary is used, so it goes in without
dependencies)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

VERSION = "0.6.0"
BINARY_ENV = "RUNYARD_BENCH_FML"  # a `fml` binary to use instead of the cached install


def _venv() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "runyard-bench" / f"fasttrackml-{VERSION}"


def binary() -> str:
    """The path of `fml`, installing the pinned wheel into the benchmark's own venv on first use."""
    if given := os.environ.get(BINARY_ENV):
        return given
    venv = _venv()
    fml = venv / "bin" / "fml"
    if not fml.exists():
        print(f"installing fasttrackml=={VERSION} into {venv} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "--no-deps", f"fasttrackml=={VERSION}"], check=True)
    return str(fml)
