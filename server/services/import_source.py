"""The source of an import, read with the stock MLflow client: a tracking server speaking MLflow's REST protocol
(`mlflow server`, another Runyard) or a local `mlruns` folder (MLflow's file store).

The client brings what a user's own scripts use: credentials from MLFLOW_TRACKING_USERNAME/_PASSWORD or
MLFLOW_TRACKING_TOKEN, TLS settings, retries, paging. Artifacts are downloaded to a folder on disk, one run at a
time, never held in memory.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from server.errors import ErrorCode, MlflowError
from server.services import import_azureml as azureml
from server.services.import_content import ExperimentContent, Point, RunContent, dataset_spec, point

_PAGE = 1000  # runs per search page
_HISTORY_PAGE = 25_000  # metric points per get-history page, as the client asks
_PROBE_TIMEOUT_S = "15"  # the first request's timeout: a source that does not answer is said so quickly


def source_uri(source: str) -> str:
    """The tracking URI the client reads: http(s) and file: URIs as given, an Azure ML workspace's azureml:// URI
    as its https:// address, a folder as its file: URI."""
    if azureml.is_workspace_uri(source):
        return azureml.https_uri(source)
    if source.startswith(("http://", "https://", "file:")):
        return source.rstrip("/")
    if source.startswith("azureml://"):
        raise MlflowError.invalid_parameter(
            f"Not an Azure ML workspace's tracking URI: {source!r} (azureml://<region>.api.azureml.ms/mlflow/v1.0/"
            "subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.MachineLearningServices/workspaces/<name>)."
        )
    if "://" in source:
        scheme = source.split("://", 1)[0]
        raise MlflowError.invalid_parameter(
            f"Cannot import from {scheme}:// sources yet: give an http(s):// tracking server, an Azure ML "
            "workspace's azureml:// tracking URI or an mlruns folder."
        )
    folder = Path(source).expanduser().resolve()
    if not folder.is_dir():
        raise MlflowError.invalid_parameter(f"No mlruns folder at {source!r}.")
    return folder.as_uri()


@dataclass(frozen=True, slots=True)
class ArtifactFile:
    path: str
    size: int


@contextlib.contextmanager
def _unless_set(**values: str) -> Iterator[None]:
    """Environment variables for the duration, where the user did not set them."""
    added = [name for name in values if name not in os.environ]
    for name in added:
        os.environ[name] = values[name]
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


