"""The Skill Registry (MLflow 3.18): skills of the request's workspace, registered versions pointing at remote
sources, their lifecycle, tags and aliases, with the errors MLflow's server answers.

Every lookup goes through the request's workspace, so a skill of another team is simply not found. Version numbers
are handed out under a write on the skill's row (see `store.touch`), so two registrations never get the same one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.orm import Session

from server.auth.skill_access import SkillScope
from server.clock import now_ms
from server.errors import ErrorCode, MlflowError
from server.services import skill_rules as rules
from server.services import skill_sources
from server.store import roles as role_store
from server.store import scope, skill_grammar
from server.store import skills as store
from server.store.skill_models import Skill, SkillVersion
from server.store.skills import SkillRow as SkillRow  # re-exported: the rows the API renders
from server.store.skills import VersionRow as VersionRow


class _Unset:
    """A field the request left out (a PATCH changes only what it names)."""


UNSET = _Unset()


def _not_found(message: str) -> MlflowError:
    return MlflowError(message, ErrorCode.RESOURCE_DOES_NOT_EXIST)


def _skill(session: Session, organization: str, name: str, *, for_update: bool = False) -> Skill:
    skill = store.find_skill(session, organization, name, for_update=for_update)
    if skill is None:
        raise _not_found(f"Skill '{name}' not found in organization '{organization}'")
    return skill


def _skill_for_tags(session: Session, organization: str, name: str) -> Skill:
    skill = store.find_skill(session, organization, name)
    if skill is None:
        raise _not_found(f"Skill not found (name='{name}', organization='{organization}')")
    return skill


def _version(session: Session, organization: str, name: str, version: int) -> tuple[Skill, SkillVersion]:
    skill = store.find_skill(session, organization, name)
    found = store.find_version(session, skill, version) if skill is not None else None
    if skill is None or found is None:
        raise _not_found(f"Skill version '{name}' version '{version}' not found")
    return skill, found


def _token_scope(*parts: Any) -> str:
    return orjson.dumps([scope.current_or_default(), *parts]).decode()


# --- skills -------------------------------------------------------------------------------------------------------


def create_skill(
    session: Session,
    organization: str,
    name: str,
    *,
    description: str | None,
    icons: list[dict[str, Any]] | None,
    by: str | None,
) -> store.SkillRow:
    organization, name = rules.identity(organization, name)
    icons = rules.icons(icons)
    now = now_ms()
    skill = Skill(
        workspace=scope.current_or_default(),
        organization=organization,
        name=name,
        description=description,
        icons=orjson.dumps(icons).decode() if icons is not None else None,
        created_by=by,
        last_updated_by=by,
        creation_timestamp=now,
        last_updated_timestamp=now,
    )
    if not store.add_skill(session, skill):
        raise MlflowError.already_exists(f"Skill '{name}' already exists in organization '{organization}'")
    return store.skill_row(session, skill)


def get_skill(session: Session, organization: str, name: str) -> store.SkillRow:
    organization, name = rules.identity(organization, name)
    return store.skill_row(session, _skill(session, organization, name))


def update_skill(
    session: Session, organization: str, name: str, *, description: Any, icons: Any, by: str | None
) -> store.SkillRow:
    organization, name = rules.identity(organization, name)
    checked_icons = rules.icons(icons) if icons is not UNSET else None
    skill = _skill(session, organization, name, for_update=True)
    if description is not UNSET:
        if description is not None and not isinstance(description, str):
            raise rules.invalid(f"Invalid value {description!r} for parameter 'description' supplied.")
        skill.description = description
    if icons is not UNSET:
        skill.icons = orjson.dumps(checked_icons).decode() if checked_icons is not None else None
    skill.last_updated_by, skill.last_updated_timestamp = by, now_ms()
    return store.skill_row(session, skill)


def delete_skill(session: Session, organization: str, name: str) -> None:
    """The skill and, in the same transaction, every grant naming it: a skill made later under the same name
    starts with none (MLflow drops them after its delete commits, and keeps them if that fails)."""
    organization, name = rules.identity(organization, name)
    store.delete_skill(session, _skill(session, organization, name, for_update=True))
    role_store.delete_grants_on(
        session, scope.current_or_default(), store.GRANT_TYPE, store.grant_key(organization, name)
    )


def version_sources(session: Session, organization: str, name: str) -> list[tuple[str | None, str | None, str | None]]:
    """(source_type, source, subpath) of each version of the skill, deleted ones included."""
    organization, name = rules.identity(organization, name)
    return store.version_sources(session, _skill(session, organization, name))


def search_skills(
    session: Session,
    *,
    filter_string: str | None,
    max_results: int | None,
    order_by: Sequence[str],
    page_token: str | None,
    identities: Sequence[str] | None,
    visible: SkillScope | None = None,
) -> store.Page:
    """`identities` None selects every skill; a list (even empty) only those named. `visible`, with auth on, keeps
    the page to the skills the caller may read, before it is cut, so pages stay full and tokens stay stable."""
    limit = rules.max_results(max_results)
    selected = rules.parse_identities(identities) if identities is not None else None
    excluded: Sequence[tuple[str, str]] = ()
    if visible is not None:
        if visible.include is not None:
            allowed = set(visible.include)
            selected = [i for i in selected if i in allowed] if selected is not None else list(visible.include)
        excluded = visible.exclude
    filters = skill_grammar.parse_skill_filter(filter_string)
    order = skill_grammar.parse_order_by(order_by, skill_grammar.SKILL_KEYS)
    return store.search_skills(
        session,
        filters,
        order,
        identities=selected,
        excluded=excluded,
        max_results=limit,
        page_token=page_token,
        token_scope=_token_scope("skills", filter_string or None, list(order_by) or None),
    )


# --- versions -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Registration:
    """A version's metadata as a request carries it; `created_by` is the caller, never a request field."""

    name: str
    organization: str = ""
    source: str | None = None
    source_type: str | None = None
    ref: str | None = None
    subpath: str | None = None
    digest: str | None = None
    status: str = rules.ACTIVE
    created_by: str | None = None


