"""The MCP Server Registry (MLflow 3.18): MCP servers of the request's workspace, their versions (each a `server.json`
with declared tools and a lifecycle status), tags, aliases and approved access endpoints, with the errors MLflow's
server answers.

Every lookup goes through the request's workspace, so a server of another team is simply not found. Registering a
version of a server nobody created makes the server, as MLflow does. Deleting a version marks it `deleted` and takes
the aliases and endpoints that pointed at it with it; an endpoint following `latest` goes once nothing is left for
`latest` to resolve to.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.orm import Session

from server.auth.mcp_access import GRANT_TYPE as SERVER_GRANT_TYPE
from server.auth.mcp_access import McpScope
from server.clock import now_ms
from server.errors import ErrorCode, MlflowError
from server.services import mcp_rules as rules
from server.store import mcp_grammar, scope
from server.store import mcp_labels as labels
from server.store import mcp_servers as store
from server.store import roles as role_store
from server.store.mcp_models import McpAccessEndpoint, McpServer, McpServerVersion
from server.store.mcp_servers import EndpointRow as EndpointRow  # re-exported: the rows the API renders
from server.store.mcp_servers import ServerRow as ServerRow
from server.store.mcp_servers import VersionRow as VersionRow
from server.store.search_grammar import Comparison


class _Unset:
    """A field the request left out (a PATCH changes only what it names)."""


UNSET: Any = _Unset()


def _not_found(message: str) -> MlflowError:
    return MlflowError(message, ErrorCode.RESOURCE_DOES_NOT_EXIST)


def _json(value: Any) -> str | None:
    return orjson.dumps(value).decode() if value is not None else None


def _server(session: Session, name: str, *, for_update: bool = False) -> McpServer:
    """A server addressed as MLflow's store looks it up by name (its own message for a missing one)."""
    server = store.find_server(session, name, for_update=for_update)
    if server is None:
        raise _not_found(f"MCPServer not found (name='{name}')")
    return server


def _live_version(session: Session, name: str, version: str) -> tuple[McpServer, McpServerVersion]:
    server = store.find_server(session, name)
    found = store.find_version(session, server, version) if server is not None else None
    if server is None or found is None:
        raise _not_found(f"MCP server version '{name}' version '{version}' not found")
    return server, found


def _any_version(session: Session, server: McpServer, version: str) -> McpServerVersion:
    """A version live or deleted, for the writes that refuse a deleted one with their own message."""
    found = store.find_version(session, server, version, include_deleted=True)
    if found is None:
        raise _not_found(f"MCP server version '{server.name}' version '{version}' not found")
    return found


# --- servers ------------------------------------------------------------------------------------------------------


def _new_server(name: str, by: str | None, **fields: Any) -> McpServer:
    now = now_ms()
    return McpServer(
        workspace=scope.current_or_default(),
        name=name,
        created_by=by,
        last_updated_by=by,
        creation_timestamp=now,
        last_updated_timestamp=now,
        **fields,
    )


def create_server(
    session: Session, name: str, *, description: str | None, icons: list[dict[str, Any]] | None, by: str | None
) -> ServerRow:
    rules.server_name(name)
    server = _new_server(name, by, description=description, icons=_json(rules.writable_icons(icons)))
    if not store.add_server(session, server):
        raise MlflowError.already_exists(f"MCP server with name '{name}' already exists")
    return store.server_row(session, server)


def get_server(session: Session, name: str) -> ServerRow:
    server = store.find_server(session, name)
    if server is None:
        raise _not_found(f"MCP server '{name}' not found")
    return store.server_row(session, server)


