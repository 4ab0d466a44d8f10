"""MLflow's search `filter` and `order_by` strings, parsed without SQL into plain values the store can trust.

MLflow checks these strings in two places (sqlparse plus `SearchUtils` while parsing, then the SQL store while
building the query); clients only ever see the union of both. This module reproduces that union with a small regex
tokenizer, so the store receives validated `Comparison` and `OrderKey` values and never looks at text. Error wording
follows mlflow/utils/search_utils.py (MLflow 3.17) because client scripts and MLflow's own tests match on it; sets
are listed sorted, since MLflow prints them in hash order. The registry's grammar (`registry_grammar`) builds on
the tokenizer and value rules here, as do the trace grammars (`trace_grammar`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from server.errors import MlflowError

Kind = Literal["metric", "param", "tag", "attribute", "dataset", "metadata", "span", "feedback", "expectation", "issue"]


@dataclass(frozen=True, slots=True)
class Comparison:
    """One `<identifier> <op> <value>` clause of a filter; the clauses of one filter are AND-ed."""

    kind: Kind
    key: str
    op: str
    value: str | float | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One `order_by` entry; the store adds its own tie-breakers after these."""

    kind: Kind
    key: str
    ascending: bool


# --- tokens -------------------------------------------------------------------------------------------------------

# String and name shapes follow sqlparse's lexer, so quoting and escaping behave as they do in MLflow.
_SINGLE = r"'(?:''|\\'|[^'])*'"
_DOUBLE = r'"(?:""|\\"|[^"])*"'
_NAME = rf"(?:\w+|`(?:``|[^`])*`|{_DOUBLE})"
_IDENT = rf"{_NAME}(?:\.(?:{_NAME}|{_SINGLE}))*"
_NUMBER = r"-?(?:\d+(?:\.\d+)?[eE]-?\d+|\d+\.\d*|\.\d+|\d+)(?![\w.])"
_TOKEN_RE = re.compile(
    "|".join(
        f"(?P<{kind}>{pattern})"
        for kind, pattern in (
            ("ws", r"\s+"),
            ("string", _SINGLE),
            ("number", _NUMBER),
            ("expr", rf"{_IDENT}(?:[-+*/%]{_IDENT})+"),  # `metrics.a-b`: arithmetic, not a name
            ("ident", _IDENT),
            ("list", rf"\((?>{_SINGLE}|{_DOUBLE}|[^()'\"])*\)"),  # atomic, or "''''" re-splits exponentially
            ("op", r"[<>=~!]+"),
            ("other", r"."),
        )
    ),
    re.DOTALL,
)
_LIST_ITEM_RE = re.compile(rf"\s*(?:({_SINGLE}|{_DOUBLE})|({_NUMBER}))\s*(?:,|\Z)")
_ORDER_RE = re.compile(rf"\s*({_IDENT})(?:\s+(\w+))?\s*")
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE", "RLIKE", "REGEXP"})
_LIKE_WORDS = frozenset({"LIKE", "ILIKE", "RLIKE", "REGEXP"})
_OPERANDS = frozenset({"string", "number", "ident", "expr"})


class _Token(NamedTuple):
    kind: str  # a group name of _TOKEN_RE, or "kw" for a word in _KEYWORDS
    text: str


class _Clause(NamedTuple):
    left: _Token
    op: str  # upper case, single-spaced
    value: _Token | None  # None for IS [NOT] NULL


def _tokenize(text: str) -> list[_Token]:
    tokens = []
    for match in _TOKEN_RE.finditer(text):
        kind, value = match.lastgroup or "other", match.group()
        if kind == "ident" and value.upper() in _KEYWORDS:
            kind = "kw"
        if kind != "ws":
            tokens.append(_Token(kind, value))
    return tokens