def _check_registration(registration: Registration) -> str | None:
    if not registration.name:
        raise rules.invalid(
            "'name' must be provided explicitly. The MLflow SDK and CLI read it from SKILL.md; the server never "
            "reads content to derive it."
        )
    rules.identity(registration.organization, registration.name)
    rules.initial_status(registration.status)
    if registration.source_type == "mlflow":
        raise rules.invalid(
            "'source_type' 'mlflow' is set by the server from the creation flow and cannot be submitted."
        )
    return rules.digest(registration.digest)


def _new_version(
    session: Session, skill: Skill, resolved: skill_sources.ResolvedSource, registration: Registration
) -> SkillVersion:
    now = now_ms()
    version = SkillVersion(
        skill_id=skill.skill_id,
        version=store.next_version_number(session, skill),
        source_type=resolved.source_type,
        source=resolved.source,
        ref=resolved.ref,
        subpath=resolved.subpath,
        digest=registration.digest,
        status=registration.status,
        created_by=registration.created_by,
        last_updated_by=registration.created_by,
        creation_timestamp=now,
        last_updated_timestamp=now,
    )
    session.add(version)
    session.flush()
    return version


def _skill_for_version(session: Session, organization: str, name: str, by: str | None) -> Skill:
    """The skill a registration adds to, made on the spot for its first version (as MLflow does)."""
    skill = store.find_skill(session, organization, name)
    if skill is None:
        now = now_ms()
        skill = Skill(
            workspace=scope.current_or_default(),
            organization=organization,
            name=name,
            created_by=by,
            last_updated_by=by,
            creation_timestamp=now,
            last_updated_timestamp=now,
        )
        if not store.add_skill(session, skill):
            raise MlflowError.already_exists(f"Skill '{name}' already exists in organization '{organization}'")
    store.touch(session, skill)
    return skill


def register_version(session: Session, registration: Registration) -> store.VersionRow:
    """A version from a remote source, registered with a JSON body. Uploaded content comes as a multipart body
    without `source` (`skill_uploads`)."""
    _check_registration(registration)
    if registration.source is None:
        raise rules.invalid(
            "A registration without a 'source' uploads the skill content and requires a multipart/form-data body "
            "with a 'content' part. To register a remote skill, set 'source' to its git, oci, or zip location."
        )
    resolved = skill_sources.resolve(
        registration.source, registration.source_type, registration.ref, registration.subpath
    )
    skill = _skill_for_version(session, registration.organization, registration.name, registration.created_by)
    version = _new_version(session, skill, resolved, registration)
    return store.version_row(session, skill, version)


