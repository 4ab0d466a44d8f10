"""MLflow's trace filter grammars, built on the shared tokenizer and value rules of `search_grammar`:
`searchTraces` filters and order_by (with MLflow's mappings of `name`, `run_id` and `prompt` to the tag or metadata
they stand for), and the one-clause filters of `traces/metrics`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from server.store.search_grammar import (
    _LIST_OPS,
    _NUMERIC_OPS,
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
    _is_quoted,
    _match_clause,
    _number,
    _order_clause,
    _set_text,
    _split_identifier,
    _statement_error,
    _string,
    _string_list,
    _strip,
    _Token,
    _tokenize,
)

_TRACE_PREFIXES: dict[str, Kind] = {
    **dict.fromkeys(("tag", "tags"), "tag"),
    **dict.fromkeys(("attribute", "attributes", "trace"), "attribute"),
    **dict.fromkeys(("request_metadata", "metadata"), "metadata"),
    "span": "span",
    "feedback": "feedback",
    "expectation": "expectation",
    "issue": "issue",
}
_TRACE_NUMERIC = frozenset(
    {"timestamp_ms", "timestamp", "execution_time_ms", "execution_time", "end_time_ms", "end_time"}
)
_TRACE_FILTER_KEYS = _TRACE_NUMERIC | {"request_id", "status", "client_request_id", "name", "run_id", "prompt", "text"}
_TRACE_ORDER_KEYS = _TRACE_NUMERIC | {"experiment_id", "status", "request_id", "name", "run_id"}
_TRACE_ALIASES = {"timestamp": "timestamp_ms", "execution_time": "execution_time_ms", "end_time": "end_time_ms"}
_TRACE_LISTABLE = frozenset({"name", "status", "request_id", "run_id", "client_request_id"})
_TRACE_SPAN_KEYS = frozenset({"name", "type", "status"})
_TRACE_KEYED_OPS = frozenset({"!=", "=", "LIKE", "ILIKE", "RLIKE", "IS NULL", "IS NOT NULL"})
_TRACE_STRING_OPS = frozenset({"!=", "=", "IN", "NOT IN", "LIKE", "ILIKE", "RLIKE"})
_SPAN_CONTENT_OPS = frozenset({"LIKE", "ILIKE"})
_ASSESSMENT_NUMERIC_OPS = frozenset({">", ">=", "<", "<="})
_ASSESSMENT_OPS = _ASSESSMENT_NUMERIC_OPS | {"!=", "=", "LIKE", "ILIKE", "RLIKE", "IS NULL", "IS NOT NULL"}
_ISSUE_KEYS = frozenset({"id"})
_NUMERIC_TEXT = re.compile(r"-?\d+(?:\.\d+)?")
TRACE_NAME_TAG = "mlflow.traceName"
TRACE_SOURCE_RUN = "mlflow.sourceRun"
TRACE_LINKED_PROMPTS = "mlflow.linkedPrompts"
TRACE_SESSION = "mlflow.trace.session"  # the metadata naming the conversation a trace belongs to
SPAN_CONTENT = "content"  # a span's name, attributes and events as JSON text: what `trace.text` searches
SPAN_ATTRIBUTE_PREFIX = "attributes."  # `span.attributes.<name>`: one attribute of a span


def _trace_identifier(text: str, attributes: frozenset[str]) -> tuple[Kind, str]:
    """(kind, key), with MLflow's mappings: `name` is the trace-name tag, `run_id` the source-run metadata, `text`
    the content of the trace's spans."""
    prefix, key = _split_identifier(text)
    entity = "attribute" if prefix is None else _strip(prefix, "`")
    if entity not in _TRACE_PREFIXES:
        raise _invalid(f"Invalid entity type '{entity}'. Valid values are {_set_text(_TRACE_PREFIXES)}")
    kind = _TRACE_PREFIXES[entity]
    if kind == "attribute":
        if key not in attributes:
            raise _invalid_key(key, attributes)
        if key == "name":
            return "tag", TRACE_NAME_TAG
        if key == "run_id":
            return "metadata", TRACE_SOURCE_RUN
        if key == "prompt":
            return "tag", TRACE_LINKED_PROMPTS
        if key == "text":
            return "span", SPAN_CONTENT
        return kind, _TRACE_ALIASES.get(key, key)
    if kind == "span":
        return kind, _span_key(key)
    if kind in ("feedback", "expectation") and not key:
        raise _invalid("Assessment field name cannot be empty")
    if kind == "issue" and key not in _ISSUE_KEYS:
        raise _invalid(f"Invalid issue attribute '{key}'. Supported attributes: {', '.join(sorted(_ISSUE_KEYS))}")
    return kind, key


