"""Rules for creating and changing experiments."""

from __future__ import annotations

import os
from urllib.parse import urlparse

from sqlalchemy.orm import Session

from server.config import Settings
from server.errors import MlflowError
from server.services import validation
from server.store import experiments as store
from server.store.models import Experiment

DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_NAME = "Default"


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
    experiment = store.insert_experiment(
        session,
        name=name,
        artifact_location=validate_artifact_location(artifact_location),
        root=artifact_root(settings),
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