def check_upload(registration: Registration) -> None:
    """What an upload's metadata may say, checked before its content is read."""
    _check_registration(registration)
    if registration.source is not None:
        raise rules.invalid(
            "A registration with a remote 'source' must use an application/json body; it cannot also carry uploaded "
            "content. Omit 'source' to upload content instead."
        )
    for field in ("source_type", "ref", "subpath"):
        if getattr(registration, field) is not None:
            raise rules.invalid(
                f"'{field}' does not apply to uploaded content; the whole uploaded tree is the skill and the server "
                "records where it stored it."
            )


def register_uploaded(session: Session, registration: Registration, *, source: str, digest: str) -> store.VersionRow:
    """The version of content this server stored at `source` (an `mlflow-artifacts:/` folder) and hashed."""
    resolved = skill_sources.ResolvedSource(source_type="mlflow", source=source)
    skill = _skill_for_version(session, registration.organization, registration.name, registration.created_by)
    version = _new_version(session, skill, resolved, dataclasses.replace(registration, digest=digest))
    return store.version_row(session, skill, version)


def bulk_register(session: Session, registrations: Sequence[Registration]) -> list[store.VersionRow]:
    """Skills of one git repository and ref, each with its client-computed digest, in one transaction. A skill whose
    newest live version already has exactly this source gets that version back instead of a new one."""
    if not registrations:
        raise rules.invalid("Skill definitions must be a nonempty list.")
    first = registrations[0]
    resolved: dict[str, skill_sources.ResolvedSource] = {}
    for registration in registrations:
        _check_registration(registration)
        if registration.status != first.status:
            raise rules.invalid("Bulk registration requires the same status for every Skill.")
        source_type = registration.source_type or skill_sources.GIT
        pointer = skill_sources.resolve(registration.source, source_type, registration.ref, registration.subpath)
        if pointer.source_type != skill_sources.GIT or not pointer.source or not registration.digest:
            raise rules.invalid("Bulk registration requires a Git source and digest for every Skill.")
        if registration.name in resolved:
            raise rules.invalid(f"Duplicate Skill name: {registration.name!r}.")
        known = next(iter(resolved.values()), None)
        if known is not None and (known.source, known.ref) != (pointer.source, pointer.ref):
            raise rules.invalid("Bulk registration requires the same Git repository and ref for every Skill.")
        resolved[registration.name] = pointer
    rows: dict[str, store.VersionRow] = {}
    for registration in sorted(registrations, key=lambda r: r.name):
        pointer = resolved[registration.name]
        skill = _skill_for_version(session, registration.organization, registration.name, registration.created_by)
        source = {
            "source_type": pointer.source_type,
            "source": pointer.source,
            "ref": pointer.ref,
            "subpath": pointer.subpath,
            "digest": registration.digest,
        }
        version = store.matching_version(session, skill, source)
        if version is None:
            version = _new_version(session, skill, pointer, registration)
        rows[registration.name] = store.version_row(session, skill, version)
    return [rows[registration.name] for registration in registrations]


def get_version(session: Session, organization: str, name: str, version: int) -> store.VersionRow:
    organization, name = rules.identity(organization, name)
    skill, found = _version(session, organization, name, rules.version_number(version))
    return store.version_row(session, skill, found)


def version_by_alias(session: Session, organization: str, name: str, alias: str) -> store.VersionRow:
    """`latest` (any case) is the resolved latest version; other aliases are the ones set."""
    organization, name = rules.identity(organization, name)
    if isinstance(alias, str) and alias.lower() == "latest":
        skill = _skill_for_tags(session, organization, name)
        latest = store.resolved_latest(session, skill)
        if latest is None:
            raise _not_found(f"No resolved latest version found for skill '{name}'")
        return store.version_row(session, skill, latest)
    rules.alias(alias)
    named = store.find_skill(session, organization, name)
    row = store.find_alias(session, named, alias) if named is not None else None
    if named is None or row is None:
        raise _not_found(f"Alias '{alias}' not found for skill '{name}'")
    found = store.find_version(session, named, row.version)
    if found is None:
        raise _not_found(f"Alias '{alias}' for skill '{name}' points to a missing or deleted version")
    return store.version_row(session, named, found)


