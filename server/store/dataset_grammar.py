"""Search grammar for evaluation datasets (MLflow's `SearchEvaluationDatasetsUtils` plus the checks its SQL store
makes while building the query), on the shared tokenizer and value rules of `search_grammar`.

A filter compares the attributes `name`, `created_by`, `last_updated_by` (strings; `name` also takes `IN`) and
`created_time`, `last_update_time` (integers), and `tags.<key>` with `=`, `!=`, `LIKE` and `ILIKE`. Datasets are
ordered by `name`, `created_time` or `last_update_time`. Error wording follows MLflow 3.17; its sets of valid keys
are listed sorted.
"""

from __future__ import annotations

from collections.abc import Sequence

from server.store.search_grammar import (
    _NUMERIC_OPS,
    Comparison,
    OrderKey,
    _Clause,
    _clauses,
    _expected_string,
    _identifier,
    _invalid,
    _number,
    _order_clause,
    _set_text,
    _split_identifier,
    _string,
    _string_list,
)

ATTRIBUTES = frozenset({"name", "created_time", "last_update_time", "created_by", "last_updated_by"})
NUMERIC = frozenset({"created_time", "last_update_time"})
ORDER_KEYS = frozenset({"name", "created_time", "last_update_time"})
_LISTABLE = frozenset({"name"})
_TEXT_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"})
# The comparators MLflow's store vets for string attributes; others (`>`, `<`, ...) compare as SQL does.
_VETTED_STRING_OPS = _TEXT_OPS | {"IN", "NOT IN"}


def _key(text: str, valid: frozenset[str]) -> tuple[str, str]:
    """(kind, key): an attribute, or a tag for `tags.<key>`."""
    prefix, key = _split_identifier(text)
    if prefix is None:
        if key not in valid:
            raise _invalid(f"Invalid attribute key '{key}' specified. Valid keys are: {_set_text(valid)}")
        return "attribute", key
    if prefix != "tags":
        raise _invalid(f"Invalid identifier token '{prefix}' specified")
    return "tag", key


def _numeric(key: str, clause: _Clause) -> Comparison:
    token = clause.value
    assert token is not None
    value = _number(token, f"Expected numeric value type for numeric attribute: {key}. Found {token.text}")
    if clause.op not in _NUMERIC_OPS:
        raise _invalid(f"Invalid comparator for numeric attribute: {clause.op}")
    if isinstance(value, float) and abs(value) < 2**63:  # a fraction; whole numbers past 64 bits still compare
        raise _invalid(f"Invalid value for numeric attribute '{key}': {str(value)!r}")
    return Comparison("attribute", key, clause.op, value)


def _text(key: str, clause: _Clause) -> Comparison:
    token = clause.value
    assert token is not None
    if token.kind == "list":
        if key not in _LISTABLE:
            raise _invalid(
                f"Only {sorted(_LISTABLE)} attributes support comparison with a list of quoted string values."
            )
        if clause.op != "IN":
            raise _invalid("List values for 'name' are only supported with the IN comparator.")
        return Comparison("attribute", key, clause.op, _string_list(token))
    value = _string(token, _expected_string("attribute", token))
    if clause.op in _VETTED_STRING_OPS and clause.op not in _TEXT_OPS:
        raise _invalid(f"Invalid comparator for string attribute: {clause.op}")
    return Comparison("attribute", key, clause.op, value)


def _comparison(clause: _Clause) -> Comparison:
    kind, key = _key(_identifier(clause), ATTRIBUTES)
    if kind == "tag":
        value = None if clause.value is None else _string(clause.value, _expected_string("tag", clause.value))
        if value is None or clause.op not in _TEXT_OPS:
            raise _invalid(f"Invalid comparator for tag: {clause.op}")
        return Comparison("tag", key, clause.op, value)
    if clause.value is None:
        raise _invalid(f"IS NULL / IS NOT NULL is only supported for tags and params, not for 'attribute' '{key}'")
    return _numeric(key, clause) if key in NUMERIC else _text(key, clause)


def parse_dataset_filter(filter_string: str | None) -> list[Comparison]:
    """The AND-ed comparisons of a `SearchEvaluationDatasets` filter; an empty one matches every dataset."""
    return [_comparison(clause) for clause in _clauses(filter_string, "registry")]


def parse_dataset_order_by(order_by: Sequence[str] | None) -> list[OrderKey]:
    """`SearchEvaluationDatasets` order_by entries; the store breaks ties by dataset id."""
    keys = []
    for clause in order_by or ():
        text, ascending = _order_clause(clause)
        kind, key = _key(text, ORDER_KEYS)
        if kind != "attribute":
            raise _invalid(f"Invalid order_by entity: {kind}")
        keys.append(OrderKey("attribute", key, ascending))
    return keys
