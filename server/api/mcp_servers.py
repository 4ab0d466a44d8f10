"""The MCP Server Registry routes of MLflow 3.18 (`/api/3.0/mlflow/mcp-servers...` and their `/ajax-api` twins), plain
JSON as MLflow's FastAPI router serves them: every field of a response is present, `null` when unset.

A server's name holds a slash (`com.example/weather`), which the client sends percent-encoded and the path carries
decoded, so every route names the server with a path parameter that spans slashes. The routes are listed in MLflow's
order, which is what makes a URL mean one thing: `/endpoints` before any server, a server's sub-resources before the
server itself (`/com.example/weather/versions` lists versions; it is not a server named `.../versions`, a name the
registry refuses anyway).

With auth on, each route needs what MLflow 3.18's auth asks on the server it names (`server/auth/mcp_access.py`: role
grants of type `mcp_server` on `*` or a name, and `mcp_server_version` on `*` for every server's versions); a server's
creator manages it; a search shows only the servers (or endpoints of servers) the caller may read; every server shown
lists the caller's `allowed_actions`, and an endpoint does not show the version it serves to a caller denied the
version tier.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy.orm import Session

from server.api.mcp_bodies import (
    CONNECT_OPTIONS,
    ICONS,
    SERVER_JSON,
    TOOLS,
    Nullable,
    Shape,
    Text,
    bad_request,
    read_body,
)
from server.api.routing import Rpc
from server.api.wire import Fields
from server.auth import mcp_access
from server.auth import rules as access
from server.permissions import Permission
from server.services import mcp_rules as rules
from server.services import mcp_servers as service
from server.web.context import Context

_PREFIX = "/mlflow/mcp-servers"
_SERVER = f"{_PREFIX}/{{name:path}}"
_ALL_ACTIONS = ["USE", "UPDATE", "DELETE", "MANAGE"]
# What an endpoint carries of the version it serves, withheld from a caller denied the version tier (as in MLflow).
_VERSION_PASSENGERS = ("resolved_version", "tools", "server_version", "server_alias")
_TOOL_FIELDS = ("name", "title", "description", "inputSchema", "outputSchema", "annotations", "icons", "execution")
_OPTIONAL_TEXT = Nullable(Text())


def _username() -> str | None:
    principal = access.current_principal()
    return principal.username if principal is not None else None


def _loads(text: str | None) -> Any:
    return orjson.loads(text) if text is not None else None


# --- what the caller may see and do (auth on) ---------------------------------------------------------------------


def _levels(session: Session, context: Context) -> mcp_access.McpLevels | None:
    principal = access.current_principal()
    if context.authorizer is None or principal is None:
        return None
    return context.authorizer.mcp_levels(session, principal)


def _withhold_versions(endpoints: list[dict[str, Any]], levels: mcp_access.McpLevels | None) -> list[dict[str, Any]]:
    """Endpoints of servers whose versions the caller is denied keep their fields but not the version they serve."""
    if levels is not None:
        for endpoint in endpoints:
            if levels.versions_withheld(endpoint["server_name"]):
                endpoint.update({field: None for field in _VERSION_PASSENGERS if field in endpoint})
    return endpoints


def _for_caller(servers: list[dict[str, Any]], session: Session, context: Context) -> list[dict[str, Any]]:
    """Each server with what the caller may do with it (so the UI offers only that) and its endpoints' versions
    withheld where the caller is denied them."""
    levels = _levels(session, context)
    if levels is not None:
        for server in servers:
            server["allowed_actions"] = mcp_access.allowed_actions(levels.server(server["name"]))
            _withhold_versions(server["access_endpoints"], levels)
    return servers


def _scope(fields: Fields) -> mcp_access.McpScope | None:
    """The servers a search may show, as its permission check left them (with auth on)."""
    visible = fields.raw(mcp_access.MCP_SCOPE_FIELD)
    return visible if isinstance(visible, mcp_access.McpScope) else None


# --- JSON ---------------------------------------------------------------------------------------------------------


def _tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: tool.get(key) for key in _TOOL_FIELDS} for tool in tools]


def version_json(row: service.VersionRow) -> dict[str, Any]:
    version = row.version
    return {
        "name": row.server.name,
        "version": version.version,
        "server_json": orjson.loads(version.server_json),
        "workspace": row.server.workspace,
        "status": version.status,
        "tools": _tools(_loads(version.tools) or []),  # MLflow answers [] for a version without tools
        "aliases": row.aliases,
        "tags": row.tags,
        "connect_options": _loads(version.connect_options) or {},
        "source": version.source,
        "created_by": version.created_by,
        "last_updated_by": version.last_updated_by,
        "creation_timestamp": version.creation_timestamp,
        "last_updated_timestamp": version.last_updated_timestamp,
    }


def _endpoint_fields(row: service.EndpointRow) -> dict[str, Any]:
    endpoint = row.endpoint
    return {
        "id": endpoint.endpoint_id,
        "server_name": row.server.name,
        "url": endpoint.url,
        "transport_type": endpoint.transport_type,
        "workspace": row.server.workspace,
        "server_version": endpoint.server_version,
        "server_alias": endpoint.server_alias,
        "resolved_version": version_json(row.resolved),
        "created_by": endpoint.created_by,
        "last_updated_by": endpoint.last_updated_by,
        "creation_timestamp": endpoint.creation_timestamp,
        "last_updated_timestamp": endpoint.last_updated_timestamp,
    }


def endpoint_json(row: service.EndpointRow) -> dict[str, Any]:
    """An endpoint as its own routes answer it: with the tools of the version it resolves to (null if none)."""
    tools = _loads(row.resolved.version.tools)
    return {**_endpoint_fields(row), "tools": _tools(tools) if tools is not None else None}


def server_json(row: service.ServerRow) -> dict[str, Any]:
    """A server; its description and icons fall back on its latest version's `server.json`."""
    server = row.server
    latest = orjson.loads(row.latest.server_json) if row.latest is not None else None
    description = server.description
    if description is None and latest is not None:
        description = latest.get("description")
    icons = rules.resolved_icons(_loads(server.icons), latest.get("icons") if latest is not None else None)
    return {
        "name": server.name,
        "display_name": server.display_name,
        "description": description,
        "icons": icons,
        "workspace": server.workspace,
        "status": row.latest.status if row.latest is not None else None,
        "access_endpoints": [_endpoint_fields(endpoint) for endpoint in row.endpoints],
        "latest_version": row.latest.version if row.latest is not None else None,
        "aliases": [{"alias": alias, "version": version} for alias, version in row.aliases.items()],
        "tags": row.tags,
        "created_by": server.created_by,
        "last_updated_by": server.last_updated_by,
        "creation_timestamp": server.creation_timestamp,
        "last_updated_timestamp": server.last_updated_timestamp,
        "allowed_actions": list(_ALL_ACTIONS),
    }