# Whatever may follow a left operand to make a comparison, longest first; "<x>" slots match token classes.
_SHAPES = (
    ("IS", "NULL"),
    ("IS", "NOT", "NULL"),
    ("IN", "<list>"),
    ("NOT", "IN", "<list>"),
    ("NOT", "<like>", "<value>"),
    ("<op>", "<value>"),
)


def _fits(token: _Token, slot: str) -> bool:
    word = token.text.upper() if token.kind == "kw" else None
    match slot:
        case "<list>":
            return token.kind == "list"
        case "<value>":
            return token.kind in _OPERANDS or token.kind == "list"
        case "<like>":
            return word in _LIKE_WORDS
        case "<op>":
            return token.kind == "op" or word in _LIKE_WORDS
    return word == slot


def _match_clause(tokens: list[_Token], start: int) -> tuple[_Clause, int] | None:
    """The comparison starting at `start` and the index after it, if the tokens there form one."""
    if tokens[start].kind not in _OPERANDS:
        return None
    for shape in _SHAPES:
        rest = tokens[start + 1 : start + 1 + len(shape)]
        if len(rest) == len(shape) and all(map(_fits, rest, shape)):
            valued = shape[-1] in ("<list>", "<value>")
            op = " ".join(token.text.upper() for token in (rest[:-1] if valued else rest))
            return _Clause(tokens[start], op, rest[-1] if valued else None), start + 1 + len(shape)
    return None


_Api = Literal["runs", "experiments", "models", "registry", "traces", "issues"]
_AND_HINT = "Expected a list of comparisons separated by 'AND' (e.g. 'metrics.loss > 0.1 AND params.lr = 0.01')."


def _invalid(message: str) -> MlflowError:
    return MlflowError.invalid_parameter(message)


def _statement_error(api: _Api, text: str, invalid: list[str] | None) -> MlflowError:
    """Each MLflow search API words a filter that is not AND-ed comparisons its own way; None means `a; b`."""
    if api == "models":
        return _invalid(
            f"Invalid filter string: {text!r}. {_AND_HINT if invalid else 'Expected a single SQL expression.'}"
        )
    if invalid is None:
        return _invalid(f"Search filter contained multiple expression {text!r}. Provide AND-ed expression list.")
    shown = invalid if api in ("experiments", "registry", "issues") else [f"'{token}'" for token in invalid]
    return _invalid(f"Invalid clause(s) in filter string: {', '.join(shown)}")


def _clauses(filter_string: str | None, api: _Api) -> list[_Clause]:
    """Split a filter into comparisons; like MLflow, any run of comparisons and ANDs is accepted."""
    if filter_string is None or not filter_string.strip():
        return []
    tokens = _tokenize(filter_string)
    if any(t.text == ";" for t in tokens[:-1]):
        raise _statement_error(api, filter_string, None)
    clauses, invalid, index = [], [], 0
    while index < len(tokens):
        matched = _match_clause(tokens, index)
        if matched:
            clauses.append(matched[0])
            index = matched[1]
            continue
        if not (tokens[index].kind == "kw" and tokens[index].text.upper() == "AND"):
            invalid.append(tokens[index].text)
        index += 1
    if invalid:
        raise _statement_error(api, filter_string, invalid)
    return clauses


# --- shared value and identifier rules ----------------------------------------------------------------------------

_NUMERIC_OPS = frozenset({"=", "!=", ">", ">=", "<", "<="})
_NULL_OPS = frozenset({"IS NULL", "IS NOT NULL"})
_KEYED_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"}) | _NULL_OPS
_STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"})
_LIST_OPS = frozenset({"IN", "NOT IN"})
_IN_LIST = "While parsing a list in the query, expected"


def _set_text(items: Collection[str]) -> str:
    return "{" + ", ".join(repr(item) for item in sorted(items)) + "}"


def _is_quoted(text: str, quotes: str = "'\"") -> bool:
    return len(text) >= 2 and text[0] == text[-1] and text[0] in quotes


def _strip(text: str, quotes: str = "'\"") -> str:
    return text[1:-1] if _is_quoted(text, quotes) else text


