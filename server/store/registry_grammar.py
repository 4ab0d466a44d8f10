"""Search grammar for registered models and model versions (MLflow's registry `filter` and `order_by`), built on
the shared tokenizer and value rules of `search_grammar`."""

from __future__ import annotations

import re
from collections.abc import Sequence

from server.store.search_grammar import (
    _IN_LIST,
    _LIST_OPS,
    _NUMERIC_OPS,
    _STRING_OPS,
    Comparison,
    Kind,
    OrderKey,
    _check_op,
    _Clause,
    _clauses,
    _expected_string,
    _identifier,
    _invalid,
    _invalid_key,
    _order_clause,
    _set_text,
    _split_identifier,
    _string,
    _string_list,
    _Token,
)

_REGISTRY_PREFIXES = ("attribute", "tag", "tags")
_REGISTERED_MODEL_KEYS = frozenset({"name"})
_VERSION_NUMERIC = frozenset({"version_number", "creation_timestamp", "last_updated_timestamp"})
_VERSION_KEYS = _VERSION_NUMERIC | {"name", "run_id", "source_path"}
_VERSION_LISTABLE = frozenset({"name", "run_id"})
_REGISTRY_TAG_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"})
# `timestamp` is MLflow's older spelling of the last-update time of a registered model.
_REGISTERED_MODEL_ORDER = {
    "name": "name",
    "timestamp": "last_updated_timestamp",
    "last_updated_timestamp": "last_updated_timestamp",
}
_VERSION_ORDER_KEYS = frozenset({"name", "version_number", "creation_timestamp", "last_updated_timestamp"})


def _registry_identifier(text: str, attributes: frozenset[str]) -> tuple[Kind, str]:
    prefix, key = _split_identifier(text)
    if prefix is not None and prefix not in _REGISTRY_PREFIXES:
        raise _invalid(f"Invalid entity type '{prefix}'. Valid entity types are {_REGISTRY_PREFIXES}")
    kind: Kind = "attribute" if prefix in (None, "attribute") else "tag"
    if kind == "attribute" and key not in attributes:
        raise _invalid_key(key, attributes)
    return kind, key


def _registry_number(key: str, token: _Token) -> int:
    """Version numbers and timestamps are integers (32 and 64 bits, as stored); MLflow also takes them quoted
    (`version_number = '3'`)."""
    text = token.text[1:-1] if token.kind == "string" else token.text
    if token.kind in ("string", "number") and re.fullmatch(r"-?\d+", text.strip()):
        number = int(text)
        if abs(number) < (2**31 if key == "version_number" else 2**63):
            return number
    raise _invalid(f"Invalid value for numeric attribute '{key}': {token.text!r}")


def _registry_attribute(key: str, clause: _Clause, numeric: frozenset[str], listable: frozenset[str]) -> Comparison:
    token = clause.value
    if token is None:
        raise _invalid(f"Invalid comparator '{clause.op}' not one of '{_set_text(_STRING_OPS)}'")
    if key in numeric:
        _check_op(clause.op, _NUMERIC_OPS)
        return Comparison("attribute", key, clause.op, _registry_number(key, token))
    _check_op(clause.op, _STRING_OPS)
    if clause.op in _LIST_OPS:
        if key not in listable:
            raise _invalid(
                f"Only {sorted(listable)} attributes support comparison with a list of quoted string values."
            )
        if token.kind != "list":
            raise _invalid(f"{_IN_LIST} a non-empty list of string values, but got {token.text}")
        return Comparison("attribute", key, clause.op, _string_list(token))
    if token.kind == "number" and numeric:
        raise _invalid(f"Only the '{_set_text(numeric)}' attributes support comparison with numeric values.")
    expected = (
        f"Expected a quoted string value or a list of quoted string values for attributes. Got value {token.text}"
    )
    return Comparison("attribute", key, clause.op, _string(token, expected))


def _registry_comparison(
    clause: _Clause, attributes: frozenset[str], numeric: frozenset[str], listable: frozenset[str]
) -> Comparison:
    kind, key = _registry_identifier(_identifier(clause), attributes)
    if kind == "attribute":
        return _registry_attribute(key, clause, numeric, listable)
    if clause.op not in _REGISTRY_TAG_OPS or clause.value is None:
        raise _invalid(f"Invalid comparator for tag: {clause.op}")
    return Comparison(kind, key, clause.op, _string(clause.value, _expected_string(kind, clause.value)))


def parse_registered_model_filter(filter_string: str | None) -> list[Comparison]:
    """The AND-ed comparisons of a `searchRegisteredModels` filter: the model's `name` and its tags."""
    return [
        _registry_comparison(clause, _REGISTERED_MODEL_KEYS, frozenset(), _REGISTERED_MODEL_KEYS)
        for clause in _clauses(filter_string, "registry")
    ]


def parse_model_version_filter(filter_string: str | None) -> list[Comparison]:
    """The AND-ed comparisons of a `searchModelVersions` filter: version attributes and version tags."""
    return [
        _registry_comparison(clause, _VERSION_KEYS, _VERSION_NUMERIC, _VERSION_LISTABLE)
        for clause in _clauses(filter_string, "registry")
    ]


def _no_duplicates(keys: list[OrderKey], order_by: Sequence[str]) -> list[OrderKey]:
    if len({k.key for k in keys}) != len(keys):
        raise _invalid(f"`order_by` contains duplicate fields: {list(order_by)}")
    return keys


def parse_registered_model_order_by(order_by: Sequence[str] | None) -> list[OrderKey]:
    """`searchRegisteredModels` order_by: `name`, and `timestamp` or `last_updated_timestamp` (the same column)."""
    keys = []
    for clause in order_by or ():
        text, ascending = _order_clause(clause)
        if text not in _REGISTERED_MODEL_ORDER:
            raise _invalid(
                f"Invalid order by key '{text}' specified. Valid keys are '{_set_text({'name', 'timestamp'})}'"
            )
        keys.append(OrderKey("attribute", _REGISTERED_MODEL_ORDER[text], ascending))
    return _no_duplicates(keys, order_by or ())


def parse_model_version_order_by(order_by: Sequence[str] | None) -> list[OrderKey]:
    """`searchModelVersions` order_by: a version's name, number and timestamps."""
    keys = []
    for clause in order_by or ():
        text, ascending = _order_clause(clause)
        prefix, key = _split_identifier(text)
        if prefix not in (None, "attribute") or key not in _VERSION_ORDER_KEYS:
            raise _invalid(f"Invalid order by key '{key}' specified. Valid keys are {_set_text(_VERSION_ORDER_KEYS)}")
        keys.append(OrderKey("attribute", key, ascending))
    return _no_duplicates(keys, order_by or ())