# --- query strings ------------------------------------------------------------------------------------------------


def _last(fields: Fields, name: str) -> str | None:
    """A query parameter given once (or repeated, when the last one counts, as in FastAPI)."""
    value = fields.raw(name)
    if isinstance(value, list):
        value = value[-1] if value else None
    return str(value) if value is not None else None


def _max_results(fields: Fields) -> int:
    value = _last(fields, "max_results")
    if value is None:
        return 100
    try:
        return int(value.strip())
    except ValueError:
        problem = "query.max_results: Input should be a valid integer, unable to parse string as an integer"
        raise bad_request([problem]) from None


def _search(fields: Fields) -> dict[str, Any]:
    return {
        "filter_string": _last(fields, "filter_string"),
        "max_results": _max_results(fields),
        "order_by": fields.string_list("order_by"),
        "page_token": _last(fields, "page_token"),
    }


# --- servers ------------------------------------------------------------------------------------------------------


def create_mcp_server(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    body = read_body(
        fields.as_dict(), {"name": (Text(), True), "description": (_OPTIONAL_TEXT, False), "icons": (ICONS, False)}
    )
    row = service.create_server(
        session, body.get("name"), description=body.get("description"), icons=body.get("icons"), by=_username()
    )
    principal = access.current_principal()
    if context.authorizer is not None and principal is not None:
        context.authorizer.grant_mcp_creator(session, principal, row.server.name)  # before its actions are listed
    return _for_caller([server_json(row)], session, context)[0]


def search_mcp_servers(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    page = service.search_servers(session, **_search(fields), visible=_scope(fields))
    servers = _for_caller([server_json(row) for row in page.rows], session, context)
    return {"mcp_servers": servers, "next_page_token": page.next_page_token}


def get_mcp_server(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    return _for_caller([server_json(service.get_server(session, fields.raw("name")))], session, context)[0]


_UPDATE_SERVER: Mapping[str, tuple[Shape, bool]] = {
    "display_name": (_OPTIONAL_TEXT, False),
    "description": (_OPTIONAL_TEXT, False),
    "icons": (ICONS, False),
}


def update_mcp_server(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    given = fields.as_dict()
    if "latest_version" in given:
        raise bad_request(
            ["Value error, latest_version is read-only; it is resolved automatically from semantic-version ordering"]
        )
    body = read_body(given, _UPDATE_SERVER)
    changes = {key: body.get(key) for key in _UPDATE_SERVER if body.given(key)}
    row = service.update_server(session, fields.raw("name"), **changes, by=_username())
    return _for_caller([server_json(row)], session, context)[0]


def delete_mcp_server(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    service.delete_server(session, fields.raw("name"))
    return {}


# --- versions -----------------------------------------------------------------------------------------------------


def _unwrapped(given: dict[str, Any]) -> dict[str, Any]:
    """A registry response envelope (`{"server": {...}}`) is accepted for `server_json`, as MLflow accepts it."""
    document = given.get("server_json")
    if not isinstance(document, dict) or ("name" in document and "version" in document) or "server" not in document:
        return given
    inner = document["server"]
    if not isinstance(inner, dict):
        raise bad_request(["Value error, server_json.server: Input should be a valid dictionary"])
    if "name" not in inner or "version" not in inner:
        return given
    return {**given, "server_json": inner}


def _registration_hooks(context: Context) -> tuple[service.ServerHook | None, service.ServerHook | None]:
    """With auth on, what runs in the write that registers a version: the caller's right to add to a server that is
    already there (checked again: it may have been made by someone else since the first check), and MANAGE for
    them on a server the registration made, as MLflow grants it."""
    authorizer, principal = context.authorizer, access.current_principal()
    if authorizer is None or principal is None:
        return None, None

    def existing(session: Session, name: str) -> None:
        authorizer.require_mcp_registration(session, principal, name)

    def created(session: Session, name: str) -> None:
        authorizer.grant_mcp_creator(session, principal, name)

    return existing, created


def create_mcp_server_version(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    name = fields.raw("name")
    body = read_body(
        _unwrapped(fields.as_dict()),
        {
            "server_json": (SERVER_JSON, True),
            "status": (Text(), False),
            "source": (_OPTIONAL_TEXT, False),
            "tools": (TOOLS, False),
            "connect_options": (CONNECT_OPTIONS, False),
        },
    )
    document = body.get("server_json")
    rules.server_name(document["name"])
    rules.server_name(name)
    if document["name"] != name:
        raise rules.invalid(f"server_json.name '{document['name']}' does not match path parameter '{name}'")
    registration = service.Registration(
        server_json=document,
        status=rules.status(body.get("status", rules.DRAFT)),
        source=body.get("source"),
        tools=body.get("tools"),
        connect_options=body.get("connect_options"),
        created_by=_username(),
    )
    existing, created = _registration_hooks(context)
    return version_json(service.create_version(session, registration, existing=existing, created=created))


def search_mcp_server_versions(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    page = service.search_versions(session, fields.raw("name"), **_search(fields))
    return {"mcp_server_versions": [version_json(row) for row in page.rows], "next_page_token": page.next_page_token}


def get_mcp_server_version(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    return version_json(service.get_version(session, fields.raw("name"), fields.raw("version")))


def update_mcp_server_version(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    body = read_body(
        fields.as_dict(),
        {"status": (_OPTIONAL_TEXT, False), "tools": (TOOLS, False), "connect_options": (CONNECT_OPTIONS, False)},
    )
    changes: dict[str, Any] = {}
    if body.given("status"):
        if body.get("status") is None:
            raise rules.invalid("status cannot be null; omit the field to leave it unchanged")
        changes["status"] = rules.status(body.get("status"))
    for key in ("tools", "connect_options"):
        if body.given(key):
            changes[key] = body.get(key)
    row = service.update_version(session, fields.raw("name"), fields.raw("version"), **changes, by=_username())
    return version_json(row)


def delete_mcp_server_version(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    service.delete_version(session, fields.raw("name"), fields.raw("version"))
    return {}


# --- tags and aliases ---------------------------------------------------------------------------------------------

_TAG: Mapping[str, tuple[Shape, bool]] = {"key": (Text(), True), "value": (Text(), True)}


def set_mcp_server_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    body = read_body(fields.as_dict(), _TAG)
    service.set_server_tag(session, fields.raw("name"), body.get("key"), body.get("value"))
    return {}


def delete_mcp_server_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    service.delete_server_tag(session, fields.raw("name"), fields.raw("key"))
    return {}


def set_mcp_server_version_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    body = read_body(fields.as_dict(), _TAG)
    service.set_version_tag(session, fields.raw("name"), fields.raw("version"), body.get("key"), body.get("value"))
    return {}


def delete_mcp_server_version_tag(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    service.delete_version_tag(session, fields.raw("name"), fields.raw("version"), fields.raw("key"))
    return {}


def set_mcp_server_alias(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    body = read_body(fields.as_dict(), {"alias": (Text(), True), "version": (Text(), True)})
    service.set_alias(session, fields.raw("name"), body.get("alias"), body.get("version"))
    return {}


def get_version_by_alias(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    return version_json(service.version_by_alias(session, fields.raw("name"), fields.raw("alias")))


def delete_mcp_server_alias(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    service.delete_alias(session, fields.raw("name"), fields.raw("alias"))
    return {}


# --- access endpoints ---------------------------------------------------------------------------------------------


def _endpoint_search(fields: Fields, session: Session, context: Context, name: str | None) -> dict[str, Any]:
    page = service.search_endpoints(
        session,
        name,
        server_version=_last(fields, "server_version"),
        server_alias=_last(fields, "server_alias"),
        **_search(fields),
        visible=_scope(fields) if name is None else None,
    )
    endpoints = _withhold_versions([endpoint_json(row) for row in page.rows], _levels(session, context))
    return {"mcp_access_endpoints": endpoints, "next_page_token": page.next_page_token}


def search_all_access_endpoints(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    return _endpoint_search(fields, session, context, None)


def search_server_access_endpoints(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    return _endpoint_search(fields, session, context, fields.raw("name"))


def _endpoint_for_caller(row: service.EndpointRow, session: Session, context: Context) -> dict[str, Any]:
    return _withhold_versions([endpoint_json(row)], _levels(session, context))[0]


_ENDPOINT_TARGETS: Mapping[str, tuple[Shape, bool]] = {
    "server_version": (_OPTIONAL_TEXT, False),
    "server_alias": (_OPTIONAL_TEXT, False),
}


def create_mcp_access_endpoint(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    body = read_body(fields.as_dict(), {**_ENDPOINT_TARGETS, "url": (Text(), True), "transport_type": (Text(), False)})
    row = service.create_endpoint(
        session,
        fields.raw("name"),
        url=body.get("url"),
        transport_type=rules.transport(body.get("transport_type", rules.TRANSPORTS[0])),
        server_version=body.get("server_version"),
        server_alias=body.get("server_alias"),
        by=_username(),
    )
    return _endpoint_for_caller(row, session, context)


def get_mcp_access_endpoint(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    return _endpoint_for_caller(
        service.get_endpoint(session, fields.raw("name"), fields.raw("endpoint_id")), session, context
    )


def update_mcp_access_endpoint(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    body = read_body(
        fields.as_dict(),
        {**_ENDPOINT_TARGETS, "url": (_OPTIONAL_TEXT, False), "transport_type": (_OPTIONAL_TEXT, False)},
    )
    changes = {key: body.get(key) for key in ("server_version", "server_alias", "url") if body.given(key)}
    if body.get("transport_type") is not None:
        changes["transport_type"] = rules.transport(body.get("transport_type"))
    row = service.update_endpoint(session, fields.raw("name"), fields.raw("endpoint_id"), **changes, by=_username())
    return _endpoint_for_caller(row, session, context)


def delete_mcp_access_endpoint(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    service.delete_endpoint(session, fields.raw("name"), fields.raw("endpoint_id"))
    return {}


def _rpc(method: str, path: str, handler: Any, need: access.Access) -> Rpc:
    return Rpc(method, path, handler, since=3, access=need)


# What each route needs, as MLflow 3.18's auth maps them (`server/auth/mcp_access.py` says what each kind asks).
_READ, _EDIT = mcp_access.mcp_server(Permission.READ), mcp_access.mcp_server(Permission.EDIT)
_SWEEP = mcp_access.MCP_SERVER_SWEEP
_VERSION_READ, _VERSION_EDIT, _VERSION_MANAGE = (
    mcp_access.mcp_server_versions(p) for p in (Permission.READ, Permission.EDIT, Permission.MANAGE)
)
_ENDPOINT_READ, _ENDPOINT_EDIT = (mcp_access.mcp_server_endpoint(p) for p in (Permission.READ, Permission.EDIT))

# MLflow's order: a route whose path a later one could also match comes first.
RPCS = [
    _rpc("POST", _PREFIX, create_mcp_server, mcp_access.MCP_SERVER_CREATE),
    _rpc("GET", _PREFIX, search_mcp_servers, mcp_access.MCP_SERVER_SEARCH),
    _rpc("GET", f"{_PREFIX}/endpoints", search_all_access_endpoints, mcp_access.MCP_ENDPOINT_SEARCH),
    _rpc("POST", f"{_SERVER}/versions/{{version:path}}/tags", set_mcp_server_version_tag, _VERSION_EDIT),
    _rpc(
        "DELETE",
        f"{_SERVER}/versions/{{version:path}}/tags/{{key:path}}",
        delete_mcp_server_version_tag,
        _VERSION_MANAGE,
    ),
    _rpc("GET", f"{_SERVER}/versions/{{version:path}}", get_mcp_server_version, _VERSION_READ),
    _rpc("PATCH", f"{_SERVER}/versions/{{version:path}}", update_mcp_server_version, mcp_access.MCP_VERSION_UPDATE),
    _rpc("DELETE", f"{_SERVER}/versions/{{version:path}}", delete_mcp_server_version, _VERSION_MANAGE),
    _rpc("POST", f"{_SERVER}/versions", create_mcp_server_version, mcp_access.MCP_SERVER_REGISTER),
    _rpc("GET", f"{_SERVER}/versions", search_mcp_server_versions, _VERSION_READ),
    _rpc("POST", f"{_SERVER}/endpoints", create_mcp_access_endpoint, _ENDPOINT_EDIT),
    _rpc("GET", f"{_SERVER}/endpoints/{{endpoint_id}}", get_mcp_access_endpoint, _ENDPOINT_READ),
    _rpc("PATCH", f"{_SERVER}/endpoints/{{endpoint_id}}", update_mcp_access_endpoint, _ENDPOINT_EDIT),
    _rpc("DELETE", f"{_SERVER}/endpoints/{{endpoint_id}}", delete_mcp_access_endpoint, _SWEEP),
    _rpc("GET", f"{_SERVER}/endpoints", search_server_access_endpoints, _ENDPOINT_READ),
    _rpc("POST", f"{_SERVER}/tags", set_mcp_server_tag, _EDIT),
    _rpc("DELETE", f"{_SERVER}/tags/{{key:path}}", delete_mcp_server_tag, _SWEEP),
    _rpc("POST", f"{_SERVER}/aliases", set_mcp_server_alias, mcp_access.mcp_server_alias(Permission.EDIT)),
    _rpc(
        "GET", f"{_SERVER}/aliases/{{alias:path}}", get_version_by_alias, mcp_access.mcp_server_alias(Permission.READ)
    ),
    _rpc(
        "DELETE",
        f"{_SERVER}/aliases/{{alias:path}}",
        delete_mcp_server_alias,
        mcp_access.mcp_server_alias(Permission.MANAGE),
    ),
    _rpc("GET", _SERVER, get_mcp_server, _READ),
    _rpc("PATCH", _SERVER, update_mcp_server, _EDIT),
    _rpc("DELETE", _SERVER, delete_mcp_server, _SWEEP),
]
