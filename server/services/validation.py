"""MLflow's validation rules and limits, worded as MLflow words them (scripts and MLflow's tests match on the text).

Behaviour follows `mlflow/utils/validation.py`; values over the param/tag limits are truncated, as MLflow does by
default (`MLFLOW_TRUNCATE_LONG_VALUES`), everything else over a limit is refused.
"""

from __future__ import annotations

import json
import posixpath
import re
from functools import lru_cache
from typing import Any

from server.errors import MlflowError

# The sentence MLflow ends some request errors with (the wire format's own errors carry it too).
API_DOCS_HINT = "See the API docs for more information about request parameters."

MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_ENTITIES_PER_BATCH = 1000
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_KEY_LENGTH = 250
MAX_EXPERIMENT_TAG_VAL_LENGTH = 20000
MAX_ENTITY_KEY_LENGTH = 250
MAX_ARTIFACT_LOCATION_LENGTH = 2048
MAX_DATASET_NAME_SIZE = 500
MAX_DATASET_DIGEST_SIZE = 36
MAX_DATASET_SOURCE_SIZE = 65535
MAX_DATASET_SCHEMA_SIZE = 1048575
MAX_DATASET_PROFILE_SIZE = 16777215
MAX_INPUT_TAG_KEY_SIZE = 255
MAX_INPUT_TAG_VALUE_SIZE = 500
MAX_DATASETS_PER_BATCH = 1000
MAX_FLOAT = 1.7976931348623157e308

_NAME_RE = re.compile(r"^[/\w.\- :]*$")
_RUN_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_BAD_CHARACTERS = (
    "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and "
    "slashes (/)."
)


def invalid_value(path: str, value: Any, message: str | None = None) -> str:
    shown = json.dumps(value, sort_keys=True, separators=(",", ":"))
    if message:
        return f"Invalid value {shown} for parameter '{path}' supplied: {message}"
    return f"Invalid value {shown} for parameter '{path}' supplied."


def _bad_path_message(name: str) -> str:
    return (
        "Names may be treated as files in certain cases, and must not resolve to other names when treated as such. "
        f"This name would resolve to {posixpath.normpath(name)!r}"
    )


def _path_not_unique(name: str) -> bool:
    norm = posixpath.normpath(name)
    return norm != name or norm == "." or norm.startswith("..") or norm.startswith("/")


def validate_path_unique(name: str, path: str) -> None:
    """A name that path normalisation would change (`a//b`, `./a`, `a/`) could later alias another name."""
    if _path_not_unique(name):
        raise MlflowError.invalid_parameter(invalid_value(path, name, _bad_path_message(name)))


def validate_entity_key(name: str | None, path: str = "key", *, what: str = "Param") -> str:
    if name is not None and is_valid_key(name):
        return name
    return _check_entity_key(name, path, what)


@lru_cache(maxsize=4096)
def is_valid_key(name: str) -> bool:
    """Keys repeat across a batch and across calls, so the verdict on a well-formed key is remembered."""
    return bool(_NAME_RE.match(name)) and not _path_not_unique(name) and len(name) <= MAX_ENTITY_KEY_LENGTH


def _check_entity_key(name: str | None, path: str, what: str) -> str:
    """Metric, param and tag keys: a safe character set, unchanged by path normalisation, at most 250 chars."""
    if name is None:
        raise MlflowError.invalid_parameter(f"Missing value for required parameter '{path}'.")
    if not _NAME_RE.match(name):
        raise MlflowError.invalid_parameter(invalid_value(path, name, _BAD_CHARACTERS))
    if _path_not_unique(name):
        raise MlflowError.invalid_parameter(invalid_value(path, name, _bad_path_message(name)))
    return limit_length(f"{what} name" if what == "Metric" else path, MAX_ENTITY_KEY_LENGTH, name)


def limit_length(what: str, limit: int, value: str, *, truncate: bool = False) -> str:
    if len(value) <= limit:
        return value
    if truncate:
        return value[:limit]
    raise MlflowError.invalid_parameter(f"'{what}' exceeds the maximum length of {limit} characters")


def param_value(value: str) -> str:
    return limit_length("Param value", MAX_PARAM_VAL_LENGTH, value, truncate=True)


def tag_value(value: str) -> str:
    return limit_length("value", MAX_TAG_VAL_LENGTH, value, truncate=True)


def validate_run_id(run_id: str, path: str = "run_id") -> None:
    if not _RUN_ID_RE.match(run_id):
        raise MlflowError.invalid_parameter(invalid_value(path, run_id))


def parse_experiment_id(experiment_id: str | int | None) -> int:
    try:
        return int(experiment_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise MlflowError.invalid_parameter(
            f"Invalid experiment ID '{experiment_id}'. Experiment ID must be a valid integer."
        ) from None


def validate_experiment_name(name: str | None) -> str:
    if not name or not name.strip():
        raise MlflowError.invalid_parameter(f"Invalid experiment name: '{name or ''}'")
    return limit_length("name", MAX_EXPERIMENT_NAME_LENGTH, name)


def validate_batch_limits(n_metrics: int, n_params: int, n_tags: int) -> None:
    for entity, limit, count in (
        ("metrics", MAX_METRICS_PER_BATCH, n_metrics),
        ("params", MAX_PARAMS_TAGS_PER_BATCH, n_params),
        ("tags", MAX_PARAMS_TAGS_PER_BATCH, n_tags),
        ("metrics, params, and tags", MAX_ENTITIES_PER_BATCH, n_metrics + n_params + n_tags),
    ):
        if count > limit:
            raise MlflowError.invalid_parameter(
                f"A batch logging request can contain at most {limit} {entity}. Got {count} {entity}. "
                f"Please split up {entity} across multiple requests and try again."
            )


def clamp_metric_value(value: float) -> float:
    """±inf is stored as ±max double, as MLflow's SQL store does; NaN is handled by the caller's is_nan flag."""
    if value == float("inf"):
        return MAX_FLOAT
    if value == float("-inf"):
        return -MAX_FLOAT
    return value


MAX_EXPERIMENTS_PER_PAGE = 50000
MAX_RUNS_PER_PAGE = 50000


def invalid_max_results(value: int, limit: int) -> MlflowError:
    return MlflowError.invalid_parameter(
        f"Invalid value {value} for parameter 'max_results' supplied. It must be a positive integer and at most {limit}"
    )
