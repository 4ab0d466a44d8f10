"""Rules for reading, creating and changing experiments: names, tags, locations and the delete/restore lifecycle."""

from __future__ import annotations

import os
from collections.abc import Sequence
from urllib.parse import urlparse

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from server.config import Settings
from server.errors import MlflowError
from server.services import validation
from server.store import experiments as store
from server.store import scope, search
from server.store import workspaces as workspace_store
from server.store.models import Experiment
from server.store.search import Page

DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_NAME = "Default"
# MLflow's ViewType, by name and proto number: which lifecycle stages a search of experiments or runs covers.
VIEW_TYPES = {"ACTIVE_ONLY": 1, "DELETED_ONLY": 2, "ALL": 3}


def artifact_root(settings: Settings) -> str:
    """The root new experiments live under; a local folder becomes an absolute path, as in MLflow."""
    root = settings.effective_artifact_root
    if urlparse(root).scheme in ("", "file") and not root.startswith("file:"):
        return os.path.abspath(root)
    return root


def validate_artifact_location(location: str | None) -> str | None:
    if location is None or location == "":
        return None
    validation.limit_length("artifact_location", validation.MAX_ARTIFACT_LOCATION_LENGTH, location)
    parsed = urlparse(location)
    if parsed.fragment or parsed.params or parsed.query:
        raise MlflowError.invalid_parameter(
            f"'artifact_location' URL can't include fragments, params or queries: {location!r}"
        )
    if ".." in parsed.path.replace("\\", "/").split("/") or "\x00" in location:
        raise MlflowError.invalid_parameter(f"Invalid 'artifact_location': {location!r} may not contain '..'")
    if parsed.scheme == "mlflow-artifacts" and parsed.netloc:
        raise MlflowError.invalid_parameter(
            f"Invalid 'artifact_location': {location!r} names another host; use mlflow-artifacts:/<path>"
        )
    if parsed.scheme in ("", "file") and not location.startswith("file:"):
        return os.path.abspath(location)
    return location


def create_experiment(
    session: Session, settings: Settings, *, name: str | None, artifact_location: str | None, tags: dict[str, str]
) -> Experiment:
    name = validation.validate_experiment_name(name)
    for key, value in tags.items():
        validate_experiment_tag(key, value)
    workspace = scope.current()
    if workspace is not None and artifact_location:
        raise MlflowError.invalid_parameter("artifact_location cannot be specified when workspaces are enabled")
    experiment = store.insert_experiment(
        session,
        name=name,
        artifact_location=validate_artifact_location(artifact_location),
        root=artifact_root(settings)
        if workspace is None
        else workspace_store.artifact_root(session, workspace, artifact_root(settings)),
    )
    store.set_experiment_tags(session, experiment, tags)
    return experiment


def validate_experiment_tag(key: str, value: str) -> None:
    validation.validate_entity_key(key, "key")
    validation.limit_length("key", validation.MAX_EXPERIMENT_TAG_KEY_LENGTH, key)
    validation.limit_length("value", validation.MAX_EXPERIMENT_TAG_VAL_LENGTH, value)


def ensure_default_experiment(session: Session, settings: Settings) -> None:
    """A fresh database has experiment "0" named "Default", like MLflow's."""
    if session.get(Experiment, DEFAULT_EXPERIMENT_ID) is None:
        store.insert_experiment(
            session,
            name=DEFAULT_EXPERIMENT_NAME,
            artifact_location=None,
            root=artifact_root(settings),
            experiment_id=DEFAULT_EXPERIMENT_ID,
        )


def existing_experiment(session: Session, experiment_id: int) -> Experiment:
    """The experiment in any lifecycle stage; a rename looks it up before reading the new name."""
    return store.get_experiment(session, experiment_id)


def active_experiment(session: Session, experiment_id: int) -> Experiment:
    """The experiment, refused unless active: a deleted experiment's tags are not changed."""
    return store.get_active_experiment(session, experiment_id)


def get_experiment(session: Session, experiment_id: int) -> tuple[Experiment, dict[str, str]]:
    """The experiment and its tags: everything an `Experiment` message shows."""
    return _with_tags(session, store.get_experiment(session, experiment_id))


def get_experiment_by_name(session: Session, name: str) -> tuple[Experiment, dict[str, str]]:
    return _with_tags(session, store.get_experiment_by_name(session, name))


def _with_tags(session: Session, experiment: Experiment) -> tuple[Experiment, dict[str, str]]:
    return experiment, store.experiment_tags(session, [experiment.experiment_id])[experiment.experiment_id]


def check_page_size(max_results: int) -> int:
    """A search page holds 1 to 50,000 experiments; checked before the rest of the request is read."""
    if max_results <= 0 or max_results > validation.MAX_EXPERIMENTS_PER_PAGE:
        raise validation.invalid_max_results(max_results, validation.MAX_EXPERIMENTS_PER_PAGE)
    return max_results


def search_experiments(
    session: Session,
    *,
    filter_string: str | None,
    order_by: Sequence[str],
    view_type: str,
    max_results: int,
    page_token: str | None,
    visible: ColumnElement[bool] | None,
) -> tuple[Page[Experiment], dict[int, dict[str, str]]]:
    """One page of experiments (of a size `check_page_size` accepted) and the tags of each, read in one query.
    `visible` is the caller's read filter, applied in SQL so pages stay full."""
    page = search.search_experiments(
        session,
        filter_string=filter_string,
        order_by=order_by,
        view_type=view_type,
        max_results=max_results,
        page_token=page_token,
        visible=visible,
    )
    return page, store.experiment_tags(session, [e.experiment_id for e in page.items])


def rename_experiment(session: Session, experiment: Experiment, new_name: str) -> None:
    store.rename_experiment(session, experiment, validation.validate_experiment_name(new_name))


def delete_experiment(session: Session, experiment_id: int) -> None:
    """Deletes the experiment and all of its runs; only an active experiment can be deleted."""
    _move(session, experiment_id, from_stage=store.ACTIVE, to_stage=store.DELETED)


def restore_experiment(session: Session, experiment_id: int) -> None:
    """Restores the experiment and all of its runs; only a deleted experiment can be restored."""
    _move(session, experiment_id, from_stage=store.DELETED, to_stage=store.ACTIVE)


def _move(session: Session, experiment_id: int, *, from_stage: str, to_stage: str) -> None:
    experiment = store.get_experiment(session, experiment_id)
    if experiment.lifecycle_stage != from_stage:
        raise MlflowError.not_found(
            f"Cannot {'delete' if to_stage == store.DELETED else 'restore'} experiment {experiment_id}: "
            f"it is {experiment.lifecycle_stage}."
        )
    store.set_lifecycle(session, experiment, to_stage)


def set_experiment_tag(session: Session, experiment: Experiment, key: str, value: str) -> None:
    validate_experiment_tag(key, value)
    store.set_experiment_tags(session, experiment, {key: value})


def delete_experiment_tag(session: Session, experiment: Experiment, key: str) -> None:
    store.delete_experiment_tag(session, experiment, key)