def _span_key(key: str) -> str:
    if key.startswith(SPAN_ATTRIBUTE_PREFIX):
        name = _strip(key[len(SPAN_ATTRIBUTE_PREFIX) :], "`")
        if not name:
            raise _invalid("Span attribute name cannot be empty after 'attributes.'")
        return SPAN_ATTRIBUTE_PREFIX + name
    if key not in _TRACE_SPAN_KEYS and key != SPAN_CONTENT:
        raise _invalid(
            f"Invalid span attribute '{key}'. Supported attributes: name, status, type, attributes.<attribute_name>."
        )
    return key


def _check_scoped_op(scope: str, op: str, allowed: frozenset[str]) -> None:
    """MLflow words a refused comparator of spans and assessments with the field it was used on."""
    if op not in allowed:
        raise _invalid(f"{scope} comparator '{op}' not one of '{_set_text(allowed)}'")


def _regex(pattern: str) -> str:
    """An RLIKE pattern, checked here so that a malformed one is a 400 and not a database error."""
    try:
        re.compile(pattern)
    except re.error as error:
        raise _invalid(f"Invalid regular expression '{pattern}' for RLIKE: {error}") from None
    return pattern


def _assessment_comparison(kind: Kind, key: str, op: str, token: _Token) -> Comparison:
    """`feedback.<name>` and `expectation.<name>`: numbers for <, <=, > and >=, a quoted string otherwise."""
    numeric = op in _ASSESSMENT_NUMERIC_OPS
    if numeric and token.kind != "number":
        raise _invalid(f"Expected a numeric value for {kind} when using comparator '{op}'. Got value {token.text}")
    if not numeric and (token.kind not in ("string", "ident") or not _is_quoted(token.text)):
        raise _invalid(f"Expected a quoted string value for {kind} (e.g. 'my-value'). Got value {token.text}")
    value: str | float = _number(token, "") if numeric else token.text[1:-1]
    _check_scoped_op(f"assessment.{key}", op, _ASSESSMENT_OPS)
    return Comparison(kind, key, op, _regex(str(value)) if op == "RLIKE" else value)


def _written_as_attribute(text: str) -> bool:
    """Whether a filter names a trace attribute (`name`, `trace.text`...), before MLflow maps some to tags,
    metadata or spans: MLflow checks the value against the attribute's rules first."""
    prefix, _ = _split_identifier(text)
    return prefix is None or _TRACE_PREFIXES.get(_strip(prefix, "`")) == "attribute"


