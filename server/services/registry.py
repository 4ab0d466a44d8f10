"""Registry validation rules (names, tags, aliases, versions, stages), worded as MLflow words them.

Behaviour follows `mlflow/utils/validation.py` and `model_version_stages.py` (MLflow 3.17); where MLflow lets a
bad value through to the database (over-long names, descriptions) we refuse it with a 400 instead.
"""

from __future__ import annotations

import re

from server.errors import MlflowError
from server.services import validation

MAX_MODEL_NAME_LENGTH = 256
MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 100_000
MAX_ALIAS_LENGTH = 255
MAX_DESCRIPTION_LENGTH = 100_000
MAX_SOURCE_LENGTH = 10_000
PROMPT_TEXT_TAG = "mlflow.prompt.text"
STAGES = ("None", "Staging", "Production", "Archived")
ACTIVE_STAGES = ("Staging", "Production")

_MAX_VERSION = 2**31 - 1
_ALIAS = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")


def validate_model_name(name: str, field: str = "name") -> str:
    if not name.strip():
        raise MlflowError.invalid_parameter(f"Missing value for required parameter '{field}'.")
    if "/" in name or ":" in name:
        raise MlflowError.invalid_parameter(f"Invalid model name '{name}'. Names cannot contain '/' or ':'.")
    validation.validate_path_unique(name, field)
    return validation.limit_length(field, MAX_MODEL_NAME_LENGTH, name)


def validate_tag(key: str, value: str) -> None:
    validation.validate_entity_key(key, "key")
    if key == PROMPT_TEXT_TAG and len(value) > MAX_TAG_VALUE_LENGTH:
        raise MlflowError.invalid_parameter(f"Prompt text exceeds max length of {MAX_TAG_VALUE_LENGTH} characters.")
    validation.limit_length("value", MAX_TAG_VALUE_LENGTH, value)


def validate_tags(tags: dict[str, str]) -> dict[str, str]:
    for key, value in tags.items():
        validate_tag(key, value)
    return tags


def validate_description(description: str | None) -> str | None:
    if description is not None:
        validation.limit_length("description", MAX_DESCRIPTION_LENGTH, description)
    return description


def parse_version(version: str) -> int:
    """A version number as stored: a 32-bit integer (larger numbers cannot name a version)."""
    try:
        number = int(version)
    except ValueError:
        number = None
    if number is None or abs(number) > _MAX_VERSION:
        raise MlflowError.invalid_parameter(f"Parameter 'version' must be an integer, got '{version}'.")
    return number


def validate_alias(alias: str) -> str:
    if not alias:
        raise MlflowError.invalid_parameter("Registered model alias name cannot be empty.")
    if not _ALIAS.match(alias):
        raise MlflowError.invalid_parameter(
            f"Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores (_), and dashes (-)."
        )
    return validation.limit_length("Registered model alias name", MAX_ALIAS_LENGTH, alias)


def validate_new_alias(alias: str) -> str:
    """Aliases a client may set: `latest` and `v<n>` would shadow `models:/name/latest` and version URIs."""
    validate_alias(alias)
    if alias.lower() == "latest":
        raise MlflowError.invalid_parameter("'latest' alias name (case insensitive) is reserved.")
    if _VERSION_ALIAS.match(alias):
        raise MlflowError.invalid_parameter(f"Version alias name '{alias}' is reserved.")
    return alias


def canonical_stage(stage: str) -> str:
    for known in STAGES:
        if known.lower() == stage.lower():
            return known
    raise MlflowError.invalid_parameter(
        f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(STAGES)}."
    )
