"""Label schema RPCs (MLflow 3.14+, `/api/3.0/mlflow/label-schemas/...`): create, get, get by name, list, update and
delete the questions reviewers answer about an experiment's traces.

A schema travels as MLflow's `LabelSchema` message: its type as an enum name (FEEDBACK, EXPECTATION) and its input
as a oneof (`pass_fail`, `categorical`, `numeric`, `text`). Reading needs READ on the experiment; creating, changing
and deleting need MANAGE, as in MLflow's basic-auth app. Listing may add the experiment's default question (as
MLflow's does), so it runs as a write.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.api import convert
from server.api.labeling_wire import enum_number, page_size
from server.api.routing import Rpc
from server.api.wire import Fields, invalid
from server.auth import genai_access
from server.auth import rules as access
from server.errors import MlflowError
from server.services import label_inputs
from server.services import label_schemas as service
from server.store.genai_models import LabelSchema
from server.web.context import Context

TYPES = {"LABEL_SCHEMA_TYPE_UNSPECIFIED": 0, "FEEDBACK": 1, "EXPECTATION": 2}
_TYPE_OF_NUMBER = {1: service.FEEDBACK, 2: service.EXPECTATION}
DEFAULT_PAGE_SIZE = 100
_EMPTY_ONEOF = (
    "Label schema `input` must have exactly one of `pass_fail`, `categorical`, `numeric`, or `text` set; "
    "got an empty oneof."
)


def _schema_type(fields: Fields) -> str:
    number = enum_number(fields, "type", TYPES)
    if number not in _TYPE_OF_NUMBER:
        raise MlflowError.invalid_parameter(
            f"Label schema `type` must be one of FEEDBACK or EXPECTATION; got proto enum value {number}."
        )
    return _TYPE_OF_NUMBER[number]


def input_in(value: Any) -> label_inputs.Input:
    """A `LabelSchemaInput` message: exactly one of its kinds, each read with MLflow's defaults for absent fields."""
    if value is None:
        raise MlflowError.invalid_parameter(_EMPTY_ONEOF)
    if not isinstance(value, dict):
        raise invalid("input", value)
    oneof = Fields(value)
    present = [kind for kind in label_inputs.KIND.values() if oneof.raw(kind) is not None]
    if len(present) != 1:
        raise MlflowError.invalid_parameter(_EMPTY_ONEOF)
    kind = present[0]
    body = oneof.raw(kind)
    if not isinstance(body, dict):
        raise invalid(f"input.{kind}", body)
    settings = Fields(body)
    if kind == "pass_fail":
        return label_inputs.PassFail(
            settings.string("positive_label", default="") or "", settings.string("negative_label", default="") or ""
        )
    if kind == "categorical":
        return label_inputs.Categorical(tuple(settings.string_list("options")), settings.boolean("multi_select"))
    if kind == "numeric":
        return label_inputs.Numeric(settings.double("min_value"), settings.double("max_value"))
    return label_inputs.Text(settings.integer("max_length"))


def input_json(value: label_inputs.Input) -> dict[str, Any]:
    settings: dict[str, Any]
    if isinstance(value, label_inputs.PassFail):
        settings = {"positive_label": value.positive_label, "negative_label": value.negative_label}
    elif isinstance(value, label_inputs.Categorical):
        settings = {"options": list(value.options)} if value.options else {}
        settings["multi_select"] = value.multi_select
    elif isinstance(value, label_inputs.Numeric):
        bounds = {"min_value": value.min_value, "max_value": value.max_value}
        settings = {key: float(bound) for key, bound in bounds.items() if bound is not None}
    else:
        settings = {"max_length": value.max_length} if value.max_length is not None else {}
    return {label_inputs.KIND[type(value)]: settings}


def label_schema_json(schema: LabelSchema) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema_id": schema.schema_id,
        "experiment_id": str(schema.experiment_id),
        "name": schema.name,
        "type": schema.type.upper(),
    }
    if schema.instruction is not None:
        body["instruction"] = schema.instruction
    body["enable_comment"] = schema.enable_comment
    body["input"] = input_json(service.input_of(schema))
    if schema.created_by is not None:
        body["created_by"] = schema.created_by
    body["created_at"] = schema.created_time
    body["last_updated_at"] = schema.last_update_time
    body["is_default"] = schema.is_default
    return body


def _caller() -> str | None:
    principal = access.current_principal()
    return principal.username if principal is not None else None


def create_label_schema(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment_id, name = fields.required_string("experiment_id"), fields.required_string("name")
    schema = service.create_label_schema(
        session,
        experiment_id,
        type=_schema_type(fields),
        input=input_in(fields.raw("input")),
        name=name,
        instruction=fields.string("instruction"),
        enable_comment=fields.boolean("enable_comment"),
        created_by=_caller(),
    )
    return {"label_schema": label_schema_json(schema)}


def get_label_schema(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    return {"label_schema": label_schema_json(service.get_label_schema(session, fields.required_string("schema_id")))}


def get_label_schema_by_name(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment_id, name = fields.required_string("experiment_id"), fields.required_string("name")
    return {"label_schema": label_schema_json(service.get_label_schema_by_name(session, experiment_id, name))}


def list_label_schemas(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment_id = fields.required_string("experiment_id")
    page = service.list_label_schemas(
        session,
        experiment_id,
        max_results=page_size(fields, DEFAULT_PAGE_SIZE),
        page_token=fields.string("page_token") or None,
    )
    return convert.page_json("label_schemas", [label_schema_json(s) for s in page.items], page.next_page_token)


def update_label_schema(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    schema_id = fields.required_string("schema_id")
    raw_input = fields.raw("input")
    changes = service.SchemaChanges(
        name=fields.string("name"),
        instruction=fields.string("instruction"),
        enable_comment=fields.boolean("enable_comment") if fields.has("enable_comment") else None,
        input=input_in(raw_input) if raw_input is not None else None,
    )
    return {"label_schema": label_schema_json(service.update_label_schema(session, schema_id, changes))}


def delete_label_schema(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    service.delete_label_schema(session, fields.required_string("schema_id"))
    return {}


_PREFIX = "/mlflow/label-schemas"
_SCHEMA_READ = genai_access.label_schema(access.READ)
_SCHEMA_MANAGE = genai_access.label_schema(access.MANAGE)

RPCS = [
    Rpc("POST", f"{_PREFIX}/create", create_label_schema, since=3, access=access.experiment(access.MANAGE)),
    Rpc("GET", f"{_PREFIX}/get", get_label_schema, since=3, access=_SCHEMA_READ),
    Rpc("GET", f"{_PREFIX}/get-by-name", get_label_schema_by_name, since=3, access=access.experiment(access.READ)),
    Rpc("GET", f"{_PREFIX}/list", list_label_schemas, since=3, writes=True, access=access.experiment(access.READ)),
    Rpc("PATCH", f"{_PREFIX}/update", update_label_schema, since=3, access=_SCHEMA_MANAGE),
    Rpc("DELETE", f"{_PREFIX}/delete", delete_label_schema, since=3, access=_SCHEMA_MANAGE),
]
