"""Search grammar of the MCP Server Registry (MLflow 3.18's `filter_string` and `order_by` for servers, their versions
and access endpoints), built on the shared tokenizer of `search_grammar`.

MLflow parses these filters with the run search's rules (so `tags.<key>`, quoted strings, unquoted numbers for the two
timestamps, and lists for a few keys) and then checks each comparator in its store. Servers take tag comparisons;
versions and endpoints only attributes. A version's `version` compares by text for `=` and `!=` and by SemVer
precedence for the ordering comparators, which the store does with the parsed version.
"""

from __future__ import annotations

from collections.abc import Sequence

from server.store.search_grammar import (
    Comparison,
    Kind,
    OrderKey,
    _attribute_value,
    _Clause,
    _clauses,
    _expected_string,
    _identifier,
    _invalid,
    _invalid_key,
    _order_clause,
    _split_identifier,
    _string,
    _unquote,
)

_TIMESTAMPS = frozenset({"created_at", "last_updated_at"})
SERVER_KEYS = frozenset({"name", "display_name", "status", "has_access_endpoints"}) | _TIMESTAMPS
VERSION_KEYS = frozenset({"name", "version", "status"}) | _TIMESTAMPS
ENDPOINT_KEYS = frozenset({"status", "server_name", "transport_type"}) | _TIMESTAMPS
SERVER_ORDER = frozenset({"name", "created_at", "last_updated_at"})
VERSION_ORDER = frozenset({"version", "created_at", "last_updated_at"})
ENDPOINT_ORDER = frozenset({"id", "server_name", "created_at", "last_updated_at"})
_COMPARATORS = frozenset({"=", "!=", ">", ">=", "<", "<=", "LIKE", "ILIKE", "IN", "NOT IN"})
_TEXT_ONLY = frozenset({"LIKE", "ILIKE", "IN", "NOT IN"})
_PREFIXES: dict[str, Kind] = {
    **dict.fromkeys(("tag", "tags"), "tag"),
    **dict.fromkeys(("attribute", "attributes", "attr", "run"), "attribute"),
    **dict.fromkeys(("metric", "metrics"), "metric"),
    **dict.fromkeys(("param", "params", "parameter", "parameters"), "param"),
    **dict.fromkeys(("dataset", "datasets"), "dataset"),
}
_SEMVER_COMPARATORS = frozenset({"=", "!=", "<", "<=", ">", ">="})


def _comparison(clause: _Clause, keys: frozenset[str], listable: frozenset[str], tags: bool) -> Comparison:
    prefix, key = _split_identifier(_identifier(clause))
    entity = "attribute" if prefix is None else prefix.strip("`")
    if entity not in _PREFIXES:
        raise _invalid(
            f"Invalid entity type '{entity}'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']"
        )
    kind = _PREFIXES[entity]
    if kind == "attribute" and key not in keys:
        raise _invalid_key(key, keys)
    if clause.value is None:
        if kind not in ("tag", "param"):
            raise _invalid(f"IS NULL / IS NOT NULL is only supported for tags and params, not for '{kind}' '{key}'")
        raise _invalid(f"Invalid comparator '{clause.op}' for {kind} '{key}'.")
    if kind not in ("attribute", "tag") or (kind == "tag" and not tags):
        raise _invalid(f"Invalid filter type '{kind}'.")
    if kind == "tag":
        value: str | float | tuple[str, ...] = _string(clause.value, _expected_string("tag", clause.value))
    else:
        value = _attribute_value(key, clause, _TIMESTAMPS, listable)
    numeric = kind == "attribute" and key in _TIMESTAMPS
    if clause.op not in _COMPARATORS or (numeric and clause.op in _TEXT_ONLY):
        raise _invalid(f"Invalid comparator '{clause.op}' for {kind} '{key}'.")
    if kind == "attribute" and key == "has_access_endpoints":
        if clause.op != "=" or not isinstance(value, str) or value.lower() not in ("true", "false"):
            raise _invalid("has_access_endpoints only supports '= true' or '= false'")
    if kind == "attribute" and key == "version" and clause.op not in _SEMVER_COMPARATORS:
        raise _invalid("version only supports semantic comparators '=', '!=', '<', '<=', '>', and '>='")
    return Comparison(kind, key, clause.op, value)


def parse_server_filter(filter_string: str | None) -> list[Comparison]:
    listable = frozenset({"status", "name"})
    return [_comparison(clause, SERVER_KEYS, listable, True) for clause in _clauses(filter_string, "runs")]


def parse_version_filter(filter_string: str | None) -> list[Comparison]:
    listable = frozenset({"status"})
    return [_comparison(clause, VERSION_KEYS, listable, False) for clause in _clauses(filter_string, "runs")]


def parse_endpoint_filter(filter_string: str | None) -> list[Comparison]:
    listable = frozenset({"server_name"})
    return [_comparison(clause, ENDPOINT_KEYS, listable, False) for clause in _clauses(filter_string, "runs")]


def parse_order_by(order_by: Sequence[str] | None, keys: frozenset[str]) -> list[OrderKey]:
    """`order_by` entries over the listed keys; each key at most once."""
    parsed: list[OrderKey] = []
    for entry in order_by or ():
        text, ascending = _order_clause(entry)
        key = _unquote(text).strip()
        if key not in keys:
            raise _invalid(f"Invalid order_by key '{key}'. Valid keys: {sorted(keys)}")
        if any(known.key == key for known in parsed):
            raise _invalid(f"Duplicate order_by field: '{key}'")
        parsed.append(OrderKey("attribute", key, ascending))
    return parsed
