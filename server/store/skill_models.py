"""The Skill Registry tables (MLflow 3.18): skills named by (organization, name) within a workspace, their numbered
versions pointing at where a skill's files live, and the tags and aliases of both.

A skill has a surrogate integer key so that its versions, tags and aliases carry one column instead of the three
that name it; a version is never removed by the API (deleting one marks it `deleted`), only with its skill.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, ForeignKeyConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.store.base import Base
from server.store.workspace_models import workspace_column

SOURCE_MAX_LENGTH = 2048
DIGEST_LENGTH = 64


class Skill(Base):
    """A skill: what the registry lists. Its status, latest version and source type are derived from its versions."""

    __tablename__ = "skills"
    __table_args__ = (Index(None, "workspace", "organization", "name", unique=True),)

    skill_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace: Mapped[str] = workspace_column(deleted_with_it=True)
    organization: Mapped[str] = mapped_column(String(64))  # "" for a skill outside any organization
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text)
    icons: Mapped[str | None] = mapped_column(Text)  # a JSON list of icon objects, as the client sent them
    created_by: Mapped[str | None] = mapped_column(String(256))
    last_updated_by: Mapped[str | None] = mapped_column(String(256))
    creation_timestamp: Mapped[int] = mapped_column(BigInteger)
    last_updated_timestamp: Mapped[int] = mapped_column(BigInteger)


class SkillVersion(Base):
    """One registration of a skill: where its files are (a git, OCI or zip source) and its lifecycle status."""

    __tablename__ = "skill_versions"
    __table_args__ = (Index(None, "skill_id", "status", "version"),)

    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.skill_id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_type: Mapped[str | None] = mapped_column(String(20))
    source: Mapped[str | None] = mapped_column(String(SOURCE_MAX_LENGTH))
    ref: Mapped[str | None] = mapped_column(String(SOURCE_MAX_LENGTH))
    subpath: Mapped[str | None] = mapped_column(String(SOURCE_MAX_LENGTH))
    digest: Mapped[str | None] = mapped_column(String(DIGEST_LENGTH))
    status: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str | None] = mapped_column(String(256))
    last_updated_by: Mapped[str | None] = mapped_column(String(256))
    creation_timestamp: Mapped[int] = mapped_column(BigInteger)
    last_updated_timestamp: Mapped[int] = mapped_column(BigInteger)


class SkillTag(Base):
    __tablename__ = "skill_tags"

    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.skill_id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class SkillVersionTag(Base):
    __tablename__ = "skill_version_tags"
    __table_args__ = (
        ForeignKeyConstraint(
            ["skill_id", "version"], ["skill_versions.skill_id", "skill_versions.version"], ondelete="CASCADE"
        ),
    )

    skill_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class SkillAlias(Base):
    """A name for one version of a skill; it goes when that version is deleted."""

    __tablename__ = "skill_aliases"
    __table_args__ = (
        ForeignKeyConstraint(
            ["skill_id", "version"], ["skill_versions.skill_id", "skill_versions.version"], ondelete="CASCADE"
        ),
    )

    skill_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alias: Mapped[str] = mapped_column(String(256), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