def search_versions(
    session: Session,
    organization: str,
    name: str,
    *,
    filter_string: str | None,
    max_results: int | None,
    order_by: Sequence[str],
    page_token: str | None,
) -> store.Page:
    """A skill's live versions; a skill nobody registered has none (an empty page, as in MLflow)."""
    organization, name = rules.identity(organization, name)
    limit = rules.max_results(max_results)
    filters = skill_grammar.parse_version_filter(filter_string)
    order = skill_grammar.parse_order_by(order_by, skill_grammar.VERSION_KEYS)
    skill = store.find_skill(session, organization, name)
    if skill is None:
        return store.Page([], None)
    token_scope = _token_scope("skill_versions", organization, name, filter_string or None, list(order_by) or None)
    return store.search_versions(
        session, skill, filters, order, max_results=limit, page_token=page_token, token_scope=token_scope
    )


def update_version(
    session: Session, organization: str, name: str, version: int, *, status: Any, by: str | None
) -> store.VersionRow:
    organization, name = rules.identity(organization, name)
    number = rules.version_number(version)
    if status is None:
        rules.new_status(status)
    skill, found = _version(session, organization, name, number)
    if status is UNSET:
        return store.version_row(session, skill, found)
    new = rules.new_status(status)
    rules.check_transition(found.status, new)
    store.set_status(session, found, new, by, now_ms())
    return store.version_row(session, skill, found)


def delete_version(session: Session, organization: str, name: str, version: int, *, by: str | None) -> None:
    """Marks the version deleted (its number is never reused) and drops its aliases."""
    organization, name = rules.identity(organization, name)
    number = rules.version_number(version)
    skill = store.find_skill(session, organization, name)
    found = store.find_version(session, skill, number, include_deleted=True) if skill is not None else None
    if found is None or found.status == rules.DELETED:
        raise _not_found(f"Skill version '{name}' version '{number}' not found")
    rules.check_transition(found.status, rules.DELETED)
    store.set_status(session, found, rules.DELETED, by, now_ms())


# --- tags and aliases ---------------------------------------------------------------------------------------------


def set_skill_tag(session: Session, organization: str, name: str, key: Any, value: Any) -> None:
    organization, name = rules.identity(organization, name)
    key, value = rules.tag(key, value)
    store.set_skill_tag(session, _skill_for_tags(session, organization, name), key, value)


def delete_skill_tag(session: Session, organization: str, name: str, key: str) -> None:
    organization, name = rules.identity(organization, name)
    rules.tag(key, "")
    skill = store.find_skill(session, organization, name)
    if skill is None or not store.delete_skill_tag(session, skill, key):
        raise _not_found(f"Tag '{key}' not found on Skill '{name}'")


def set_version_tag(session: Session, organization: str, name: str, version: int, key: Any, value: Any) -> None:
    organization, name = rules.identity(organization, name)
    number = rules.version_number(version)
    key, value = rules.tag(key, value)
    store.set_version_tag(session, _version(session, organization, name, number)[1], key, value)


def delete_version_tag(session: Session, organization: str, name: str, version: int, key: str) -> None:
    organization, name = rules.identity(organization, name)
    number = rules.version_number(version)
    rules.tag(key, "")
    _, found = _version(session, organization, name, number)
    if not store.delete_version_tag(session, found, key):
        raise _not_found(f"Tag '{key}' not found on Skill version '{name}' version '{number}'")


def set_alias(session: Session, organization: str, name: str, alias: Any, version: Any) -> None:
    organization, name = rules.identity(organization, name)
    number = rules.version_number(version)
    alias = rules.alias(alias)
    skill = store.find_skill(session, organization, name)
    found = store.find_version(session, skill, number) if skill is not None else None
    if skill is None or found is None:
        raise _not_found(f"Skill version '{name}' version '{number}' not found or is deleted")
    store.touch(session, skill)
    store.set_alias(session, skill, alias, number)


def delete_alias(session: Session, organization: str, name: str, alias: str) -> None:
    organization, name = rules.identity(organization, name)
    if isinstance(alias, str) and alias.lower() == "latest":
        raise rules.invalid("The 'latest' alias is resolved automatically and cannot be deleted")
    alias = rules.alias(alias)
    skill = store.find_skill(session, organization, name)
    row = store.find_alias(session, skill, alias) if skill is not None else None
    if row is None:
        raise _not_found(f"Alias '{alias}' not found on skill '{name}'")
    store.delete_alias(session, row)
