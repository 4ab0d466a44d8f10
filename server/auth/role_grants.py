"""What a user may do with an experiment or a registered model, from their per-user grant, the grants their roles
carry in the resource's workspace, and the server's default.

MLflow's rules for roles (`_role_grant_for_resource`, `fold_grants_for_key`, `_get_role_permission_or_default`):

- a role granting MANAGE on the workspace itself (`workspace`, `*`) makes its holder that workspace's administrator:
  MANAGE on everything in it, whatever else applies;
- otherwise the grants on the resource's type whose pattern is `*` or the resource's own id (or name) are folded:
  any DENY vetoes, else the highest wins (USE counts as READ here: Runyard has nothing that needs USE);
- a positive result is never below the server's default; a DENY stays a veto;
- roles of other workspaces say nothing. With workspaces off, every resource is in `default`.
- with workspaces on, where no grant speaks, the server's default reaches only members of the resource's workspace
  (a role granting USE or MANAGE on it), so a team's resources are its own; `default` may be opened to every user
  (MLflow's `grant_default_workspace_access`). See `Baseline`.

MLflow stores a user's direct grants as grants of a per-user role, so they fold with the role grants: the highest
wins, and a DENY vetoes both. Runyard keeps them in their own tables and, where no role speaks, keeps their rule
unchanged (a direct grant replaces the default, lower or higher); where a role speaks too, the higher of the two
wins. Registered models have no workspace of their own in Runyard: the request's workspace is theirs.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, false, not_, or_, select
from sqlalchemy.orm import Session

from server.auth.access import permission_denied
from server.auth.identity import Principal
from server.permissions import Permission
from server.store import roles, scope, users
from server.store.models import Experiment
from server.store.roles import ADMIN_PERMISSION, WORKSPACE_TYPE, GrantRow
from server.store.workspace_models import DEFAULT_WORKSPACE

EXPERIMENT, REGISTERED_MODEL, SKILL = "experiment", "registered_model", "skill"
MCP_SERVER, MCP_SERVER_VERSION = "mcp_server", "mcp_server_version"
DENY, USE = "DENY", "USE"
# MLflow's permission names in its own order, which its messages list.
MLFLOW_PERMISSIONS = ("READ", USE, "EDIT", "MANAGE", "NO_PERMISSIONS", DENY)
READ = Permission.READ
_RANK = {DENY: -1, "NO_PERMISSIONS": 0, "READ": 1, USE: 2, "EDIT": 3, "MANAGE": 4}
Key = TypeVar("Key", bound=Hashable)


class RoleGrants:
    """One user's role grants on one resource type (with the workspace-wide ones), answering per workspace."""

    def __init__(self, rows: Iterable[GrantRow], resource_type: str) -> None:
        self.rows = list(rows)
        self.resource_type = resource_type

    def __bool__(self) -> bool:
        return bool(self.rows)

    @property
    def workspaces(self) -> set[str]:
        return {row.workspace for row in self.rows}

    def named(self) -> set[str]:
        """The ids (or names) that grants name one by one, in any workspace."""
        return {
            row.resource_pattern
            for row in self.rows
            if row.resource_type == self.resource_type and row.resource_pattern != "*"
        }

    def member_of(self, workspace: str) -> bool:
        """Whether a role gives the user a seat in `workspace` (USE or MANAGE on the workspace itself)."""
        return any(row.workspace == workspace and row.resource_type == WORKSPACE_TYPE for row in self.rows)

    def on(self, workspace: str, key: str | None) -> str | None:
        """The folded grant on the resource `key` of `workspace` (None: on none in particular, so only `*`
        grants apply), as an MLflow permission name; None when no grant speaks."""
        best: str | None = None
        denied = False
        for row in self.rows:
            if row.workspace != workspace:
                continue
            if row.resource_type == WORKSPACE_TYPE:
                if row.resource_pattern == "*" and row.permission == ADMIN_PERMISSION:
                    return ADMIN_PERMISSION  # the workspace's administrator: not restrictable, not even by DENY
                continue  # USE on the workspace is membership: the baseline, not a grant on the resource
            if row.resource_type != self.resource_type or row.resource_pattern not in ("*", key):
                continue
            if row.permission == DENY:
                denied = True
            elif best is None or _RANK.get(row.permission, 0) > _RANK.get(best, 0):
                best = row.permission
        return DENY if denied else best


