"""The layer contracts in pyproject.toml hold for the tree as it is, and they catch an import that goes up or
sideways: each planted import below, added to a copy of the package, must break the named contract."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(tree / "pyproject.toml")],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _copy_of_the_package(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "server", tmp_path / "server", ignore=shutil.ignore_patterns("__pycache__", "assets"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(_copy_of_the_package(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^Contracts: \d+ kept, 0 broken\.$", result.stdout, re.MULTILINE), result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        (
            "store/paging.py",
            "import server.services.validation",
            "server.store is not allowed to import server.services",
        ),
        ("services/names.py", "import server.api.wire", "server.services is not allowed to import server.api"),
        ("api/wire.py", "import server.jobs.leases", "server.api is not allowed to import server.jobs"),
        ("auth/signing.py", "import server.artifacts.paths", "server.auth is not allowed to import server.artifacts"),
        ("config.py", "import server.auth.identity", "server.config is not allowed to import server.auth"),
        ("worker/client.py", "import server.store.engine", "server.worker is not allowed to import server.store"),
        ("api/experiments.py", "import server.store.runs", "server.api is not allowed to import server.store"),
    ],
)
def test_a_planted_upward_or_sideways_import_breaks_the_lint(
    tmp_path: Path, module: str, planted: str, broken: str
) -> None:
    tree = _copy_of_the_package(tmp_path)
    target = tree / "server" / module
    target.write_text(target.read_text() + f"\n{planted}  # planted\n")
    result = _lint(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{broken}:" in result.stdout.splitlines()
