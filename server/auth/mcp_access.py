"""Who may touch the MCP Server Registry, as MLflow 3.18's auth decides it (`_get_mcp_server_validator`).

Grants are role grants of type `mcp_server` (on `*` or a server's name) and `mcp_server_version` (on `*` only: a tier
over every server's versions). A server is the subject of most routes: READ shows it, EDIT changes it (tags, aliases,
endpoints, display fields), MANAGE deletes it or anything under it. Where a route reaches versions, the tier speaks:

- a version as the subject (listing, reading, changing, tagging or deleting versions) needs READ on the server and
  the action (read, update, delete) from the tier's grant, or from the server's when the tier has none (MLflow's tier
  override: a tier DENY is never rescued by the server's grant, and a tier grant may widen the server's);
- a route that only shows a version (an alias resolving to one, an endpoint pinned to one) needs the tier not to be
  denied; endpoints' versions are withheld from callers whose tier is denied;
- deleting a server, a server's tag or an endpoint needs MANAGE on the server and `delete` from the tier;
- registering a version needs EDIT on an existing server and no tier DENY; on a new server, the right to create one
  (a seat in the workspace, no DENY on `*` or on its name) and no tier DENY; its creator then manages it.

Searches never refuse: they keep to the servers (and those servers' endpoints) the caller may read. Like
`genai_access.py`, this module never imports `rules.py`: the terms both use are in `access.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from server.auth import role_grants
from server.auth.access import Access, permission_denied
from server.auth.access import allowed_actions as allowed_actions  # re-exported for the MCP routes
from server.auth.identity import Principal
from server.errors import MlflowError
from server.permissions import Permission
from server.store import mcp_grammar, scope
from server.store import mcp_servers as mcp_store
from server.store import roles as role_store

READ, EDIT, MANAGE = Permission.READ, Permission.EDIT, Permission.MANAGE
GRANT_TYPE, VERSION_GRANT_TYPE = role_grants.MCP_SERVER, role_grants.MCP_SERVER_VERSION
# Where a search's check leaves the servers the caller may see, for the handler (never a request field: those are
# strings and lists, this is an `McpScope`).
MCP_SCOPE_FIELD = "_readable_mcp_servers"


def mcp_server(need: Permission) -> Access:
    """The server named in the path as the subject: READ, EDIT or MANAGE on it."""
    return Access("mcp_server", need, "name")


def mcp_server_versions(need: Permission) -> Access:
    """A version as the subject: READ on the server, and `need` from the version tier (or the server's grant)."""
    return Access("mcp_server_version", need, "name")


def mcp_server_alias(need: Permission) -> Access:
    """An alias: `need` on the server, and READ from the version tier, since an alias shows the version it names."""
    return Access("mcp_server_alias", need, "name")


def mcp_server_endpoint(need: Permission) -> Access:
    """An endpoint of the server: `need` on the server, and no tier DENY when the request selects a version."""
    return Access("mcp_server_endpoint", need, "name")


# Changing a version: `update` from the version tier, but `delete` to set its status to `deleted` (MLflow lets an
# update do that, which would let EDIT delete what only MANAGE may delete through the delete route).
MCP_VERSION_UPDATE = Access("mcp_server_version_update", EDIT, "name")
# Deleting a server, a server's tag or an endpoint: MANAGE on the server and `delete` from the version tier.
MCP_SERVER_SWEEP = Access("mcp_server_sweep", MANAGE, "name")
MCP_SERVER_CREATE = Access("mcp_server_create", MANAGE, "name")
MCP_SERVER_REGISTER = Access("mcp_server_register", EDIT, "name")
MCP_SERVER_SEARCH = Access("mcp_server_search", READ)
MCP_ENDPOINT_SEARCH = Access("mcp_endpoint_search", READ)


@dataclass(frozen=True, slots=True)
class McpScope:
    """The servers a search may show, by name: `include` None means every server but `exclude`."""

    include: tuple[str, ...] | None
    exclude: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class McpLevels:
    """The caller's levels (MLflow permission names) on servers and on their versions, from one read of grants."""

    server: Callable[[str | None], str]
    versions: Callable[[str], str]

    def on_server(self, name: str | None) -> Permission:
        return role_grants.level_permission(self.server(name))

    def versions_allow(self, name: str, need: Permission | None) -> bool:
        """MLflow's `_mcp_server_version_action_allowed`: READ on the server, and `need` (None: merely not denied)
        from the level governing its versions."""
        if not self.on_server(name).allows(READ):
            return False
        level = self.versions(name)
        return level != role_grants.DENY if need is None else role_grants.level_permission(level).allows(need)

    def versions_withheld(self, name: str) -> bool:
        """Whether an endpoint of this server must not show the version it serves to the caller."""
        return not self.versions_allow(name, None)


_ADMIN_LEVELS = McpLevels(lambda _name: "MANAGE", lambda _name: "MANAGE")
_NO_LEVELS = McpLevels(lambda _name: "NO_PERMISSIONS", lambda _name: role_grants.DENY)


class McpChecks(ABC):
    """The Authorizer's checks for the MCP Server Registry (registered in `rules.Authorizer`'s table)."""

    baseline: role_grants.Baseline

    @staticmethod
    @abstractmethod
    def require(have: Permission | None, need: Permission, what: str) -> None: ...

    # --- levels -------------------------------------------------------------------------------------------------

    def mcp_levels(self, session: Session, principal: Principal) -> McpLevels:
        """A job's token has no say over the registry; an administrator has every right."""
        if principal.run_id is not None:
            return _NO_LEVELS
        if principal.is_admin:
            return _ADMIN_LEVELS
        grants = role_grants.mcp_grants(session, principal.user_id)
        return McpLevels(
            lambda name: role_grants.on_mcp_server(grants, name, self.baseline),
            lambda name: role_grants.on_mcp_versions(grants, name, self.baseline),
        )

    def readable_mcp_servers(self, session: Session, principal: Principal) -> McpScope:
        """As MLflow's search scope: every server but the unreadable ones a grant names, or only the readable ones a
        grant names."""
        if principal.is_admin and principal.run_id is None:
            return McpScope(None, ())
        if principal.run_id is not None:
            return McpScope((), ())
        grants = role_grants.mcp_grants(session, principal.user_id)

        def readable(name: str | None) -> bool:
            return role_grants.level_permission(role_grants.on_mcp_server(grants, name, self.baseline)).allows(READ)

        named = {name: readable(name) for name in grants.servers.named()}
        if readable(None):
            return McpScope(None, tuple(sorted(n for n, ok in named.items() if not ok)))
        return McpScope(tuple(sorted(n for n, ok in named.items() if ok)), ())

    # --- checks -------------------------------------------------------------------------------------------------

    def _check_mcp_server(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        name = fields.string(access.field) or ""
        levels = self.mcp_levels(session, principal)
        self.require(levels.on_server(name), access.need, f"MCP server '{name}'")
        if access.resource == "mcp_server_sweep":
            _require_versions(levels, name, MANAGE)
        elif access.resource == "mcp_server_alias":
            _require_versions(levels, name, READ)
        elif access.resource == "mcp_server_endpoint" and selects_a_version(fields):
            _require_versions(levels, name, None)
        return fields

    def _check_mcp_server_version(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        name = fields.string(access.field) or ""
        need = access.need
        if access.resource == "mcp_server_version_update" and fields.raw("status") == "deleted":
            need = MANAGE  # deleting a version by its status is deleting it
        levels = self.mcp_levels(session, principal)
        self.require(levels.on_server(name), READ, f"MCP server '{name}'")
        _require_versions(levels, name, need)
        return fields

    def _check_mcp_server_create(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        """MLflow's `validate_can_create_mcp_server` on the body's name (`*` when it has none to name)."""
        name = fields.raw(access.field)
        self._require_mcp_creation(session, principal, name if isinstance(name, str) and name else None)
        return fields

    def _check_mcp_server_register(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        """A version of an existing server needs EDIT on it; of a new one, the right to create it. Either way, no
        DENY on the version tier."""
        name = fields.string(access.field) or ""
        if mcp_store.find_server(session, name) is not None:
            self.require_mcp_registration(session, principal, name)
            return fields
        self._require_mcp_creation(session, principal, name)
        if not (principal.is_admin and principal.run_id is None):
            if role_grants.mcp_denied(role_grants.mcp_grants(session, principal.user_id).versions, "*"):
                raise permission_denied(f"registering versions of MCP server '{name}' is denied")
        return fields

    def require_mcp_registration(self, session: Session, principal: Principal, name: str) -> None:
        """Registering a version of the existing server `name`: checked again in the write that adds it, since the
        server may have been created by someone else after the first check found none."""
        levels = self.mcp_levels(session, principal)
        self.require(levels.on_server(name), EDIT, f"MCP server '{name}'")
        if principal.is_admin and principal.run_id is None:
            return
        grants = role_grants.mcp_grants(session, principal.user_id)
        if role_grants.mcp_denied(grants.versions, "*"):
            raise permission_denied(f"registering versions of MCP server '{name}' is denied")

    def _require_mcp_creation(self, session: Session, principal: Principal, name: str | None) -> None:
        """A seat to create in the workspace, and no DENY on the server (`*`, or its name when it has one)."""
        role_grants.require_creation_seat(session, principal, self.baseline)
        if principal.is_admin:
            return
        grants = role_grants.mcp_grants(session, principal.user_id)
        if role_grants.mcp_denied(grants.servers, name):
            raise permission_denied(f"creating MCP server '{name or '*'}' is denied")

    def _check_mcp_search(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        """Servers, or every server's endpoints: only those of readable servers; selecting endpoints by the version
        they serve needs the version tier not to be denied."""
        if access.resource == "mcp_endpoint_search" and selects_a_version(fields):
            if not (principal.is_admin and principal.run_id is None):
                grants = role_grants.mcp_grants(session, principal.user_id)
                if principal.run_id is not None or role_grants.mcp_denied(grants.versions, "*"):
                    raise permission_denied("the versions of MCP servers are denied")
        scoped = {**fields.as_dict(), MCP_SCOPE_FIELD: self.readable_mcp_servers(session, principal)}
        return type(fields)(scoped, from_query=fields.from_query)

    def grant_mcp_creator(self, session: Session, principal: Principal, name: str) -> None:
        """MANAGE on a server the caller just created, through their per-user role, as MLflow grants it; only its
        recorded creator is granted, so a server someone else made meanwhile gives nothing."""
        if principal.is_admin or principal.run_id is not None:
            return
        found = mcp_store.find_server(session, name)
        if found is not None and found.created_by == principal.username:
            role_store.grant_to_user(
                session, principal.user_id, scope.current_or_default(), GRANT_TYPE, name, MANAGE.value
            )


def _require_versions(levels: McpLevels, name: str, need: Permission | None) -> None:
    if not levels.versions_allow(name, need):
        what = "are denied" if need is None else f"need {need.value}"
        raise permission_denied(f"the versions of MCP server '{name}' {what}")


def _given(value: Any) -> bool:
    if isinstance(value, list):
        return any(_given(item) for item in value)
    return bool(value)


def selects_a_version(fields: Any) -> bool:
    """MLflow's `_mcp_request_selects_a_version`: a `server_version` or `server_alias` (in the query or the body),
    or a filter on `status` (which is the version's), or a filter that does not parse. Every value of a repeated
    parameter counts, so no spelling of the request can select a version past the check."""
    if _given(fields.raw("server_version")) or _given(fields.raw("server_alias")):
        return True
    filters = fields.raw("filter_string")
    for text in filters if isinstance(filters, list) else [filters]:
        if not text or not isinstance(text, str):
            continue
        try:
            parsed = mcp_grammar.parse_endpoint_filter(text)
        except MlflowError:
            return True
        if any(c.kind == "attribute" and c.key == "status" for c in parsed):
            return True
    return False
