"""`python3 -m venv v && v/bin/pip install .` as a user types it: the pip a new venv brings, no upgrade, no uv.

The resolver of that pip (23.x on Python 3.11) is stricter than uv's: it gave up on the Azure ML SDK's tree, which
is why that SDK is the `runyard[azureml]` extra. The installed command must start a server that answers /health,
and the Azure ML worker must refuse, in one line, to start without the extra.
"""

from __future__ import annotations

import ensurepip
import subprocess
import venv
from pathlib import Path

import pytest

from tests.support.processes import free_port, wait_until_up

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with Runyard installed by the venv's own pip; returns its bin folder."""
    root = tmp_path_factory.mktemp("pip-venv")
    venv.create(root / "v", with_pip=True, symlinks=True)
    bin_dir = root / "v" / "bin"
    pip_version = subprocess.run(
        [bin_dir / "python", "-m", "pip", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert pip_version.startswith(f"pip {ensurepip.version()} ")  # the pip this Python bundles, not upgraded
    result = subprocess.run(
        [bin_dir / "pip", "install", "--quiet", str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        cwd=root,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return bin_dir


def test_the_installed_server_answers_health(installed: Path, tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [
            installed / "runyard",
            "server",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'mlflow.db'}",
            "--artifacts-destination",
            str(tmp_path / "artifacts"),
            "--no-embedded-worker",
        ],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", process, timeout=300)
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def test_the_azureml_worker_refuses_without_the_extra(installed: Path) -> None:
    refused = subprocess.run(
        [installed / "runyard", "worker", "--backend", "azureml", "--server-url", "http://127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert refused.returncode == 1
    assert refused.stderr == "Error: The azureml backend needs the Azure ML SDK: pip install 'runyard[azureml]'\n"


def test_the_base_install_leaves_the_azure_ml_sdk_out(installed: Path) -> None:
    probe = "import azure.ai.ml"
    found = subprocess.run([installed / "python", "-c", probe], capture_output=True, text=True, check=False)
    assert found.returncode == 1
    assert found.stderr.splitlines()[-1] == "ModuleNotFoundError: No module named 'azure.ai'"