class Source:
    def __init__(self, source: str) -> None:
        self.uri = source_uri(source)
        self.azure: azureml.AzureBearer | None = None
        self.artifacts_left: set[str] = set()  # runs whose artifacts the source keeps where the client cannot read
        if azureml.uses_azure_credential(source):
            self.azure = azureml.AzureBearer(azureml.default_credential(), self.uri)
            azureml.sign_requests_with(self.azure)
        if self.uri.startswith("file:"):
            # MLflow 3 refuses to open a file store unless asked to; reading one to move it is what this is for.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        # One bar per run's download would interleave with the import's own progress, one bar per phase.
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def check(self) -> None:
        """One request, without the client's retries, so an unreachable source or refused credentials fail in
        seconds with one line instead of minutes of backoff."""
        if self.azure is not None:
            azureml.first_token(self.azure)
        with (
            _unless_set(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT=_PROBE_TIMEOUT_S),
            self.reading("read"),
        ):
            self.client.search_experiments(max_results=1)

    @contextlib.contextmanager
    def reading(self, what: str) -> Iterator[None]:
        """What the client raises (its own errors, the network's, the disk's) as one line naming the source."""
        from mlflow.exceptions import MlflowException

        try:
            yield
        except (MlflowException, OSError) as exc:
            raise MlflowError(f"Cannot {what} {self.uri}: {_reason(exc)}", ErrorCode.INVALID_STATE) from None

    def experiments(self, names: Sequence[str]) -> list[ExperimentContent]:
        """Every experiment, deleted ones included, or those named (each must exist)."""
        from mlflow.entities import Experiment, ViewType

        found: list[Experiment] = []
        token = None
        with self.reading("list the experiments of"):
            while True:
                page = self.client.search_experiments(view_type=ViewType.ALL, max_results=_PAGE, page_token=token)
                found.extend(page)
                token = page.token
                if not token:
                    break
        if names:
            missing = sorted(set(names) - {e.name for e in found})
            if missing:
                raise MlflowError.not_found(f"No experiment named {', '.join(map(repr, missing))} in {self.uri}.")
            found = [e for e in found if e.name in names]
        return sorted(
            (
                ExperimentContent(
                    experiment_id=int(e.experiment_id),
                    name=e.name,
                    lifecycle_stage=e.lifecycle_stage,
                    creation_time=e.creation_time or 0,
                    last_update_time=e.last_update_time or e.creation_time or 0,
                    tags=dict(e.tags),
                )
                for e in found
            ),
            key=lambda e: e.experiment_id,
        )

    def run_ids(self, experiment_id: int, *, since_ms: int | None = None) -> list[str]:
        """The experiment's runs, deleted ones included, oldest first (the order they are imported in); only those
        started at or after `since_ms` when given."""
        from mlflow.entities import ViewType

        ids: list[str] = []
        token = None
        with self.reading(f"list the runs of experiment {experiment_id} in"):
            while True:
                page = self.client.search_runs(
                    [str(experiment_id)],
                    filter_string="" if since_ms is None else f"attributes.start_time >= {since_ms}",
                    run_view_type=ViewType.ALL,
                    max_results=_PAGE,
                    order_by=["attributes.start_time ASC"],
                    page_token=token,
                )
                ids.extend(run.info.run_id for run in page)
                token = page.token
                if not token:
                    return ids

    def run(self, run_id: str, experiment_id: int) -> RunContent:
        """The run with every point of every metric's history, filed under the destination's `experiment_id`."""
        with self.reading(f"read run {run_id} from"):
            run = self.client.get_run(run_id)
            info, data = run.info, run.data
            points = frozenset(point for key in sorted(data.metrics) for point in self._history(run_id, key))
        inputs = run.inputs.dataset_inputs if run.inputs else []
        return RunContent(
            run_id=info.run_id,
            experiment_id=experiment_id,
            name=info.run_name or "",
            user_id=info.user_id or "",
            status=info.status,
            start_time=info.start_time or 0,
            end_time=info.end_time,
            lifecycle_stage=info.lifecycle_stage,
            params=dict(data.params),
            tags=dict(data.tags),
            points=points,
            dataset_inputs=frozenset(
                (
                    dataset_spec(d.name, d.digest, d.source_type, d.source, d.schema, d.profile),
                    frozenset((tag.key, tag.value) for tag in item.tags),
                )
                for item in inputs
                for d in (item.dataset,)
            ),
        )

    def _history(self, run_id: str, key: str) -> list[Point]:
        """Every point of one metric of a run. From a tracking server, its REST answer is read as plain JSON: the
        client would parse each page of up to 25,000 points into protobuf messages first, which took a sixth of an
        import's time for 10,000-point histories."""
        if not self.uri.startswith("http"):
            return [point(m.key, m.timestamp, m.step, m.value) for m in self.client.get_metric_history(run_id, key)]
        from mlflow.utils.credentials import get_default_host_creds
        from mlflow.utils.rest_utils import http_request

        found: list[Point] = []
        token = None
        while True:
            params = {"run_id": run_id, "run_uuid": run_id, "metric_key": key, "max_results": _HISTORY_PAGE}
            response = http_request(  # type: ignore[no-untyped-call]
                get_default_host_creds(self.uri),  # type: ignore[no-untyped-call]
                "/api/2.0/mlflow/metrics/get-history",
                "GET",
                params={**params, **({"page_token": token} if token else {})},
            )
            body = orjson.loads(response.content)
            found.extend(
                point(key, int(m.get("timestamp", 0)), int(m.get("step", 0)), float(m.get("value", 0.0)))
                for m in body.get("metrics", [])
            )
            token = body.get("next_page_token")
            if not token:
                return found

    def artifact_files(self, run_id: str) -> list[ArtifactFile]:
        """Every file under the run's artifact root, with its size, listed folder by folder; none for a run whose
        artifacts an Azure ML workspace keeps in its own store, noted in `artifacts_left`.

        Listed in the run's own artifact folder, as `download_artifacts` reads it: the client's `list_artifacts`
        of a run's subfolder also asks for a logged model of that name (which an MLflow 2 server cannot answer)
        and would count that model's files as the run's."""
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        files: list[ArtifactFile] = []
        folders = [""]
        with self.reading(f"list the artifacts of run {run_id} in"):
            artifact_uri = self.client.get_run(run_id).info.artifact_uri
            if self.azure is not None and azureml.in_own_artifact_store(artifact_uri):
                self.artifacts_left.add(run_id)
                return []
            repository = get_artifact_repository(artifact_uri, tracking_uri=self.uri)
            while folders:
                folder = folders.pop()
                for info in repository.list_artifacts(folder or None):
                    if info.is_dir:
                        folders.append(info.path)
                    else:
                        files.append(ArtifactFile(info.path, info.file_size or 0))
        return sorted(files, key=lambda f: f.path)

    def download_artifacts(self, run_id: str, into: Path) -> Path:
        """The run's artifacts, copied into the folder `into` (streamed to disk by the client)."""
        from mlflow.artifacts import download_artifacts

        with self.reading(f"download the artifacts of run {run_id} from"):
            return Path(download_artifacts(run_id=run_id, dst_path=str(into), tracking_uri=self.uri))


def _reason(exc: Exception) -> str:
    """Why the source did not answer, in words: the client wraps a refused connection in a long message."""
    import requests

    if isinstance(exc.__context__, requests.exceptions.ConnectionError):
        return "nothing answers there (connection refused, unknown host or no route)"
    message = str(getattr(exc, "message", exc))
    return next((line.strip() for line in message.splitlines() if line.strip()), message)
