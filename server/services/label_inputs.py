"""The input widget a label schema shows reviewers: pass/fail, a choice among options, a number or free text, with
MLflow's checks and wording (`mlflow/genai/label_schemas/validation.py`) and the JSON form it is stored in (the
`input_type` and `input_config` columns MLflow's SQL store uses).

A schema's kind of input, and a categorical input's `multi_select`, are fixed once it exists: changing either would
make the answers already collected under it unreadable. Within a kind (the option list, the bounds) it may change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from server.errors import MlflowError

PASS_FAIL_LABEL_MAX_LENGTH = 64
CATEGORICAL_MAX_OPTIONS = 10
CATEGORICAL_OPTION_MAX_LENGTH = 64


@dataclass(frozen=True, slots=True)
class PassFail:
    positive_label: str
    negative_label: str


@dataclass(frozen=True, slots=True)
class Categorical:
    options: tuple[str, ...]
    multi_select: bool = False


@dataclass(frozen=True, slots=True)
class Numeric:
    min_value: float | None = None
    max_value: float | None = None


@dataclass(frozen=True, slots=True)
class Text:
    max_length: int | None = None


Input = PassFail | Categorical | Numeric | Text

# The stored discriminator (and the key of the oneof on the wire) of each kind, and the class name MLflow's
# messages call it by.
KIND: dict[type[Input], str] = {PassFail: "pass_fail", Categorical: "categorical", Numeric: "numeric", Text: "text"}
CLASS_NAME: dict[type[Input], str] = {
    PassFail: "InputPassFail",
    Categorical: "InputCategorical",
    Numeric: "InputNumeric",
    Text: "InputText",
}


def _invalid(message: str) -> MlflowError:
    return MlflowError.invalid_parameter(message)


def _validate_pass_fail(value: PassFail) -> None:
    for field, label in (("positive_label", value.positive_label), ("negative_label", value.negative_label)):
        if not label:
            raise _invalid(f"`InputPassFail.{field}` must be a non-empty string; got {label!r}.")
        if len(label) > PASS_FAIL_LABEL_MAX_LENGTH:
            raise _invalid(
                f"`InputPassFail.{field}` must be at most {PASS_FAIL_LABEL_MAX_LENGTH} characters; got {len(label)}."
            )
    if value.positive_label == value.negative_label:
        raise _invalid(
            "`InputPassFail.positive_label` and `negative_label` must be distinct; "
            f"got {value.positive_label!r} for both."
        )


def _validate_categorical(value: Categorical) -> None:
    options = list(value.options)
    if not options:
        raise _invalid(f"`InputCategorical.options` must be a non-empty list; got {options!r}.")
    if len(options) > CATEGORICAL_MAX_OPTIONS:
        raise _invalid(
            f"`InputCategorical.options` must have at most {CATEGORICAL_MAX_OPTIONS} entries; got {len(options)}."
        )
    seen: set[str] = set()
    for option in options:
        if not option:
            raise _invalid(f"`InputCategorical.options` entries must be non-empty strings; got {option!r}.")
        if len(option) > CATEGORICAL_OPTION_MAX_LENGTH:
            raise _invalid(
                "`InputCategorical.options` entries must be at most "
                f"{CATEGORICAL_OPTION_MAX_LENGTH} characters; got {len(option)} for {option!r}."
            )
        if option in seen:
            raise _invalid(f"`InputCategorical.options` must be deduplicated; {option!r} appears twice.")
        seen.add(option)


def _validate_numeric(value: Numeric) -> None:
    if value.min_value is not None and value.max_value is not None and value.min_value >= value.max_value:
        raise _invalid(
            "`InputNumeric.min_value` must be strictly less than `max_value`; "
            f"got min={value.min_value}, max={value.max_value}."
        )


def _validate_text(value: Text) -> None:
    if value.max_length is not None and value.max_length < 1:
        raise _invalid(f"`InputText.max_length` must be at least 1; got {value.max_length}.")


def validate(value: Input) -> None:
    """MLflow's checks of a new or changed input, in its order and words."""
    if isinstance(value, PassFail):
        _validate_pass_fail(value)
    elif isinstance(value, Categorical):
        _validate_categorical(value)
    elif isinstance(value, Numeric):
        _validate_numeric(value)
    else:
        _validate_text(value)


def validate_same_kind(existing: Input, new: Input) -> None:
    """An update may change an input within its kind only; a categorical input keeps its `multi_select`."""
    if type(new) is not type(existing):
        raise _invalid(
            "A label schema's input type cannot be changed after creation "
            f"(existing: {CLASS_NAME[type(existing)]}, got: {CLASS_NAME[type(new)]})."
        )
    if isinstance(new, Categorical) and isinstance(existing, Categorical) and new.multi_select != existing.multi_select:
        raise _invalid("`InputCategorical.multi_select` cannot be changed after creation.")


def to_stored(value: Input) -> tuple[str, str]:
    """(input_type, input_config): the discriminator and the JSON of the kind's settings."""
    config: dict[str, Any]
    if isinstance(value, PassFail):
        config = {"positive_label": value.positive_label, "negative_label": value.negative_label}
    elif isinstance(value, Categorical):
        config = {"options": list(value.options), "multi_select": value.multi_select}
    elif isinstance(value, Numeric):
        config = {"min_value": value.min_value, "max_value": value.max_value}
    else:
        config = {"max_length": value.max_length}
    return KIND[type(value)], json.dumps(config)


def from_stored(input_type: str, input_config: str) -> Input:
    config = json.loads(input_config)
    if input_type == "pass_fail":
        return PassFail(config["positive_label"], config["negative_label"])
    if input_type == "categorical":
        return Categorical(tuple(config["options"]), bool(config.get("multi_select", False)))
    if input_type == "numeric":
        return Numeric(config.get("min_value"), config.get("max_value"))
    if input_type == "text":
        return Text(config.get("max_length"))
    raise ValueError(f"unknown label schema input type {input_type!r}")
