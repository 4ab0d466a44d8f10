"""The `runyard` command as an operator uses it: schema lifecycle, mlflow-compatible flags and environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import click
import httpx
import pytest
from alembic import command
from sqlalchemy import create_engine

from server.config import Settings
from server.store import schema
from server.store.engine import normalise_url
from tests.support.processes import runyard_server


def runyard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_old_schema_is_refused_until_upgraded(fresh_store_uri: str, tmp_path: Path) -> None:
    with runyard_server(fresh_store_uri, tmp_path / "art"):
        pass  # the first start creates the schema at head
    engine = create_engine(normalise_url(fresh_store_uri))
    command.downgrade(schema.alembic_config(engine), "base")  # what a database from an older release looks like
    engine.dispose()

    refused = runyard("server", "--backend-store-uri", fresh_store_uri, "--port", "1")
    assert refused.returncode != 0
    assert "runyard db upgrade" in refused.stderr

    upgraded = runyard("db", "upgrade", "--backend-store-uri", fresh_store_uri)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded from None to" in upgraded.stdout
    with runyard_server(fresh_store_uri, tmp_path / "art") as url:
        assert httpx.get(f"{url}/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}).status_code == 200


def test_no_serve_artifacts_uses_the_default_root(tmp_path: Path) -> None:
    root = tmp_path / "direct-root"
    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    with runyard_server(uri, tmp_path / "art", "--no-serve-artifacts", "--default-artifact-root", str(root)) as url:
        created = httpx.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": "direct"}).json()
        experiment = httpx.get(f"{url}/api/2.0/mlflow/experiments/get", params=created).json()["experiment"]
        assert experiment["artifact_location"] == f"{root}/{created['experiment_id']}"
        proxy = httpx.get(f"{url}/api/2.0/mlflow-artifacts/artifacts", params={"path": "x"})
        assert proxy.status_code == 404
        assert "--no-serve-artifacts" in proxy.json()["message"]
        # Uploaded skill content is stored through the proxied storage: without it, uploads are refused up front.
        assert httpx.get(f"{url}/api/3.0/mlflow/server-info").json()["artifact_serving_enabled"] is False
        upload = httpx.post(
            f"{url}/api/3.0/mlflow/skills/reviewer/versions",
            files={"metadata": (None, "{}", "application/json"), "content": ("c.tar.gz", b"x", "application/gzip")},
        )
        assert (upload.status_code, upload.json()) == (
            501,
            {
                "error_code": "NOT_IMPLEMENTED",
                "message": "This MLflow server does not serve artifacts, so skill content cannot be stored in MLflow "
                "artifact storage. Register the skill from a git, oci, or zip source, or start the server with "
                "--serve-artifacts.",
            },
        )


def test_environment_names_match_mlflow_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_BACKEND_STORE_URI", "postgresql://u@db/mlflow")
    monkeypatch.setenv("MLFLOW_DEFAULT_ARTIFACT_ROOT", "s3://bucket/prefix")
    monkeypatch.setenv("MLFLOW_SERVE_ARTIFACTS", "false")
    monkeypatch.setenv("MLFLOW_PORT", "5123")
    settings = Settings()
    assert settings.backend_store_uri == "postgresql://u@db/mlflow"
    assert settings.effective_artifact_root == "s3://bucket/prefix"
    assert settings.serve_artifacts is False
    assert settings.port == 5123
    assert Settings(port=6000).port == 6000  # a flag beats the environment


def test_help_lists_mlflow_flags() -> None:
    result = runyard("server", "--help")
    flags = ("--backend-store-uri", "--default-artifact-root", "--serve-artifacts", "--artifacts-destination")
    for flag in (*flags, "--host", "--port", "--workers"):
        assert flag in result.stdout


def test_help_lists_every_command_without_importing_it() -> None:
    """`runyard --help` answers from the command table alone: no server, store or worker code is imported."""
    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from server.cli.main import cli\n"
        "result = CliRunner().invoke(cli, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(result.output)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('server.', 'sqlalchemy', 'fastapi', 'httpx'))))\n"
    )
    listed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    *_, imported = listed.stdout.strip().splitlines()
    assert imported == "['server.cli', 'server.cli.main']"
    for name in ("artifacts", "db", "export", "server", "submit", "tokens", "users", "worker"):
        assert f"\n  {name} " in listed.stdout


def test_the_command_table_shows_each_commands_own_help() -> None:
    from server.cli.main import COMMANDS, cli

    context = click.Context(cli)
    for name, lazy in COMMANDS.items():
        command = cli.get_command(context, name)
        assert command is not None
        assert command.help is not None
        assert command.help.splitlines()[0] == lazy.help, name


def test_a_database_that_never_answers_stops_the_server_within_the_timeout(tmp_path: Path) -> None:
    """A port that accepts connections and never speaks (a stopped PostgreSQL, a black hole on the network): the
    server gives up after RUNYARD_DATABASE_TIMEOUT_SECONDS and says so in one line, instead of hanging."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        uri = f"postgresql://runyard:secret@127.0.0.1:{port}/runyard"
        started = subprocess.run(
            [sys.executable, "-m", "server", "server", "--backend-store-uri", uri, "--port", "0"],
            capture_output=True,
            text=True,
            env={**os.environ, "RUNYARD_DATABASE_TIMEOUT_SECONDS": "1"},
            timeout=600,  # only a regression waits this long; without the timeout it would hang forever
            check=False,
        )
    assert started.returncode == 1
    assert started.stderr == (
        f"Error: Cannot reach the database at postgresql+psycopg://runyard:***@127.0.0.1:{port}/runyard: "
        "connection timeout expired\n"
    )


@pytest.mark.parametrize("uri", ["file:///srv/mlruns", "./mlruns", "mysql://mlflow@db/mlflow"])
def test_a_store_runyard_cannot_hold_metadata_in_is_refused_in_one_line(uri: str) -> None:
    """An MLflow file store is what a team moving over most often still has configured; it gets a sentence saying
    what to use instead and how to bring the old store in, not a SQLAlchemy traceback."""
    started = runyard("server", "--backend-store-uri", uri, "--port", "0")
    assert started.returncode == 1
    assert started.stderr == (
        f"Error: Unsupported backend store URI {uri!r}: Runyard keeps its metadata in SQLite (sqlite:///path.db) or "
        "PostgreSQL (postgresql://user:password@host/db). To bring in an MLflow file store, run "
        "`runyard import <path>` against the new store.\n"
    )
