"""Queries on registered models, their tags and their aliases.

Everything below a registered model is keyed by its surrogate id, so callers look a model up by name once (in the
request's workspace) and pass the row on; a rename is one UPDATE and a delete cascades through versions, tags and
aliases in the database.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.clock import now_ms
from server.errors import MlflowError
from server.store import scope
from server.store.dialect import upsert
from server.store.models import RegisteredModel, RegisteredModelAlias, RegisteredModelTag

PROMPT_TAG = "mlflow.prompt.is_prompt"


def find_registered_model(session: Session, name: str) -> RegisteredModel | None:
    """Names are unique per workspace; without workspaces, every model is in `default`. A model of another
    workspace is not found, so it reads exactly as one that does not exist."""
    query = select(RegisteredModel).where(
        RegisteredModel.workspace == scope.current_or_default(), RegisteredModel.name == name
    )
    return session.scalars(query).first()


def get_registered_model(session: Session, name: str) -> RegisteredModel:
    model = find_registered_model(session, name)
    if model is None:
        raise MlflowError.not_found(f"Registered Model with name={name} not found")
    return model


def already_exists(session: Session, name: str, *, new_is_prompt: bool) -> MlflowError:
    """MLflow's wording (`handle_resource_already_exist_error`): a prompt and a model may not share a name."""
    existing = find_registered_model(session, name)
    old_is_prompt = existing is not None and model_tags(session, [existing.id])[existing.id].get(PROMPT_TAG) == "true"
    old, new = ("Prompt" if p else "Registered Model" for p in (old_is_prompt, new_is_prompt))
    if old != new:
        return MlflowError.already_exists(
            f"Tried to create a {new.lower()} with name {name!r}, but the name is already taken by a "
            f"{old.lower()}. MLflow does not allow creating a model and a prompt with the same name."
        )
    return MlflowError.already_exists(f"{new} (name={name}) already exists.")


def insert_registered_model(
    session: Session, *, name: str, description: str | None, tags: dict[str, str]
) -> RegisteredModel:
    now = now_ms()
    model = RegisteredModel(
        workspace=scope.current_or_default(),
        name=name,
        description=description,
        creation_timestamp=now,
        last_updated_timestamp=now,
        last_version=0,
    )
    try:
        with session.begin_nested():  # a concurrent create of the same name fails here, not at commit
            session.add(model)  # added inside the savepoint, so a failed insert leaves nothing pending
            session.flush()
    except IntegrityError:
        raise already_exists(session, name, new_is_prompt=tags.get(PROMPT_TAG) == "true") from None
    set_model_tags(session, model, tags)
    return model


def rename_registered_model(session: Session, model: RegisteredModel, new_name: str) -> None:
    clash = find_registered_model(session, new_name)
    if clash is not None and clash.id != model.id:
        raise MlflowError.already_exists(f"Registered Model (name={new_name}) already exists.")
    model.name = new_name
    model.last_updated_timestamp = now_ms()
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise MlflowError.already_exists(f"Registered Model (name={new_name}) already exists.") from None


def delete_registered_model(session: Session, model: RegisteredModel) -> None:
    """Versions, tags and aliases go with it (foreign keys); artifacts are never touched."""
    session.delete(model)
    session.flush()


def touch(model: RegisteredModel, when: int | None = None) -> None:
    model.last_updated_timestamp = when or now_ms()


def model_tags(session: Session, model_pks: Sequence[int]) -> dict[int, dict[str, str]]:
    tags: dict[int, dict[str, str]] = {pk: {} for pk in model_pks}
    if model_pks:
        rows = session.execute(
            select(RegisteredModelTag.model_pk, RegisteredModelTag.key, RegisteredModelTag.value).where(
                RegisteredModelTag.model_pk.in_(model_pks)
            )
        )
        for pk, key, value in rows:
            tags[pk][key] = value
    return tags


def set_model_tags(session: Session, model: RegisteredModel, tags: dict[str, str]) -> None:
    rows = [{"model_pk": model.id, "key": k, "value": v} for k, v in tags.items()]
    upsert(session, RegisteredModelTag, rows, update=["value"])


def delete_model_tag(session: Session, model: RegisteredModel, key: str) -> None:
    """A missing tag is not an error, as in MLflow."""
    session.execute(
        delete(RegisteredModelTag).where(RegisteredModelTag.model_pk == model.id, RegisteredModelTag.key == key)
    )


def model_aliases(session: Session, model_pks: Sequence[int]) -> dict[int, dict[str, int]]:
    """alias → version, per model, in alias order."""
    aliases: dict[int, dict[str, int]] = {pk: {} for pk in model_pks}
    if model_pks:
        rows = session.execute(
            select(RegisteredModelAlias.model_pk, RegisteredModelAlias.alias, RegisteredModelAlias.version)
            .where(RegisteredModelAlias.model_pk.in_(model_pks))
            .order_by(RegisteredModelAlias.alias)
        )
        for pk, alias, version in rows:
            aliases[pk][alias] = version
    return aliases


def set_alias(session: Session, model: RegisteredModel, alias: str, version: int) -> None:
    """Setting an existing alias moves it to the new version."""
    row = {"model_pk": model.id, "alias": alias, "version": version}
    upsert(session, RegisteredModelAlias, [row], update=["version"])


def delete_alias(session: Session, model: RegisteredModel, alias: str) -> None:
    session.execute(
        delete(RegisteredModelAlias).where(
            RegisteredModelAlias.model_pk == model.id, RegisteredModelAlias.alias == alias
        )
    )


def aliased_version(session: Session, model: RegisteredModel, alias: str) -> int:
    version = session.scalar(
        select(RegisteredModelAlias.version).where(
            RegisteredModelAlias.model_pk == model.id, RegisteredModelAlias.alias == alias
        )
    )
    if version is None:  # a 400, not a 404: MLflow's SQL store raises INVALID_PARAMETER_VALUE here
        raise MlflowError.invalid_parameter(f"Registered model alias {alias} not found.")
    return version