def update_server(
    session: Session,
    name: str,
    *,
    description: Any = UNSET,
    display_name: Any = UNSET,
    icons: Any = UNSET,
    by: str | None,
) -> ServerRow:
    kept_icons = rules.writable_icons(icons) if icons is not UNSET else None
    server = _server(session, name, for_update=True)
    if description is not UNSET:
        server.description = description
    if display_name is not UNSET:
        server.display_name = rules.limited("display_name", 256, display_name)
    if icons is not UNSET:
        server.icons = _json(kept_icons)
    server.last_updated_by, server.last_updated_timestamp = by, now_ms()
    return store.server_row(session, server)


def delete_server(session: Session, name: str) -> None:
    """Refused while a version is active: an active server is in use, and deleting it would pull it from under its
    users."""
    server = _server(session, name, for_update=True)
    if (active := store.active_version(session, server)) is not None:
        raise rules.invalid(
            f"Cannot delete MCP server '{name}' while it still has an active version ('{active}'). Delete or "
            "deactivate the active version first."
        )
    store.delete_server(session, server)
    # In the same transaction, every grant naming the server: one made later under the same name starts with none
    # (MLflow drops them after its delete commits, and keeps them if that fails).
    role_store.delete_grants_on(session, server.workspace, SERVER_GRANT_TYPE, server.name)


def search_servers(
    session: Session,
    *,
    filter_string: str | None,
    max_results: int,
    order_by: Sequence[str],
    page_token: str | None,
    visible: McpScope | None = None,
) -> store.Page:
    """`visible`, with auth on, keeps the page to the servers the caller may read, before it is cut, so pages stay
    full."""
    limit = rules.max_results(max_results, rules.MAX_SERVERS_PAGE)
    filters = mcp_grammar.parse_server_filter(filter_string)
    order = mcp_grammar.parse_order_by(order_by, mcp_grammar.SERVER_ORDER)
    return store.search_servers(
        session, filters, order, max_results=limit, page_token=page_token, names=_names(visible)
    )


def _names(visible: McpScope | None) -> store.Names | None:
    return None if visible is None else store.Names(visible.include, visible.exclude)


# --- versions -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Registration:
    """A version as a request carries it; `tools` None (left out or null) stores none, `[]` an empty list."""

    server_json: dict[str, Any]
    status: str = rules.DRAFT
    source: str | None = None
    tools: list[dict[str, Any]] | None = None
    connect_options: dict[str, dict[str, bool]] | None = None
    created_by: str | None = None


