"""The Skill Registry routes of MLflow 3.18 (`/api/3.0/mlflow/skills...` and their `/ajax-api` twins), plain JSON
as MLflow's FastAPI router serves them: every field of a response is present, `null` when unset.

A skill outside any organization is addressed as `/skills/<name>`, one in an organization as
`/skills/@<organization>/<name>`; each route exists in both spellings, the organization's listed first so that
`/skills/@acme/versions` means the skill `versions` of `acme`, as in MLflow. Request bodies are checked as MLflow's
Pydantic models check them: unknown fields and wrongly typed ones are refused with "Invalid request: ...".

With auth on, each route needs what MLflow 3.18's auth asks on the skill it names (`_ONE_SKILL`): grants on skills
are role grants of type `skill` on `name` or `@organization/name`, a skill's creator manages it, and a search shows
only the skills the caller may read, each with the `allowed_actions` MLflow lists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
from sqlalchemy.orm import Session

from server.api.routing import Rpc
from server.api.wire import Fields
from server.auth import rules as access
from server.errors import MlflowError
from server.permissions import Permission
from server.services import skill_rules
from server.services import skills as service
from server.web.context import Context

_PREFIX = "/mlflow/skills"
_PATH_FIELDS = frozenset({"organization", "name", "version", "alias", "key"})
# Pydantic's wording for a field of the wrong type.
_EXPECTED: dict[type | tuple[type, ...], str] = {str: "a valid string", int: "a valid integer", list: "a valid list"}


def _bad_request(problems: Iterable[str]) -> MlflowError:
    return MlflowError.invalid_parameter(f"Invalid request: {'; '.join(problems)}")


def check_body(fields: Fields, allowed: Mapping[str, type | tuple[type, ...]], required: Iterable[str] = ()) -> None:
    """Refuse what MLflow's request model would: unknown fields, missing required ones, and wrong types."""
    problems = [f"{key}: Extra inputs are not permitted" for key in fields.as_dict() if key not in allowed]
    problems += [f"{key}: Field required" for key in required if fields.raw(key) is None]
    for key, kind in allowed.items():
        value = fields.as_dict().get(key)
        if value is None or (key in _PATH_FIELDS and isinstance(value, str)):
            continue
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            problems.append(f"{key}: Input should be {_EXPECTED.get(kind, 'valid')}")
    if problems:
        raise _bad_request(problems)


def _username() -> str | None:
    principal = access.current_principal()
    return principal.username if principal is not None else None


def skill_json(row: service.SkillRow) -> dict[str, Any]:
    skill = row.skill
    return {
        "name": skill.name,
        "organization": skill.organization,
        "workspace": skill.workspace,
        "description": skill.description,
        "icons": orjson.loads(skill.icons) if skill.icons is not None else None,
        "status": row.status,
        "latest_version": row.latest_version,
        "source_type": row.source_type,
        "aliases": [{"alias": alias, "version": version} for alias, version in row.aliases.items()],
        "tags": row.tags,
        "created_by": skill.created_by,
        "last_updated_by": skill.last_updated_by,
        "creation_timestamp": skill.creation_timestamp,
        "last_updated_timestamp": skill.last_updated_timestamp,
    }


def version_json(row: service.VersionRow) -> dict[str, Any]:
    version = row.version
    return {
        "name": row.skill.name,
        "version": version.version,
        "organization": row.skill.organization,
        "workspace": row.skill.workspace,
        "source_type": version.source_type,
        "source": version.source,
        "ref": version.ref,
        "subpath": version.subpath,
        "digest": version.digest,
        "status": version.status,
        "aliases": row.aliases,
        "tags": row.tags,
        "created_by": version.created_by,
        "last_updated_by": version.last_updated_by,
        "creation_timestamp": version.creation_timestamp,
        "last_updated_timestamp": version.last_updated_timestamp,
    }


def _query_list(fields: Fields, name: str) -> list[str]:
    return fields.string_list(name)


