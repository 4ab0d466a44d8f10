"""The tables of MLflow 3's roles (basic-auth RBAC): a role is a named bundle of grants in one workspace, and users
are assigned roles.

Apart from `models.py` to keep each module readable; the tables share its `Base`, and `migrations/env.py` imports
this module too, so Alembic sees them. Foreign keys cascade: a role goes with its workspace, its grants and
assignments go with it, and a user's assignments go with the user.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.store.base import Base
from server.store.models import User  # noqa: F401  (the tables the foreign keys below point at)
from server.store.workspace_models import Workspace  # noqa: F401

ROLE_NAME_LENGTH = 255
RESOURCE_PATTERN_LENGTH = 256  # a registered model's name fits


class Role(Base):
    """A named set of grants, held in one workspace; names are unique within it (two teams may both have an
    `editors` role)."""

    __tablename__ = "roles"
    __table_args__ = (Index(None, "workspace", "name", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace: Mapped[str] = mapped_column(
        String(63), ForeignKey("workspaces.name", ondelete="CASCADE", onupdate="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(ROLE_NAME_LENGTH))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)


class RolePermission(Base):
    """One grant of a role: `permission` on the resources of `resource_type` that `resource_pattern` names (an id
    or name, or `*` for all of them in the role's workspace). At most one per (role, type, pattern)."""

    __tablename__ = "role_permissions"
    __table_args__ = (Index(None, "role_id", "resource_type", "resource_pattern", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_pattern: Mapped[str] = mapped_column(String(RESOURCE_PATTERN_LENGTH))
    permission: Mapped[str] = mapped_column(String(32))


class UserRoleAssignment(Base):
    """A user holding a role. The id is part of MLflow's answer (`UserRoleAssignment.to_json`)."""

    __tablename__ = "user_role_assignments"
    __table_args__ = (Index(None, "user_id", "role_id", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), index=True)
