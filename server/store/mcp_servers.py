"""Reads and writes of the MCP Server Registry: servers in the request's workspace, their versions and access
endpoints (their tags and aliases are in `mcp_labels`).

A server's `latest_version` and `status` are its *resolved latest* version's, as MLflow derives them: among the
versions not deleted, an active one first, then the highest SemVer precedence, then the newest. An access endpoint
*resolves* to a version that is not deleted: the one it pins, its alias's, or the server's latest for `latest`; one
that does not resolve is not shown anywhere, as in MLflow. Searches page by offset with MLflow's page token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, delete, exists, false, literal, or_, select, update
from sqlalchemy.orm import Session, aliased

from server.store import scope
from server.store.mcp_models import (
    McpAccessEndpoint,
    McpServer,
    McpServerAlias,
    McpServerTag,
    McpServerVersion,
    McpServerVersionTag,
)
from server.store.paging import decode_offset, encode_offset
from server.store.search import _compare
from server.store.search_grammar import Comparison, OrderKey
from server.store.unique_insert import add_unless_taken

ACTIVE, DELETED, LATEST = "active", "deleted", "latest"


@dataclass(frozen=True, slots=True)
class VersionRow:
    server: McpServer
    version: McpServerVersion
    tags: dict[str, str]
    aliases: list[str]


@dataclass(frozen=True, slots=True)
class EndpointRow:
    """An endpoint with the version it resolves to."""

    endpoint: McpAccessEndpoint
    server: McpServer
    resolved: VersionRow


@dataclass(frozen=True, slots=True)
class ServerRow:
    """A server with what MLflow shows beside it: tags, aliases, resolved latest version and live endpoints."""

    server: McpServer
    latest: McpServerVersion | None
    tags: dict[str, str]
    aliases: dict[str, str]
    endpoints: list[EndpointRow]


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Any]
    next_page_token: str | None


@dataclass(frozen=True, slots=True)
class VersionBound:
    """`version <op> '<semver>'` for an ordering comparator: by precedence, on the stored SemVer parts."""

    op: str
    parts: tuple[int, int, int, str]


# --- resolution ---------------------------------------------------------------------------------------------------


def _precedence(version: type[McpServerVersion] | Any) -> list[Any]:
    """Newest first: an active version ahead of the rest, then SemVer precedence, then the newer registration."""
    return [
        case((version.status == ACTIVE, 0), else_=1),
        version.version_major.desc(),
        version.version_minor.desc(),
        version.version_patch.desc(),
        version.prerelease_key.desc(),
        version.creation_timestamp.desc(),
        version.version.desc(),
    ]


def _latest_of(server_id: Any) -> Any:
    """The resolved latest version of the server whose id is `server_id` (a column of the enclosing query)."""
    candidate = aliased(McpServerVersion)
    return (
        select(candidate.version)
        .where(candidate.server_id == server_id, candidate.status != DELETED)
        .order_by(*_precedence(candidate))
        .limit(1)
        .scalar_subquery()
    )


def _endpoint_target() -> Any:
    """The version an endpoint resolves to by name (whether that version is live is the join's business)."""
    by_alias = (
        select(McpServerAlias.version)
        .where(
            McpServerAlias.server_id == McpAccessEndpoint.server_id,
            McpServerAlias.alias == McpAccessEndpoint.server_alias,
        )
        .scalar_subquery()
    )
    return case(
        (McpAccessEndpoint.server_version.is_not(None), McpAccessEndpoint.server_version),
        (McpAccessEndpoint.server_alias == LATEST, _latest_of(McpAccessEndpoint.server_id)),
        else_=by_alias,
    )


_Target = aliased(McpServerVersion, name="target")


def _endpoints_query() -> Select[McpAccessEndpoint, McpServer, McpServerVersion]:
    """Endpoints of the workspace that resolve, each with its server and resolved version."""
    return (
        select(McpAccessEndpoint, McpServer, _Target)
        .join(McpServer, McpServer.server_id == McpAccessEndpoint.server_id)
        .join(
            _Target,
            and_(
                _Target.server_id == McpAccessEndpoint.server_id,
                _Target.version == _endpoint_target(),
                _Target.status != DELETED,
            ),
        )
        .where(scope.in_workspace(McpServer.workspace))
    )


# --- servers ------------------------------------------------------------------------------------------------------


def find_server(session: Session, name: str, *, for_update: bool = False) -> McpServer | None:
    query = select(McpServer).where(scope.in_workspace(McpServer.workspace), McpServer.name == name)
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def add_server(session: Session, server: McpServer) -> bool:
    """Insert a new server; False (and nothing added) when its name is taken in its workspace, also by a concurrent
    insert."""
    return add_unless_taken(session, server)


def delete_server(session: Session, server: McpServer) -> None:
    """The server and everything of it, children first (SQLite enforces the keys but the order keeps it simple)."""
    owned = server.server_id
    for table in (McpAccessEndpoint, McpServerAlias, McpServerVersionTag, McpServerTag, McpServerVersion):
        session.execute(delete(table).where(table.server_id == owned))
    session.delete(server)
    session.flush()


def touch(session: Session, server: McpServer) -> None:
    """A write on the server's row before a version is added: on SQLite it starts the write transaction before
    anything is read, and on PostgreSQL it holds the row against a concurrent delete."""
    session.flush()
    session.execute(
        update(McpServer)
        .where(McpServer.server_id == server.server_id)
        .values(last_updated_timestamp=McpServer.last_updated_timestamp)
    )


_Latest = aliased(McpServerVersion, name="latest")


def _servers_query() -> Select[McpServer, McpServerVersion]:
    return (
        select(McpServer, _Latest)
        .outerjoin(
            _Latest, and_(_Latest.server_id == McpServer.server_id, _Latest.version == _latest_of(McpServer.server_id))
        )
        .where(scope.in_workspace(McpServer.workspace))
    )


def _server_rows(session: Session, rows: Sequence[Any]) -> list[ServerRow]:
    ids = [row[0].server_id for row in rows]
    tags: dict[int, dict[str, str]] = {server_id: {} for server_id in ids}
    aliases: dict[int, dict[str, str]] = {server_id: {} for server_id in ids}
    endpoints: dict[int, list[EndpointRow]] = {server_id: [] for server_id in ids}
    if ids:
        for tag in session.scalars(
            select(McpServerTag).where(McpServerTag.server_id.in_(ids)).order_by(McpServerTag.key)
        ):
            tags[tag.server_id][tag.key] = tag.value
        query = select(McpServerAlias).where(McpServerAlias.server_id.in_(ids)).order_by(McpServerAlias.alias)
        for alias in session.scalars(query):
            aliases[alias.server_id][alias.alias] = alias.version
        listed = _endpoints_query().where(McpAccessEndpoint.server_id.in_(ids)).order_by(McpAccessEndpoint.endpoint_id)
        for endpoint in _endpoint_rows(session, session.execute(listed).tuples().all()):
            endpoints[endpoint.endpoint.server_id].append(endpoint)
    return [
        ServerRow(server, latest, tags[server.server_id], aliases[server.server_id], endpoints[server.server_id])
        for server, latest in rows
    ]


def server_row(session: Session, server: McpServer) -> ServerRow:
    session.flush()
    row = session.execute(_servers_query().where(McpServer.server_id == server.server_id)).one()
    return _server_rows(session, [row])[0]


def _has_live_endpoint() -> ColumnElement[bool]:
    """Whether the server of the enclosing query has an endpoint that resolves."""
    live = (
        select(McpAccessEndpoint.endpoint_id)
        .join(
            _Target,
            and_(
                _Target.server_id == McpAccessEndpoint.server_id,
                _Target.version == _endpoint_target(),
                _Target.status != DELETED,
            ),
        )
        .where(McpAccessEndpoint.server_id == McpServer.server_id)
    )
    return exists(live)


_SERVER_COLUMNS: dict[str, Any] = {
    "name": McpServer.name,
    "display_name": McpServer.display_name,
    "status": _Latest.status,
    "created_at": McpServer.creation_timestamp,
    "last_updated_at": McpServer.last_updated_timestamp,
}


@dataclass(frozen=True, slots=True)
class Names:
    """Servers a search keeps, by name: `include` None means every server but those in `exclude`."""

    include: Sequence[str] | None
    exclude: Sequence[str]

    def where(self) -> ColumnElement[bool] | None:
        if self.include is not None:
            return McpServer.name.in_(self.include) if self.include else false()
        return McpServer.name.not_in(self.exclude) if self.exclude else None


def search_servers(
    session: Session,
    filters: Sequence[Comparison],
    order: Sequence[OrderKey],
    *,
    max_results: int,
    page_token: str | None,
    names: Names | None = None,
) -> Page:
    """One page of the workspace's servers; `names`, when given, keeps only those."""
    offset = decode_offset(page_token)
    query = _servers_query()
    if names is not None and (kept := names.where()) is not None:
        query = query.where(kept)
    for comparison in filters:
        if comparison.kind == "tag":
            tagged = select(McpServerTag.server_id).where(
                McpServerTag.server_id == McpServer.server_id,
                McpServerTag.key == comparison.key,
                _compare(McpServerTag.value, comparison.op, comparison.value),
            )
            query = query.where(exists(tagged))
        elif comparison.key == "has_access_endpoints":
            reachable = _has_live_endpoint()
            query = query.where(reachable if str(comparison.value).lower() == "true" else ~reachable)
        else:
            query = query.where(_compare(_SERVER_COLUMNS[comparison.key], comparison.op, comparison.value))
    ordering = [_ordered(_SERVER_COLUMNS[key.key], key.ascending) for key in order]
    if not any(key.key == "name" for key in order):
        ordering.append(McpServer.name.asc())
    rows = session.execute(query.order_by(*ordering).offset(offset).limit(max_results + 1)).all()
    token = encode_offset(offset + max_results) if len(rows) > max_results else None
    return Page(_server_rows(session, rows[:max_results]), token)


def active_version(session: Session, server: McpServer) -> str | None:
    query = (
        select(McpServerVersion.version)
        .where(McpServerVersion.server_id == server.server_id, McpServerVersion.status == ACTIVE)
        .order_by(McpServerVersion.creation_timestamp, McpServerVersion.version)
        .limit(1)
    )
    return session.scalar(query)


# --- versions -----------------------------------------------------------------------------------------------------


def find_version(
    session: Session, server: McpServer, version: str, *, include_deleted: bool = False
) -> McpServerVersion | None:
    found = session.get(McpServerVersion, (server.server_id, version))
    if found is None or (found.status == DELETED and not include_deleted):
        return None
    return found


def add_version(session: Session, version: McpServerVersion) -> bool:
    """False when the server already has this version (live or deleted: a version is never registered twice)."""
    return add_unless_taken(session, version)


def resolved_latest(session: Session, server: McpServer) -> McpServerVersion | None:
    query = (
        select(McpServerVersion)
        .where(McpServerVersion.server_id == server.server_id, McpServerVersion.status != DELETED)
        .order_by(*_precedence(McpServerVersion))
        .limit(1)
    )
    return session.scalars(query).first()


def version_rows(session: Session, pairs: Sequence[tuple[McpServer, McpServerVersion]]) -> list[VersionRow]:
    keys = {(version.server_id, version.version) for _, version in pairs}
    tags: dict[tuple[int, str], dict[str, str]] = {key: {} for key in keys}
    aliases: dict[tuple[int, str], list[str]] = {key: [] for key in keys}
    if keys:
        ids = sorted({server_id for server_id, _ in keys})
        names = sorted({name for _, name in keys})
        tag_query = (
            select(McpServerVersionTag)
            .where(McpServerVersionTag.server_id.in_(ids), McpServerVersionTag.version.in_(names))
            .order_by(McpServerVersionTag.key)
        )
        for tag in session.scalars(tag_query):
            if (tag.server_id, tag.version) in tags:
                tags[tag.server_id, tag.version][tag.key] = tag.value
        alias_query = (
            select(McpServerAlias)
            .where(McpServerAlias.server_id.in_(ids), McpServerAlias.version.in_(names))
            .order_by(McpServerAlias.alias)
        )
        for alias in session.scalars(alias_query):
            if (alias.server_id, alias.version) in aliases:
                aliases[alias.server_id, alias.version].append(alias.alias)
    return [
        VersionRow(
            server, version, tags[version.server_id, version.version], aliases[version.server_id, version.version]
        )
        for server, version in pairs
    ]


def version_row(session: Session, server: McpServer, version: McpServerVersion) -> VersionRow:
    session.flush()
    return version_rows(session, [(server, version)])[0]


_VERSION_COLUMNS: dict[str, Any] = {
    "version": McpServerVersion.version,
    "status": McpServerVersion.status,
    "created_at": McpServerVersion.creation_timestamp,
    "last_updated_at": McpServerVersion.last_updated_timestamp,
}
_SEMVER_COLUMNS = (
    McpServerVersion.version_major,
    McpServerVersion.version_minor,
    McpServerVersion.version_patch,
    McpServerVersion.prerelease_key,
)


def _beyond(parts: tuple[int, int, int, str], greater: bool) -> ColumnElement[bool]:
    """Lexicographic comparison of the stored SemVer parts with `parts`."""
    clauses = []
    for index, (column, value) in enumerate(zip(_SEMVER_COLUMNS, parts, strict=True)):
        equal_before = [_SEMVER_COLUMNS[i] == parts[i] for i in range(index)]
        clauses.append(and_(*equal_before, column > value if greater else column < value))
    return or_(*clauses)


def _bound(bound: VersionBound) -> ColumnElement[bool]:
    equal = and_(*(column == value for column, value in zip(_SEMVER_COLUMNS, bound.parts, strict=True)))
    if bound.op in (">", ">="):
        beyond = _beyond(bound.parts, greater=True)
    else:
        beyond = _beyond(bound.parts, greater=False)
    return or_(beyond, equal) if bound.op.endswith("=") else beyond


def search_versions(
    session: Session,
    server: McpServer,
    filters: Sequence[Comparison],
    bounds: Sequence[VersionBound],
    order: Sequence[OrderKey],
    *,
    max_results: int,
    page_token: str | None,
) -> Page:
    """One page of the server's versions that are not deleted, oldest first unless ordered otherwise."""
    offset = decode_offset(page_token)
    query = select(McpServerVersion).where(
        McpServerVersion.server_id == server.server_id, McpServerVersion.status != DELETED
    )
    for comparison in filters:
        column = literal(server.name) if comparison.key == "name" else _VERSION_COLUMNS[comparison.key]
        query = query.where(_compare(column, comparison.op, comparison.value))
    for bound in bounds:
        query = query.where(_bound(bound))
    ordering: list[Any] = []
    for key in order:
        if key.key == "version":
            ordering += [_ordered(column, key.ascending) for column in _SEMVER_COLUMNS]
        else:
            ordering.append(_ordered(_VERSION_COLUMNS[key.key], key.ascending))
    named = {key.key for key in order}
    if "created_at" not in named:
        ordering.append(McpServerVersion.creation_timestamp.asc())
    if "version" not in named:
        ordering.append(McpServerVersion.version.asc())
    found = list(session.scalars(query.order_by(*ordering).offset(offset).limit(max_results + 1)))
    token = encode_offset(offset + max_results) if len(found) > max_results else None
    return Page(version_rows(session, [(server, version) for version in found[:max_results]]), token)


# --- endpoints ----------------------------------------------------------------------------------------------------


def _endpoint_rows(
    session: Session, rows: Sequence[tuple[McpAccessEndpoint, McpServer, McpServerVersion]]
) -> list[EndpointRow]:
    versions = version_rows(session, [(server, version) for _, server, version in rows])
    return [
        EndpointRow(endpoint, server, resolved) for (endpoint, server, _), resolved in zip(rows, versions, strict=True)
    ]


def find_endpoint(session: Session, endpoint_id: str) -> McpAccessEndpoint | None:
    """An endpoint of the workspace by id, whether it resolves or not."""
    query = (
        select(McpAccessEndpoint)
        .join(McpServer, McpServer.server_id == McpAccessEndpoint.server_id)
        .where(McpAccessEndpoint.endpoint_id == endpoint_id, scope.in_workspace(McpServer.workspace))
    )
    return session.scalars(query).one_or_none()


def resolved_endpoint(session: Session, endpoint_id: str) -> EndpointRow | None:
    session.flush()
    row = session.execute(_endpoints_query().where(McpAccessEndpoint.endpoint_id == endpoint_id)).tuples().one_or_none()
    return _endpoint_rows(session, [row])[0] if row is not None else None


def add_endpoint(session: Session, endpoint: McpAccessEndpoint) -> None:
    session.add(endpoint)
    session.flush()


def delete_endpoint(session: Session, endpoint: McpAccessEndpoint) -> None:
    session.delete(endpoint)
    session.flush()


def delete_endpoints(
    session: Session, server: McpServer, *, versions: Sequence[str] = (), aliases: Sequence[str] = ()
) -> None:
    """The server's endpoints pinned to any of `versions` or following any of `aliases`."""
    targets = []
    if versions:
        targets.append(McpAccessEndpoint.server_version.in_(list(versions)))
    if aliases:
        targets.append(McpAccessEndpoint.server_alias.in_(list(aliases)))
    if targets:
        session.execute(delete(McpAccessEndpoint).where(McpAccessEndpoint.server_id == server.server_id, or_(*targets)))


_ENDPOINT_COLUMNS: dict[str, Any] = {
    "id": McpAccessEndpoint.endpoint_id,
    "server_name": McpServer.name,
    "transport_type": McpAccessEndpoint.transport_type,
    "status": _Target.status,
    "created_at": McpAccessEndpoint.creation_timestamp,
    "last_updated_at": McpAccessEndpoint.last_updated_timestamp,
}


def search_endpoints(
    session: Session,
    filters: Sequence[Comparison],
    order: Sequence[OrderKey],
    *,
    server: McpServer | None,
    server_version: str | None,
    server_alias: str | None,
    max_results: int,
    page_token: str | None,
    names: Names | None = None,
) -> Page:
    """One page of the workspace's (or one server's) endpoints that resolve; `server_version` keeps those pinned to
    that version, `server_alias` those following that alias (both at once: none); `names` those of these servers."""
    offset = decode_offset(page_token)
    query = _endpoints_query()
    if names is not None and (kept := names.where()) is not None:
        query = query.where(kept)
    if server is not None:
        query = query.where(McpAccessEndpoint.server_id == server.server_id)
    if server_version is not None:
        query = query.where(McpAccessEndpoint.server_version == server_version)
    if server_alias is not None:
        query = query.where(McpAccessEndpoint.server_alias == server_alias)
    for comparison in filters:
        query = query.where(_compare(_ENDPOINT_COLUMNS[comparison.key], comparison.op, comparison.value))
    ordering = [_ordered(_ENDPOINT_COLUMNS[key.key], key.ascending) for key in order]
    if not any(key.key == "id" for key in order):
        ordering.append(McpAccessEndpoint.endpoint_id.asc())
    rows = session.execute(query.order_by(*ordering).offset(offset).limit(max_results + 1)).tuples().all()
    token = encode_offset(offset + max_results) if len(rows) > max_results else None
    return Page(_endpoint_rows(session, rows[:max_results]), token)


def drop_unresolvable_latest_endpoints(session: Session, server: McpServer) -> None:
    """Endpoints following `latest` go when the server has no version left to resolve it to."""
    session.flush()
    if resolved_latest(session, server) is None:
        delete_endpoints(session, server, aliases=[LATEST])


def _ordered(column: Any, ascending: bool) -> Any:
    return column.asc() if ascending else column.desc()
