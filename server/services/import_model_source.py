"""The models of an import's source, read with the stock MLflow client like its experiments and runs: MLflow 3
logged models (with their artifacts) and registered models with every version and alias, prompts included.

The client leaves prompts out of a registered-model search unless the filter names the prompt tag, so models and
prompts are listed by two searches. A source that predates logged models (MLflow 2.x) answers their search with
"endpoint not found", as does a tracking-only server its registry's: that is no error, there is just nothing of
the kind to copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from server.services.import_model_content import (
    PROMPT_TAG,
    LoggedModelContent,
    RegisteredModelContent,
    VersionContent,
    model_point,
)
from server.services.import_source import ArtifactFile, Source

_PAGE = 100  # logged models and registered models per search page (the most MLflow's server allows for both)
_VERSION_PAGE = 1000
_MISSING_ENDPOINT = frozenset({"ENDPOINT_NOT_FOUND", "NOT_IMPLEMENTED"})
_PROMPTS = f"tags.`{PROMPT_TAG}` = 'true'"


def _pages(search: Callable[..., Any], **arguments: Any) -> Iterator[Any]:
    """Every item of one of the client's paged searches, called with `arguments` and each page's token."""
    token = None
    while True:
        page = search(**arguments, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


class ModelSource:
    """Reads through the import's `Source`, whose client, credentials and error wording it shares."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.client = source.client
        self._run_artifact_uris: dict[str, str | None] = {}

    def logged_models(self, experiment_ids: list[int]) -> list[tuple[LoggedModelContent, str]] | None:
        """The logged models of these experiments, each with its artifact folder in the source, oldest first;
        None when the source has no logged models at all (MLflow 2.x). Their `experiment_id` is the source's."""
        from mlflow.exceptions import MlflowException

        found: list[tuple[LoggedModelContent, str]] = []
        with self.source.reading("list the logged models of"):
            for experiment_id in experiment_ids:
                try:
                    search = self.client.search_logged_models
                    models = list(_pages(search, experiment_ids=[str(experiment_id)], max_results=_PAGE))
                except MlflowException as exc:
                    if exc.error_code in _MISSING_ENDPOINT:
                        return None
                    raise
                found.extend((_logged_model(model, experiment_id), model.artifact_location) for model in models)
        return sorted(found, key=lambda item: (item[0].creation_timestamp, item[0].model_id))

    def logged_model_files(self, model_id: str) -> list[ArtifactFile]:
        """Every file under the logged model's artifact folder, with its size."""
        files: list[ArtifactFile] = []
        folders = [""]
        with self.source.reading(f"list the artifacts of logged model {model_id} in"):
            while folders:
                folder = folders.pop()
                for info in self.client.list_logged_model_artifacts(model_id, folder or None):
                    if info.is_dir:
                        folders.append(info.path)
                    else:
                        files.append(ArtifactFile(info.path, info.file_size or 0))
        return sorted(files, key=lambda f: f.path)

    def download_logged_model(self, model_id: str, location: str, into: Path) -> Path:
        """The logged model's artifacts, streamed by the client into the folder `into`."""
        from mlflow.artifacts import download_artifacts

        with self.source.reading(f"download the artifacts of logged model {model_id} from"):
            return Path(download_artifacts(artifact_uri=location, dst_path=str(into), tracking_uri=self.source.uri))

    def registered_models(self) -> list[RegisteredModelContent] | None:
        """Every registered model and prompt, by name, with all versions (sources as the source holds them); None
        when the source has no model registry (a tracking-only server)."""
        from mlflow.exceptions import MlflowException

        with self.source.reading("list the registered models of"):
            try:
                models = {
                    model.name: (model, query is not None)
                    for query in (None, _PROMPTS)
                    for model in _pages(self.client.search_registered_models, filter_string=query, max_results=_PAGE)
                }
            except MlflowException as exc:
                if exc.error_code in _MISSING_ENDPOINT:
                    return None
                raise
            return [self._registered_model(*models[name]) for name in sorted(models)]

    def _registered_model(self, model: Any, is_prompt: bool) -> RegisteredModelContent:
        query = f"name = '{_quoted(model.name)}'" + (f" AND {_PROMPTS}" if is_prompt else "")
        versions = _pages(self.client.search_model_versions, filter_string=query, max_results=_VERSION_PAGE)
        return RegisteredModelContent(
            name=model.name,
            description=model.description or None,
            tags=_tags(model),
            aliases={alias: int(version) for alias, version in (model.aliases or {}).items()},
            versions=tuple(sorted((_version(v) for v in versions), key=lambda v: v.version)),
            creation_timestamp=model.creation_timestamp or 0,
            last_updated_timestamp=model.last_updated_timestamp or model.creation_timestamp or 0,
        )

    def run_artifact_uri(self, run_id: str) -> str | None:
        """Where the source keeps a run's artifacts (None for a run it no longer has), asked once per run."""
        from mlflow.exceptions import MlflowException

        if run_id not in self._run_artifact_uris:
            with self.source.reading(f"read run {run_id} from"):
                try:
                    uri: str | None = self.client.get_run(run_id).info.artifact_uri
                except MlflowException as exc:
                    if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                        raise
                    uri = None
            self._run_artifact_uris[run_id] = uri
        return self._run_artifact_uris[run_id]


def _tags(entity: Any) -> dict[str, str]:
    """Every tag, as the source stores it: the client's entities leave the prompt tag out of `tags` (it "should not
    be user-facing"), but the destination needs it to know a prompt from a model."""
    return dict(getattr(entity, "_tags", None) or entity.tags)


def _quoted(name: str) -> str:
    return name.replace("\\", "\\\\").replace("'", "\\'")


def _logged_model(model: Any, experiment_id: int) -> LoggedModelContent:
    return LoggedModelContent(
        model_id=model.model_id,
        experiment_id=experiment_id,
        name=model.name,
        model_type=model.model_type or None,
        status=int(model.status.to_proto()),
        status_message=model.status_message or None,
        source_run_id=model.source_run_id or None,
        creation_timestamp=model.creation_timestamp or 0,
        last_updated_timestamp=model.last_updated_timestamp or model.creation_timestamp or 0,
        params=dict(model.params),
        tags=dict(model.tags),
        metrics=frozenset(
            model_point(m.key, m.timestamp, m.step, m.value, m.run_id, m.dataset_name, m.dataset_digest)
            for m in model.metrics or []
        ),
    )


def _version(version: Any) -> VersionContent:
    return VersionContent(
        version=int(version.version),
        source=version.source or "",
        run_id=version.run_id or None,
        model_id=getattr(version, "model_id", None) or None,
        run_link=version.run_link or None,
        description=version.description or None,
        status=version.status or "READY",
        stage=version.current_stage or "None",
        tags=_tags(version),
        creation_timestamp=version.creation_timestamp or 0,
        last_updated_timestamp=version.last_updated_timestamp or version.creation_timestamp or 0,
    )
