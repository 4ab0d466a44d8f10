"""Separate Python environments for tests that need another MLflow than the suite's own: made with uv, which
installs from its package cache in seconds once a version has been downloaded.

Nothing here skips: if PyPI cannot be reached on a first run, the install fails and says so."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

# Where kept venvs live between runs; CI may point it at a cached folder.
CACHE_ENV = "RUNYARD_TEST_VENV_CACHE"


def uv() -> str:
    """The uv next to the suite's Python (`make install` puts it there), else the one on PATH."""
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.is_file() else shutil.which("uv")
    if not found:
        raise RuntimeError("uv is not installed: `pip install uv` in the test venv (`make install` does)")
    return found


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a process of another venv: without the suite's PYTHONPATH (which would put this
    checkout's `server` ahead of what the venv installed) or its active venv and MLflow settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not key.startswith("MLFLOW_")
    }
    return {**env, **extra}


def run_uv(*args: str | Path, timeout: float = 900) -> None:
    result = subprocess.run(
        [uv(), *map(str, args)], capture_output=True, text=True, timeout=timeout, check=False, env=clean_env()
    )
    if result.returncode != 0:
        raise RuntimeError(f"uv {' '.join(map(str, args))} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def create(root: Path) -> Path:
    """A new, empty venv at `root` on the suite's Python version; returns its python."""
    run_uv("venv", "--quiet", "--python", sys.executable, root)
    return root / "bin" / "python"


def install(python: Path, *requirements: str | Path, compile_bytecode: bool = False) -> None:
    """uv keeps the wheel it built from a local folder until that folder's pyproject.toml changes; Runyard is built
    afresh, so an edit to its code is what gets installed.

    `compile_bytecode` writes every module's bytecode at install: a venv started many times then never compiles
    its modules again, even where Python may not write bytecode (PYTHONDONTWRITEBYTECODE), which otherwise made
    every start of MLflow 2's server compile all of MLflow and its dependencies (over a minute on a busy machine)."""
    compile_flag = ["--compile-bytecode"] if compile_bytecode else []
    run_uv(
        "pip", "install", "--quiet", "--refresh-package", "runyard", *compile_flag, "--python", python, *requirements
    )


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "runyard-tests" / "venvs")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder per venv on this machine: two test runs at once wait for each other instead of mixing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def kept(name: str, requirements: Sequence[str], *then: Sequence[str], key: str = "") -> Path:
    """A venv holding exactly `requirements`, built on first use and reused after; returns its python.

    `then` are later installs into it, each its own `uv pip install` in order, as a user adds packages to an
    environment they already have. Its folder is named by `name` and a hash of all of these, `key` (what a
    requirement's name cannot say, such as the content of a local folder it installs) and the Python version, so
    changing any builds a new one. A venv counts only once its installs finished (the `.ready` file); a half-built
    one left by an interrupted run is built again."""
    steps = [list(requirements), *map(list, then)]
    key = hashlib.sha256("\n".join([sys.version, key, *map(repr, steps)]).encode()).hexdigest()[:12]
    root = cache_root() / f"{name}-{key}"
    with _locked(root.with_name(root.name + ".lock")):
        if not (root / ".ready").is_file():
            shutil.rmtree(root, ignore_errors=True)
            python = create(root)
            for step in steps:
                install(python, *step, compile_bytecode=True)
            (root / ".ready").write_text("\n".join(" ".join(step) for step in steps) + "\n")
    return root / "bin" / "python"


def client_report(python: Path, *args: str | Path, cwd: Path, timeout: float = 300, **env: str) -> dict[str, Any]:
    """Runs a client script (a file, or `-c` and its code) with another venv's `python`, outside the suite's
    environment and with the client's retries off, and returns the JSON object on its last line of output; fails
    with the end of its stderr when it fails."""
    result = subprocess.run(
        [python, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
        env=clean_env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", **env),
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def mlflow_client(version: str) -> Path:
    """A kept venv with the stock MLflow client at `version` and what a pyfunc model needs; returns its python.
    MLflow 2 predates NumPy 2 and still imports `pkg_resources`, which setuptools 81 removed; uv venvs come without
    setuptools at all."""
    extras = ["numpy<2", "pandas<2.3", "setuptools<81"] if version.startswith("2.") else ["numpy", "pandas"]
    return kept(f"mlflow-skinny-{version}", [f"mlflow-skinny=={version}", "cloudpickle", *extras])


def mlflow_full(version: str) -> Path:
    """A kept venv with the whole MLflow package at `version` (what `mlflow server` needs: its tracking and model
    registry stores, Flask and gunicorn); returns its python. Pinned for MLflow 2 as `mlflow_client` pins it, and to
    SQLAlchemy 2.0: its stores import a pool class that SQLAlchemy 2.1 removed."""
    extras = ["numpy<2", "pandas<2.3", "setuptools<81", "sqlalchemy<2.1"] if version.startswith("2.") else []
    return kept(f"mlflow-{version}", [f"mlflow=={version}", *extras])


REPO_ROOT = Path(__file__).resolve().parents[2]
# What the Runyard wheel is built from (pyproject's `packages` and `force-include`).
WHEEL_SOURCES = ("pyproject.toml", "README.md", "server", "migrations")


def checkout_fingerprint() -> str:
    """A hash of what this checkout's Runyard wheel is built from: an edit makes a venv holding it stale."""
    digest = hashlib.sha256()
    for source in WHEEL_SOURCES:
        top = REPO_ROOT / source
        files = [top] if top.is_file() else sorted(top.rglob("*"))
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts:
                digest.update(f"{file.relative_to(REPO_ROOT)}\n".encode() + file.read_bytes())
    return digest.hexdigest()


def runyard_beside_mlflow(version: str) -> Path:
    """A kept venv with the full `mlflow` wheel at `version` installed first, then Runyard from this checkout with
    its `ui` extra (built as a wheel, as `pip install '.[ui]'` does); returns its python. It is built again
    whenever the checkout's wheel sources change."""
    return kept(
        f"mlflow-{version}-runyard",
        [f"mlflow=={version}"],
        [f"runyard[ui] @ {REPO_ROOT.as_uri()}"],
        key=checkout_fingerprint(),
    )