def _trace_comparison(clause: _Clause) -> Comparison:
    text = _identifier(clause)
    listable = clause.value is not None and clause.value.kind == "list" and clause.op in _LIST_OPS
    kind, key = _trace_identifier(text, _TRACE_FILTER_KEYS)
    if clause.value is None:
        if kind in ("feedback", "expectation"):
            _check_scoped_op(f"assessment.{key}", clause.op, _ASSESSMENT_OPS)
        elif kind == "span":
            _check_scoped_op(f"span.{key}", clause.op, _span_ops(key))
        elif kind not in ("tag", "metadata"):
            _check_op(clause.op, _TRACE_STRING_OPS)  # MLflow's refusal of IS NULL on an attribute
        return Comparison(kind, key, clause.op, None)
    token = clause.value
    value: str | float | tuple[str, ...]
    if kind in ("feedback", "expectation"):
        return _assessment_comparison(kind, key, clause.op, token)
    if kind == "attribute" and key in _TRACE_NUMERIC:
        if token.kind == "string" and _NUMERIC_TEXT.fullmatch(token.text[1:-1]):
            token = _Token("number", token.text[1:-1])  # MLflow compares a quoted number as the number
        value = _number(token, f"Expected numeric value type for numeric attribute: {key}. Found {token.text}")
        _check_op(clause.op, _NUMERIC_OPS)
        return Comparison(kind, key, clause.op, value)
    if token.kind == "number" and _written_as_attribute(text):
        raise _invalid(f"Only the '{_set_text(_TRACE_NUMERIC)}' attributes support comparison with numeric values.")
    if (kind, key) == ("tag", TRACE_LINKED_PROMPTS):
        value = _string(token, _expected_string("tag", token))
        if clause.op != "=":
            raise _invalid(
                f"Invalid comparator '{clause.op}' for prompts filter. "
                "Only '=' is supported with format: prompt = \"name/version\""
            )
        if value.count("/") != 1:
            raise _invalid(f"Invalid prompts filter value '{value}'. Expected format: prompt = \"name/version\"")
        return Comparison(kind, key, clause.op, value)
    if listable and (kind == "span" or key in _TRACE_LISTABLE or (kind, key) == ("tag", TRACE_NAME_TAG)):
        value = _string_list(token)
    elif token.kind == "list" and (kind == "tag" or _written_as_attribute(text)) and kind in ("tag", "metadata"):
        _check_op(clause.op, _TRACE_KEYED_OPS)  # a list for a tag (or `run_id`): MLflow refuses the comparator
        raise _invalid(f"Invalid comparator '{clause.op}' not one of '{_set_text(_TRACE_KEYED_OPS)}'")
    elif kind in ("span", "issue"):
        value = _string(token, f"Expected a quoted string value for {kind} (e.g. 'my-value'). Got value {token.text}")
    elif kind == "metadata":
        value = _string(
            token, f"Expected a quoted string value for request_metadata (e.g. 'my-value'). Got value {token.text}"
        )
    else:
        value = _string(token, _expected_string("attribute" if kind == "attribute" else "tag", token))
    if kind == "span":
        _check_scoped_op(f"span.{key}", clause.op, _span_ops(key))
    elif kind == "issue":
        _check_scoped_op(f"issue.{key}", clause.op, frozenset({"="}))
    else:
        _check_op(clause.op, _TRACE_KEYED_OPS if kind in ("tag", "metadata") and not listable else _TRACE_STRING_OPS)
    if clause.op == "RLIKE" and isinstance(value, str):
        value = _regex(value)
    return Comparison(kind, key, clause.op, value)


def _span_ops(key: str) -> frozenset[str]:
    return _SPAN_CONTENT_OPS if key == SPAN_CONTENT else _TRACE_STRING_OPS


def parse_trace_filter(filter_string: str | None) -> list[Comparison]:
    """The AND-ed comparisons of a `searchTraces` filter; an empty filter matches every trace."""
    return [_trace_comparison(clause) for clause in _clauses(filter_string, "traces")]


def parse_trace_order_by(order_by: Sequence[str] | None) -> list[OrderKey]:
    keys: list[OrderKey] = []
    for clause in order_by or ():
        text, ascending = _order_clause(clause)
        kind, key = _trace_identifier(text, _TRACE_ORDER_KEYS)
        if kind in ("span", "feedback", "expectation", "issue"):
            raise _invalid(f"Invalid identifier type '{kind}'")
        keys.append(OrderKey(kind, key, ascending))
    return keys


