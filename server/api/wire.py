"""MLflow's wire format: request fields from a JSON body or a query string, JSON responses.

The stock client sends snake_case proto field names, repeats GET keys for lists, spells booleans `True`/`False`, and
sends `NaN`/`Infinity` as strings; `Fields` reads all of that with MLflow's own error wording, so a handler asks
for `fields.string("run_id", required=True)` and gets either a value or the 400 MLflow would have sent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from server.errors import MlflowError

API_DOCS_HINT = "See the API docs for more information about request parameters."
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # what a protobuf int64 holds


def missing(name: str) -> MlflowError:
    return MlflowError.invalid_parameter(f"Missing value for required parameter '{name}'. {API_DOCS_HINT}")


def invalid(name: str, value: Any, hint: str = "") -> MlflowError:
    try:
        shown = orjson.dumps(value).decode() if not isinstance(value, str) else f'"{value}"'
    except TypeError:  # orjson refuses integers past 64 bits, the very values this often reports
        shown = str(value)
    hint = hint or f"Hint: Value was of type '{type(value).__name__}'."
    return MlflowError.invalid_parameter(
        f"Invalid value {shown} for parameter '{name}' supplied: {hint} {API_DOCS_HINT}"
    )


@cache
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class Fields:
    """Typed, validated access to one request's fields."""

    __slots__ = ("_data", "_from_query")

    def __init__(self, data: Mapping[str, Any], *, from_query: bool = False) -> None:
        self._data = data
        self._from_query = from_query

    @property
    def from_query(self) -> bool:
        return self._from_query

    def as_dict(self) -> dict[str, Any]:
        return dict(self._data)

    def raw(self, name: str) -> Any:
        if name in self._data:
            return self._data[name]
        return self._data.get(_camel(name))

    def has(self, name: str) -> bool:
        return self.raw(name) is not None

    def _scalar(self, name: str) -> Any:
        value = self.raw(name)
        if self._from_query and isinstance(value, list):
            return value[-1] if value else None
        return value

    def string(self, name: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self._scalar(name)
        if value is None or (required and value == ""):
            if required:
                raise missing(name)
            return default
        if not isinstance(value, str):
            raise invalid(name, value)
        return value

    def required_string(self, name: str) -> str:
        value = self.string(name, required=True)
        assert value is not None
        return value

    def integer(self, name: str, *, required: bool = False, default: int | None = None) -> int | None:
        value = self._scalar(name)
        if value is None:
            if required:
                raise missing(name)
            return default
        if isinstance(value, bool):
            raise invalid(name, value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise invalid(name, value) from None
        if not isinstance(value, int) or not INT64_MIN <= value <= INT64_MAX:
            raise invalid(name, value)
        return value

    def double(self, name: str, *, required: bool = False) -> float | None:
        value = self._scalar(name)
        if value is None:
            if required:
                raise missing(name)
            return None
        return parse_double(name, value)

    def boolean(self, name: str, *, default: bool = False) -> bool:
        value = self._scalar(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise invalid(name, value)

    def string_list(self, name: str) -> list[str]:
        value = self.raw(name)
        if value is None:
            return []
        if not isinstance(value, list):
            value = [value]
        for item in value:
            if not isinstance(item, str):
                raise invalid(name, value)
        return value

    def objects(self, name: str) -> list[dict[str, Any]]:
        value = self.raw(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise invalid(name, value)
        return value

    def enum(self, name: str, names: Mapping[str, int], *, default: str | None = None) -> str | None:
        """An enum given by name or number, as protobuf's JSON parser accepts it; returns the name."""
        value = self._scalar(name)
        if value is None:
            return default
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            for enum_name, number in names.items():
                if number == value:
                    return enum_name
        if isinstance(value, str) and value in names:
            return value
        raise invalid(name, value, f"Value must be one of {', '.join(names)}.")


def key_value_pairs(fields: Fields, name: str) -> list[tuple[str, str]]:
    """A repeated `{key, value}` field (tags, params) in request order; a missing value reads as ""."""
    pairs = []
    for i, item in enumerate(fields.objects(name)):
        entry = Fields(item)
        key = entry.string("key")
        if not key:
            raise missing(f"{name}[{i}].key")
        pairs.append((key, entry.string("value", default="") or ""))
    return pairs


def parse_double(name: str, value: Any) -> float:
    """A proto double from JSON: a number or the strings protobuf uses for NaN and the infinities."""
    if isinstance(value, bool):
        raise invalid(name, value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
        if value in special:
            return special[value]
        try:
            return float(value)
        except ValueError:
            pass
    raise invalid(name, value)


def _require_json_content_type(request: Request) -> None:
    """As MLflow does for POST and PUT; it also keeps browsers' cross-site "simple" form or text/plain posts
    (which need no CORS preflight) from ever reaching a handler."""
    content_type = request.headers.get("content-type")
    if not content_type:
        raise MlflowError.invalid_parameter("Bad Request. Content-Type header is missing.")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise MlflowError.invalid_parameter("Bad Request. Content-Type must be one of ['application/json'].")


async def read_fields(request: Request) -> Fields:
    """The request's fields: the query string for GET, the JSON body (if any) for everything else."""
    if request.method == "GET":
        data: dict[str, Any] = {}
        for key, value in request.query_params.multi_items():
            data.setdefault(key, []).append(value)
        return Fields(data, from_query=True)
    if request.method in ("POST", "PUT"):
        _require_json_content_type(request)
    body = await request.body()
    if not body.strip():
        return Fields({})
    try:
        data = orjson.loads(body)
        if isinstance(data, str):  # legacy clients double-encode the body
            data = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise MlflowError.invalid_parameter("Malformed request: the body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise MlflowError.invalid_parameter("Malformed request: the body must be a JSON object.")
    return Fields(data)


def server_base_url(request: Request) -> str:
    """This server's address as the client reached it, for URLs we hand back (multipart parts, presigned)."""
    return f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"


def json_response(payload: Mapping[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")
