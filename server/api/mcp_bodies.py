"""The request bodies of MLflow 3.18's MCP Server Registry, checked as its Pydantic models check them.

MLflow's models ignore fields they do not declare (the `server.json` ones keep them), coerce booleans the lax way
Pydantic does, and report every problem of a body at once as `Invalid request: <loc>: <message>; ...`. An icon's URL
and media type are checked while the body is read, so a bad one is reported on its own, before anything else of the
request, as MLflow's field validators do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from server.errors import MlflowError
from server.services import mcp_rules as rules

Problems = list[str]
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


def bad_request(problems: Problems) -> MlflowError:
    return MlflowError.invalid_parameter(f"Invalid request: {'; '.join(problems)}")


class Shape:
    """What one value must be; `read` returns it normalized, or appends a problem and returns None."""

    def read(self, value: Any, loc: str, problems: Problems) -> Any:
        raise NotImplementedError


def _at(loc: str, message: str) -> str:
    return f"{loc}: {message}" if loc else message


class Text(Shape):
    def read(self, value: Any, loc: str, problems: Problems) -> Any:
        if isinstance(value, str):
            return value
        problems.append(_at(loc, "Input should be a valid string"))
        return None


class Flag(Shape):
    def read(self, value: Any, loc: str, problems: Problems) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        unreadable = isinstance(value, str | int | float)
        problems.append(
            _at(loc, f"Input should be a valid boolean{', unable to interpret input' if unreadable else ''}")
        )
        return None


class Dictionary(Shape):
    def read(self, value: Any, loc: str, problems: Problems) -> Any:
        if isinstance(value, dict):
            return value
        problems.append(_at(loc, "Input should be a valid dictionary"))
        return None


class Anything(Shape):
    def read(self, value: Any, loc: str, problems: Problems) -> Any:  # noqa: ARG002 - every value is one
        return value


@dataclass(frozen=True)
class Nullable(Shape):
    inner: Shape

    def read(self, value: Any, loc: str, problems: Problems) -> Any:
        return None if value is None else self.inner.read(value, loc, problems)


@dataclass(frozen=True)
class ListOf(Shape):
    item: Shape
    max_length: int | None = None

    def read(self, value: Any, loc: str, problems: Problems) -> Any:
        if not isinstance(value, list):
            problems.append(_at(loc, "Input should be a valid list"))
            return None
        items = [self.item.read(item, f"{loc}.{index}", problems) for index, item in enumerate(value)]
        if self.max_length is not None and len(value) > self.max_length:
            problems.append(
                _at(loc, f"List should have at most {self.max_length} items after validation, not {len(value)}")
            )
        return items


@dataclass(frozen=True)
class Model(Shape):
    """An object with declared fields (name -> (shape, required)); `keep_extra` keeps the others as they came."""

    name: str
    fields: Mapping[str, tuple[Shape, bool]]
    keep_extra: bool = False
    after: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    not_object: str = ""

    def read(self, value: Any, loc: str, problems: Problems) -> Any:
        if not isinstance(value, dict):
            problems.append(
                _at(loc, self.not_object or f"Input should be a valid dictionary or instance of {self.name}")
            )
            return None
        before = len(problems)
        read: dict[str, Any] = {}
        for key, (shape, required) in self.fields.items():
            if key not in value:
                if required:
                    problems.append(_at(f"{loc}.{key}" if loc else key, "Field required"))
                continue
            read[key] = shape.read(value[key], f"{loc}.{key}" if loc else key, problems)
        if self.keep_extra:
            read = {**{key: item for key, item in value.items() if key not in self.fields}, **read}
            read = {key: read[key] for key in value}  # the client's order
        if self.after is not None and len(problems) == before:
            read = self.after(read)
        return read


def _icon(icon: dict[str, Any]) -> dict[str, Any]:
    """An icon as MLflow stores it: its URL checked, its media type lower-cased, unset optional fields left out."""
    rules.icon_url(icon["src"])
    icon = dict(icon)
    if icon.get("mimeType") is not None:
        icon["mimeType"] = rules.mime_type(icon["mimeType"])
    return {key: value for key, value in icon.items() if value is not None or key not in _ICON_FIELDS}


_ICON_FIELDS = frozenset({"src", "sizes", "mimeType", "theme"})
ICON = Model(
    "MCPIconRequestPayload",
    {
        "src": (Text(), True),
        "sizes": (Nullable(ListOf(Text())), False),
        "mimeType": (Nullable(Text()), False),
        "theme": (Nullable(Text()), False),
    },
    keep_extra=True,
    after=_icon,
)
ICONS = Nullable(ListOf(ICON, rules.MAX_ICONS))
_OPTIONAL_TEXT = Nullable(Text())
_OPTIONAL_MAPPING = Nullable(Dictionary())

_ENVIRONMENT_VARIABLE = Model(
    "ServerJSONEnvironmentVariablePayload",
    {
        "name": (Text(), True),
        "description": (_OPTIONAL_TEXT, False),
        "isRequired": (Nullable(Flag()), False),
        "isSecret": (Nullable(Flag()), False),
    },
    keep_extra=True,
)
_PACKAGE = Model(
    "ServerJSONPackagePayload",
    {
        "registryType": (Text(), True),
        "identifier": (Text(), True),
        "transport": (Anything(), True),
        "registryBaseUrl": (_OPTIONAL_TEXT, False),
        "version": (_OPTIONAL_TEXT, False),
        "environmentVariables": (Nullable(ListOf(_ENVIRONMENT_VARIABLE)), False),
    },
    keep_extra=True,
)
_REMOTE = Model(
    "ServerJSONRemotePayload", {"type": (_OPTIONAL_TEXT, False), "url": (_OPTIONAL_TEXT, False)}, keep_extra=True
)
_REPOSITORY = Model(
    "ServerJSONRepositoryPayload",
    {
        "url": (Text(), True),
        "source": (Text(), True),
        "id": (_OPTIONAL_TEXT, False),
        "subfolder": (_OPTIONAL_TEXT, False),
    },
    keep_extra=True,
)
SERVER_JSON = Model(
    "ServerJSONPayload",
    {
        "name": (Text(), True),
        "version": (Text(), True),
        "title": (_OPTIONAL_TEXT, False),
        "description": (_OPTIONAL_TEXT, False),
        "icons": (ICONS, False),
        "packages": (Nullable(ListOf(_PACKAGE)), False),
        "remotes": (Nullable(ListOf(_REMOTE)), False),
        "repository": (Nullable(_REPOSITORY), False),
        "websiteUrl": (_OPTIONAL_TEXT, False),
        "_meta": (_OPTIONAL_MAPPING, False),
    },
    keep_extra=True,
)
_TOOL_FIELDS = ("name", "title", "description", "inputSchema", "outputSchema", "annotations", "icons", "execution")
TOOL = Model(
    "MCPToolRequestPayload",
    {
        "name": (Text(), True),
        "title": (_OPTIONAL_TEXT, False),
        "description": (_OPTIONAL_TEXT, False),
        "inputSchema": (_OPTIONAL_MAPPING, False),
        "outputSchema": (_OPTIONAL_MAPPING, False),
        "annotations": (_OPTIONAL_MAPPING, False),
        "icons": (ICONS, False),
        "execution": (_OPTIONAL_MAPPING, False),
    },
    after=lambda tool: {key: tool[key] for key in _TOOL_FIELDS if tool.get(key) is not None},
)
TOOLS = Nullable(ListOf(TOOL, rules.MAX_TOOLS))
_CONNECT_OPTION = Model(
    "ConnectOptionSettings",
    {"hidden": (Flag(), False)},
    after=lambda option: {"hidden": bool(option.get("hidden", False))},
    not_object="Input should be a dictionary or an instance of ConnectOptionSettings",
)


@dataclass(frozen=True)
class _Options(Shape):
    def read(self, value: Any, loc: str, problems: Problems) -> Any:
        if not isinstance(value, dict):
            problems.append(_at(loc, "Input should be a valid dictionary"))
            return None
        return {key: _CONNECT_OPTION.read(item, f"{loc}.{key}", problems) for key, item in value.items()}


CONNECT_OPTIONS = Nullable(_Options())


@dataclass
class Body:
    """A body read against its model: the values of the fields it gave, and which ones it gave."""

    values: dict[str, Any] = field(default_factory=dict)

    def given(self, key: str) -> bool:
        return key in self.values

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)


def read_body(body: Mapping[str, Any], fields: Mapping[str, tuple[Shape, bool]]) -> Body:
    """The declared fields of a request body, or the 400 MLflow sends for its problems."""
    problems: Problems = []
    values = Model("body", fields).read(dict(body), "", problems)
    if problems:
        raise bad_request(problems)
    return Body(values)
