"""Runs a job's entry point on this machine, with `mlflow run`'s semantics: the MLproject command with typed,
quoted parameters (`path` parameters downloaded), the project's environment, `bash -c` in the project folder, and
`MLFLOW_TRACKING_URI` / `MLFLOW_RUN_ID` / `MLFLOW_EXPERIMENT_ID` in the child's environment so `mlflow.start_run()`
resumes the job's run.

The child leads its own process group, so a cancel reaches everything it started: SIGTERM to the group, SIGKILL
after the grace period.
"""

from __future__ import annotations

import codecs
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from server.errors import MlflowError
from server.jobspec import mlflow_projects, projects
from server.jobspec.genai import TIMED_OUT
from server.jobspec.schemas import DEFAULT_WORKSPACE, JobView, Stream
from server.worker.dispatchers.environments import activation_command
from server.worker.lease import Lease, LeaseLost, Outcome

READ_BYTES = 65536
RUNYARD_ROOT = Path(__file__).resolve().parents[3]  # the folder that holds the `server` package

# The job's process-group leader: it runs the entry point and, should the worker die (even by SIGKILL), stops the
# whole group within a second, so the job never keeps running while the server hands it to another worker. It
# imports nothing heavy and replaces SIGTERM's default action with a no-op handler (a handler, unlike SIG_IGN,
# is not inherited through exec), so a cancel's SIGTERM reaches the entry point while the guard stays to report.
GUARD = """
import os, signal, subprocess, sys, time
worker, grace = os.getppid(), float(sys.argv[1])
signal.signal(signal.SIGTERM, lambda *_: None)
child = subprocess.Popen(sys.argv[2:])
while child.poll() is None:
    if os.getppid() != worker:
        os.killpg(0, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(0, signal.SIGKILL)
    try:
        child.wait(timeout=0.25)
    except subprocess.TimeoutExpired:
        pass
sys.exit(128 - child.returncode if child.returncode < 0 else child.returncode)
"""


