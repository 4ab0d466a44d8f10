"""What a user may do with an experiment or a registered model, from their per-user grant, the grants their roles
carry in the resource's workspace, and the server's default.

MLflow's rules for roles (`_role_grant_for_resource`, `fold_grants_for_key`, `_get_role_permission_or_default`):

- a role granting MANAGE on the workspace itself (`workspace`, `*`) makes its holder that workspace's administrator:
  MANAGE on everything in it, whatever else applies;
- otherwise the grants on the resource's type whose pattern is `*` or the resource's own id (or name) are folded:
  any DENY vetoes, else the highest wins (USE counts as READ here: Runyard has nothing that needs USE);
- a positive result is never below the server's default; a DENY stays a veto;
- roles of other workspaces say nothing. With workspaces off, every resource is in `default`.

MLflow stores a user's direct grants as grants of a per-user role, so they fold with the role grants: the highest
wins, and a DENY vetoes both. Runyard keeps them in their own tables and, where no role speaks, keeps their rule
unchanged (a direct grant replaces the default, lower or higher); where a role speaks too, the higher of the two
wins. Registered models have no workspace of their own in Runyard: the request's workspace is theirs.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, false, not_, or_, select
from sqlalchemy.orm import Session

from server.permissions import Permission
from server.store import roles, scope, users
from server.store.models import Experiment
from server.store.roles import ADMIN_PERMISSION, WORKSPACE_TYPE, GrantRow
from server.store.workspace_models import DEFAULT_WORKSPACE

EXPERIMENT, REGISTERED_MODEL = "experiment", "registered_model"
DENY, USE = "DENY", "USE"
# MLflow's permission names in its own order, which its messages list.
MLFLOW_PERMISSIONS = ("READ", USE, "EDIT", "MANAGE", "NO_PERMISSIONS", DENY)
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
                continue  # USE on the workspace is membership; Runyard's default already covers every workspace
            if row.resource_type != self.resource_type or row.resource_pattern not in ("*", key):
                continue
            if row.permission == DENY:
                denied = True
            elif best is None or _RANK.get(row.permission, 0) > _RANK.get(best, 0):
                best = row.permission
        return DENY if denied else best


def combine(direct: str | None, role: str | None, default: Permission) -> Permission:
    """The effective permission from a per-user grant, a folded role grant and the server's default."""
    if role is None:
        return Permission(direct) if direct else default
    if role == DENY:
        return Permission.NO_PERMISSIONS
    have = _higher(Permission.READ if role == USE else Permission(role), default)
    return _higher(have, Permission(direct)) if direct else have


def on_experiment(session: Session, user_id: int, experiment_id: int, default: Permission) -> Permission:
    direct = users.experiment_permission(session, experiment_id, user_id)
    grants = RoleGrants(roles.grants_of(session, user_id, EXPERIMENT), EXPERIMENT)
    if not grants:
        return combine(direct, None, default)
    if scope.current() is None:
        workspace: str | None = DEFAULT_WORKSPACE
    else:
        workspace = session.scalar(select(Experiment.workspace).where(Experiment.experiment_id == experiment_id))
    return combine(direct, grants.on(workspace, str(experiment_id)) if workspace else None, default)


def on_registered_model(session: Session, user_id: int, name: str, default: Permission) -> Permission:
    direct = users.registered_model_permission(session, name, user_id)
    workspace = scope.current_or_default()
    grants = RoleGrants(roles.grants_of(session, user_id, REGISTERED_MODEL, workspace), REGISTERED_MODEL)
    return combine(direct, grants.on(workspace, name) if grants else None, default)


def readable_experiments(
    session: Session, user_id: int, column: Any, default: Permission
) -> ColumnElement[bool] | None:
    """A WHERE clause on `column` (an experiment id) keeping the experiments the user may read; None keeps all."""
    direct = users.experiment_grants(session, user_id)
    grants = RoleGrants(roles.grants_of(session, user_id, EXPERIMENT), EXPERIMENT)
    by_default = default.allows(Permission.READ)
    if not grants:  # the common case: per-user grants and the default, as before roles existed
        return _keeping(column, {e: combine(p, None, default) for e, p in direct.items()}, by_default)
    named = {int(key) for key in grants.named() if key.isdigit()}
    ids = set(direct) | named
    off = scope.current() is None
    if off:
        where = dict.fromkeys(ids, DEFAULT_WORKSPACE)
    else:
        found = select(Experiment.experiment_id, Experiment.workspace).where(Experiment.experiment_id.in_(ids))
        where = dict(session.execute(found).tuples().all()) if ids else {}
    effective = {e: combine(direct.get(e), grants.on(where[e], str(e)) if e in where else None, default) for e in ids}
    # Every other experiment: its workspace's `*` grants, or the default where none speaks.
    if off:
        return _keeping(column, effective, _readable(grants, DEFAULT_WORKSPACE, default))
    differing = sorted(w for w in grants.workspaces if _readable(grants, w, default) != by_default)
    if not differing:
        return _keeping(column, effective, by_default)
    in_differing = column.in_(select(Experiment.experiment_id).where(Experiment.workspace.in_(differing)))
    return _keeping(column, effective, not_(in_differing) if by_default else in_differing)


def readable_models(session: Session, user_id: int, column: Any, default: Permission) -> ColumnElement[bool] | None:
    """A WHERE clause on `column` (a registered model's name) keeping those the user may read; None keeps all."""
    direct = users.registered_model_grants(session, user_id)
    workspace = scope.current_or_default()
    grants = RoleGrants(roles.grants_of(session, user_id, REGISTERED_MODEL, workspace), REGISTERED_MODEL)
    names = set(direct) | grants.named()
    effective = {n: combine(direct.get(n), grants.on(workspace, n) if grants else None, default) for n in names}
    return _keeping(column, effective, _readable(grants, workspace, default))


def _readable(grants: RoleGrants, workspace: str, default: Permission) -> bool:
    """Whether a resource of `workspace` that no grant names one by one is readable."""
    return combine(None, grants.on(workspace, None), default).allows(Permission.READ)


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
