"""Real services for the tests: a PostgreSQL cluster and Runyard servers, each in its own process."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.support import venvs

POSTGRES_ENV = "RUNYARD_TEST_POSTGRES_URI"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def stop(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM, `grace_s` to shut down cleanly, then SIGKILL; returns once the process is gone."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return Path(pg_ctl).resolve().parent
    raise RuntimeError(
        "PostgreSQL is not installed: the PostgreSQL tests need its server binaries (Debian package "
        f"'postgresql'), or set {POSTGRES_ENV} to a database URL. `make test` installs it."
    )


def _as_postgres_user(args: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root, so as root we run them as the `postgres` system user."""
    if os.geteuid() != 0:
        return args
    pwd.getpwnam("postgres")  # KeyError here means the Debian package (which creates the user) is missing
    return ["runuser", "-u", "postgres", "--", *args]


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port; yields the admin URL.

    Its folder sits directly under the system temp dir, not pytest's private one, so the `postgres` user can
    reach it when we run as root."""
    bindir = _postgres_bin()
    workdir = Path(tempfile.mkdtemp(prefix="runyard-pg-"))
    data = workdir / "pgdata"
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres_user([str(bindir / "initdb"), "-D", str(data), "-U", "runyard", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        _as_postgres_user(
            [str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(workdir / "log"), "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://runyard@127.0.0.1:{port}/postgres"
    finally:
        stop = [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
        subprocess.run(_as_postgres_user(stop), check=False, capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


def create_database(admin_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


@contextlib.contextmanager
def runyard_server(
    backend_store_uri: str,
    artifacts: Path | str,
    *extra: str,
    env: dict[str, str] | None = None,
    embedded_worker: bool = False,
    port: int | None = None,
) -> Iterator[str]:
    """`runyard server` as a user starts it, on a free port; yields its base URL. Its embedded job worker is off
    unless asked for: job tests start the workers they need."""
    port = port or free_port()
    log_dir = Path(tempfile.gettempdir()) if isinstance(artifacts, str) else artifacts.parent
    log = open(log_dir / f"runyard-server-{port}.log", "wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            backend_store_uri,
            "--artifacts-destination",
            str(artifacts),
            "--embedded-worker" if embedded_worker else "--no-embedded-worker",
            *extra,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + "/health", process)
        yield url
    finally:
        stop(process, grace_s=10)
        log.close()


@contextlib.contextmanager
def installed_runyard_server(
    python: Path, folder: Path, *extra: str, env: dict[str, str] | None = None
) -> Iterator[str]:
    """The `runyard server` script of another venv (the one of `python`) on SQLite in `folder`, started from that
    folder without the suite's environment (plus `env`), as a user starts it; yields its URL."""
    port = free_port()
    log_path = folder / f"runyard-server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                python.parent / "runyard",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--backend-store-uri",
                f"sqlite:///{folder / 'mlflow.db'}",
                "--artifacts-destination",
                str(folder / "artifacts"),
                "--no-embedded-worker",
                *extra,
            ],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=venvs.clean_env(**(env or {})),
        )
        try:
            try:
                wait_until_up(f"http://127.0.0.1:{port}/health", process, timeout=300)
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}; its log ends:\n{log_path.read_text(errors='replace')[-3000:]}") from None
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(process, grace_s=60)


@contextlib.contextmanager
def mlflow_server(workdir: Path, python: Path | None = None) -> Iterator[str]:
    """The stock `mlflow server` on SQLite, proxying artifacts into `workdir` as its docs show; yields its URL.

    `python` is another venv's (another MLflow version, see `venvs.mlflow_full`), started without the suite's
    PYTHONPATH and MLflow settings; the suite's own MLflow by default."""
    port = free_port()
    log = open(workdir / f"mlflow-server-{port}.log", "wb")
    base_env = dict(os.environ) if python is None else venvs.clean_env()
    process = subprocess.Popen(
        [
            str(python or sys.executable),
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{workdir / 'mlflow.db'}",
            "--artifacts-destination",
            str(workdir / "mlartifacts"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**base_env, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"},
        start_new_session=True,  # its workers are stopped with it
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_up(url + "/health", process, timeout=120)
        except RuntimeError as exc:
            log.flush()
            tail = (workdir / f"mlflow-server-{port}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{exc}; its log ends:\n{tail}") from None
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # a throwaway source: nothing to shut down gracefully
        process.wait()
        log.close()


def runyard_store_command(
    command: str, target: str, store: str, artifacts: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """`runyard import SOURCE` or `runyard export DEST_FOLDER` on the store and artifact folder, as a user runs it;
    waits for it to end."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "server",
            command,
            target,
            "--backend-store-uri",
            store,
            "--artifacts-destination",
            str(artifacts),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, **env},
    )


def runyard_import(
    source: str, store: str, artifacts: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return runyard_store_command("import", source, store, artifacts, *args, **env)


@contextlib.contextmanager
def runyard_worker(server_url: str, log_dir: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[int]:
    """`runyard worker` against `server_url`, polling briskly; yields its pid."""
    log_path = log_dir / f"runyard-worker-{time.monotonic_ns()}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "worker", "--server-url", server_url, "--poll-seconds", "1", *extra],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        try:
            yield process.pid
        finally:
            stop(process, grace_s=20)


AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _azurite_bin() -> str:
    local = Path(__file__).resolve().parents[2] / ".venv" / "node" / "node_modules" / ".bin" / "azurite-blob"
    found = str(local) if local.exists() else shutil.which("azurite-blob")
    if not found:
        raise RuntimeError("Azurite is not installed: the Azure tests need it (`make azurite` installs it from npm).")
    return found


@contextlib.contextmanager
def azurite(workdir: Path, port: int | None = None) -> Iterator[str]:
    """The Azure Blob emulator on a loopback port (a free one unless given); yields its connection string."""
    port = port or free_port()
    process = subprocess.Popen(
        [
            _azurite_bin(),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(workdir),
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            "--silent",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}/devstoreaccount1"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("Azurite did not start")
            time.sleep(0.1)
        yield (
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={endpoint};"
        )
    finally:
        stop(process, grace_s=10)