def _unquote(text: str) -> str:
    """MLflow strips one layer of ' or " quotes, then one of backticks, and unescapes nothing."""
    return _strip(_strip(text), "`")


def _split_identifier(text: str) -> tuple[str | None, str]:
    """(prefix, key); only the first dot splits, so `tags.mlflow.runName` needs no quoting."""
    prefix, dot, key = text.partition(".")
    return (prefix, _unquote(key)) if dot else (None, _unquote(text))


def _identifier(clause: _Clause) -> str:
    if clause.left.kind != "ident":
        raise _invalid(f"Invalid comparison clause. Expected 'Identifier' found '{clause.left.text}'")
    return clause.left.text


def _invalid_key(key: str, valid: frozenset[str], what: str = "attribute") -> MlflowError:
    return _invalid(f"Invalid {what} key '{key}' specified. Valid keys are '{_set_text(valid)}'")


def _check_op(op: str, allowed: frozenset[str]) -> None:
    if op not in allowed:
        raise _invalid(f"Invalid comparator '{op}' not one of '{_set_text(allowed)}'")


def _number(token: _Token, expected: str) -> float:
    """An unquoted number: int when written as one (and it fits 64 bits), as MLflow hands integer timestamps to the
    store."""
    if token.kind != "number":
        raise MlflowError.invalid_parameter(expected)
    if re.fullmatch(r"-?\d{1,19}", token.text) and -(2**63) <= (number := int(token.text)) < 2**63:
        return number
    # Beyond 64 bits an integer becomes a float: both databases compare it with their integer columns correctly,
    # where the SQLite driver cannot bind the integer at all.
    return float(token.text)


def _string(token: _Token, expected: str) -> str:
    """A quoted string; a bare word gets MLflow's "not quoted" message, anything else `expected`."""
    if token.kind not in ("string", "ident"):
        raise MlflowError.invalid_parameter(expected)
    if not _is_quoted(token.text):
        raise _invalid(
            f"Parameter value is either not quoted or unidentified quote types used for string value {token.text}. "
            "Use either single or double quotes."
        )
    return token.text[1:-1]


def _string_list(token: _Token) -> tuple[str, ...]:
    """The parenthesised, comma-separated, non-empty list of quoted strings that IN and NOT IN take."""
    inner, items, position = token.text[1:-1], [], 0
    while inner[position:].strip():
        if (item := _LIST_ITEM_RE.match(inner, position)) is None:
            raise _invalid(f"{_IN_LIST} a non-empty list of string values, but got ill-formed list.")
        items.append(item[1][1:-1] if item[1] else _number(_Token("number", item[2]), ""))
        position = item.end()
    if not items:
        raise _invalid(f"{_IN_LIST} a non-empty list of string values, but got empty list")
    if not all(isinstance(item, str) for item in items):
        raise _invalid(
            f"{_IN_LIST} string value, punctuation, or whitespace, but got different type in list: {tuple(items)}"
        )
    return tuple(str(item) for item in items)


def _expected_string(kind: Kind, token: _Token) -> str:
    if kind == "attribute":
        return f"Expected a quoted string value for attributes. Got value {token.text}"
    if kind == "dataset":
        return f"Expected a quoted string value for dataset attributes. Got value {token.text}"
    label = "parameter" if kind == "param" else kind
    return f"Expected a quoted string value for {label} (e.g. 'my-value'). Got value {token.text}"


def _attribute_value(
    key: str, clause: _Clause, numeric: frozenset[str], listable: frozenset[str]
) -> str | float | tuple[str, ...]:
    token = clause.value
    assert token is not None
    if key in numeric:
        return _number(token, f"Expected numeric value type for numeric attribute: {key}. Found {token.text}")
    if token.kind == "list" and clause.op in _LIST_OPS:
        if key not in listable:
            raise _invalid(
                f"Only {sorted(listable)} attributes support comparison with a list of quoted string values."
            )
        return _string_list(token)
    return _string(token, _expected_string("attribute", token))


