"""The workspaces table (`--enable-workspaces`): the namespace experiments, registered models, evaluation datasets
and webhooks belong to. Kept apart from the tables that point at it, so each model module stays one subject."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.store.base import Base

DEFAULT_WORKSPACE = "default"


class Workspace(Base):
    """A team's namespace (`--enable-workspaces`): experiments, registered models (prompts among them), webhooks
    and what hangs off them belong to exactly one. `default` always exists; every row made while workspaces were
    off belongs to it."""

    __tablename__ = "workspaces"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    default_artifact_root: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    trace_archival_location: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    trace_archival_retention: Mapped[str | None] = mapped_column(String(64), nullable=True)


def workspace_column(*, primary_key: bool = False, deleted_with_it: bool = False) -> Mapped[str]:
    """The `workspace` of a table whose rows belong to one: `default` unless set, following a rename. A row that
    means nothing outside its workspace (`deleted_with_it`) goes when the workspace does."""
    return mapped_column(
        String(63),
        ForeignKey("workspaces.name", onupdate="CASCADE", ondelete="CASCADE" if deleted_with_it else None),
        primary_key=primary_key,
        default=DEFAULT_WORKSPACE,
        server_default=DEFAULT_WORKSPACE,
    )
