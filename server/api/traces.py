"""Trace RPCs: MLflow 3's v3 routes, and MLflow 2's (which the 3.x client still calls for tags, deletes and run
links, and clients before 3.0 for everything).

Static paths (`traces/get`, `traces/search`, `traces/batchGet`) come before `traces/{trace_id}` in the table, so
`get` is never read as a trace id: MLflow's client takes "Trace with ID 'get' not found" for a server without
stored spans.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from server.api import convert
from server.api.routing import Again, Rpc
from server.api.trace_json import trace_info_in, trace_info_json, trace_info_v2_json, trace_json
from server.api.wire import Fields, invalid, key_value_pairs
from server.auth import rules as access
from server.errors import MlflowError
from server.services import traces
from server.web.context import Context


def _trace_id(fields: Fields) -> str:
    return fields.string("trace_id") or fields.required_string("request_id")


def start_trace_v3(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    """Called once per finished trace; answers with the stored info, whose `mlflow.trace.spansLocation` tag tells
    the client whether its spans are already here (else it uploads them as `traces.json`)."""
    info = trace_info_in(fields.raw("trace"))
    view = traces.start_trace(session, info, context.artifacts.destination_uri)
    return {"trace": {"trace_info": trace_info_json(view)}}


def get_trace_info_v3(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    return {"trace": {"trace_info": trace_info_json(traces.get_trace_info(session, _trace_id(fields)))}}


def get_trace(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    view, payloads = traces.get_trace(session, fields.required_string("trace_id"))
    return {"trace": trace_json(view, payloads)}


def _experiment_filter(fields: Fields) -> list[str] | None:
    return fields.string_list("experiment_ids") if fields.has("experiment_ids") else None


def batch_get_traces(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    found = traces.batch_get_traces(session, fields.string_list("trace_ids"), _experiment_filter(fields))
    return {"traces": [trace_json(view, payloads) for view, payloads in found]}


def batch_get_trace_infos(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    found = traces.batch_get_trace_infos(session, fields.string_list("trace_ids"), _experiment_filter(fields))
    return {"trace_infos": [trace_info_json(view) for view in found]}


def location_experiment_ids(fields: Fields) -> list[str]:
    """The experiment ids of a search's `locations` (other location kinds hold no traces here)."""
    ids = []
    locations = fields.raw("locations")
    if locations is not None and not isinstance(locations, list):
        raise invalid("locations", locations)
    for location in locations or []:
        experiment = location.get("mlflow_experiment") if isinstance(location, dict) else None
        if isinstance(experiment, dict) and isinstance(experiment.get("experiment_id"), str):
            ids.append(experiment["experiment_id"])
    return ids


