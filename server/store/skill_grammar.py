"""Search grammar of the Skill Registry (MLflow 3.18's `filter_string` and `order_by` for skills and their versions),
built on the shared tokenizer of `search_grammar`.

A filter is AND-ed comparisons of attributes (strings, or the two timestamps `created_at` and `last_updated_at`, and
a version's `version`, as numbers) and of `tags.<key>`; only `status` takes IN and NOT IN.
"""

from __future__ import annotations

from collections.abc import Sequence

from server.store.search_grammar import (
    _LIST_OPS,
    Comparison,
    Kind,
    OrderKey,
    _Clause,
    _clauses,
    _expected_string,
    _identifier,
    _invalid,
    _invalid_key,
    _number,
    _order_clause,
    _split_identifier,
    _string,
    _string_list,
    _unquote,
)

_TIMESTAMPS = frozenset({"created_at", "last_updated_at"})
SKILL_KEYS = frozenset({"name", "organization", "description", "search_text", "status", "source_type"}) | _TIMESTAMPS
VERSION_KEYS = frozenset({"status", "organization", "source_type", "digest", "version"}) | _TIMESTAMPS
_VERSION_NUMERIC = _TIMESTAMPS | {"version"}
_STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"})
_NUMBER_OPS = frozenset({"=", "!=", ">", ">=", "<", "<="})
_TAG_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"})


def _allowed(ops: frozenset[str]) -> str:
    return str(sorted(ops))


def _comparison(clause: _Clause, keys: frozenset[str], numeric: frozenset[str]) -> Comparison:
    prefix, key = _split_identifier(_identifier(clause))
    if prefix not in (None, "attribute", "attributes", "tag", "tags"):
        raise _invalid(f"Invalid filter type '{prefix}' for '{key}'. Only attributes and tags.<key> are supported.")
    kind: Kind = "tag" if prefix in ("tag", "tags") else "attribute"
    if kind == "attribute" and key not in keys:
        raise _invalid_key(key, keys)
    ops = _TAG_OPS if kind == "tag" else _NUMBER_OPS if key in numeric else _STRING_OPS
    if clause.op not in ops or clause.value is None:
        raise _invalid(f"Invalid comparator '{clause.op}' for {kind} '{key}'. Supported comparators: {_allowed(ops)}")
    token = clause.value
    if clause.op in _LIST_OPS:
        if key != "status":
            raise _invalid(f"Only 'status' supports IN and NOT IN comparisons, got '{key}'.")
        if token.kind != "list":
            raise _invalid(f"Comparator '{clause.op}' for {kind} '{key}' requires a parenthesized list of values.")
        return Comparison(kind, key, clause.op, _string_list(token))
    if key in numeric and kind == "attribute":
        text = token.text[1:-1] if token.kind == "string" else token.text
        number = _number(token._replace(kind="number", text=text.strip()), f"Invalid numeric value for '{key}'.")
        return Comparison(kind, key, clause.op, number)
    return Comparison(kind, key, clause.op, _string(token, _expected_string(kind, token)))


def parse_skill_filter(filter_string: str | None) -> list[Comparison]:
    return [_comparison(clause, SKILL_KEYS, _TIMESTAMPS) for clause in _clauses(filter_string, "registry")]


def parse_version_filter(filter_string: str | None) -> list[Comparison]:
    return [_comparison(clause, VERSION_KEYS, _VERSION_NUMERIC) for clause in _clauses(filter_string, "registry")]


def parse_order_by(order_by: Sequence[str] | None, keys: frozenset[str]) -> list[OrderKey]:
    """`order_by` entries over the filter's attributes; each key at most once."""
    parsed: list[OrderKey] = []
    for entry in order_by or ():
        text, ascending = _order_clause(entry)
        key = _unquote(text)
        if key not in keys:
            raise _invalid(f"Invalid order_by key '{key}'. Valid keys: {sorted(keys)}")
        if any(known.key == key for known in parsed):
            raise _invalid(f"Duplicate order_by field: '{key}'")
        parsed.append(OrderKey("attribute", key, ascending))
    return parsed
