"""The OpenAPI 3.1 document of the whole server, for REST clients in any language: MLflow's RPCs described from
MLflow's own protobuf descriptors (never by hand: each RPC's request fields, with their types, enums, repeated fields
as arrays and MLflow's required marks, as GET query parameters or a JSON body, and its response message), the routes
that have no descriptor (artifacts, OTLP, GraphQL, probes, the UI's helpers) with their path parameters, and
FastAPI's own description of the jobs API, merged into one. Every 4xx and 5xx answer is MLflow's error body.

Built on first request and kept: importing MLflow's descriptors costs a second, which a server start should not pay.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable, Sequence
from typing import Any

from starlette.routing import BaseRoute, Route

from server.api.routing import Rpc, route_path

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
ERROR_SCHEMA = {
    "type": "object",
    "description": "MLflow's error body.",
    "properties": {
        "error_code": {"type": "string", "description": "MLflow's code, e.g. RESOURCE_DOES_NOT_EXIST."},
        "message": {"type": "string"},
    },
    "required": ["error_code", "message"],
}
ERRORS = {
    "4XX": {"description": "Refused: MLflow's error body.", "content": {"application/json": {"schema": ERROR_REF}}},
    "5XX": {"description": "Failed: MLflow's error body.", "content": {"application/json": {"schema": ERROR_REF}}},
}
# protobuf's JSON mapping: 64-bit integers may come as strings, floats as "NaN" or "Infinity".
_SCALARS: dict[int, dict[str, Any]] = {}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "description": "Seconds with an 's' suffix, e.g. '1.5s'."},
    "google.protobuf.FieldMask": {"type": "string", "description": "Comma-separated field paths."},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Any": {"type": "object"},
}


def _scalar_schemas() -> dict[int, dict[str, Any]]:
    from google.protobuf.descriptor import FieldDescriptor as F

    int64 = {"type": ["integer", "string"], "format": "int64"}
    number = {"type": ["number", "string"], "description": "A number, or 'NaN', 'Infinity', '-Infinity'."}
    return {
        F.TYPE_STRING: {"type": "string"},
        F.TYPE_BOOL: {"type": "boolean"},
        F.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
        F.TYPE_DOUBLE: number,
        F.TYPE_FLOAT: number,
        **{t: {"type": "integer", "format": "int32"} for t in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32)},
        **{t: {"type": "integer", "format": "int32", "minimum": 0} for t in (F.TYPE_UINT32, F.TYPE_FIXED32)},
        **dict.fromkeys((F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64, F.TYPE_UINT64, F.TYPE_FIXED64), int64),
    }


class _Schemas:
    """Message schemas, each once under components/schemas, referred to by its full protobuf name."""

    def __init__(self) -> None:
        from mlflow.protos import databricks_pb2

        self.required_option = databricks_pb2.validate_required
        self.components: dict[str, Any] = {}

    def message(self, descriptor: Any) -> dict[str, Any]:
        name = descriptor.full_name
        if name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[name])
        if name not in self.components:
            self.components[name] = {}  # placed first: a message may contain itself
            properties = {field.name: self.field(field) for field in descriptor.fields}
            schema: dict[str, Any] = {"type": "object", "properties": properties}
            if required := [field.name for field in descriptor.fields if self.is_required(field)]:
                schema["required"] = required
            self.components[name] = schema
        return {"$ref": f"#/components/schemas/{name}"}

    def is_required(self, field: Any) -> bool:
        return bool(field.GetOptions().Extensions[self.required_option])

    def field(self, field: Any) -> dict[str, Any]:
        if _is_map(field):
            value = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.single(value)}
        single = self.single(field)
        return {"type": "array", "items": single} if field.is_repeated else single

    def single(self, field: Any) -> dict[str, Any]:
        if field.message_type is not None:
            return self.message(field.message_type)
        if field.enum_type is not None:
            names = [value.name for value in field.enum_type.values]
            return {"anyOf": [{"type": "string", "enum": names}, {"type": "integer"}]}
        return dict(_SCALARS[field.type])


def _is_map(field: Any) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _descriptors() -> dict[tuple[str, str, int], tuple[Any, Any]]:
    """(method, path, major version) of every RPC in MLflow's protos -> (request, response) message descriptors."""
    import mlflow.protos
    from mlflow.protos import databricks_pb2

    found: dict[tuple[str, str, int], tuple[Any, Any]] = {}
    for module in pkgutil.iter_modules(mlflow.protos.__path__):
        if not module.name.endswith("_pb2"):
            continue
        try:
            protos = importlib.import_module(f"mlflow.protos.{module.name}")
        except ImportError:  # a module for a feature whose dependencies are not installed
            continue
        for service in protos.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                for endpoint in method.GetOptions().Extensions[databricks_pb2.rpc].endpoints:
                    key = (endpoint.method, endpoint.path, endpoint.since.major)
                    found[key] = (method.input_type, method.output_type)
    return found


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)(?::\w+)?}", path)
    ]