def search_traces_v3(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    page = traces.search_traces(
        session,
        location_experiment_ids(fields),
        filter_string=fields.string("filter"),
        max_results=fields.integer("max_results"),
        order_by=fields.string_list("order_by"),
        page_token=fields.string("page_token"),
    )
    return convert.page_json("traces", [trace_info_json(view) for view in page.items], page.next_page_token)


def set_trace_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    key, value = fields.required_string("key"), fields.string("value", default="") or ""
    traces.set_trace_tag(session, _trace_id(fields), key, value)
    return {}


def delete_trace_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    traces.delete_trace_tag(session, _trace_id(fields), fields.required_string("key"))
    return {}


_DELETED_SO_FAR = "\x00deleted"  # carried between the steps of a delete by time (no client field is named so)


def delete_traces(fields: Fields, session: Session, _: Context) -> Mapping[str, Any]:
    already = fields.raw(_DELETED_SO_FAR)
    already = already if isinstance(already, int) else 0
    deleted, done = traces.delete_traces(
        session,
        fields.required_string("experiment_id"),
        max_timestamp_millis=fields.integer("max_timestamp_millis"),
        max_traces=fields.integer("max_traces"),
        trace_ids=fields.string_list("request_ids"),
        already_deleted=already,
    )
    if done:
        return {"traces_deleted": already + deleted}
    return Again({**fields.as_dict(), _DELETED_SO_FAR: already + deleted})


def link_traces_to_run(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    traces.link_traces_to_run(session, fields.string_list("trace_ids"), fields.required_string("run_id"))
    return {}


def link_prompts_to_trace(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    versions = []
    for index, item in enumerate(fields.objects("prompt_versions")):
        entry = Fields(item)
        versions.append((entry.required_string("name"), entry.required_string("version")))
        if not versions[-1][1].isdigit():
            raise MlflowError.invalid_parameter(
                f"Invalid value {versions[-1][1]!r} for prompt_versions[{index}].version: a version number."
            )
    traces.link_prompts_to_trace(session, fields.required_string("trace_id"), versions)
    return {}


# --- MLflow 2's trace routes, for clients before 3.0 ----------------------------------------------------------------


_V2_STATUSES = {"TRACE_STATUS_UNSPECIFIED": "STATE_UNSPECIFIED"}


def start_trace_v2(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    view = traces.start_trace_v2(
        session,
        fields.required_string("experiment_id"),
        timestamp_ms=fields.integer("timestamp_ms"),
        metadata=dict(key_value_pairs(fields, "request_metadata")),
        tags=dict(key_value_pairs(fields, "tags")),
        artifact_destination=context.artifacts.destination_uri,
    )
    return {"trace_info": trace_info_v2_json(view)}


def end_trace_v2(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    status = fields.string("status")
    view = traces.end_trace_v2(
        session,
        fields.required_string("request_id"),
        timestamp_ms=fields.integer("timestamp_ms"),
        status=_V2_STATUSES.get(status, status) if status is not None else None,
        metadata=dict(key_value_pairs(fields, "request_metadata")),
        tags=dict(key_value_pairs(fields, "tags")),
    )
    return {"trace_info": trace_info_v2_json(view)}


def get_trace_info_v2(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    return {"trace_info": trace_info_v2_json(traces.get_trace_info(session, fields.required_string("request_id")))}


def search_traces_v2(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    page = traces.search_traces(
        session,
        fields.string_list("experiment_ids"),
        filter_string=fields.string("filter"),
        max_results=fields.integer("max_results"),
        order_by=fields.string_list("order_by"),
        page_token=fields.string("page_token"),
    )
    return convert.page_json("traces", [trace_info_v2_json(view) for view in page.items], page.next_page_token)


_READ = access.trace(access.READ)
_EDIT = access.trace(access.EDIT)
_V2_READ = access.trace(access.READ, "request_id")
_V2_EDIT = access.trace(access.EDIT, "request_id")

RPCS = [
    Rpc("POST", "/mlflow/traces", start_trace_v3, since=3, access=access.TRACE_START),
    Rpc("GET", "/mlflow/traces/get", get_trace, since=3, access=_READ),
    Rpc("GET", "/mlflow/traces/batchGet", batch_get_traces, since=3, access=access.traces(access.READ)),
    Rpc(
        "POST",
        "/mlflow/traces/batchGetInfos",
        batch_get_trace_infos,
        since=3,
        writes=False,
        access=access.traces(access.READ),
    ),
    Rpc("POST", "/mlflow/traces/search", search_traces_v3, since=3, writes=False, access=access.TRACE_LOCATIONS),
    Rpc("POST", "/mlflow/traces/delete-traces", delete_traces, since=3, access=access.experiment(access.EDIT)),
    Rpc("POST", "/mlflow/traces/delete-traces", delete_traces, access=access.experiment(access.EDIT)),
    Rpc("GET", "/mlflow/traces/{trace_id}", get_trace_info_v3, since=3, access=_READ),
    Rpc("PATCH", "/mlflow/traces/{trace_id}/tags", set_trace_tag, since=3, access=_EDIT),
    Rpc("DELETE", "/mlflow/traces/{trace_id}/tags", delete_trace_tag, since=3, access=_EDIT),
    Rpc("PATCH", "/mlflow/traces/{request_id}/tags", set_trace_tag, access=_V2_EDIT),
    Rpc("DELETE", "/mlflow/traces/{request_id}/tags", delete_trace_tag, access=_V2_EDIT),
    Rpc("POST", "/mlflow/traces/link-to-run", link_traces_to_run, access=access.run(access.EDIT)),
    Rpc("POST", "/mlflow/traces/link-prompts", link_prompts_to_trace, access=_EDIT),
    Rpc("POST", "/mlflow/traces", start_trace_v2, access=access.experiment(access.EDIT)),
    Rpc("GET", "/mlflow/traces", search_traces_v2, access=access.READABLE_EXPERIMENTS),
    Rpc("GET", "/mlflow/traces/{request_id}/info", get_trace_info_v2, access=_V2_READ),
    Rpc("PATCH", "/mlflow/traces/{request_id}", end_trace_v2, access=_V2_EDIT),
]