def _order_clause(clause: str) -> tuple[str, bool]:
    """(identifier text, ascending) of one `order_by` entry."""
    match = _ORDER_RE.fullmatch(clause)
    if match is None:
        raise _invalid(f"Invalid order_by clause '{clause}'. Could not be parsed.")
    direction = (match[2] or "asc").lower()
    if direction not in ("asc", "desc"):
        raise _invalid(f"Invalid ordering key in order_by clause '{clause}'.")
    return match[1], direction == "asc"


# --- runs ---------------------------------------------------------------------------------------------------------

_RUN_PREFIXES: dict[str, Kind] = {
    **dict.fromkeys(("metric", "metrics"), "metric"),
    **dict.fromkeys(("parameter", "parameters", "param", "params"), "param"),
    **dict.fromkeys(("tag", "tags"), "tag"),
    **dict.fromkeys(("attribute", "attributes", "attr", "run"), "attribute"),
    **dict.fromkeys(("dataset", "datasets"), "dataset"),
}
_RUN_ALIASES = {"created": "start_time", "Created": "start_time"} | dict.fromkeys(
    ("run name", "Run name", "Run Name"), "run_name"
)
_RUN_NUMERIC = frozenset({"start_time", "end_time", "created", "Created"})
_RUN_ORDER_KEYS = _RUN_NUMERIC | {"run_id", "run_name", "status", "user_id", "artifact_uri"}
_RUN_FILTER_KEYS = _RUN_ORDER_KEYS | set(_RUN_ALIASES)
_DATASET_KEYS = frozenset({"name", "digest", "context"})
_RUN_KIND_OPS = {"metric": _NUMERIC_OPS, "param": _KEYED_OPS, "tag": _KEYED_OPS, "dataset": _STRING_OPS}


def _run_identifier(text: str, attributes: frozenset[str]) -> tuple[Kind, str]:
    prefix, key = _split_identifier(text)
    entity = "attribute" if prefix is None else _strip(prefix, "`")
    if entity not in _RUN_PREFIXES:
        raise _invalid(
            f"Invalid entity type '{entity}'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']"
        )
    kind = _RUN_PREFIXES[entity]
    if kind == "attribute" and key not in attributes:
        raise _invalid_key(key, attributes)
    if kind == "dataset" and key not in _DATASET_KEYS:
        raise _invalid_key(key, _DATASET_KEYS, "dataset")
    return kind, key


def _run_value(kind: Kind, key: str, clause: _Clause) -> str | float | tuple[str, ...]:
    token = clause.value
    assert token is not None
    if kind == "metric":
        return float(_number(token, f"Expected numeric value type for metric. Found {token.text}"))
    if kind == "attribute":
        return _attribute_value(key, clause, _RUN_NUMERIC, frozenset({"run_id"}))
    if kind == "dataset" and token.kind == "list" and clause.op in _LIST_OPS:
        return _string_list(token)
    return _string(token, _expected_string(kind, token))


def _run_comparison(clause: _Clause) -> Comparison:
    kind, key = _run_identifier(_identifier(clause), _RUN_FILTER_KEYS)
    if clause.value is None:
        if kind not in ("param", "tag"):
            raise _invalid(
                "IS NULL / IS NOT NULL is only supported for tags and params, not for "
                f"'{'parameter' if kind == 'param' else kind}' '{key}'"
            )
        return Comparison(kind, key, clause.op, None)
    value = _run_value(kind, key, clause)
    numeric_attribute = kind == "attribute" and key in _RUN_NUMERIC
    _check_op(clause.op, _NUMERIC_OPS if numeric_attribute else _RUN_KIND_OPS.get(kind, _STRING_OPS))
    return Comparison(kind, _RUN_ALIASES.get(key, key) if kind == "attribute" else key, clause.op, value)