# --- trace metrics ------------------------------------------------------------------------------------------------
#
# QueryTraceMetrics takes its own small grammar, one clause per filter string: `trace.status = 'OK'`,
# `trace.tag.<key> = 'v'`, `trace.metadata.<key> = 'v'`, `span.name|type|status = 'v'`, `assessment.name|type = 'v'`,
# equality only (mlflow/utils/search_utils.py, SearchTraceMetricsUtils).

# Per view, its entities and whether each takes a key (`trace.tag.<key>`), in MLflow's order.
_METRICS_ENTITIES: dict[str, dict[str, bool]] = {
    "trace": {"status": False, "tag": True, "metadata": True},
    "span": {"name": False, "status": False, "type": False},
    "assessment": {"name": False, "type": False},
}


@dataclass(frozen=True, slots=True)
class MetricsFilter:
    """One `<view>.<entity>[.<key>] = '<value>'` filter of a trace-metrics query."""

    view: str  # trace, span or assessment
    entity: str
    key: str | None
    value: str


def _metrics_identifier(text: str) -> tuple[str, str, str | None]:
    parts = text.split(".", 2)
    if len(parts) == 1:
        raise _invalid(
            f"Invalid identifier {text!r}. Columns should be specified as "
            "'trace.<key>', 'span.<key>', 'assessment.<key>'."
        )
    view, entity = _strip(parts[0], "`"), parts[1]
    key = _strip(_strip(parts[2]), "`") if len(parts) == 3 else None
    if view not in _METRICS_ENTITIES:
        raise _invalid(f"Invalid view type '{view}'. Valid values are dict_keys({list(_METRICS_ENTITIES)})")
    entities = _METRICS_ENTITIES[view]
    if entity not in entities:
        raise _invalid(
            f"Invalid entity '{entity}' specified for view type '{view}'. Valid entities are {list(entities)}"
        )
    if entities[entity] and key is None:
        raise _invalid(f"Filtering by {entity} requires a key, e.g. '{view}.{entity}.<key> = <value>'")
    if not entities[entity] and key is not None:
        raise _invalid(f"Filtering by {entity} does not require a key, use '{view}.{entity}' instead")
    return view, entity, key


def parse_trace_metrics_filter(filter_string: str) -> MetricsFilter:
    """One filter of QueryTraceMetrics' `filters`, with MLflow's checks in its order and its wording."""
    tokens = _tokenize(filter_string)
    if filter_string and not tokens:
        raise _invalid(f"Invalid filter '{filter_string}'. Could not be parsed.")
    if any(t.text == ";" for t in tokens[:-1]):
        raise _statement_error("traces", filter_string, None)
    clauses, invalid, index = [], [], 0
    while index < len(tokens):
        matched = _match_clause(tokens, index)
        # Only `<identifier> <operator> <value>` makes a comparison here; IS NULL and IN lists are bare words.
        if matched and matched[0].value is not None and matched[0].op not in _LIST_OPS:
            written_op = " ".join(token.text for token in tokens[index + 1 : matched[1] - 1])
            clauses.append((matched[0], written_op))
            index = matched[1]
        else:
            invalid.append(tokens[index].text)
            index += 1
    if invalid:
        raise _invalid(f"Invalid clause(s) in filter string: {', '.join(invalid)}")
    if len(clauses) != 1:
        raise _invalid(f"Invalid filter: '{filter_string}'. Expected one filter clause.")
    clause, written_op = clauses[0]
    view, entity, key = _metrics_identifier(_identifier(clause))
    if clause.op != "=":
        raise _invalid(f"Invalid comparator: '{written_op}', only '=' operator is supported")
    token = clause.value
    assert token is not None
    expected = f"Expected a quoted string value for {entity} value (e.g. 'my-value'). Got value {token.text}"
    return MetricsFilter(view, entity, key, _string(token, expected))
