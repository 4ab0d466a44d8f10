"""Tags and aliases of the MCP Server Registry: on servers, on versions, and aliases naming versions. Plain rows
keyed by the server's id; what a tag or alias may hold is checked by the service before it comes here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.store.mcp_models import McpServer, McpServerAlias, McpServerTag, McpServerVersion, McpServerVersionTag


def set_server_tag(session: Session, server: McpServer, key: str, value: str) -> None:
    tag = session.get(McpServerTag, (server.server_id, key))
    if tag is None:
        session.add(McpServerTag(server_id=server.server_id, key=key, value=value))
    else:
        tag.value = value
    session.flush()


def delete_server_tag(session: Session, server: McpServer, key: str) -> bool:
    deleted = session.execute(
        delete(McpServerTag).where(McpServerTag.server_id == server.server_id, McpServerTag.key == key)
    )
    return bool(cast(Any, deleted).rowcount)


def set_version_tag(session: Session, version: McpServerVersion, key: str, value: str) -> None:
    tag = session.get(McpServerVersionTag, (version.server_id, version.version, key))
    if tag is None:
        session.add(McpServerVersionTag(server_id=version.server_id, version=version.version, key=key, value=value))
    else:
        tag.value = value
    session.flush()


def delete_version_tag(session: Session, version: McpServerVersion, key: str) -> bool:
    deleted = session.execute(
        delete(McpServerVersionTag).where(
            McpServerVersionTag.server_id == version.server_id,
            McpServerVersionTag.version == version.version,
            McpServerVersionTag.key == key,
        )
    )
    return bool(cast(Any, deleted).rowcount)


def find_alias(session: Session, server: McpServer, alias: str) -> McpServerAlias | None:
    return session.get(McpServerAlias, (server.server_id, alias))


def aliases_of(session: Session, server: McpServer, version: str) -> list[str]:
    query = select(McpServerAlias.alias).where(
        McpServerAlias.server_id == server.server_id, McpServerAlias.version == version
    )
    return list(session.scalars(query))


def set_alias(session: Session, server: McpServer, alias: str, version: str) -> None:
    row = find_alias(session, server, alias)
    if row is None:
        session.add(McpServerAlias(server_id=server.server_id, alias=alias, version=version))
    else:
        row.version = version
    session.flush()


def delete_aliases(session: Session, server: McpServer, aliases: Sequence[str]) -> None:
    if aliases:
        session.execute(
            delete(McpServerAlias).where(
                McpServerAlias.server_id == server.server_id, McpServerAlias.alias.in_(list(aliases))
            )
        )
        session.flush()