def _openapi_path(path: str) -> str:
    return re.sub(r"{(\w+):\w+}", r"{\1}", path)


def _operation_id(method: str, path: str) -> str:
    return f"{method.lower()}_" + re.sub(r"[^a-zA-Z0-9]+", "_", path).strip("_")


def _rpc_operation(rpc: Rpc, prefix: str, path: str, schemas: _Schemas, messages: tuple[Any, Any] | None) -> Any:
    parameters = _path_parameters(path)
    in_path = {p["name"] for p in parameters}
    operation: dict[str, Any] = {
        "operationId": _operation_id(rpc.method, path),
        "tags": [rpc.path.split("/")[2] if rpc.path.count("/") >= 2 else "mlflow"],
        "summary": f"MLflow RPC {rpc.path}" + (" (the web UI's twin)" if prefix == "/ajax-api" else ""),
    }
    if messages is None:  # an RPC MLflow declares in no descriptor (the user API, the UI's helpers)
        request_schema: dict[str, Any] = {"type": "object"}
        response_schema: dict[str, Any] = {"type": "object"}
    else:
        request, response = messages
        response_schema = schemas.message(response)
        if rpc.method == "GET":
            for field in request.fields:
                if field.name in in_path:
                    continue
                parameter = {
                    "name": field.name,
                    "in": "query",
                    "required": schemas.is_required(field),
                    "schema": schemas.field(field),
                }
                if field.message_type is not None and not _is_map(field):
                    parameter["schema"] = {"type": "string", "description": "JSON of the message."}
                parameters.append(parameter)
        request_schema = schemas.message(request)
    if rpc.method != "GET":
        operation["requestBody"] = {"content": {"application/json": {"schema": request_schema}}}
    if parameters:
        operation["parameters"] = parameters
    operation["responses"] = {
        "200": {"description": "The response message.", "content": {"application/json": {"schema": response_schema}}},
        **ERRORS,
    }
    return operation


def _route_operation(method: str, path: str) -> dict[str, Any]:
    """A route outside MLflow's RPC table: its path parameters and MLflow's error body; its body is its own."""
    operation: dict[str, Any] = {
        "operationId": _operation_id(method, path),
        "tags": ["server"],
        "responses": {"200": {"description": "See the README for this route's body."}, **ERRORS},
    }
    if parameters := _path_parameters(path):
        operation["parameters"] = parameters
    return operation


def build(rpcs: Sequence[Rpc], other_routes: Iterable[BaseRoute], native: dict[str, Any]) -> dict[str, Any]:
    """`native` is FastAPI's own document (the jobs API); MLflow's RPCs and the plain routes are added to it."""
    global _SCALARS
    _SCALARS = _SCALARS or _scalar_schemas()
    schemas = _Schemas()
    descriptors = _descriptors()
    document = dict(native)
    document["openapi"] = "3.1.0"
    paths: dict[str, Any] = dict(document.get("paths", {}))
    for rpc in rpcs:
        for prefix in rpc.prefixes:
            path = _openapi_path(f"{prefix}/{rpc.since}.0{route_path(rpc.path)}")
            messages = descriptors.get((rpc.method, rpc.path, rpc.since))
            paths.setdefault(path, {})[rpc.method.lower()] = _rpc_operation(rpc, prefix, path, schemas, messages)
    routes = list(other_routes)
    while routes:
        route = routes.pop(0)
        if hasattr(route, "original_router"):  # a router added with include_router
            routes.extend(route.original_router.routes)
            continue
        if not isinstance(route, Route):
            continue
        path = _openapi_path(route.path)
        for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {}).setdefault(method.lower(), _route_operation(method, path))
    document["paths"] = dict(sorted(paths.items()))
    components = dict(document.get("components", {}))
    components["schemas"] = {**components.get("schemas", {}), **schemas.components, "ErrorResponse": ERROR_SCHEMA}
    document["components"] = components
    return document