@dataclass(frozen=True, slots=True)
class Baseline:
    """What a user holds on a resource that no grant of theirs names: the server's default permission. With
    workspaces on, MLflow draws a boundary: only members of the resource's workspace get the default, everyone else
    nothing, except in `default` when `open_default_workspace` says every user is a member there."""

    default: Permission
    bounded: bool = False
    open_default_workspace: bool = False

    def at(self, grants: RoleGrants, workspace: str | None) -> Permission:
        if not self.bounded:
            return self.default
        if workspace is not None and (
            grants.member_of(workspace) or (self.open_default_workspace and workspace == DEFAULT_WORKSPACE)
        ):
            return self.default
        return Permission.NO_PERMISSIONS

    def may_create_in(self, grants: RoleGrants, workspace: str) -> bool:
        """MLflow lets a user create experiments and models only where they hold USE or MANAGE on the workspace, or
        in an opened `default` when the server's default permission lets them write."""
        if not self.bounded or grants.member_of(workspace):
            return True
        return self.open_default_workspace and workspace == DEFAULT_WORKSPACE and self.default.allows(Permission.EDIT)


def combine(
    direct: str | None, role: str | None, default: Permission, baseline: Permission | None = None
) -> Permission:
    """The effective permission from a per-user grant, a folded role grant, the server's default (the floor of a
    positive grant) and the baseline where nothing speaks (the default, unless a workspace boundary lowers it)."""
    if role is None:
        return Permission(direct) if direct else (default if baseline is None else baseline)
    if role == DENY:
        return Permission.NO_PERMISSIONS
    have = _higher(Permission.READ if role == USE else Permission(role), default)
    return _higher(have, Permission(direct)) if direct else have


def on_experiment(session: Session, user_id: int, experiment_id: int, baseline: Baseline) -> Permission:
    direct = users.experiment_permission(session, experiment_id, user_id)
    grants = RoleGrants(roles.grants_of(session, user_id, EXPERIMENT), EXPERIMENT)
    if not grants and not baseline.bounded:
        return combine(direct, None, baseline.default)
    if scope.current() is None and not baseline.bounded:
        workspace: str | None = DEFAULT_WORKSPACE
    else:
        workspace = session.scalar(select(Experiment.workspace).where(Experiment.experiment_id == experiment_id))
    role = grants.on(workspace, str(experiment_id)) if workspace and grants else None
    return combine(direct, role, baseline.default, baseline.at(grants, workspace))


def on_registered_model(session: Session, user_id: int, name: str, baseline: Baseline) -> Permission:
    direct = users.registered_model_permission(session, name, user_id)
    workspace = scope.current_or_default()
    grants = RoleGrants(roles.grants_of(session, user_id, REGISTERED_MODEL, workspace), REGISTERED_MODEL)
    role = grants.on(workspace, name) if grants else None
    return combine(direct, role, baseline.default, baseline.at(grants, workspace))


def skill_grants(session: Session, user_id: int) -> RoleGrants:
    """The user's grants on skills in the request's workspace: one query, for a check or a whole search page."""
    workspace = scope.current_or_default()
    return RoleGrants(roles.grants_of(session, user_id, SKILL, workspace), SKILL)


def on_skill(grants: RoleGrants, key: str, baseline: Baseline) -> Permission:
    """A skill (by its grant key) of the request's workspace. Skills have no per-user grant table: a user's own
    grants (the creator's MANAGE) are those of their per-user role, as in MLflow."""
    workspace = scope.current_or_default()
    role = grants.on(workspace, key) if grants else None
    return combine(None, role, baseline.default, baseline.at(grants, workspace))


