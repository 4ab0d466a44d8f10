"""Run inputs (datasets, models) and outputs (models)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.api.routing import Rpc
from server.api.wire import Fields, key_value_pairs, missing
from server.auth import rules
from server.services import inputs as service
from server.services import runs as run_service
from server.services.inputs import DatasetSpec
from server.web.context import Context

_DATASET_FIELDS = ("name", "digest", "source_type", "source", "schema", "profile")
_REQUIRED_DATASET_FIELDS = ("name", "digest", "source_type", "source")


def _dataset(item: dict[str, Any], index: int) -> service.DatasetInput:
    entry = Fields(item)
    raw = entry.raw("dataset")
    if not isinstance(raw, dict):
        raise missing(f"datasets[{index}].dataset")
    dataset = Fields(raw)
    values = {name: dataset.string(name) for name in _DATASET_FIELDS}

    def required(name: str) -> str:
        value = values[name]
        if not value:
            raise missing(f"datasets[{index}].dataset.{name}")
        return value

    name, digest, source_type, source = (required(field) for field in _REQUIRED_DATASET_FIELDS)
    spec = service.check_dataset(DatasetSpec(name, digest, source_type, source, values["schema"], values["profile"]))
    return spec, service.input_tags(key_value_pairs(entry, "tags"))


def _model_links(fields: Fields, name: str) -> list[service.ModelLink]:
    links = []
    for i, item in enumerate(fields.objects(name)):
        entry = Fields(item)
        model_id = entry.string("model_id")
        if not model_id:
            raise missing(f"{name}[{i}].model_id")
        links.append((model_id, entry.integer("step", default=0) or 0))
    return links


def log_inputs(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    run = run_service.active_run(session, fields.required_string("run_id"))
    datasets = fields.objects("datasets")
    service.check_dataset_count(len(datasets))
    inputs = [_dataset(d, i) for i, d in enumerate(datasets)]
    service.log_inputs(session, run, inputs, _model_links(fields, "models"))
    return {}


def log_outputs(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    run = run_service.active_run(session, fields.required_string("run_id"))
    service.log_outputs(session, run, _model_links(fields, "models"))
    return {}


def search_datasets(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    """The UI's dataset dropdown (MLflow serves it under /ajax-api only; its /api route is broken upstream)."""
    summaries = [
        {"experiment_id": str(eid), "name": name, "digest": digest, **({"context": context} if context else {})}
        for eid, name, digest, context in service.search_datasets(session, fields.string_list("experiment_ids"))
    ]
    return {"dataset_summaries": summaries} if summaries else {}


RPCS = [
    Rpc("POST", "/mlflow/runs/log-inputs", log_inputs, access=rules.run(rules.EDIT)),
    Rpc("POST", "/mlflow/runs/outputs", log_outputs, access=rules.run(rules.EDIT)),
    Rpc(
        "POST",
        "/mlflow/experiments/search-datasets",
        search_datasets,
        writes=False,
        prefixes=("/ajax-api",),
        access=rules.READABLE_EXPERIMENTS,
    ),
]