def _tool_icons(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if tools is None:
        return None
    checked = []
    for index, tool in enumerate(tools):
        icons = rules.writable_icons(tool.get("icons"), f"tools[{index}].icons")
        checked.append({**tool, "icons": icons} if icons is not None else tool)
    return checked


ServerHook = Callable[[Session, str], None]


def create_version(
    session: Session,
    registration: Registration,
    *,
    existing: ServerHook | None = None,
    created: ServerHook | None = None,
) -> VersionRow:
    """`existing` runs when the version joins a server that is already there (with auth on, the caller's right to
    add to it, checked again in this write: the server may have been made by someone else since the first check),
    `created` when this call made the server (its creator's grant)."""
    server_json = registration.server_json
    name, version = server_json.get("name"), server_json.get("version")
    if not name or not version:
        raise rules.invalid("server_json must contain 'name' and 'version' keys")
    rules.server_name(name)
    if "icons" in server_json:
        server_json = {**server_json, "icons": rules.writable_icons(server_json["icons"], "server_json.icons")}
    parsed = rules.semver(version, "server_json.version")
    status = rules.initial_status(registration.status)
    rules.limited("source", 512, registration.source)
    tools = _tool_icons(registration.tools)
    server = store.find_server(session, name)
    made = server is None
    if server is None:
        server = _new_server(name, registration.created_by)
        if not store.add_server(session, server):
            server, made = _server(session, name), False
    hook = created if made else existing
    if hook is not None:
        hook(session, name)
    store.touch(session, server)
    now = now_ms()
    row = McpServerVersion(
        server_id=server.server_id,
        version=version,
        version_major=parsed.major,
        version_minor=parsed.minor,
        version_patch=parsed.patch,
        prerelease_key=parsed.key,
        server_json=orjson.dumps(server_json).decode(),
        status=status,
        tools=_json(tools),
        source=registration.source,
        connect_options=_json(registration.connect_options),
        created_by=registration.created_by,
        last_updated_by=registration.created_by,
        creation_timestamp=now,
        last_updated_timestamp=now,
    )
    if not store.add_version(session, row):
        raise MlflowError.already_exists(f"MCP server version '{name}' version '{version}' already exists")
    return store.version_row(session, server, row)


def get_version(session: Session, name: str, version: str) -> VersionRow:
    server, found = _live_version(session, name, version)
    return store.version_row(session, server, found)


def _latest(session: Session, name: str) -> tuple[McpServer, McpServerVersion]:
    server = _server(session, name)
    latest = store.resolved_latest(session, server)
    if latest is None:
        raise _not_found(f"No resolved latest version found for MCP server '{name}'")
    return server, latest


def version_by_alias(session: Session, name: str, alias: str) -> VersionRow:
    """`latest` is the resolved latest version; other aliases are the ones set."""
    if alias == rules.LATEST:
        return store.version_row(session, *_latest(session, name))
    server = store.find_server(session, name)
    row = labels.find_alias(session, server, alias) if server is not None else None
    if row is None:
        raise _not_found(f"Alias '{alias}' not found for MCP server '{name}'")
    return get_version(session, name, row.version)


def search_versions(
    session: Session,
    name: str,
    *,
    filter_string: str | None,
    max_results: int,
    order_by: Sequence[str],
    page_token: str | None,
) -> store.Page:
    """A server's live versions; a server nobody registered has none (an empty page, as in MLflow)."""
    limit = rules.max_results(max_results)
    filters: list[Comparison] = []
    bounds: list[store.VersionBound] = []
    for comparison in mcp_grammar.parse_version_filter(filter_string):
        if comparison.key == "version" and comparison.op not in ("=", "!="):
            parsed = rules.semver(comparison.value, "filter_string version")
            bounds.append(store.VersionBound(comparison.op, (parsed.major, parsed.minor, parsed.patch, parsed.key)))
        else:
            filters.append(comparison)
    order = mcp_grammar.parse_order_by(order_by, mcp_grammar.VERSION_ORDER)
    server = store.find_server(session, name)
    if server is None:
        return store.Page([], None)
    return store.search_versions(session, server, filters, bounds, order, max_results=limit, page_token=page_token)


def update_version(
    session: Session,
    name: str,
    version: str,
    *,
    status: Any = UNSET,
    tools: Any = UNSET,
    connect_options: Any = UNSET,
    by: str | None,
) -> VersionRow:
    kept_tools = _tool_icons(tools) if tools is not UNSET else None
    server, found = _live_version(session, name, version)
    if status is not UNSET:
        rules.check_transition(found.status, status)
        found.status = status
    if tools is not UNSET:
        found.tools = _json(kept_tools)
    if connect_options is not UNSET:
        found.connect_options = _json(connect_options)
    found.last_updated_by, found.last_updated_timestamp = by, now_ms()
    if status is not UNSET:
        store.drop_unresolvable_latest_endpoints(session, server)
    return store.version_row(session, server, found)


def delete_version(session: Session, name: str, version: str) -> None:
    """Marks the version deleted (its name is never registered again) and drops what pointed at it."""
    server = store.find_server(session, name)
    found = store.find_version(session, server, version, include_deleted=True) if server is not None else None
    if server is None or found is None:
        raise _not_found(f"MCP server version '{name}' version '{version}' not found")
    rules.check_transition(found.status, rules.DELETED)
    aliases = labels.aliases_of(session, server, version)
    store.delete_endpoints(session, server, versions=[version], aliases=aliases)
    labels.delete_aliases(session, server, aliases)
    found.status, found.last_updated_timestamp = rules.DELETED, now_ms()
    store.drop_unresolvable_latest_endpoints(session, server)


# --- access endpoints ---------------------------------------------------------------------------------------------


def _alias_target(session: Session, server: McpServer, alias: str) -> McpServerVersion:
    """The live version an alias points at, as MLflow checks it before an endpoint may follow the alias."""
    if alias == rules.LATEST:
        return _latest(session, server.name)[1]
    row = labels.find_alias(session, server, alias)
    if row is None:
        raise _not_found(f"Alias '{alias}' not found for MCP server '{server.name}'")
    target = store.find_version(session, server, row.version, include_deleted=True)
    if target is None:
        raise rules.invalid(f"Alias '{alias}' for MCP server '{server.name}' points to missing version '{row.version}'")
    if target.status == rules.DELETED:
        raise rules.invalid(f"Alias '{alias}' for MCP server '{server.name}' points to deleted version '{row.version}'")
    return target


def _pinnable(session: Session, server: McpServer, version: str, verb: str) -> None:
    if _any_version(session, server, version).status == rules.DELETED:
        raise rules.invalid(
            f"Cannot {verb} MCP access endpoint to deleted MCP server version '{server.name}' version '{version}'"
        )


def _resolved(session: Session, endpoint_id: str) -> EndpointRow:
    row = store.resolved_endpoint(session, endpoint_id)
    if row is None:
        raise _not_found(f"MCPAccessEndpoint {endpoint_id} not found")
    return row


def create_endpoint(
    session: Session,
    name: str,
    *,
    url: Any,
    transport_type: str,
    server_version: str | None,
    server_alias: str | None,
    by: str | None,
) -> EndpointRow:
    if (server_version is None) == (server_alias is None):
        raise rules.invalid("Exactly one of server_version or server_alias must be provided")
    rules.limited("MCP access endpoint url", 2048, rules.endpoint_url(url))
    server = _server(session, name)
    if server_version is not None:
        _pinnable(session, server, server_version, "create")
    if server_alias is not None:
        _alias_target(session, server, server_alias)
    now = now_ms()
    endpoint = McpAccessEndpoint(
        endpoint_id=f"ae-{uuid.uuid4().hex}",
        server_id=server.server_id,
        server_version=server_version,
        server_alias=server_alias,
        url=url,
        transport_type=transport_type,
        created_by=by,
        last_updated_by=by,
        creation_timestamp=now,
        last_updated_timestamp=now,
    )
    store.add_endpoint(session, endpoint)
    return _resolved(session, endpoint.endpoint_id)


def get_endpoint(session: Session, name: str, endpoint_id: str) -> EndpointRow:
    row = _resolved(session, endpoint_id)
    if row.server.name != name:
        raise _not_found(f"MCPAccessEndpoint {endpoint_id} does not belong to server '{name}'")
    return row


def _owned_endpoint(session: Session, name: str, endpoint_id: str) -> tuple[McpServer, McpAccessEndpoint]:
    endpoint = store.find_endpoint(session, endpoint_id)
    if endpoint is None:
        raise _not_found(f"MCPAccessEndpoint not found (id='{endpoint_id}')")
    server = session.get(McpServer, endpoint.server_id)
    if server is None or server.name != name:
        raise _not_found(f"MCPAccessEndpoint {endpoint_id} does not belong to server '{name}'")
    return server, endpoint


def update_endpoint(
    session: Session,
    name: str,
    endpoint_id: str,
    *,
    server_version: Any = UNSET,
    server_alias: Any = UNSET,
    url: Any = UNSET,
    transport_type: Any = UNSET,
    by: str | None,
) -> EndpointRow:
    """Only what the request names changes; a `null` target is left as it is, and a new target replaces the other
    kind (pinning a version stops following an alias)."""
    if server_version not in (UNSET, None) and server_alias not in (UNSET, None):
        raise rules.invalid("Cannot set both server_version and server_alias in a single update")
    server, endpoint = _owned_endpoint(session, name, endpoint_id)
    if server_version not in (UNSET, None):
        _pinnable(session, server, server_version, "update")
        endpoint.server_version, endpoint.server_alias = server_version, None
    if server_alias not in (UNSET, None):
        _alias_target(session, server, server_alias)
        endpoint.server_alias, endpoint.server_version = server_alias, None
    if url is not UNSET:
        if url is None:
            raise rules.invalid("MCP access endpoint url cannot be None")
        endpoint.url = rules.endpoint_url(url)
        rules.limited("MCP access endpoint url", 2048, url)
    if transport_type not in (UNSET, None):
        endpoint.transport_type = transport_type
    endpoint.last_updated_by, endpoint.last_updated_timestamp = by, now_ms()
    return _resolved(session, endpoint_id)


def delete_endpoint(session: Session, name: str, endpoint_id: str) -> None:
    store.delete_endpoint(session, _owned_endpoint(session, name, endpoint_id)[1])


def search_endpoints(
    session: Session,
    name: str | None,
    *,
    server_version: str | None,
    server_alias: str | None,
    filter_string: str | None,
    max_results: int,
    order_by: Sequence[str],
    page_token: str | None,
    visible: McpScope | None = None,
) -> store.Page:
    """Endpoints of one server (`name`) or of the whole workspace; a server nobody created has none. `visible`, with
    auth on, keeps a search across servers to the endpoints of servers the caller may read."""
    limit = rules.max_results(max_results)
    filters = mcp_grammar.parse_endpoint_filter(filter_string)
    order = mcp_grammar.parse_order_by(order_by, mcp_grammar.ENDPOINT_ORDER)
    server = None
    if name is not None:
        server = store.find_server(session, name)
        if server is None:
            return store.Page([], None)
    return store.search_endpoints(
        session,
        filters,
        order,
        server=server,
        server_version=server_version,
        server_alias=server_alias,
        max_results=limit,
        page_token=page_token,
        names=_names(visible),
    )


# --- tags and aliases ---------------------------------------------------------------------------------------------


def set_server_tag(session: Session, name: str, key: str, value: str) -> None:
    rules.tag(key, value)
    labels.set_server_tag(session, _server(session, name), key, value)


def delete_server_tag(session: Session, name: str, key: str) -> None:
    server = store.find_server(session, name)
    if server is None or not labels.delete_server_tag(session, server, key):
        raise _not_found(f"Tag '{key}' not found on MCP server '{name}'")


def set_version_tag(session: Session, name: str, version: str, key: str, value: str) -> None:
    rules.tag(key, value)
    labels.set_version_tag(session, _live_version(session, name, version)[1], key, value)


def delete_version_tag(session: Session, name: str, version: str, key: str) -> None:
    _, found = _live_version(session, name, version)
    if not labels.delete_version_tag(session, found, key):
        raise _not_found(f"Tag '{key}' not found on MCP server version '{name}' version '{version}'")


def set_alias(session: Session, name: str, alias: str, version: str) -> None:
    if alias == rules.LATEST:
        raise rules.invalid("The alias name 'latest' is reserved for automatic resolution")
    rules.limited("Alias", 256, alias)
    server = _server(session, name)
    if _any_version(session, server, version).status == rules.DELETED:
        raise rules.invalid(f"Cannot set alias '{alias}' to deleted MCP server version '{name}' version '{version}'")
    labels.set_alias(session, server, alias, version)


def delete_alias(session: Session, name: str, alias: str) -> None:
    """The alias and the endpoints that followed it."""
    server = store.find_server(session, name)
    row = labels.find_alias(session, server, alias) if server is not None else None
    if server is None or row is None:
        raise _not_found(f"Alias '{alias}' not found on MCP server '{name}'")
    store.delete_endpoints(session, server, aliases=[alias])
    labels.delete_aliases(session, server, [alias])