def denies_creating(grants: RoleGrants, key: str) -> bool:
    """A DENY on every skill (`*`) or on this one vetoes creating it, as MLflow's `_create_not_denied` does."""
    workspace = scope.current_or_default()
    return any(
        row.workspace == workspace
        and row.resource_type == SKILL
        and row.resource_pattern in ("*", key)
        and row.permission == DENY
        for row in grants.rows
    )


@dataclass(frozen=True, slots=True)
class McpGrants:
    """A user's grants on MCP servers and on the tier of their versions (`mcp_server_version`, `*` only) in the
    request's workspace. Kept as MLflow permission names, USE and DENY included: a DENY on the version tier must
    stay a DENY (it withholds versions where a missing grant would not), and MLflow lists USE in `allowed_actions`."""

    servers: RoleGrants
    versions: RoleGrants


def mcp_grants(session: Session, user_id: int) -> McpGrants:
    """Two reads, for a check or a whole search page."""
    workspace = scope.current_or_default()
    return McpGrants(
        RoleGrants(roles.grants_of(session, user_id, MCP_SERVER, workspace), MCP_SERVER),
        RoleGrants(roles.grants_of(session, user_id, MCP_SERVER_VERSION, workspace), MCP_SERVER_VERSION),
    )


def _level(role: str | None, baseline: Baseline, grants: RoleGrants) -> str:
    """MLflow's `_get_role_permission_or_default`: a positive grant never below the default, a DENY kept, and where
    no grant speaks the baseline."""
    if role is None:
        return baseline.at(grants, scope.current_or_default()).value
    if role == DENY:
        return DENY
    return role if _RANK.get(role, 0) >= _RANK[baseline.default.value] else baseline.default.value


def on_mcp_server(grants: McpGrants, name: str | None, baseline: Baseline) -> str:
    """The level on one server (`name`), or on every server no grant names (None), as an MLflow permission name."""
    return _level(grants.servers.on(scope.current_or_default(), name), baseline, grants.servers)


def on_mcp_versions(grants: McpGrants, name: str, baseline: Baseline) -> str:
    """The level governing a server's versions: the version tier's grants where any speak (MLflow's tier override,
    so a DENY there is never rescued by the server's grant), else the server's own."""
    tier = grants.versions.on(scope.current_or_default(), "*")
    if tier is not None:
        return _level(tier, baseline, grants.versions)
    return on_mcp_server(grants, name, baseline)


def mcp_denied(grants: RoleGrants, key: str | None) -> bool:
    """Whether a DENY reaches the resource `key` (None: `*` only) of the grants' type; a workspace's administrator
    is never denied."""
    return grants.on(scope.current_or_default(), key) == DENY


def level_permission(level: str) -> Permission:
    """An MLflow permission name as Runyard's levels read it: USE reads, DENY has nothing."""
    if level == DENY:
        return Permission.NO_PERMISSIONS
    return READ if level == USE else Permission(level)


def require_creation_seat(session: Session, principal: Principal, baseline: Baseline) -> None:
    """The rule before anything is created, whatever it is: a job's token never creates, and anyone but an
    administrator needs a seat (USE) in the request's workspace."""
    if principal.run_id is not None:
        raise permission_denied("a job's token cannot create resources")
    if not principal.is_admin and not may_create(session, principal.user_id, baseline):
        raise permission_denied("USE on the workspace required to create in it")


def may_create(session: Session, user_id: int, baseline: Baseline) -> bool:
    """Whether the user may create an experiment or a registered model in the request's workspace."""
    if not baseline.bounded:
        return True
    workspace = scope.current_or_default()
    return baseline.may_create_in(
        RoleGrants(roles.grants_of(session, user_id, WORKSPACE_TYPE, workspace), ""), workspace
    )


