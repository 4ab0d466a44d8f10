"""Who may touch the Skill Registry, as MLflow 3.18's auth decides it.

Grants are role grants of type `skill` on `*`, `name` or `@organization/name`. READ shows a skill, EDIT changes it
(tags, aliases, versions), MANAGE deletes it or a version; setting a version's status to `deleted` is deleting it.
Creating a skill (or registering the first version of one) needs a seat to create in the workspace and no DENY on
it, and makes the creator its manager through their per-user role. A search never refuses: it only ever sees the
skills the caller may read. A skill's uploaded content follows the skill (`skill_of_upload_path`).

Like `genai_access.py` and `mcp_access.py`, this module never imports `rules.py`: the terms both use are in
`access.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from server.auth import role_grants
from server.auth.access import Access, permission_denied
from server.auth.identity import Principal
from server.permissions import Permission
from server.store import roles as role_store
from server.store import scope
from server.store import skills as skill_store

READ, EDIT, MANAGE = Permission.READ, Permission.EDIT, Permission.MANAGE


def skill(need: Permission) -> Access:
    """A skill by the `organization` (empty outside any) and `name` of its path."""
    return Access("skill", need, "name")


# Creating a skill (its manager is its creator), registering a version (EDIT on the skill, or creating it when it
# does not exist yet, one or a bulk list), a version's update (MANAGE to delete it by status), and a search.
SKILL_CREATE = Access("skill_create", MANAGE, "name", grants_creator=True)
SKILL_REGISTER = Access("skill_register", EDIT, "name", grants_creator=True)
SKILL_VERSION_UPDATE = Access("skill_version_update", EDIT, "name")
SKILL_SEARCH = Access("skill_search", READ)
# Where a search's check leaves the skills the caller may see, for the handler (never a request field: those are
# strings and lists, this is a `SkillScope`).
SKILL_SCOPE_FIELD = "_readable_skills"


@dataclass(frozen=True, slots=True)
class SkillScope:
    """The skills a search may show, as (organization, name): `include` None means every skill but `exclude`."""

    include: tuple[tuple[str, str], ...] | None
    exclude: tuple[tuple[str, str], ...]


def skill_of_upload_path(path: str) -> tuple[str, str] | None:
    """(organization, name) of the skill whose upload folder holds `path` (`skills/[@org/]name/...`, inside a
    workspace's folder or not); None for any other path, the skills folder and an organization's folder included."""
    segments = path.strip("/").split("/")
    if len(segments) > 2 and segments[0] == "workspaces":
        segments = segments[2:]
    if not segments or segments[0] != "skills":
        return None
    rest = segments[1:]
    organization = ""
    if rest and rest[0].startswith("@"):
        organization, rest = rest[0][1:], rest[1:]
    return (organization, rest[0]) if rest and rest[0] else None


class SkillChecks(ABC):
    """The Authorizer's checks for the Skill Registry (registered in `rules.Authorizer`'s table)."""

    baseline: role_grants.Baseline

    @staticmethod
    @abstractmethod
    def require(have: Permission | None, need: Permission, what: str) -> None: ...

    # --- permissions --------------------------------------------------------------------------------------------

    def skill_permissions(self, session: Session, principal: Principal) -> Callable[[str, str], Permission]:
        """The caller's permission on skills of the request's workspace, by (organization, name), from one read of
        their grants: a search page's skills are answered without a query each."""
        if principal.run_id is not None:
            return lambda _organization, _name: Permission.NO_PERMISSIONS
        if principal.is_admin:
            return lambda _organization, _name: MANAGE
        grants = role_grants.skill_grants(session, principal.user_id)
        return lambda organization, name: role_grants.on_skill(
            grants, skill_store.grant_key(organization, name), self.baseline
        )

    def on_skill(self, session: Session, principal: Principal, organization: str, name: str) -> Permission:
        return self.skill_permissions(session, principal)(organization, name)

    def readable_skills(self, session: Session, principal: Principal) -> SkillScope:
        """The skills of the request's workspace the caller may read, as MLflow's `skill_search_permission_scope`
        pushes them into the query: either every skill but the unreadable ones named by a grant, or only the
        readable ones named by a grant."""
        if principal.is_admin and principal.run_id is None:
            return SkillScope(None, ())
        if principal.run_id is not None:
            return SkillScope((), ())
        grants = role_grants.skill_grants(session, principal.user_id)
        named = [identity for key in grants.named() if (identity := skill_store.parse_grant_key(key)) is not None]
        readable = {
            i: role_grants.on_skill(grants, skill_store.grant_key(*i), self.baseline).allows(READ) for i in named
        }
        if role_grants.on_skill(grants, "*", self.baseline).allows(READ):
            return SkillScope(None, tuple(sorted(i for i, ok in readable.items() if not ok)))
        return SkillScope(tuple(sorted(i for i, ok in readable.items() if ok)), ())

    # --- checks -------------------------------------------------------------------------------------------------

    def _check_skill(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        organization, name = fields.string("organization") or "", fields.string(access.field) or ""
        need = access.need
        if access.resource == "skill_version_update" and fields.raw("status") == "deleted":
            need = MANAGE  # deleting a version by its status is deleting it
        have = self.on_skill(session, principal, organization, name)
        self.require(have, need, f"skill '{skill_store.grant_key(organization, name)}'")
        return fields

    def _require_skill_creation(self, session: Session, principal: Principal, organization: str, name: str) -> None:
        """MLflow's `validate_can_create_skill`: a seat to create in the workspace, and no DENY on the skill."""
        role_grants.require_creation_seat(session, principal, self.baseline)
        if principal.is_admin:
            return
        key = skill_store.grant_key(organization, name)
        if role_grants.denies_creating(role_grants.skill_grants(session, principal.user_id), key):
            raise permission_denied(f"creating skill '{key}' is denied")

    def _check_skill_create(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        name = fields.string(access.field) or ""
        self._require_skill_creation(session, principal, fields.string("organization") or "", name)
        return fields

    def _check_skill_register(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        """A version of one skill (`name` in the path) or of each skill of a bulk list (`skills`): EDIT on a skill
        that exists, else the right to create it."""
        organization = fields.string("organization") or ""
        listed = fields.raw("skills")
        if isinstance(listed, list):
            names = [entry.get("name") for entry in listed if isinstance(entry, dict)]
        else:
            names = [fields.string(access.field)]
        for name in names:
            if not isinstance(name, str):
                continue  # the handler refuses the body
            if skill_store.find_skill(session, organization, name) is None:
                self._require_skill_creation(session, principal, organization, name)
            else:
                have = self.on_skill(session, principal, organization, name)
                self.require(have, EDIT, f"skill '{skill_store.grant_key(organization, name)}'")
        return fields

    def _check_skill_search(self, _access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        scoped = {**fields.as_dict(), SKILL_SCOPE_FIELD: self.readable_skills(session, principal)}
        return type(fields)(scoped, from_query=fields.from_query)

    # --- the creator's grant ------------------------------------------------------------------------------------

    def grant_skill_creator(self, session: Session, principal: Principal, result: dict[str, Any]) -> None:
        """MANAGE on each skill the request made (a version of a new skill makes it), through the creator's
        per-user role, as MLflow grants it. A skill someone else made meanwhile gets nothing: only the skill's
        recorded creator is granted, and only when the skill is as new as the answer's version 1."""
        listed = result.get("skill_versions")
        answered = listed if isinstance(listed, list) else [result]
        for entry in answered:
            organization, name = entry.get("organization") or "", entry.get("name")
            if not isinstance(name, str) or ("version" in entry and entry["version"] != 1):
                continue
            found = skill_store.find_skill(session, organization, name)
            if found is not None and found.created_by == principal.username:
                key = skill_store.grant_key(organization, name)
                role_store.grant_to_user(
                    session, principal.user_id, scope.current_or_default(), skill_store.GRANT_TYPE, key, MANAGE.value
                )