def parse_run_filter(filter_string: str | None) -> list[Comparison]:
    """The AND-ed comparisons of a `searchRuns` filter; an empty filter matches every run."""
    return [_run_comparison(clause) for clause in _clauses(filter_string, "runs")]


def parse_run_order_by(order_by: Sequence[str] | None) -> list[OrderKey]:
    """`searchRuns` order_by entries; naming one field twice is an error because the second entry could never apply."""
    keys: list[OrderKey] = []
    for clause in order_by or ():
        text, ascending = _order_clause(clause)
        kind, key = _run_identifier(text, _RUN_ORDER_KEYS)
        if kind == "dataset":
            raise _invalid(f"Invalid identifier type '{kind}'")
        key = _RUN_ALIASES.get(key, key) if kind == "attribute" else key
        if any((k.kind, k.key) == (kind, key) for k in keys):
            raise _invalid(f"`order_by` contains duplicate fields: {list(order_by or ())}")
        keys.append(OrderKey(kind, key, ascending))
    return keys


# --- experiments --------------------------------------------------------------------------------------------------

_EXPERIMENT_PREFIXES = ("attribute", "tag", "tags")
_EXPERIMENT_NUMERIC = frozenset({"creation_time", "last_update_time"})
_EXPERIMENT_KEYS = _EXPERIMENT_NUMERIC | {"name", "experiment_id"}
_EXPERIMENT_TAG_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"})


def _experiment_identifier(text: str) -> tuple[Kind, str]:
    prefix, key = _split_identifier(text)
    if prefix is not None and prefix not in _EXPERIMENT_PREFIXES:
        raise _invalid(f"Invalid entity type '{prefix}'. Valid entity types are {_EXPERIMENT_PREFIXES}")
    kind: Kind = "attribute" if prefix in (None, "attribute") else "tag"
    if kind == "attribute" and key not in _EXPERIMENT_KEYS:
        raise _invalid_key(key, _EXPERIMENT_KEYS)
    return kind, key


def _check_experiment_id(op: str, value: str | float | tuple[str, ...]) -> None:
    """Experiment ids are integers stored as such, so only equality makes sense and every id must parse."""
    if op not in ("=", "!=", "IN", "NOT IN"):
        raise _invalid(f"Invalid comparator for experiment_id: {op}")
    for experiment_id in value if isinstance(value, tuple) else (str(value),):
        try:
            int(experiment_id)
        except ValueError:
            raise _invalid(f"Invalid experiment ID '{experiment_id}'. Experiment ID must be a valid integer.") from None


def _experiment_attribute(key: str, clause: _Clause) -> Comparison:
    value = _attribute_value(key, clause, _EXPERIMENT_NUMERIC, frozenset({"experiment_id"}))
    if key == "experiment_id":
        _check_experiment_id(clause.op, value)
    elif key in _EXPERIMENT_NUMERIC:
        _check_op(clause.op, _NUMERIC_OPS)
        if isinstance(value, float) and abs(value) < 2**63:  # a fraction; whole numbers beyond 64 bits may pass
            raise _invalid(f"Invalid value for numeric attribute '{key}': {str(value)!r}")
    else:
        _check_op(clause.op, _STRING_OPS)
    return Comparison("attribute", key, clause.op, value)


def _experiment_comparison(clause: _Clause) -> Comparison:
    kind, key = _experiment_identifier(_identifier(clause))
    if kind == "attribute" and clause.value is None:
        raise _invalid(f"IS NULL / IS NOT NULL is only supported for tags, not for attribute '{key}'")
    if kind == "attribute":
        return _experiment_attribute(key, clause)
    if clause.value is None:
        return Comparison(kind, key, clause.op, None)
    value = _string(clause.value, _expected_string(kind, clause.value))
    if clause.op not in _EXPERIMENT_TAG_OPS:
        raise _invalid(f"Invalid comparator for tag: {clause.op}")
    return Comparison(kind, key, clause.op, value)


