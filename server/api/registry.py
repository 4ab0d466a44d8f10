"""What the registry RPCs share: reading the version a request names, and rendering models and versions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from server.api import convert
from server.api.wire import Fields
from server.services import registry_reads as reads
from server.store.models import ModelVersion, RegisteredModel


def version_of(fields: Fields, session: Session) -> tuple[RegisteredModel, ModelVersion]:
    """The version named by the request's `name` and `version` (artifact downloads by model version use it too)."""
    return reads.get_version(session, fields.required_string("name"), fields.required_string("version"))


def versions_json(versions: Sequence[reads.VersionView]) -> list[dict[str, Any]]:
    return [convert.model_version_json(v.row, name=v.name, tags=v.tags, aliases=v.aliases) for v in versions]


def version_json(version: reads.VersionView) -> dict[str, Any]:
    return {"model_version": versions_json([version])[0]}


def models_json(models: Sequence[reads.ModelView]) -> list[dict[str, Any]]:
    return [
        convert.registered_model_json(
            m.model, tags=m.tags, aliases=m.aliases, latest_versions=versions_json(m.latest_versions)
        )
        for m in models
    ]


def model_json(model: reads.ModelView) -> dict[str, Any]:
    return {"registered_model": models_json([model])[0]}
