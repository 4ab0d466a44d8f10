"""Start, probe and stop the two servers, each in its own process group on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import procfs

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent


class ServerError(RuntimeError):
    """A server did not come up (the message carries the tail of its log)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ServerSpec:
    """One side of the comparison: its --only key, display name, a tag for file names, and how to launch it."""

    key: str
    name: str
    tag: str
    module: str
    extra_args: tuple[str, ...] = ()
    startup_timeout_s: float = 120.0
    workspace: str | None = None  # the workspace every request of the run works in (made before the first)

    def command(
        self, port: int, workdir: Path, destination: str | None = None, database_url: str | None = None
    ) -> list[str]:
        """`database_url` is a PostgreSQL database of this server's own; without it, a SQLite file in `workdir`."""
        if self.module == "fml":
            from bench import fasttrackml

            return [
                fasttrackml.binary(),
                "server",
                "--listen-address",
                f"{HOST}:{port}",
                "--database-uri",
                # FastTrackML names PostgreSQL `postgres://` and takes no driver suffix
                database_url.replace("postgresql://", "postgres://", 1)
                if database_url
                else f"sqlite://{workdir / f'{self.tag}.db'}",
                "--default-artifact-root",
                destination or str(workdir / f"{self.tag}-art"),
                *self.extra_args,
            ]
        return [
            sys.executable,
            "-m",
            self.module,
            "server",
            "--host",
            HOST,
            "--port",
            str(port),
            "--backend-store-uri",
            database_url or f"sqlite:///{workdir / f'{self.tag}.db'}",
            "--artifacts-destination",
            destination or str(workdir / f"{self.tag}-art"),
            *self.extra_args,
        ]


RUNYARD = ServerSpec(key="runyard", name="Runyard", tag="r", module="server")
# Runyard with workspaces on, every request in a team's workspace: the scoping's cost, next to RUNYARD.
RUNYARD_WORKSPACES = ServerSpec(
    key="runyard-workspaces",
    name="Runyard, workspaces",
    tag="w",
    module="server",
    extra_args=("--enable-workspaces",),
    workspace="bench-team",
)
MLFLOW = ServerSpec(key="mlflow", name="mlflow server", tag="m", module="mlflow", extra_args=("--workers", "1"))
FASTTRACKML = ServerSpec(key="fasttrackml", name="FastTrackML", tag="f", module="fml")


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "PYTHONUNBUFFERED": "1"})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


@dataclass
class RunningServer:
    """A launched server. `serving_pid` is the process that holds the listening socket (found after /health)."""

    spec: ServerSpec
    port: int
    command: list[str]
    process: subprocess.Popen[bytes]
    log_path: Path
    serving_pid: int | None = None
    startup_s: float = 0.0
    version: str = "?"
    _stopped: bool = field(default=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_healthy(self) -> None:
        """Polls GET /health until it answers 200; fails fast if the process exits, and after the timeout."""
        started = time.monotonic()
        deadline = started + self.spec.startup_timeout_s
        with httpx.Client(base_url=self.base_url, timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise ServerError(f"{self.spec.name} exited with {self.process.returncode}:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/health").status_code == 200:
                        self.startup_s = time.monotonic() - started
                        response = client.get("/version")
                        self.version = response.text.strip() if response.status_code == 200 else "?"
                        self.serving_pid = procfs.listener_pid(self.process.pid, self.port) or self.process.pid
                        return
                time.sleep(0.2)
        raise ServerError(f"{self.spec.name} not healthy after {self.spec.startup_timeout_s:.0f} s:\n{self.log_tail()}")

    def settle(self, timeout_s: float = 60.0, idle_share: float = 0.05) -> float | None:
        """Waits (bounded) until the server's whole process tree stops burning CPU after start-up.

        Returns the seconds waited, or None if the tree was still busy at the timeout.
        """
        started = time.monotonic()
        while time.monotonic() < started + timeout_s:
            tree = procfs.descendants(self.process.pid)
            before = procfs.cpu_seconds(tree)
            time.sleep(1.0)
            if procfs.cpu_seconds(tree) - before < idle_share:
                return time.monotonic() - started
        return None

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM to the server's process group, then SIGKILL to whatever is left of it after a grace period."""
        if self._stopped:
            return
        self._stopped = True
        pgid = self.process.pid  # start_new_session made the server the leader of its own group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace_s)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def launch(
    spec: ServerSpec,
    workdir: Path,
    *,
    destination: str | None = None,
    env: dict[str, str] | None = None,
    database_url: str | None = None,
) -> RunningServer:
    """Starts the server in a new session so that it, and every helper process it spawns, can be stopped together."""
    port = free_port()
    log_path = workdir / f"{spec.tag}-server.log"
    command = spec.command(port, workdir, destination, database_url)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env={**environment(), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return RunningServer(spec=spec, port=port, command=command, process=process, log_path=log_path)