def parse_experiment_filter(filter_string: str | None) -> list[Comparison]:
    """The AND-ed comparisons of a `searchExperiments` filter: attributes and tags only, as in MLflow."""
    return [_experiment_comparison(clause) for clause in _clauses(filter_string, "experiments")]


def parse_experiment_order_by(order_by: Sequence[str] | None) -> list[OrderKey]:
    """`searchExperiments` order_by entries; experiments can only be ordered by their own columns."""
    keys = []
    for clause in order_by or ():
        text, ascending = _order_clause(clause)
        kind, key = _experiment_identifier(text)
        if kind != "attribute":
            raise _invalid(f"Invalid order_by entity: {kind}")
        keys.append(OrderKey(kind, key, ascending))
    return keys


# --- logged models ------------------------------------------------------------------------------------------------

_MODEL_PREFIXES: dict[str, Kind] = {"attributes": "attribute", "metrics": "metric", "params": "param", "tags": "tag"}
_MODEL_PREFIX_OF = {kind: prefix for prefix, kind in _MODEL_PREFIXES.items()}
_MODEL_ALIASES = {"creation_time": "creation_timestamp", "last_updated_time": "last_updated_timestamp"}
_MODEL_NUMERIC = frozenset({"creation_timestamp", "last_updated_timestamp"})
_MODEL_KEYS = _MODEL_NUMERIC | set(_MODEL_ALIASES) | {"name", "model_id", "model_type", "status", "source_run_id"}
_MODEL_NUMERIC_OPS = ("<", "<=", ">", ">=", "=", "!=")
_MODEL_STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")


def _model_identifier(text: str) -> tuple[Kind, str]:
    prefix, key = _split_identifier(text)
    if prefix is not None and prefix not in _MODEL_PREFIXES:
        raise _invalid(f"Invalid entity type: {prefix!r}. Expected one of {list(_MODEL_PREFIXES)}.")
    kind: Kind = "attribute" if prefix is None else _MODEL_PREFIXES[prefix]
    if kind == "attribute" and key not in _MODEL_KEYS:
        raise _invalid_key(key, _MODEL_KEYS)
    return kind, _MODEL_ALIASES.get(key, key) if kind == "attribute" else key


def _model_value(kind: Kind, key: str, numeric: bool, clause: _Clause) -> str | float | tuple[str, ...]:
    token = clause.value
    assert token is not None
    if numeric:
        what = "metric" if kind == "metric" else f"numeric attribute: {key}"
        return float(_number(token, f"Expected numeric value type for {what}. Found {token.text}"))
    if token.kind == "list" and clause.op in _LIST_OPS:
        return _string_list(token)
    if token.kind == "number":  # MLflow takes `params.lr = 0.01` as the string '0.01'
        return token.text
    return _string(token, _expected_string(kind, token))


def _model_comparison(clause: _Clause) -> Comparison:
    if clause.value is None:
        raise _invalid(f"Invalid comparison: {clause.left.text} {clause.op}. Expected a comparison with 3 tokens.")
    kind, key = _model_identifier(_identifier(clause))
    numeric = kind == "metric" or (kind == "attribute" and key in _MODEL_NUMERIC)
    ops = _MODEL_NUMERIC_OPS if numeric else _MODEL_STRING_OPS
    if clause.op not in ops:
        raise _invalid(
            f"Invalid comparison operator for {_MODEL_PREFIX_OF[kind]}.{key}: {clause.op!r}. Expected one of {ops}."
        )
    return Comparison(kind, key, clause.op, _model_value(kind, key, numeric, clause))


def parse_logged_model_filter(filter_string: str | None) -> list[Comparison]:
    """The AND-ed comparisons of a `searchLoggedModels` filter (metrics, params, tags and model attributes)."""
    return [_model_comparison(clause) for clause in _clauses(filter_string, "models")]
