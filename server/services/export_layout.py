"""The folder layout of MLflow's file store (`mlruns`), written from Runyard's content: what `MlflowClient` reads from
a `file:` tracking and registry URI, and what `runyard import` reads back.

The layout, as MLflow 3's file stores read it:

    <root>/<experiment id>/meta.yaml, tags/<key>            (a deleted experiment lives in <root>/.trash/<id>)
    <experiment>/<run id>/meta.yaml, params/<key>, tags/<key>, metrics/<key> ("timestamp value step" per point),
        artifacts/, inputs/<input id>/meta.yaml             (the datasets themselves in <experiment>/datasets/<id>)
    <experiment>/models/<model id>/meta.yaml, params/, tags/, metrics/ ("timestamp value step run_id"), artifacts/
    <experiment>/traces/<trace id>/trace_info.yaml, request_metadata/<key>, tags/<key>,
        assessments/<assessment id>.yaml, artifacts/traces.json (the spans) and the trace's attachments
    <root>/models/<name>/meta.yaml, tags/<key>, aliases/<alias> (the version number),
        version-<n>/meta.yaml, version-<n>/tags/<key>

A key with `/` in it is a nested file, as MLflow writes it. Every location recorded in a meta.yaml is a `file:` URI
inside the tree, so the tree needs nothing else to be read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]

from server.errors import MlflowError
from server.services.export_traces import TraceFiles
from server.services.import_content import ExperimentContent, RunContent
from server.services.import_model_content import LoggedModelContent, RegisteredModelContent

META = "meta.yaml"
METRICS = "metrics"
ARTIFACTS = "artifacts"
TRASH = ".trash"  # where the file store keeps deleted experiments
TRACE_SPANS = "traces.json"  # in a trace's artifact folder, where the stock client looks for the spans
# RunStatus and SourceType as the file store records them: their proto numbers.
_RUN_STATUS = {"RUNNING": 1, "SCHEDULED": 2, "FINISHED": 3, "FAILED": 4, "KILLED": 5}
_SOURCE_TYPE_LOCAL = 4


def _md5(*parts: str) -> str:
    """The file store names datasets and inputs by an MD5 of their names: ids, not security."""
    digest = hashlib.md5(usedforsecurity=False)
    for part in parts:
        digest.update(part.encode("utf-8"))
    return digest.hexdigest()


def _write_yaml(folder: Path, data: Mapping[str, Any], name: str = META) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("w", encoding="utf-8") as handle:
        yaml.safe_dump(dict(data), handle, default_flow_style=False, allow_unicode=True)


def key_file(folder: Path, key: str) -> Path:
    """The file of a param, tag or metric `key` under `folder`; a key that would leave it is refused."""
    parts = key.split("/")
    if not key or any(part in ("", ".", "..") for part in parts):
        raise MlflowError.invalid_parameter(f"The key {key!r} cannot be written as a file under {folder}.")
    path = folder.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _write_values(folder: Path, values: Mapping[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for key, value in sorted(values.items()):
        key_file(folder, key).write_text(value, encoding="utf-8")


def _value(value: float, nan: bool) -> str:
    return "nan" if nan else repr(float(value))


class MlrunsTree:
    """An export's destination folder, filled item by item."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def experiment_folder(self, experiment: ExperimentContent) -> Path:
        parent = self.root / TRASH if experiment.lifecycle_stage == "deleted" else self.root
        return parent / str(experiment.experiment_id)

    def write_experiment(self, experiment: ExperimentContent) -> Path:
        (self.root / TRASH).mkdir(parents=True, exist_ok=True)  # the file store makes it on first use otherwise
        folder = self.experiment_folder(experiment)
        _write_yaml(
            folder,
            {
                "artifact_location": folder.as_uri(),
                "creation_time": experiment.creation_time,
                "experiment_id": str(experiment.experiment_id),
                "last_update_time": experiment.last_update_time,
                "lifecycle_stage": experiment.lifecycle_stage,
                "name": experiment.name,
            },
        )
        _write_values(folder / "tags", experiment.tags)
        return folder

    def write_run(self, experiment_folder: Path, run: RunContent, deleted_time: int | None) -> Path:
        """The run's metadata, params, tags and dataset inputs, with the (empty) folders for its metric histories
        and artifacts, which the file store requires to exist; returns the run's folder."""
        folder = experiment_folder / run.run_id
        (folder / METRICS).mkdir(parents=True)
        (folder / ARTIFACTS).mkdir()
        _write_yaml(
            folder,
            {
                "artifact_uri": (folder / ARTIFACTS).as_uri(),
                "deleted_time": deleted_time,
                "end_time": run.end_time,
                "entry_point_name": "",
                "experiment_id": experiment_folder.name,
                "lifecycle_stage": run.lifecycle_stage,
                "run_id": run.run_id,
                "run_name": run.name,
                "run_uuid": run.run_id,
                "source_name": "",
                "source_type": _SOURCE_TYPE_LOCAL,
                "source_version": "",
                "start_time": run.start_time,
                "status": _RUN_STATUS.get(run.status, _RUN_STATUS["RUNNING"]),
                "tags": [],
                "user_id": run.user_id,
            },
        )
        _write_values(folder / "params", run.params)
        _write_values(folder / "tags", run.tags)
        for spec, tags in sorted(run.dataset_inputs, key=repr):
            dataset_id = _md5(spec.name, spec.digest)
            dataset_folder = experiment_folder / "datasets" / dataset_id
            if not dataset_folder.exists():
                _write_yaml(
                    dataset_folder,
                    {
                        "name": spec.name,
                        "digest": spec.digest,
                        "source_type": spec.source_type,
                        "source": spec.source,
                        "schema": spec.schema,
                        "profile": spec.profile,
                    },
                )
            _write_yaml(
                folder / "inputs" / _md5(dataset_id, run.run_id),
                {
                    "source_type": "DATASET",
                    "source_id": dataset_id,
                    "destination_type": "RUN",
                    "destination_id": run.run_id,
                    "tags": dict(tags),
                },
            )
        return folder

    @staticmethod
    def write_history(run_folder: Path, key: str, points: Iterable[tuple[int, int, float, bool]]) -> int:
        """One metric's history, (timestamp, step, value, is_nan) points in logging order, written as they come;
        returns how many."""
        count = 0
        with key_file(run_folder / METRICS, key).open("w", encoding="utf-8") as handle:
            for timestamp, step, value, nan in points:
                handle.write(f"{timestamp} {_value(value, nan)} {step}\n")
                count += 1
        return count

    def write_logged_model(self, experiment_folder: Path, model: LoggedModelContent) -> Path:
        """The logged model's metadata, params, tags and metrics; returns its artifacts folder."""
        folder = experiment_folder / "models" / model.model_id
        artifacts = folder / "artifacts"
        artifacts.mkdir(parents=True)
        _write_yaml(
            folder,
            {
                "artifact_location": artifacts.as_uri(),
                "creation_timestamp": model.creation_timestamp,
                "experiment_id": experiment_folder.name,
                "last_updated_timestamp": model.last_updated_timestamp,
                "lifecycle_stage": "active",
                "model_id": model.model_id,
                "model_type": model.model_type,
                "name": model.name,
                "source_run_id": model.source_run_id,
                "status": model.status,
                "status_message": model.status_message,
            },
        )
        _write_values(folder / "params", model.params)
        _write_values(folder / "tags", model.tags)
        metrics = folder / "metrics"
        metrics.mkdir()
        by_key: dict[str, list[str]] = {}
        for key, timestamp, step, value, nan, run_id, dataset, digest in sorted(model.metrics):
            line = f"{timestamp} {_value(value, nan)} {step} {run_id or None}"
            by_key.setdefault(key, []).append(f"{line} {dataset} {digest}" if dataset and digest else line)
        for key, lines in by_key.items():
            key_file(metrics, key).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        return artifacts

    @staticmethod
    def trace_artifacts(experiment_folder: Path, trace_id: str) -> Path:
        """A trace's artifact folder, where its spans and attachments go."""
        return experiment_folder / "traces" / trace_id / ARTIFACTS

    @staticmethod
    def write_trace(experiment_folder: Path, trace: TraceFiles) -> None:
        """The trace's info, metadata, tags and assessments, and its spans in its artifact folder."""
        folder = experiment_folder / "traces" / trace.trace_id
        _write_yaml(folder, trace.info, "trace_info.yaml")
        _write_values(folder / "request_metadata", trace.metadata)  # the name MLflow 2 gave the metadata
        _write_values(folder / "tags", trace.tags)
        for assessment_id, assessment in trace.assessments.items():
            path = key_file(folder / "assessments", f"{assessment_id}.yaml")
            _write_yaml(path.parent, assessment, path.name)
        artifacts = folder / ARTIFACTS
        artifacts.mkdir(exist_ok=True)
        if trace.spans is not None:
            (artifacts / TRACE_SPANS).write_text(trace.spans, encoding="utf-8")

    def write_registered_model(self, model: RegisteredModelContent, storage_locations: Mapping[int, str]) -> None:
        """The model (or prompt), its tags and aliases, and every version with its tags; `storage_locations` are
        where each version's files are, by number."""
        if "/" in model.name or "%" in model.name or model.name in (".", ".."):
            raise MlflowError.invalid_parameter(f"The registered model name {model.name!r} cannot be a folder name.")
        folder = self.root / "models" / model.name
        _write_yaml(
            folder,
            {
                "creation_timestamp": model.creation_timestamp,
                "description": model.description,
                "last_updated_timestamp": model.last_updated_timestamp,
                "name": model.name,
            },
        )
        _write_values(folder / "tags", model.tags)
        _write_values(folder / "aliases", {alias: str(number) for alias, number in model.aliases.items()})
        for version in model.versions:
            meta: dict[str, Any] = {
                "creation_timestamp": version.creation_timestamp,
                "current_stage": version.stage,
                "description": version.description,
                "last_updated_timestamp": version.last_updated_timestamp,
                "name": model.name,
                "run_id": version.run_id,
                "run_link": version.run_link,
                "source": version.source,
                "status": version.status,
                "status_message": None,
                "storage_location": storage_locations.get(version.version, version.source),
                "user_id": None,
                "version": version.version,
            }
            if version.model_id:  # the file store looks a named logged model up on every read
                meta["model_id"] = version.model_id
            version_folder = folder / f"version-{version.version}"
            _write_yaml(version_folder, meta)
            _write_values(version_folder / "tags", version.tags)