class LocalDispatcher:
    backend = "local"

    def __init__(self, *, tracking_uri: str, cancel_grace_seconds: float = 30.0, work_root: Path | None = None):
        self.tracking_uri = tracking_uri
        self.cancel_grace_seconds = cancel_grace_seconds
        self.work_root = work_root

    def execute(self, job: JobView, lease: Lease) -> Outcome:
        if job.kind == "genai":
            return self._execute_genai(job, lease)
        with tempfile.TemporaryDirectory(prefix=f"runyard-job-{job.job_id[:8]}-", dir=self.work_root) as tmp:
            try:
                command, work_dir = self._prepare(job, lease, Path(tmp))
            except Exception as exc:  # the per-job boundary: a broken project fails its job, not the worker
                lease.log("stderr", traceback.format_exc())
                message = exc.message if isinstance(exc, MlflowError) else f"{type(exc).__name__}: {exc}"
                return Outcome("failed", error=f"Preparing the project failed: {message}")
            if (stopped := _start(lease)) is not None:
                return stopped
            lease.log("stderr", f"=== Running command '{command}' in run with ID '{job.run_id}' ===\n")
            return self._run(["bash", "-c", command], work_dir, self._environment(job, lease.tracking_token), lease)

    def _execute_genai(self, job: JobView, lease: Lease) -> Outcome:
        """One of MLflow's GenAI job functions (by its allow-listed name) in a process of its own, which talks to
        the server over REST; its return value, or its error message, is the job's."""
        with tempfile.TemporaryDirectory(prefix=f"runyard-job-{job.job_id[:8]}-", dir=self.work_root) as tmp:
            params, result = Path(tmp) / "params.json", Path(tmp) / "result.json"
            params.write_text(json.dumps(job.parameters), encoding="utf-8")
            if (stopped := _start(lease)) is not None:
                return stopped
            lease.log("stderr", f"=== Running GenAI job '{job.entry_point}' ===\n")
            command = [sys.executable, "-m", "server.worker.genai_entry", job.entry_point, str(params), str(result)]
            env = self._environment(job, lease.tracking_token)
            # The job process runs this worker's own copy of Runyard, wherever it was started from.
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(RUNYARD_ROOT), env.get("PYTHONPATH", "")]))
            # The server let custom `@scorer` code into the queue only if its operator opted in, as MLflow's server
            # does; a worker runs whatever the queue holds (as it runs projects), so MLflow's own guard in the job
            # process, which reads the server's setting, is told so.
            env["MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS"] = "true"
            outcome = self._run(command, Path(tmp), env, lease, job.timeout_seconds)
            if outcome.outcome not in ("succeeded", "failed") or not result.is_file():
                return outcome
            answer = json.loads(result.read_text(encoding="utf-8"))
            if "error" in answer:
                return replace(outcome, outcome="failed", error=str(answer["error"]))
            return replace(outcome, result=answer.get("result"))

    def _prepare(self, job: JobView, lease: Lease, tmp: Path) -> tuple[str, Path]:
        archive = tmp / "snapshot.tar.gz"
        lease.download_snapshot(archive)
        work_dir = tmp / "project"
        projects.extract_archive(archive, work_dir, max_bytes=2**40)
        archive.unlink()
        project = mlflow_projects.load_project(work_dir)
        activate = activation_command(project, work_dir, job.env_manager or "local")
        storage = tmp / "storage"  # where `path` parameters given as remote URIs are downloaded
        entry_command = mlflow_projects.entry_point_command(project, job.entry_point, job.parameters, storage)
        return " && ".join([*([activate] if activate else []), *entry_command]), work_dir

    def _environment(self, job: JobView, tracking_token: str | None) -> dict[str, str]:
        env = dict(os.environ)
        if tracking_token:  # the project acts on its own run only, never with the worker's credentials
            for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
                env.pop(name, None)
            env["MLFLOW_TRACKING_TOKEN"] = tracking_token
        # `local` means the worker's own Python, even when nobody activated its virtualenv.
        env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
        env["PYTHONUNBUFFERED"] = "1"  # output reaches the live tail as it is printed
        env["MLFLOW_TRACKING_URI"] = self.tracking_uri
        if job.run_id is not None:
            env["MLFLOW_RUN_ID"] = job.run_id
        else:
            env.pop("MLFLOW_RUN_ID", None)
        env["MLFLOW_EXPERIMENT_ID"] = job.experiment_id
        env.pop("MLFLOW_EXPERIMENT_NAME", None)
        # The project logs into its job's workspace; a server without workspaces refuses any workspace named.
        if job.workspace != DEFAULT_WORKSPACE:
            env["MLFLOW_WORKSPACE"] = job.workspace
        else:
            env.pop("MLFLOW_WORKSPACE", None)
        return env

    def _run(
        self, command: list[str], work_dir: Path, env: dict[str, str], lease: Lease, timeout: float | None = None
    ) -> Outcome:
        orphan_grace = min(self.cancel_grace_seconds, lease.lease_seconds / 3)
        deadline = None if timeout is None else time.monotonic() + timeout
        process = subprocess.Popen(
            [sys.executable, "-c", GUARD, str(orphan_grace), *command],
            cwd=work_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        stdout, stderr = process.stdout, process.stderr
        if stdout is None or stderr is None:
            raise RuntimeError("the entry point's output pipes are missing")
        readers = [_reader(stdout, "stdout", lease), _reader(stderr, "stderr", lease)]
        stopped_by: str | None = None
        while process.poll() is None:
            if lease.cancel_requested.is_set() or lease.lost.is_set():
                stopped_by = "lost" if lease.lost.is_set() else "canceled"
                self._stop(process, lease)
                break
            if deadline is not None and time.monotonic() > deadline:
                stopped_by = "timeout"
                self._stop(process, lease)
                break
            try:
                process.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
        for reader in readers:
            reader.join(timeout=5)  # a grandchild may hold the pipes open; its output is not waited for
        code = process.returncode
        if stopped_by == "lost":
            return Outcome("lost", exit_code=code)
        if stopped_by == "canceled":
            return Outcome("canceled", exit_code=code, error="Canceled by request.")
        if stopped_by == "timeout":
            return Outcome("failed", exit_code=code, error=f"{TIMED_OUT} after {timeout:g} seconds.")
        if code == 0:
            return Outcome("succeeded", exit_code=0)
        return Outcome("failed", exit_code=code, error=f"The entry point exited with code {code}.")

    def _stop(self, process: subprocess.Popen[bytes], lease: Lease) -> None:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=self.cancel_grace_seconds)
        except subprocess.TimeoutExpired:
            lease.log("stderr", f"=== Still running {self.cancel_grace_seconds:g}s after SIGTERM: SIGKILL ===\n")
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()


def _start(lease: Lease) -> Outcome | None:
    """Tell the server the job's code starts; the outcome instead, when it was canceled or the lease is gone."""
    if lease.cancel_requested.is_set():
        return Outcome("canceled", error="Canceled before it started.")
    try:
        lease.start()
    except LeaseLost:
        return Outcome("lost")
    return None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _reader(pipe: IO[bytes], stream: Stream, lease: Lease) -> threading.Thread:
    def pump() -> None:
        decoder: Any = codecs.getincrementaldecoder("utf-8")(errors="replace")
        fd = pipe.fileno()
        while chunk := os.read(fd, READ_BYTES):
            lease.log(stream, decoder.decode(chunk))
        lease.log(stream, decoder.decode(b"", final=True))
        pipe.close()

    thread = threading.Thread(target=pump, name=f"job-{stream}", daemon=True)
    thread.start()
    return thread
