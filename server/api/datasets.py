"""Evaluation dataset RPCs (MLflow 3.4+, `/api/3.0/mlflow/datasets/...`): datasets, their tags and experiments, and
their records, in MLflow's JSON shapes.

A dataset's `tags` travel as a JSON-encoded string, and so do the `records` of an upsert and of a records page; a
page is built from the stored JSON texts without parsing them again. With auth on, a dataset follows its
experiments (`server/auth/genai_access.py`).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from server.api import convert
from server.api.routing import Rpc
from server.api.wire import Fields
from server.auth import genai_access
from server.auth import rules as access
from server.services import datasets as service
from server.web.context import Context


def dataset_json(view: service.DatasetView) -> dict[str, Any]:
    """MLflow's `Dataset` message: fields in proto order, unset ones left out, `tags` as JSON text."""
    dataset = view.dataset
    body: dict[str, Any] = {"dataset_id": dataset.dataset_id, "name": dataset.name, "tags": json.dumps(view.tags)}
    if dataset.schema is not None:
        body["schema"] = dataset.schema
    if dataset.profile is not None:
        body["profile"] = dataset.profile
    body.update(digest=dataset.digest, created_time=dataset.created_time, last_update_time=dataset.last_update_time)
    if dataset.created_by is not None:
        body["created_by"] = dataset.created_by
    if dataset.last_updated_by is not None:
        body["last_updated_by"] = dataset.last_updated_by
    if view.experiment_ids:
        body["experiment_ids"] = view.experiment_ids
    return body


def _fragment(text: str) -> orjson.Fragment:
    return orjson.Fragment(text.encode())


def record_json(dataset_id: str, row: tuple[Any, ...]) -> dict[str, Any]:
    """One record as MLflow's `DatasetRecord.to_dict()` has it: proto field order, unset fields left out, `tags`
    always there, and the JSON parts embedded as stored."""
    (
        _,
        record_id,
        inputs,
        outputs,
        expectations,
        tags,
        source,
        source_id,
        source_type,
        created,
        updated,
        by,
        last_by,
    ) = row
    body: dict[str, Any] = {"dataset_record_id": record_id, "dataset_id": dataset_id, "inputs": _fragment(inputs)}
    if expectations is not None:
        body["expectations"] = _fragment(expectations)
    body["tags"] = _fragment(tags or "{}")
    if source is not None:
        body["source"] = _fragment(source)
        if source_id is not None:
            body["source_id"] = source_id
        body["source_type"] = source_type
    body.update(created_time=created, last_update_time=updated)
    if by is not None:
        body["created_by"] = by
    if last_by is not None:
        body["last_updated_by"] = last_by
    if outputs is not None:
        body["outputs"] = _fragment(outputs)
    return body


def _visible(context: Context, session: Session) -> ColumnElement[bool] | None:
    authorizer = context.authorizer
    return authorizer.readable_dataset_condition(session, access.current_principal()) if authorizer else None


def create_dataset(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    view = service.create_dataset(
        session,
        name=fields.required_string("name"),
        experiment_ids=fields.string_list("experiment_ids"),
        tags=fields.string("tags"),
    )
    return {"dataset": dataset_json(view)}


def get_dataset(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    return {"dataset": dataset_json(service.get_dataset(session, fields.required_string("dataset_id")))}


def delete_dataset(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    service.delete_dataset(session, fields.required_string("dataset_id"))
    return {}


def search_datasets(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    page = service.search_datasets(
        session,
        experiment_ids=fields.string_list("experiment_ids"),
        filter_string=fields.string("filter_string") or None,
        order_by=fields.string_list("order_by"),
        max_results=fields.integer("max_results", default=service.DEFAULT_SEARCH_RESULTS),
        page_token=fields.string("page_token") or None,
        visible=_visible(context, session),
    )
    return convert.page_json("datasets", [dataset_json(view) for view in page.items], page.next_page_token)


def set_dataset_tags(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    service.set_tags(session, fields.required_string("dataset_id"), fields.required_string("tags"))
    return {}


def delete_dataset_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    service.delete_tag(session, fields.required_string("dataset_id"), fields.required_string("key"))
    return {}


def upsert_dataset_records(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    result = service.upsert_records(session, fields.required_string("dataset_id"), fields.required_string("records"))
    return {"inserted_count": result.inserted, "updated_count": result.updated}


def get_dataset_records(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    page = service.records_page(
        session,
        fields.required_string("dataset_id"),
        max_results=fields.integer("max_results"),
        page_token=fields.string("page_token") or None,
    )
    records = orjson.dumps([record_json(page.dataset_id, row) for row in page.rows]).decode()
    body: dict[str, Any] = {"records": records}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body


def delete_dataset_records(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    ids = fields.string_list("dataset_record_ids")
    return {"deleted_count": service.delete_records(session, fields.required_string("dataset_id"), ids)}


def get_dataset_experiment_ids(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment_ids = service.experiment_ids(session, fields.required_string("dataset_id"))
    return {"experiment_ids": experiment_ids} if experiment_ids else {}


def add_dataset_to_experiments(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    dataset_id, experiment_ids = fields.required_string("dataset_id"), fields.string_list("experiment_ids")
    return {"dataset": dataset_json(service.add_experiments(session, dataset_id, experiment_ids))}


def remove_dataset_from_experiments(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    dataset_id, experiment_ids = fields.required_string("dataset_id"), fields.string_list("experiment_ids")
    return {"dataset": dataset_json(service.remove_experiments(session, dataset_id, experiment_ids))}


_READ, _EDIT, _MANAGE = (
    genai_access.dataset(access.READ),
    genai_access.dataset(access.EDIT),
    genai_access.dataset(access.MANAGE),
)
PATH = "/mlflow/datasets"
# Search and create come first: `/datasets/{dataset_id}` would otherwise take `search` for an id.
RPCS = [
    Rpc("POST", f"{PATH}/create", create_dataset, since=3, access=genai_access.DATASET_CREATE),
    Rpc("POST", f"{PATH}/search", search_datasets, since=3, writes=False, access=genai_access.DATASET_SEARCH),
    Rpc("GET", f"{PATH}/search", search_datasets, since=3, access=genai_access.DATASET_SEARCH),
    Rpc("GET", f"{PATH}/{{dataset_id}}", get_dataset, since=3, access=_READ),
    Rpc("DELETE", f"{PATH}/{{dataset_id}}", delete_dataset, since=3, access=_MANAGE),
    Rpc("PATCH", f"{PATH}/{{dataset_id}}/tags", set_dataset_tags, since=3, access=_EDIT),
    Rpc("DELETE", f"{PATH}/{{dataset_id}}/tags/{{key}}", delete_dataset_tag, since=3, access=_EDIT),
    Rpc("POST", f"{PATH}/{{dataset_id}}/records", upsert_dataset_records, since=3, access=_EDIT),
    Rpc("GET", f"{PATH}/{{dataset_id}}/records", get_dataset_records, since=3, access=_READ),
    Rpc("DELETE", f"{PATH}/{{dataset_id}}/records", delete_dataset_records, since=3, access=_EDIT),
    Rpc("GET", f"{PATH}/{{dataset_id}}/experiment-ids", get_dataset_experiment_ids, since=3, access=_READ),
    Rpc(
        "POST",
        f"{PATH}/{{dataset_id}}/add-experiments",
        add_dataset_to_experiments,
        since=3,
        access=genai_access.DATASET_LINK,
    ),
    Rpc("POST", f"{PATH}/{{dataset_id}}/remove-experiments", remove_dataset_from_experiments, since=3, access=_EDIT),
]
