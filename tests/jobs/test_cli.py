"""`runyard submit` from a shell against `runyard server`'s embedded worker: the one-command start runs jobs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.processes import runyard_server


def test_submit_follows_the_embedded_workers_output_and_exits_with_the_outcome(
    backend_store_uri: str, fresh_store_uri: str, project: Callable[[str], Path], tmp_path: Path
) -> None:
    if not backend_store_uri.startswith("sqlite"):
        pytest.skip("the CLI does not depend on the database; run once")
    folder = project("basic")
    with runyard_server(fresh_store_uri, tmp_path / "art", embedded_worker=True) as url:

        def submit(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "server", "submit", str(folder), "-e", "quick", "--follow", *args],
                capture_output=True,
                text=True,
                timeout=120,
                env={**os.environ, "MLFLOW_TRACKING_URI": url},
            )

        ok = submit()
        assert ok.returncode == 0, ok.stderr
        assert "quick job on" in ok.stdout
        assert "quick warning" in ok.stderr
        assert "SUCCEEDED" in ok.stderr
        failed = submit("-P", "exit_code=3")
        assert failed.returncode == 1
        assert "crashing on purpose with 3" in failed.stderr
        assert "FAILED" in failed.stderr
