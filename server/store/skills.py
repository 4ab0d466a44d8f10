"""Reads and writes of the Skill Registry: skills in the request's workspace, their versions, tags and aliases.

A skill's `status`, `latest_version` and `source_type` are its *resolved latest* version's, as MLflow derives them:
the newest active version, else the newest one that is not deleted. Searches page by offset, as MLflow's SQL store
does for the registry, with a token that remembers the filter and order it was issued for.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
from sqlalchemy import Select, and_, case, delete, exists, func, literal, not_, or_, select, update
from sqlalchemy.orm import Session, aliased

from server.errors import MlflowError
from server.store import scope
from server.store.search import _compare
from server.store.search_grammar import Comparison, OrderKey
from server.store.skill_models import Skill, SkillAlias, SkillTag, SkillVersion, SkillVersionTag
from server.store.unique_insert import add_unless_taken

ACTIVE, DRAFT, DEPRECATED, DELETED = "active", "draft", "deprecated", "deleted"


@dataclass(frozen=True, slots=True)
class SkillRow:
    """A skill with what MLflow shows beside it: its tags, its aliases and its resolved latest version."""

    skill: Skill
    latest_version: int | None
    status: str | None
    source_type: str | None
    tags: dict[str, str]
    aliases: dict[str, int]


@dataclass(frozen=True, slots=True)
class VersionRow:
    skill: Skill
    version: SkillVersion
    tags: dict[str, str]
    aliases: list[str]


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Any]
    next_page_token: str | None


# --- skills -------------------------------------------------------------------------------------------------------


def find_skill(session: Session, organization: str, name: str, *, for_update: bool = False) -> Skill | None:
    query = select(Skill).where(
        scope.in_workspace(Skill.workspace), Skill.organization == organization, Skill.name == name
    )
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def add_skill(session: Session, skill: Skill) -> bool:
    """Insert a new skill; False (and nothing added) when its name is taken in its workspace, also by a concurrent
    insert."""
    return add_unless_taken(session, skill)


def delete_skill(session: Session, skill: Skill) -> None:
    """The skill and everything of it (versions, tags, aliases go by their foreign keys' cascade)."""
    session.execute(delete(SkillAlias).where(SkillAlias.skill_id == skill.skill_id))
    session.execute(delete(SkillVersionTag).where(SkillVersionTag.skill_id == skill.skill_id))
    session.execute(delete(SkillTag).where(SkillTag.skill_id == skill.skill_id))
    session.execute(delete(SkillVersion).where(SkillVersion.skill_id == skill.skill_id))
    session.delete(skill)
    session.flush()


def _latest_version() -> Any:
    """The resolved latest version of the skill of the enclosing query, as a correlated scalar subquery."""
    active_first = case((SkillVersion.status == ACTIVE, 0), else_=1)
    return (
        select(SkillVersion.version)
        .where(SkillVersion.skill_id == Skill.skill_id, SkillVersion.status != DELETED)
        .order_by(active_first, SkillVersion.version.desc())
        .limit(1)
        .correlate(Skill)
        .scalar_subquery()
    )


_Resolved = aliased(SkillVersion, name="resolved")


def _skills_query() -> Select[Skill, int, str, str | None]:
    return select(Skill, _Resolved.version, _Resolved.status, _Resolved.source_type).outerjoin(
        _Resolved, and_(_Resolved.skill_id == Skill.skill_id, _Resolved.version == _latest_version())
    )


def _skill_rows(session: Session, rows: Sequence[Any]) -> list[SkillRow]:
    ids = [row[0].skill_id for row in rows]
    tags: dict[int, dict[str, str]] = {skill_id: {} for skill_id in ids}
    aliases: dict[int, dict[str, int]] = {skill_id: {} for skill_id in ids}
    if ids:
        for tag in session.scalars(select(SkillTag).where(SkillTag.skill_id.in_(ids)).order_by(SkillTag.key)):
            tags[tag.skill_id][tag.key] = tag.value
        query = select(SkillAlias).where(SkillAlias.skill_id.in_(ids)).order_by(SkillAlias.alias)
        for alias in session.scalars(query):
            aliases[alias.skill_id][alias.alias] = alias.version
    return [
        SkillRow(skill, version, status, source_type, tags[skill.skill_id], aliases[skill.skill_id])
        for skill, version, status, source_type in rows
    ]


def skill_row(session: Session, skill: Skill) -> SkillRow:
    session.flush()
    row = session.execute(_skills_query().where(Skill.skill_id == skill.skill_id)).one()
    return _skill_rows(session, [row])[0]


_SKILL_COLUMNS: dict[str, Any] = {
    "name": Skill.name,
    "organization": Skill.organization,
    "description": Skill.description,
    "search_text": case((Skill.description.is_(None), Skill.name), else_=Skill.name + literal(" ") + Skill.description),
    "status": _Resolved.status,
    "source_type": _Resolved.source_type,
    "created_at": Skill.creation_timestamp,
    "last_updated_at": Skill.last_updated_timestamp,
}


def search_skills(
    session: Session,
    filters: Sequence[Comparison],
    order: Sequence[OrderKey],
    *,
    identities: Sequence[tuple[str, str]] | None,
    excluded: Sequence[tuple[str, str]] = (),
    max_results: int,
    page_token: str | None,
    token_scope: str,
) -> Page:
    """One page of the workspace's skills; `identities`, when given, keeps only those (organization, name), and
    `excluded` leaves those out."""
    offset = decode_token(page_token, token_scope)
    query = _skills_query().where(scope.in_workspace(Skill.workspace))
    for comparison in filters:
        if comparison.kind == "tag":
            tagged = select(SkillTag.skill_id).where(
                SkillTag.skill_id == Skill.skill_id,
                SkillTag.key == comparison.key,
                _compare(SkillTag.value, comparison.op, comparison.value),
            )
            query = query.where(exists(tagged.correlate(Skill)))
        else:
            query = query.where(_compare(_SKILL_COLUMNS[comparison.key], comparison.op, comparison.value))
    if identities is not None:
        if not identities:
            return Page([], None)
        query = query.where(or_(*[and_(Skill.organization == org, Skill.name == name) for org, name in identities]))
    if excluded:
        query = query.where(not_(or_(*[and_(Skill.organization == org, Skill.name == name) for org, name in excluded])))
    ordering = [_ordered(_SKILL_COLUMNS[key.key], key.ascending) for key in order]
    query = query.order_by(*ordering, Skill.organization, Skill.name)
    rows = session.execute(query.offset(offset).limit(max_results + 1)).all()
    token = encode_token(offset + max_results, token_scope) if len(rows) > max_results else None
    return Page(_skill_rows(session, rows[:max_results]), token)


# --- versions -----------------------------------------------------------------------------------------------------


def find_version(session: Session, skill: Skill, version: int, *, include_deleted: bool = False) -> SkillVersion | None:
    found = session.get(SkillVersion, (skill.skill_id, version))
    if found is None or (found.status == DELETED and not include_deleted):
        return None
    return found


def version_sources(session: Session, skill: Skill) -> list[tuple[str | None, str | None, str | None]]:
    """(source_type, source, subpath) of every version of the skill, deleted ones included."""
    query = select(SkillVersion.source_type, SkillVersion.source, SkillVersion.subpath).where(
        SkillVersion.skill_id == skill.skill_id
    )
    return [(source_type, source, subpath) for source_type, source, subpath in session.execute(query)]


def next_version_number(session: Session, skill: Skill) -> int:
    """One past the highest number the skill has used (deleted versions keep theirs)."""
    highest = session.scalar(select(func.max(SkillVersion.version)).where(SkillVersion.skill_id == skill.skill_id))
    return (highest or 0) + 1


def resolved_latest(session: Session, skill: Skill) -> SkillVersion | None:
    active_first = case((SkillVersion.status == ACTIVE, 0), else_=1)
    query = (
        select(SkillVersion)
        .where(SkillVersion.skill_id == skill.skill_id, SkillVersion.status != DELETED)
        .order_by(active_first, SkillVersion.version.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def matching_version(session: Session, skill: Skill, fields: dict[str, str | None]) -> SkillVersion | None:
    """The newest live version registered from exactly this source (bulk registration reuses it)."""
    conditions = [
        getattr(SkillVersion, key).is_(None) if value is None else getattr(SkillVersion, key) == value
        for key, value in fields.items()
    ]
    query = (
        select(SkillVersion)
        .where(SkillVersion.skill_id == skill.skill_id, SkillVersion.status != DELETED, *conditions)
        .order_by(SkillVersion.version.desc())
    )
    return next((v for v in session.scalars(query) if all(getattr(v, k) == x for k, x in fields.items())), None)


def version_rows(session: Session, skill: Skill, versions: Sequence[SkillVersion]) -> list[VersionRow]:
    numbers = [version.version for version in versions]
    tags: dict[int, dict[str, str]] = {number: {} for number in numbers}
    aliases: dict[int, list[str]] = {number: [] for number in numbers}
    if numbers:
        tag_query = (
            select(SkillVersionTag)
            .where(SkillVersionTag.skill_id == skill.skill_id, SkillVersionTag.version.in_(numbers))
            .order_by(SkillVersionTag.key)
        )
        for tag in session.scalars(tag_query):
            tags[tag.version][tag.key] = tag.value
        alias_query = (
            select(SkillAlias)
            .where(SkillAlias.skill_id == skill.skill_id, SkillAlias.version.in_(numbers))
            .order_by(SkillAlias.alias)
        )
        for alias in session.scalars(alias_query):
            aliases[alias.version].append(alias.alias)
    return [VersionRow(skill, v, tags[v.version], aliases[v.version]) for v in versions]


def version_row(session: Session, skill: Skill, version: SkillVersion) -> VersionRow:
    session.flush()
    return version_rows(session, skill, [version])[0]


_VERSION_COLUMNS: dict[str, Any] = {
    "status": SkillVersion.status,
    "source_type": SkillVersion.source_type,
    "digest": SkillVersion.digest,
    "version": SkillVersion.version,
    "created_at": SkillVersion.creation_timestamp,
    "last_updated_at": SkillVersion.last_updated_timestamp,
}


def search_versions(
    session: Session,
    skill: Skill,
    filters: Sequence[Comparison],
    order: Sequence[OrderKey],
    *,
    max_results: int,
    page_token: str | None,
    token_scope: str,
) -> Page:
    """One page of the skill's versions that are not deleted, oldest first unless ordered otherwise."""
    offset = decode_token(page_token, token_scope)
    query = select(SkillVersion).where(SkillVersion.skill_id == skill.skill_id, SkillVersion.status != DELETED)
    for comparison in filters:
        if comparison.kind == "tag":
            tagged = select(SkillVersionTag.version).where(
                SkillVersionTag.skill_id == SkillVersion.skill_id,
                SkillVersionTag.version == SkillVersion.version,
                SkillVersionTag.key == comparison.key,
                _compare(SkillVersionTag.value, comparison.op, comparison.value),
            )
            query = query.where(exists(tagged.correlate(SkillVersion)))
        elif comparison.key == "organization":
            query = query.where(_compare(literal(skill.organization), comparison.op, comparison.value))
        else:
            query = query.where(_compare(_VERSION_COLUMNS[comparison.key], comparison.op, comparison.value))
    ordering = [_ordered(_VERSION_COLUMNS.get(key.key, literal(skill.organization)), key.ascending) for key in order]
    versions = list(
        session.scalars(query.order_by(*ordering, SkillVersion.version).offset(offset).limit(max_results + 1))
    )
    token = encode_token(offset + max_results, token_scope) if len(versions) > max_results else None
    return Page(version_rows(session, skill, versions[:max_results]), token)


def set_status(session: Session, version: SkillVersion, status: str, by: str | None, now: int) -> None:
    """Change a version's status; a deleted version loses its aliases."""
    version.status, version.last_updated_by, version.last_updated_timestamp = status, by, now
    if status == DELETED:
        session.execute(
            delete(SkillAlias).where(SkillAlias.skill_id == version.skill_id, SkillAlias.version == version.version)
        )
    session.flush()


def touch(session: Session, skill: Skill) -> None:
    """A no-op write on the skill's row: on SQLite it starts the write transaction before anything is read, and on
    PostgreSQL it holds the row against a concurrent delete, so version numbers are handed out one at a time."""
    session.execute(
        update(Skill)
        .where(Skill.skill_id == skill.skill_id)
        .values(last_updated_timestamp=Skill.last_updated_timestamp)
    )


# --- tags and aliases ---------------------------------------------------------------------------------------------


def set_skill_tag(session: Session, skill: Skill, key: str, value: str) -> None:
    tag = session.get(SkillTag, (skill.skill_id, key))
    if tag is None:
        session.add(SkillTag(skill_id=skill.skill_id, key=key, value=value))
    else:
        tag.value = value
    session.flush()


def delete_skill_tag(session: Session, skill: Skill, key: str) -> bool:
    deleted = session.execute(delete(SkillTag).where(SkillTag.skill_id == skill.skill_id, SkillTag.key == key))
    return bool(cast(Any, deleted).rowcount)


def set_version_tag(session: Session, version: SkillVersion, key: str, value: str) -> None:
    tag = session.get(SkillVersionTag, (version.skill_id, version.version, key))
    if tag is None:
        session.add(SkillVersionTag(skill_id=version.skill_id, version=version.version, key=key, value=value))
    else:
        tag.value = value
    session.flush()


def delete_version_tag(session: Session, version: SkillVersion, key: str) -> bool:
    deleted = session.execute(
        delete(SkillVersionTag).where(
            SkillVersionTag.skill_id == version.skill_id,
            SkillVersionTag.version == version.version,
            SkillVersionTag.key == key,
        )
    )
    return bool(cast(Any, deleted).rowcount)


def find_alias(session: Session, skill: Skill, alias: str) -> SkillAlias | None:
    return session.get(SkillAlias, (skill.skill_id, alias))


def set_alias(session: Session, skill: Skill, alias: str, version: int) -> None:
    row = find_alias(session, skill, alias)
    if row is None:
        session.add(SkillAlias(skill_id=skill.skill_id, alias=alias, version=version))
    else:
        row.version = version
    session.flush()


def delete_alias(session: Session, row: SkillAlias) -> None:
    session.delete(row)
    session.flush()


# --- comparisons and page tokens ----------------------------------------------------------------------------------


def _ordered(column: Any, ascending: bool) -> Any:
    return column.asc() if ascending else column.desc()


def encode_token(offset: int, token_scope: str) -> str:
    return base64.b64encode(orjson.dumps({"offset": offset, "query_scope": token_scope})).decode()


def decode_token(token: str | None, token_scope: str) -> int:
    """The offset a token of this search (same workspace, skill, filter and order) stands for."""
    if not token:
        return 0
    try:
        payload = orjson.loads(base64.b64decode(token, validate=True))
    except (binascii.Error, ValueError):
        raise MlflowError.invalid_parameter("Invalid page token: could not decode.") from None
    if not isinstance(payload, dict) or "offset" not in payload or "query_scope" not in payload:
        raise MlflowError.invalid_parameter("Invalid page token: missing or malformed fields.")
    offset = payload["offset"]
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise MlflowError.invalid_parameter("Invalid page token: offset must be a non-negative integer.")
    if payload["query_scope"] != token_scope:
        raise MlflowError.invalid_parameter(
            "Page token was issued for a different query and cannot be used with the current request."
        )
    return int(offset)


# --- how grants name a skill ---------------------------------------------------------------------------------------

GRANT_TYPE = "skill"  # the resource type of role grants on skills


def grant_key(organization: str, name: str) -> str:
    """A skill as a grant's `resource_pattern` names it: `name`, or `@organization/name` (MLflow's format)."""
    return f"@{organization}/{name}" if organization else name


def parse_grant_key(key: str) -> tuple[str, str] | None:
    """(organization, name) of a grant key; None when it is neither `name` nor `@organization/name`."""
    if key.startswith("@"):
        organization, separator, name = key[1:].partition("/")
        return (organization, name) if separator and organization and name and "/" not in name else None
    return ("", key) if key and "/" not in key else None