# --- routes without a skill in the path ---------------------------------------------------------------------------


def create_skill(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    check_body(fields, {"name": str, "organization": str, "description": str, "icons": list}, required=["name"])
    row = service.create_skill(
        session,
        fields.string("organization") or "",
        fields.required_string("name"),
        description=fields.string("description"),
        icons=fields.raw("icons"),
        by=_username(),
    )
    return skill_json(row)


def search_skills(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    identities = fields.raw("include_skill_identities")
    selected = None if identities is None else [i for i in _query_list(fields, "include_skill_identities") if i]
    readable = fields.raw(access.SKILL_SCOPE_FIELD)  # set by the permission check, with auth on
    page = service.search_skills(
        session,
        filter_string=fields.string("filter_string"),
        max_results=fields.integer("max_results"),
        order_by=_query_list(fields, "order_by"),
        page_token=fields.string("page_token"),
        identities=selected,
        visible=readable if isinstance(readable, access.SkillScope) else None,
    )
    skills = [skill_json(row) for row in page.rows]
    _add_allowed_actions(skills, session, context)
    return {"skills": skills, "next_page_token": page.next_page_token}


def _add_allowed_actions(skills: list[dict[str, Any]], session: Session, context: Context) -> None:
    """With auth on, MLflow tells the caller what it may do with each skill it shows, so the UI offers only that."""
    principal = access.current_principal()
    if context.authorizer is None or principal is None:
        return
    permission_of = context.authorizer.skill_permissions(session, principal)
    for skill in skills:
        skill["allowed_actions"] = access.allowed_actions(permission_of(skill["organization"], skill["name"]).value)


_BULK_ITEM = {"name", "source_type", "source", "ref", "subpath", "digest", "status"}


def bulk_register_skills(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    check_body(fields, {"organization": str, "skills": list}, required=["skills"])
    items = fields.raw("skills")
    if not 1 <= len(items) <= skill_rules.MAX_BULK_SKILLS:
        raise _bad_request([f"skills: List should have at least 1 item and at most {skill_rules.MAX_BULK_SKILLS}"])
    organization, by = fields.string("organization") or "", _username()
    registrations = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _bad_request([f"skills.{index}: Input should be a valid dictionary or object"])
        _check_item(index, item)
        registrations.append(
            service.Registration(
                name=item["name"],
                organization=organization,
                source=item.get("source"),
                source_type=item.get("source_type"),
                ref=item.get("ref"),
                subpath=item.get("subpath"),
                digest=item.get("digest"),
                status=item.get("status") or skill_rules.ACTIVE,
                created_by=by,
            )
        )
    rows = service.bulk_register(session, registrations)
    return {"skill_versions": [version_json(row) for row in rows]}


def _check_item(index: int, item: dict[str, Any]) -> None:
    """One entry of `skills`, its problems named under `skills.<index>` as MLflow's request model names them."""
    try:
        check_body(Fields(item), dict.fromkeys(_BULK_ITEM, str), required=["name", "source", "digest"])
    except MlflowError as error:
        message = error.message.removeprefix("Invalid request: ")
        raise _bad_request(f"skills.{index}.{problem}" for problem in message.split("; ")) from None


# --- routes of one skill (each in both spellings) -----------------------------------------------------------------

SkillHandler = Callable[[Fields, Session, str, str], dict[str, Any]]


def get_skill(fields: Fields, session: Session, organization: str, name: str) -> dict[str, Any]:
    return skill_json(service.get_skill(session, organization, name))


def update_skill(fields: Fields, session: Session, organization: str, name: str) -> dict[str, Any]:
    check_body(fields, {"description": str, "icons": list, **dict.fromkeys(_PATH_FIELDS, str)})
    given = fields.as_dict()
    row = service.update_skill(
        session,
        organization,
        name,
        description=given["description"] if "description" in given else service.UNSET,
        icons=given["icons"] if "icons" in given else service.UNSET,
        by=_username(),
    )
    return skill_json(row)


def delete_skill(fields: Fields, session: Session, organization: str, name: str) -> dict[str, Any]:
    service.delete_skill(session, organization, name)
    return {}


def search_skill_versions(fields: Fields, session: Session, organization: str, name: str) -> dict[str, Any]:
    page = service.search_versions(
        session,
        organization,
        name,
        filter_string=fields.string("filter_string"),
        max_results=fields.integer("max_results"),
        order_by=_query_list(fields, "order_by"),
        page_token=fields.string("page_token"),
    )
    return {"skill_versions": [version_json(row) for row in page.rows], "next_page_token": page.next_page_token}


REGISTRATION_FIELDS = {"source_type": str, "source": str, "ref": str, "subpath": str, "digest": str, "status": str}


def registration_of(fields: Fields, organization: str, name: str, created_by: str | None) -> service.Registration:
    """A version's registration metadata, from a JSON body or an upload's `metadata` part, for the path's skill."""
    return service.Registration(
        name=name,
        organization=organization,
        source=fields.string("source"),
        source_type=fields.string("source_type"),
        ref=fields.string("ref"),
        subpath=fields.string("subpath"),
        digest=fields.string("digest"),
        status=fields.string("status") or skill_rules.ACTIVE,
        created_by=created_by,
    )


def create_skill_version(fields: Fields, session: Session, organization: str, name: str) -> dict[str, Any]:
    """A version from a remote source (a JSON body); a body's `name` and `organization` must match the path."""
    check_body(fields, {**REGISTRATION_FIELDS, **dict.fromkeys(_PATH_FIELDS, str)})
    if (fields.string("organization") or "") != organization:
        raise MlflowError.invalid_parameter("Registration metadata 'organization' must match the path identity.")
    registration = registration_of(fields, organization, name, _username())
    return version_json(service.register_version(session, registration))


def get_skill_version(fields: Fields, session: Session, organization: str, name: str) -> dict[str, Any]:
    return version_json(service.get_version(session, organization, name, fields.raw("version")))


def update_skill_version(fields: Fields, session: Session, organization: str, name: str) -> dict[str, Any]:
    check_body(fields, {"status": str, **dict.fromkeys(_PATH_FIELDS, str)})
    given = fields.as_dict()
    status = given["status"] if "status" in given else service.UNSET
    row = service.update_version(session, organization, name, fields.raw("version"), status=status, by=_username())
    return version_json(row)


def delete_skill_version(fields: Fields, session: Session, organization: str, name: str) -> dict[str, Any]:
    service.delete_version(session, organization, name, fields.raw("version"), by=_username())
    return {}


_TAG_FIELDS = {"key": str, "value": str, **dict.fromkeys(_PATH_FIELDS - {"key"}, str)}


def set_skill_tag(fields: Fields, session: Session, organization: str, name: str) -> dict[str, Any]:
    check_body(fields, _TAG_FIELDS, required=["key", "value"])
    service.set_skill_tag(session, organization, name, fields.raw("key"), fields.raw("value"))
    return {}


def delete_skill_tag(fields: Fields, session: Session, organization: str, name: str) -> dict[str, Any]:
    service.delete_skill_tag(session, organization, name, fields.required_string("key"))
    return {}


def set_skill_version_tag(fields: Fields, session: Session, organization: str, name: str) -> dict[str, Any]:
    check_body(fields, _TAG_FIELDS, required=["key", "value"])
    service.set_version_tag(session, organization, name, fields.raw("version"), fields.raw("key"), fields.raw("value"))
    return {}


def delete_skill_version_tag(fields: Fields, session: Session, organization: str, name: str) -> dict[str, Any]:
    service.delete_version_tag(session, organization, name, fields.raw("version"), fields.required_string("key"))
    return {}


def set_skill_alias(fields: Fields, session: Session, organization: str, name: str) -> dict[str, Any]:
    check_body(fields, {"alias": str, "version": int, "organization": str, "name": str}, required=["alias", "version"])
    service.set_alias(session, organization, name, fields.raw("alias"), fields.raw("version"))
    return {}


def get_skill_version_by_alias(fields: Fields, session: Session, organization: str, name: str) -> dict[str, Any]:
    return version_json(service.version_by_alias(session, organization, name, fields.required_string("alias")))


def delete_skill_alias(fields: Fields, session: Session, organization: str, name: str) -> dict[str, Any]:
    service.delete_alias(session, organization, name, fields.required_string("alias"))
    return {}


def _spellings(
    method: str, suffix: str, handler: SkillHandler, need: access.Access, *, shows_skill: bool = False
) -> tuple[Rpc, Rpc]:
    """The route of one skill in an organization (`/@<organization>/<name>...`) and outside any (`/<name>...`),
    needing `need` on the skill; a route that `shows_skill` also says what the caller may do with it."""

    def in_organization(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
        result = handler(fields, session, fields.required_string("organization"), fields.required_string("name"))
        if shows_skill:
            _add_allowed_actions([result], session, context)
        return result

    def outside(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
        # A skill outside any organization has none to name: an `organization` in the body or query would be an
        # extra field to MLflow, and here it would also point the permission check at another skill than this one.
        if fields.string("organization") and handler is not create_skill_version:
            raise _bad_request(["organization: Extra inputs are not permitted"])
        result = handler(fields, session, "", fields.required_string("name"))
        if shows_skill:
            _add_allowed_actions([result], session, context)
        return result

    in_organization.__name__ = f"{handler.__name__}_in_organization"
    outside.__name__ = handler.__name__
    return (
        Rpc(method, f"{_PREFIX}/@{{organization}}/{{name}}{suffix}", in_organization, since=3, access=need),
        Rpc(method, f"{_PREFIX}/{{name}}{suffix}", outside, since=3, access=need),
    )


# What each route needs on its skill, as MLflow 3.18's auth maps them: reading, updating (tags, aliases, a
# version's status), managing (deleting the skill, a version, a version's tag or an alias).
_READ, _EDIT, _MANAGE = (access.skill(p) for p in (Permission.READ, Permission.EDIT, Permission.MANAGE))
_ONE_SKILL = [
    _spellings("GET", "", get_skill, _READ, shows_skill=True),
    _spellings("PATCH", "", update_skill, _EDIT),
    _spellings("DELETE", "", delete_skill, _MANAGE),
    _spellings("GET", "/versions", search_skill_versions, _READ),
    _spellings("POST", "/versions", create_skill_version, access.SKILL_REGISTER),
    _spellings("GET", "/versions/{version}", get_skill_version, _READ),
    _spellings("PATCH", "/versions/{version}", update_skill_version, access.SKILL_VERSION_UPDATE),
    _spellings("DELETE", "/versions/{version}", delete_skill_version, _MANAGE),
    _spellings("POST", "/tags", set_skill_tag, _EDIT),
    _spellings("DELETE", "/tags/{key:path}", delete_skill_tag, _EDIT),
    _spellings("POST", "/versions/{version}/tags", set_skill_version_tag, _EDIT),
    _spellings("DELETE", "/versions/{version}/tags/{key:path}", delete_skill_version_tag, _MANAGE),
    _spellings("POST", "/aliases", set_skill_alias, _EDIT),
    _spellings("GET", "/aliases/{alias}", get_skill_version_by_alias, _READ),
    _spellings("DELETE", "/aliases/{alias}", delete_skill_alias, _MANAGE),
]

RPCS = [
    Rpc("POST", _PREFIX, create_skill, since=3, access=access.SKILL_CREATE),
    Rpc("GET", _PREFIX, search_skills, since=3, access=access.SKILL_SEARCH),
    Rpc("POST", f"{_PREFIX}/bulk-register", bulk_register_skills, since=3, access=access.SKILL_REGISTER),
    *(organized for organized, _ in _ONE_SKILL),
    *(outside for _, outside in _ONE_SKILL),
]
