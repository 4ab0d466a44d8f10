"""The MCP Server Registry tables (MLflow 3.18): MCP servers named `<reverse-dns namespace>/<slug>` within a workspace,
their SemVer-named versions (each holding the server's `server.json`), tags and aliases, and the access endpoints an
organisation approved for reaching a version.

A server has a surrogate integer key so that what belongs to it carries one column instead of the two that name it.
A version is never removed by the API (deleting one marks it `deleted`, and its number stays taken), only with its
server. The SemVer parts of a version are stored beside its text so that the database can order versions by
precedence: the prerelease part as a key whose plain string order is SemVer's (see `services.mcp_rules`).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, ForeignKeyConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.store.base import Base
from server.store.workspace_models import workspace_column

VERSION_LENGTH = 128
TAG_KEY_LENGTH = 250
TAG_VALUE_LENGTH = 5000
ALIAS_LENGTH = 256
URL_LENGTH = 2048
SOURCE_LENGTH = 512


class McpServer(Base):
    """An MCP server: what the registry lists. Its status and latest version are derived from its versions."""

    __tablename__ = "mcp_servers"
    __table_args__ = (Index(None, "workspace", "name", unique=True),)

    server_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace: Mapped[str] = workspace_column(deleted_with_it=True)
    name: Mapped[str] = mapped_column(String(256))
    display_name: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    icons: Mapped[str | None] = mapped_column(Text)  # a JSON list of icon objects, as the client sent them
    created_by: Mapped[str | None] = mapped_column(String(256))
    last_updated_by: Mapped[str | None] = mapped_column(String(256))
    creation_timestamp: Mapped[int] = mapped_column(BigInteger)
    last_updated_timestamp: Mapped[int] = mapped_column(BigInteger)


class McpServerVersion(Base):
    """One registration of a server: its `server.json`, declared tools and lifecycle status."""

    __tablename__ = "mcp_server_versions"
    __table_args__ = (Index(None, "server_id", "status"),)

    server_id: Mapped[int] = mapped_column(ForeignKey("mcp_servers.server_id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[str] = mapped_column(String(VERSION_LENGTH), primary_key=True)
    version_major: Mapped[int] = mapped_column(BigInteger)
    version_minor: Mapped[int] = mapped_column(BigInteger)
    version_patch: Mapped[int] = mapped_column(BigInteger)
    prerelease_key: Mapped[str] = mapped_column(String(512))
    server_json: Mapped[str] = mapped_column(Text)  # JSON object
    status: Mapped[str] = mapped_column(String(20))
    tools: Mapped[str | None] = mapped_column(Text)  # JSON list, or NULL when none were declared
    source: Mapped[str | None] = mapped_column(String(SOURCE_LENGTH))
    connect_options: Mapped[str | None] = mapped_column(Text)  # JSON object
    created_by: Mapped[str | None] = mapped_column(String(256))
    last_updated_by: Mapped[str | None] = mapped_column(String(256))
    creation_timestamp: Mapped[int] = mapped_column(BigInteger)
    last_updated_timestamp: Mapped[int] = mapped_column(BigInteger)


class McpServerTag(Base):
    __tablename__ = "mcp_server_tags"

    server_id: Mapped[int] = mapped_column(ForeignKey("mcp_servers.server_id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(TAG_KEY_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(String(TAG_VALUE_LENGTH))


class McpServerVersionTag(Base):
    __tablename__ = "mcp_server_version_tags"
    __table_args__ = (
        ForeignKeyConstraint(
            ["server_id", "version"],
            ["mcp_server_versions.server_id", "mcp_server_versions.version"],
            ondelete="CASCADE",
        ),
    )

    server_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(VERSION_LENGTH), primary_key=True)
    key: Mapped[str] = mapped_column(String(TAG_KEY_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(String(TAG_VALUE_LENGTH))


class McpServerAlias(Base):
    """A name for one version of a server; `latest` is never stored (the server resolves it)."""

    __tablename__ = "mcp_server_aliases"
    __table_args__ = (
        ForeignKeyConstraint(
            ["server_id", "version"],
            ["mcp_server_versions.server_id", "mcp_server_versions.version"],
            ondelete="CASCADE",
        ),
    )

    server_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alias: Mapped[str] = mapped_column(String(ALIAS_LENGTH), primary_key=True)
    version: Mapped[str] = mapped_column(String(VERSION_LENGTH))


class McpAccessEndpoint(Base):
    """An approved URL for reaching a server, pinned to one version or following an alias (`latest` included)."""

    __tablename__ = "mcp_access_endpoints"
    __table_args__ = (Index(None, "server_id", "server_version"), Index(None, "server_id", "server_alias"))

    endpoint_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # "ae-" and 32 hex digits
    server_id: Mapped[int] = mapped_column(ForeignKey("mcp_servers.server_id", ondelete="CASCADE"))
    server_version: Mapped[str | None] = mapped_column(String(VERSION_LENGTH))
    server_alias: Mapped[str | None] = mapped_column(String(ALIAS_LENGTH))
    url: Mapped[str] = mapped_column(String(URL_LENGTH))
    transport_type: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str | None] = mapped_column(String(256))
    last_updated_by: Mapped[str | None] = mapped_column(String(256))
    creation_timestamp: Mapped[int] = mapped_column(BigInteger)
    last_updated_timestamp: Mapped[int] = mapped_column(BigInteger)
