"""Runs a job as an Azure ML command job (SDK v2) and follows it to its end, holding the Runyard lease meanwhile.

The project snapshot is the job's code, the MLproject entry point its command, `COMPUTE` its compute, and the
Runyard experiment's name its experiment. The Azure job's name is derived from the Runyard job id and attempt and
recorded on the job (`external_id`) before it is submitted, so nothing is ever submitted twice:

- a submission whose answer was lost is looked up by that name and adopted if it went through;
- a worker that stopped (or died) leaves the Azure job running; whoever claims the job next finds it through
  `external_id` and follows it from where it is, instead of running the project again.

Azure states map onto the job and its run: before `Running` the job stays held but SCHEDULED; `Running` and
`Finalizing` start it (RUNNING); `Completed`, `Failed`, `Canceled` end it FINISHED, FAILED, KILLED. A cancel calls
`begin_cancel` and waits for `Canceled`. A job stuck in `NotStarted` past a timeout is canceled and fails.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from server.errors import MlflowError
from server.jobspec import mlflow_projects, projects
from server.jobspec.schemas import DEFAULT_WORKSPACE, JobView
from server.worker.dispatchers.azureml_client import AzureML, AzureMLError, CommandJob, LogStream, RemoteJob
from server.worker.dispatchers.azureml_project import (
    AzureMLSettings,
    choose_environment,
    entry_command,
    experiment_name,
    job_command,
    job_name,
    tracking_variables,
)
from server.worker.dispatchers.run_tracking import RunTracking, TrackingError
from server.worker.lease import Lease, LeaseLost, Outcome

log = logging.getLogger(__name__)

BEFORE_RUNNING = frozenset({"NotStarted", "Starting", "Provisioning", "Preparing", "Queued"})
RUNNING = frozenset({"Running", "Finalizing"})
ENDED = {"Completed": "succeeded", "Failed": "failed", "Canceled": "canceled"}
LOG_ARTIFACTS = "runyard/logs/azureml"
TAG_PREFIX = "runyard.azureml."


class AzureMLDispatcher:
    backend = "azureml"

    def __init__(
        self,
        *,
        server_url: str,
        settings: AzureMLSettings | None = None,
        connect: Callable[[], AzureML] | None = None,
        tracking: Callable[[str | None, str], RunTracking] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        work_root: Path | None = None,
        submit_tries: int = 3,
        max_poll_errors: int = 20,
        stream_join_seconds: float = 30.0,
    ) -> None:
        self.server_url = server_url
        self.settings = settings or AzureMLSettings()
        self.tracking_uri = self.settings.tracking_uri or server_url
        self._connect = connect or (lambda: AzureML.connect(self.settings.workspace))
        self._tracking = tracking or (lambda token, workspace: RunTracking(server_url, token, workspace=workspace))
        self.clock = clock
        self._sleep = sleep
        self.work_root = work_root
        self.submit_tries = submit_tries
        self.max_poll_errors = max_poll_errors
        self.stream_join_seconds = stream_join_seconds
        self._azure: AzureML | None = None
        self._lock = threading.Lock()

    def azure(self) -> AzureML:
        """One client for every job; a failed connection is tried again by the next job."""
        with self._lock:
            if self._azure is None:
                self._azure = self._connect()
            return self._azure

    def pause(self, lease: Lease, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
            return
        deadline = time.monotonic() + seconds
        while not (lease.cancel_requested.is_set() or lease.lost.is_set()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            lease.cancel_requested.wait(min(remaining, 0.5))

    def execute(self, job: JobView, lease: Lease) -> Outcome:
        tracking = self._tracking(lease.tracking_token, job.workspace)
        try:
            with tempfile.TemporaryDirectory(prefix=f"runyard-azureml-{job.job_id[:8]}-", dir=self.work_root) as tmp:
                outcome = _Attempt(self, job, lease, tracking, Path(tmp)).run()
            if outcome.outcome == "failed" and outcome.error:
                lease.log("stderr", f"=== {outcome.error} ===\n")
                _tag(lease, tracking, job.project_run_id, {TAG_PREFIX + "error": outcome.error[:5000]})
            return outcome
        finally:
            tracking.close()


def _tag(lease: Lease, tracking: RunTracking, run_id: str, tags: dict[str, str]) -> None:
    try:
        tracking.set_tags(run_id, tags)
    except TrackingError as exc:
        lease.log("stderr", f"=== Could not tag the run: {exc} ===\n")


class _Attempt:
    """One claimed attempt of one job: prepare, submit or adopt, follow, collect the logs."""

    def __init__(self, owner: AzureMLDispatcher, job: JobView, lease: Lease, tracking: RunTracking, tmp: Path):
        self.owner = owner
        self.job = job
        self.lease = lease
        self.tracking = tracking
        self.tmp = tmp
        self.name = job_name(job.job_id, job.attempt)
        self.stream: LogStream | None = None

    def say(self, text: str) -> None:
        self.lease.log("stderr", f"=== {text} ===\n")

    def run(self) -> Outcome:
        try:
            spec = self.prepare()
        except Exception as exc:  # the per-job boundary: a broken project fails its job, not the worker
            self.lease.log("stderr", traceback.format_exc())
            message = exc.message if isinstance(exc, MlflowError) else f"{type(exc).__name__}: {exc}"
            return Outcome("failed", error=f"Preparing the project failed: {message}")
        try:
            azure = self.owner.azure()
            remote = self.adopt(azure)
            if remote is None:
                if self.given_up:
                    return self.gave_up("it had no Azure ML job left to cancel")
                if self.lease.cancel_requested.is_set():
                    return Outcome("canceled", error="Canceled before it started.")
                remote = self.submit(azure, spec)
        except AzureMLError as exc:
            return Outcome("failed", error=exc.message)
        except LeaseLost:
            return Outcome("lost")
        tags = {TAG_PREFIX + "job_name": remote.name, TAG_PREFIX + "compute": spec.compute}
        if remote.studio_url:
            tags[TAG_PREFIX + "studio_url"] = remote.studio_url
            self.say(f"Azure ML job {remote.name}: {remote.studio_url}")
        _tag(self.lease, self.tracking, self.job.project_run_id, tags)
        return self.follow(azure, remote.name)

    # --- before submitting ------------------------------------------------------------------------------------

    def prepare(self) -> CommandJob:
        compute = self.job.backend_config.get("COMPUTE")
        if not compute or str(compute).lower() == "local":
            raise MlflowError.invalid_parameter("An azureml job needs COMPUTE (a compute cluster) in backend_config.")
        archive = self.tmp / "snapshot.tar.gz"
        self.lease.download_snapshot(archive)
        code = self.tmp / "project"
        projects.extract_archive(archive, code, max_bytes=2**40)
        archive.unlink()
        project = mlflow_projects.load_project(code)
        command = entry_command(project, self.job.entry_point, self.job.parameters)
        token = self.lease.tracking_token
        workspace = None if self.job.workspace == DEFAULT_WORKSPACE else self.job.workspace
        try:
            experiment = experiment_name(self.tracking.experiment_name(self.job.experiment_id))
        except TrackingError as exc:
            self.say(f"Could not read the experiment's name ({exc}); using its id")
            experiment = f"runyard-experiment-{self.job.experiment_id}"
        return CommandJob(
            name=self.name,
            display_name=f"{project.name or 'project'}-{self.job.entry_point}",
            code=code,
            command=job_command(command, with_token=bool(token), with_workspace=workspace is not None),
            environment=choose_environment(project, self.job.backend_config, self.owner.settings),
            compute=str(compute),
            experiment_name=experiment,
            environment_variables=tracking_variables(
                self.owner.tracking_uri, self.job.project_run_id, self.job.experiment_id, token, workspace
            ),
            tags={
                "runyard.job_id": self.job.job_id,
                "runyard.run_id": self.job.project_run_id,
                "runyard.attempt": str(self.job.attempt),
            },
        )

    def adopt(self, azure: AzureML) -> RemoteJob | None:
        """The Azure job a previous attempt (or this one, before a lost answer) already submitted, if any."""
        for name in dict.fromkeys(n for n in (self.job.external_id, self.name) if n):
            found = azure.find(name)
            if found is not None:
                self.say(f"Reattached to Azure ML job {found.name} ({found.status})")
                self.name = found.name
                return found
        return None

    def submit(self, azure: AzureML, spec: CommandJob) -> RemoteJob:
        azure.check_compute(spec.compute)
        self.lease.record_external_id(spec.name)  # before submitting: the name must outlive a crash right after
        for attempt in range(1, self.owner.submit_tries + 1):
            try:
                remote = azure.submit(spec)
                self.say(f"Submitted Azure ML job {remote.name} to compute '{spec.compute}' ({remote.status})")
                return remote
            except AzureMLError as exc:
                if not exc.transient or attempt == self.owner.submit_tries:
                    raise
                self.say(f"Submitting failed ({exc.message}); checking whether it went through")
                self.owner.pause(self.lease, 2.0**attempt)
                if (found := azure.find(spec.name)) is not None:
                    self.say(f"Azure ML job {found.name} was submitted after all ({found.status})")
                    return found
        raise AssertionError("unreachable")

    # --- following ---------------------------------------------------------------------------------------------

    def follow(self, azure: AzureML, name: str) -> Outcome:
        owner, lease = self.owner, self.lease
        started, cancel_sent, errors = False, False, 0
        not_started_since: float | None = None
        while True:
            if lease.lost.is_set():
                if self.stream is not None:
                    self.stream.detach()
                return Outcome("lost")  # the Azure job runs on; the job's next holder adopts it
            if lease.cancel_requested.is_set() and not cancel_sent:
                self.say(f"Cancel requested: canceling Azure ML job {name}")
                try:
                    azure.cancel(name)
                    cancel_sent = True
                except AzureMLError as exc:
                    self.say(f"Canceling failed, trying again: {exc.message}")
            try:
                status = azure.status(name).status
                errors = 0
            except AzureMLError as exc:
                errors += 1
                if not exc.transient or errors >= owner.max_poll_errors:
                    return Outcome("failed", error=f"Lost track of Azure ML job {name}: {exc.message}")
                self.say(f"Polling failed ({errors}/{owner.max_poll_errors}): {exc.message}")
                owner.pause(lease, owner.settings.poll_seconds)
                continue
            if status in ENDED:
                return self.ended(azure, name, status, cancel_sent)
            if status == "NotStarted":
                not_started_since = owner.clock() if not_started_since is None else not_started_since
                waited = owner.clock() - not_started_since
                if waited > owner.settings.not_started_timeout_seconds:
                    return self.give_up(azure, name, waited)
            else:
                not_started_since = None
            if status in RUNNING and not started:
                try:
                    lease.start()
                except LeaseLost:
                    return Outcome("lost")
                started = True
                self.stream = azure.stream(name, lambda text: lease.log("stdout", text))
            owner.pause(lease, owner.settings.poll_seconds)

    @property
    def given_up(self) -> bool:
        """Claimed past its last attempt: the queue gave the job up after losing its workers, and offers it once
        more only so that a worker cancels the Azure job the last attempt left running."""
        return self.job.attempt > self.job.max_attempts

    def gave_up(self, what_happened: str) -> Outcome:
        return Outcome(
            "failed",
            error=f"Gave up: the workers of all {self.job.max_attempts} attempt(s) were lost; {what_happened}.",
        )

    def give_up(self, azure: AzureML, name: str, waited: float) -> Outcome:
        try:
            azure.cancel(name)
        except AzureMLError as exc:
            self.say(f"Canceling the stuck job failed: {exc.message}")
        return Outcome(
            "failed",
            error=f"Azure ML job {name} was still NotStarted after {waited:.0f}s (limit "
            f"{self.owner.settings.not_started_timeout_seconds:g}s, RUNYARD_AZUREML_NOT_STARTED_TIMEOUT_SECONDS); "
            "it was canceled. Check the compute's quota and state in Azure ML studio.",
        )

    def ended(self, azure: AzureML, name: str, status: str, cancel_sent: bool) -> Outcome:
        if self.stream is not None:
            self.stream.join(self.owner.stream_join_seconds)
            self.stream.detach()
        self.collect_logs(azure, name)
        outcome = ENDED[status]
        if self.given_up and outcome == "canceled":
            return self.gave_up(f"Azure ML job {name} was canceled")
        if outcome == "succeeded":
            return Outcome("succeeded", exit_code=0)
        if outcome == "canceled":
            return Outcome(
                "canceled", error="Canceled by request." if cancel_sent else f"Canceled in Azure ML ({name})."
            )
        detail = self.stream.failure if self.stream is not None and self.stream.failure else None
        return Outcome(
            "failed",
            error=f"Azure ML job {name} failed: "
            + (detail or f"see the run's {LOG_ARTIFACTS}/ artifacts or the job in Azure ML studio."),
        )

    def collect_logs(self, azure: AzureML, name: str) -> None:
        """The finished job's logs into the run's artifacts, beside the streamed output."""
        dest = self.tmp / "azureml-logs"
        try:
            azure.download_logs(name, dest)
            folder = dest / "artifacts" if (dest / "artifacts").is_dir() else dest
            count = (
                self.tracking.upload_folder(self.job.project_run_id, folder, LOG_ARTIFACTS) if folder.is_dir() else 0
            )
            self.say(f"Stored {count} Azure ML log file(s) under {LOG_ARTIFACTS}/")
        except (AzureMLError, TrackingError, OSError) as exc:
            self.say(f"Could not store the Azure ML logs: {exc}")
