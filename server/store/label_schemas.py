"""SQL for label schemas: found by id or by (experiment, name), listed newest first."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.store import scope
from server.store.genai_models import LabelSchema
from server.store.unique_insert import add_unless_taken


def find(session: Session, schema_id: str) -> LabelSchema | None:
    schema = session.get(LabelSchema, schema_id)
    return None if schema is None or scope.hides(session, schema.experiment_id) else schema


def find_by_name(session: Session, experiment_id: int, name: str) -> LabelSchema | None:
    query = select(LabelSchema).where(LabelSchema.experiment_id == experiment_id, LabelSchema.name == name)
    return session.scalars(query).one_or_none()


def has_default(session: Session, experiment_id: int) -> bool:
    query = select(LabelSchema.schema_id).where(
        LabelSchema.experiment_id == experiment_id, LabelSchema.is_default.is_(True)
    )
    return session.scalars(query.limit(1)).first() is not None


def insert(session: Session, schema: LabelSchema) -> bool:
    """Add the schema; False (and nothing added) when its name was taken in the experiment meanwhile."""
    return add_unless_taken(session, schema)


def rename(session: Session, schema: LabelSchema, name: str) -> bool:
    """Rename the schema; False (and not renamed) when another schema of the experiment took the name meanwhile."""
    try:
        with session.begin_nested():
            schema.name = name
            session.flush()
    except IntegrityError:
        return False
    return True


def list_page(session: Session, experiment_id: int, *, offset: int, limit: int) -> list[LabelSchema]:
    """Newest first, as MLflow lists them; the id breaks ties so that pages never overlap."""
    query = (
        select(LabelSchema)
        .where(LabelSchema.experiment_id == experiment_id)
        .order_by(LabelSchema.created_time.desc(), LabelSchema.schema_id)
        .offset(offset)
        .limit(limit)
    )
    return list(session.scalars(query))


def existing_ids(session: Session, experiment_id: int, schema_ids: list[str]) -> set[str]:
    """Those of `schema_ids` that are schemas of the experiment."""
    if not schema_ids:
        return set()
    query = select(LabelSchema.schema_id).where(
        LabelSchema.experiment_id == experiment_id, LabelSchema.schema_id.in_(schema_ids)
    )
    return set(session.scalars(query))


def delete(session: Session, schema: LabelSchema) -> None:
    session.delete(schema)
    session.flush()