def readable_experiments(session: Session, user_id: int, column: Any, baseline: Baseline) -> ColumnElement[bool] | None:
    """A WHERE clause on `column` (an experiment id) keeping the experiments the user may read; None keeps all."""
    default = baseline.default
    direct = users.experiment_grants(session, user_id)
    grants = RoleGrants(roles.grants_of(session, user_id, EXPERIMENT), EXPERIMENT)
    if not grants and not baseline.bounded:  # the common case: per-user grants and the default, as before roles
        return _keeping(column, {e: combine(p, None, default) for e, p in direct.items()}, default.allows(READ))
    named = {int(key) for key in grants.named() if key.isdigit()}
    ids = set(direct) | named
    off = scope.current() is None and not baseline.bounded
    if off:
        where = dict.fromkeys(ids, DEFAULT_WORKSPACE)
    else:
        found = select(Experiment.experiment_id, Experiment.workspace).where(Experiment.experiment_id.in_(ids))
        where = dict(session.execute(found).tuples().all()) if ids else {}
    effective = {
        e: combine(
            direct.get(e),
            grants.on(where[e], str(e)) if e in where else None,
            default,
            baseline.at(grants, where.get(e)),
        )
        for e in ids
    }
    # Every other experiment: its workspace's `*` grants, or the baseline where none speaks.
    if off:
        return _keeping(column, effective, _readable(grants, DEFAULT_WORKSPACE, baseline))
    if baseline.bounded:  # readable only in the workspaces that let the user in
        candidates = grants.workspaces | ({DEFAULT_WORKSPACE} if baseline.open_default_workspace else set())
        opened = sorted(w for w in candidates if _readable(grants, w, baseline))
        in_opened = column.in_(select(Experiment.experiment_id).where(Experiment.workspace.in_(opened)))
        return _keeping(column, effective, in_opened if opened else False)
    by_default = default.allows(READ)
    differing = sorted(w for w in grants.workspaces if _readable(grants, w, baseline) != by_default)
    if not differing:
        return _keeping(column, effective, by_default)
    in_differing = column.in_(select(Experiment.experiment_id).where(Experiment.workspace.in_(differing)))
    return _keeping(column, effective, not_(in_differing) if by_default else in_differing)


def readable_models(session: Session, user_id: int, column: Any, baseline: Baseline) -> ColumnElement[bool] | None:
    """A WHERE clause on `column` (a registered model's name) keeping those the user may read; None keeps all."""
    direct = users.registered_model_grants(session, user_id)
    workspace = scope.current_or_default()
    grants = RoleGrants(roles.grants_of(session, user_id, REGISTERED_MODEL, workspace), REGISTERED_MODEL)
    names = set(direct) | grants.named()
    at = baseline.at(grants, workspace)
    effective = {
        n: combine(direct.get(n), grants.on(workspace, n) if grants else None, baseline.default, at) for n in names
    }
    return _keeping(column, effective, _readable(grants, workspace, baseline))


def _readable(grants: RoleGrants, workspace: str, baseline: Baseline) -> bool:
    """Whether a resource of `workspace` that no grant names one by one is readable."""
    return combine(None, grants.on(workspace, None), baseline.default, baseline.at(grants, workspace)).allows(READ)


def _keeping(
    column: Any, effective: Mapping[Key, Permission], rest: bool | ColumnElement[bool]
) -> ColumnElement[bool] | None:
    """Keeps the named resources by their effective permission, and the others by `rest`; None keeps all."""
    readable = [k for k, p in effective.items() if p.allows(Permission.READ)]
    unreadable = [k for k, p in effective.items() if not p.allows(Permission.READ)]
    if rest is True:
        return column.not_in(unreadable) if unreadable else None
    if rest is False:
        return column.in_(readable) if readable else false()
    others: ColumnElement[bool] = and_(column.not_in([*readable, *unreadable]), rest) if effective else rest
    return or_(column.in_(readable), others) if readable else others


def _higher(first: Permission, second: Permission) -> Permission:
    return first if first.rank >= second.rank else second
