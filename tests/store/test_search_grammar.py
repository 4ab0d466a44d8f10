"""The search grammar against hand-written expectations and, for parity, against MLflow 3.17's own parser and store.

MLflow validates a filter in two steps (parsing in `search_utils`, operator checks while its SQL store builds the
query); the parity helpers below run both steps, without a database, so they see what an MLflow server's client sees.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.tracking import sqlalchemy_store as mlflow_store
from mlflow.utils.search_logged_model_utils import parse_filter_string as mlflow_parse_logged_model_filter
from mlflow.utils.search_utils import (
    SearchExperimentsUtils,
    SearchModelUtils,
    SearchModelVersionUtils,
    SearchTraceMetricsUtils,
    SearchUtils,
)
from sqlalchemy.orm import Session

from server.errors import ErrorCode, MlflowError
from server.store.registry_grammar import (
    parse_model_version_filter,
    parse_model_version_order_by,
    parse_registered_model_filter,
    parse_registered_model_order_by,
)
from server.store.search_grammar import (
    Comparison,
    Kind,
    OrderKey,
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_logged_model_filter,
    parse_run_filter,
    parse_run_order_by,
)
from server.store.trace_grammar import parse_trace_filter, parse_trace_metrics_filter

C = Comparison
Outcome = tuple[str, Any]  # ("ok", parsed) or ("error", message)


def _ours(parse: Callable[[Any], Any], argument: Any) -> Outcome:
    """("ok", result) or ("error", message); every rejection must be a 400 INVALID_PARAMETER_VALUE."""
    try:
        return "ok", parse(argument)
    except MlflowError as caught:
        error = caught
    assert (error.code, error.status) == (ErrorCode.INVALID_PARAMETER_VALUE, 400)
    return "error", error.message


def _error(parse: Callable[[Any], Any], argument: Any) -> str:
    outcome, message = _ours(parse, argument)
    assert outcome == "error", f"{argument!r:.200} was accepted as {message!r:.200}"
    return str(message)


# --- runs: filters ------------------------------------------------------------------------------------------------

RUN_FILTERS_ACCEPTED: list[tuple[str | None, list[Comparison]]] = [
    (None, []),
    ("", []),
    ("   \n\t", []),
    ("metrics.acc > 0.9", [C("metric", "acc", ">", 0.9)]),
    ("metric.acc >= 1", [C("metric", "acc", ">=", 1.0)]),
    ("metrics.loss < -1.5e-3", [C("metric", "loss", "<", -1.5e-3)]),
    ("metrics.loss <= .5", [C("metric", "loss", "<=", 0.5)]),
    ("metrics.x != 1E5", [C("metric", "x", "!=", 1e5)]),
    ("metrics.`f1 score` = 1", [C("metric", "f1 score", "=", 1.0)]),
    ('metrics."f1 score" = 1', [C("metric", "f1 score", "=", 1.0)]),
    ("metrics.'f1 score' = 1", [C("metric", "f1 score", "=", 1.0)]),
    ("metrics.a.b>1", [C("metric", "a.b", ">", 1.0)]),
    ("params.lr = '0.1'", [C("param", "lr", "=", "0.1")]),
    ('params.lr = "0.1"', [C("param", "lr", "=", "0.1")]),
    ("param.lr != ''", [C("param", "lr", "!=", "")]),
    ("parameters.model like '%net'", [C("param", "model", "LIKE", "%net")]),
    ("parameter.model ILIKE 'Res%'", [C("param", "model", "ILIKE", "Res%")]),
    ("params.opt IS NULL", [C("param", "opt", "IS NULL", None)]),
    ("tags.team is not null", [C("tag", "team", "IS NOT NULL", None)]),
    ("tags.mlflow.runName = 'r'", [C("tag", "mlflow.runName", "=", "r")]),
    ("tag.`mlflow.user` = 'u'", [C("tag", "mlflow.user", "=", "u")]),
    ('tags.q = "it\'s"', [C("tag", "q", "=", "it's")]),
    ("tags.q = 'it''s'", [C("tag", "q", "=", "it''s")]),  # MLflow unescapes nothing
    ("tags.é = 'x'", [C("tag", "é", "=", "x")]),
    ("status = 'RUNNING'", [C("attribute", "status", "=", "RUNNING")]),
    ("attributes.status = 'FINISHED'", [C("attribute", "status", "=", "FINISHED")]),
    ("attribute.user_id = 'me'", [C("attribute", "user_id", "=", "me")]),
    ("attr.artifact_uri LIKE 's3://%'", [C("attribute", "artifact_uri", "LIKE", "s3://%")]),
    ("run.run_name = 'a'", [C("attribute", "run_name", "=", "a")]),
    ("`attributes`.run_name = 'a'", [C("attribute", "run_name", "=", "a")]),
    ("\"run name\" = 'a'", [C("attribute", "run_name", "=", "a")]),
    ("`Run Name` ILIKE 'a%'", [C("attribute", "run_name", "ILIKE", "a%")]),
    ("attributes.`Run name` != 'a'", [C("attribute", "run_name", "!=", "a")]),
    ("start_time >= 1700000000000", [C("attribute", "start_time", ">=", 1700000000000)]),
    ("attributes.end_time < 1.5", [C("attribute", "end_time", "<", 1.5)]),
    ("created > 5", [C("attribute", "start_time", ">", 5)]),
    ("Created <= 5", [C("attribute", "start_time", "<=", 5)]),
    ("run_id IN ('a', 'b')", [C("attribute", "run_id", "IN", ("a", "b"))]),
    ('attributes.run_id not in ("a",)', [C("attribute", "run_id", "NOT IN", ("a",))]),
    ("run_id IN ('a')", [C("attribute", "run_id", "IN", ("a",))]),
    ("datasets.name = 'mnist'", [C("dataset", "name", "=", "mnist")]),
    ("dataset.digest IN ('d1', 'd2')", [C("dataset", "digest", "IN", ("d1", "d2"))]),
    ("datasets.context NOT IN ('train')", [C("dataset", "context", "NOT IN", ("train",))]),
    (
        "metrics.acc > 0.9 AND params.lr = '0.1' and tags.t LIKE 'x%'",
        [C("metric", "acc", ">", 0.9), C("param", "lr", "=", "0.1"), C("tag", "t", "LIKE", "x%")],
    ),
    ("params.x='a'AND params.y='b'", [C("param", "x", "=", "a"), C("param", "y", "=", "b")]),
    ("tags.x = 'a;b'", [C("tag", "x", "=", "a;b")]),
    # MLflow only rejects tokens that are neither comparisons nor AND, so these are accepted there too.
    ("metrics.a > 1 AND", [C("metric", "a", ">", 1.0)]),
    ("metrics.a > 1 metrics.b < 2", [C("metric", "a", ">", 1.0), C("metric", "b", "<", 2.0)]),
]


@pytest.mark.parametrize(("filter_string", "expected"), RUN_FILTERS_ACCEPTED)
def test_run_filter_accepted(filter_string: str | None, expected: list[Comparison]) -> None:
    assert parse_run_filter(filter_string) == expected


RUN_FILTERS_REJECTED = [
    ("metrics.a > 1 OR params.b = 'c'", "Invalid clause(s) in filter string: 'OR'"),
    ("NOT metrics.a > 1", "Invalid clause(s) in filter string: 'NOT'"),
    ("(metrics.a > 1)", "Invalid clause(s) in filter string: '(metrics.a > 1)'"),
    ("metrics.a >", "Invalid clause(s) in filter string: 'metrics.a', '>'"),
    ("params.x = 'abc", "Invalid clause(s) in filter string: 'params.x', '=', ''', 'abc'"),
    ("metrics.x between 1 and 2", "Invalid clause(s) in filter string: 'metrics.x', 'between', '1', '2'"),
    ("run_id IN 'a'", "Invalid clause(s) in filter string: 'run_id', 'IN', ''a''"),
    ("metrics.a > 1;", "Invalid clause(s) in filter string: ';'"),
    (
        "metrics.a > 1; metrics.b > 2",
        "Search filter contained multiple expression 'metrics.a > 1; metrics.b > 2'. Provide AND-ed expression list.",
    ),
    ("'x' = params.a", "Invalid comparison clause. Expected 'Identifier' found ''x''"),
    ("metrics.a-b > 1", "Invalid comparison clause. Expected 'Identifier' found 'metrics.a-b'"),
    (
        "foo.bar = 'x'",
        "Invalid entity type 'foo'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']",
    ),
    ("METRICS.a > 1", "Invalid entity type 'METRICS'."),
    ("\"attributes\".status = 'x'", "Invalid entity type '\"attributes\"'."),
    ("lifecycle_stage = 'active'", "Invalid attribute key 'lifecycle_stage' specified. Valid keys are '{'Created', "),
    ("attributes.name = 'x'", "Invalid attribute key 'name' specified."),
    ("datasets.foo = 'x'", "Invalid dataset key 'foo' specified. Valid keys are '{'context', 'digest', 'name'}'"),
    ("metrics.acc > '1'", "Expected numeric value type for metric. Found '1'"),
    ("metrics.acc > inf", "Expected numeric value type for metric. Found inf"),
    ("metrics.acc IN (1, 2)", "Expected numeric value type for metric. Found (1, 2)"),
    ("params.lr = 0.1", "Expected a quoted string value for parameter (e.g. 'my-value'). Got value 0.1"),
    ("tags.t IN ('a')", "Expected a quoted string value for tag (e.g. 'my-value'). Got value ('a')"),
    (
        "status = RUNNING",
        "Parameter value is either not quoted or unidentified quote types used for string value RUNNING. "
        "Use either single or double quotes.",
    ),
    ("params.x = `a`", "unidentified quote types used for string value `a`."),
    ("run_id = 5", "Expected a quoted string value for attributes. Got value 5"),
    ("start_time > '5'", "Expected numeric value type for numeric attribute: start_time. Found '5'"),
    ("created IN (5)", "Expected numeric value type for numeric attribute: created. Found (5)"),
    ("datasets.name = 5", "Expected a quoted string value for dataset attributes. Got value 5"),
    ("run_name IN ('a')", "Only ['run_id'] attributes support comparison with a list of quoted string values."),
    (
        "run_id IN ()",
        "While parsing a list in the query, expected a non-empty list of string values, but got empty list",
    ),
    ("run_id NOT IN ( )", "but got empty list"),
    (
        "run_id IN (1, 2)",
        "While parsing a list in the query, expected string value, punctuation, or whitespace, "
        "but got different type in list: (1, 2)",
    ),
    ("run_id IN (a, b)", "expected a non-empty list of string values, but got ill-formed list."),
    ("run_id IN ('a',, 'b')", "but got ill-formed list."),
    ("metrics.acc IS NULL", "IS NULL / IS NOT NULL is only supported for tags and params, not for 'metric' 'acc'"),
    ("status IS NOT NULL", "not for 'attribute' 'status'"),
    ("datasets.name IS NULL", "not for 'dataset' 'name'"),
    ("metrics.acc == 1", "Invalid comparator '==' not one of '{'!=', '<', '<=', '=', '>', '>='}'"),
    ("metrics.acc LIKE 1", "Invalid comparator 'LIKE' not one of"),
    ("params.lr NOT LIKE 'a'", "Invalid comparator 'NOT LIKE' not one of '{'!=', '=', 'ILIKE', 'IS NOT NULL', "),
    ("params.lr RLIKE 'a'", "Invalid comparator 'RLIKE' not one of"),
    ("tags.t > 'a'", "Invalid comparator '>' not one of"),
    ("status > 'a'", "Invalid comparator '>' not one of '{'!=', '=', 'ILIKE', 'IN', 'LIKE', 'NOT IN'}'"),
    ("start_time LIKE 5", "Invalid comparator 'LIKE' not one of '{'!=', '<', '<=', '=', '>', '>='}'"),
    ("datasets.name > 'a'", "Invalid comparator '>' not one of"),
    ("run_id = ('a')", "Expected a quoted string value for attributes. Got value ('a')"),
    ("dataset.name != ('a')", "Expected a quoted string value for dataset attributes. Got value ('a')"),
]


@pytest.mark.parametrize(("filter_string", "fragment"), RUN_FILTERS_REJECTED)
def test_run_filter_rejected(filter_string: str, fragment: str) -> None:
    assert fragment in _error(parse_run_filter, filter_string)


# --- runs: order_by -----------------------------------------------------------------------------------------------

RUN_ORDER_BY_ACCEPTED: list[tuple[list[str] | None, list[OrderKey]]] = [
    (None, []),
    ([], []),
    (["metrics.acc"], [OrderKey("metric", "acc", True)]),
    (["metrics.acc DESC"], [OrderKey("metric", "acc", False)]),
    (["metric.acc asc", "params.lr desc"], [OrderKey("metric", "acc", True), OrderKey("param", "lr", False)]),
    (["metrics.`f1 score` DESC"], [OrderKey("metric", "f1 score", False)]),
    (['tags."a b"'], [OrderKey("tag", "a b", True)]),
    (["tags.mlflow.runName"], [OrderKey("tag", "mlflow.runName", True)]),
    (["start_time"], [OrderKey("attribute", "start_time", True)]),
    (["attributes.end_time DESC"], [OrderKey("attribute", "end_time", False)]),
    (["created DESC"], [OrderKey("attribute", "start_time", False)]),
    (["run_name", "attr.status"], [OrderKey("attribute", "run_name", True), OrderKey("attribute", "status", True)]),
    (
        ["run_id", "user_id DESC", "artifact_uri"],
        [
            OrderKey("attribute", "run_id", True),
            OrderKey("attribute", "user_id", False),
            OrderKey("attribute", "artifact_uri", True),
        ],
    ),
    (
        ["metrics.a", "params.a", "tags.a"],
        [OrderKey("metric", "a", True), OrderKey("param", "a", True), OrderKey("tag", "a", True)],
    ),
]


@pytest.mark.parametrize(("order_by", "expected"), RUN_ORDER_BY_ACCEPTED)
def test_run_order_by_accepted(order_by: list[str] | None, expected: list[OrderKey]) -> None:
    assert parse_run_order_by(order_by) == expected


RUN_ORDER_BY_REJECTED = [
    (["metrics.acc DESC ASC"], "Invalid order_by clause 'metrics.acc DESC ASC'. Could not be parsed."),
    (["metrics.acc > 1"], "Invalid order_by clause 'metrics.acc > 1'. Could not be parsed."),
    ([""], "Invalid order_by clause ''. Could not be parsed."),
    (["metrics.a,metrics.b"], "Could not be parsed."),
    (["metrics.a-b"], "Could not be parsed."),
    (["metrics.acc DOWN"], "Invalid ordering key in order_by clause 'metrics.acc DOWN'."),
    (["datasets.name"], "Invalid identifier type 'dataset'"),
    (["foo.bar"], "Invalid entity type 'foo'."),
    (["lifecycle_stage"], "Invalid attribute key 'lifecycle_stage' specified. Valid keys are '{'Created', "),
    (["`Run Name`"], "Invalid attribute key 'Run Name' specified."),
    (["metrics.a", "metrics.a DESC"], "`order_by` contains duplicate fields: ['metrics.a', 'metrics.a DESC']"),
    (("created", "start_time"), "`order_by` contains duplicate fields: ['created', 'start_time']"),
    (["run_id", "attributes.run_id DESC"], "`order_by` contains duplicate fields"),
]


@pytest.mark.parametrize(("order_by", "fragment"), RUN_ORDER_BY_REJECTED)
def test_run_order_by_rejected(order_by: Sequence[str], fragment: str) -> None:
    assert fragment in _error(parse_run_order_by, order_by)


# --- experiments --------------------------------------------------------------------------------------------------

EXPERIMENT_FILTERS_ACCEPTED: list[tuple[str | None, list[Comparison]]] = [
    (None, []),
    (" ", []),
    ("name = 'x'", [C("attribute", "name", "=", "x")]),
    ("attribute.name LIKE 'x%'", [C("attribute", "name", "LIKE", "x%")]),
    ("`name` ILIKE 'X%'", [C("attribute", "name", "ILIKE", "X%")]),
    ("experiment_id = '1'", [C("attribute", "experiment_id", "=", "1")]),
    ("experiment_id IN ('1', '2')", [C("attribute", "experiment_id", "IN", ("1", "2"))]),
    ("experiment_id NOT IN ('3')", [C("attribute", "experiment_id", "NOT IN", ("3",))]),
    ("creation_time > 5", [C("attribute", "creation_time", ">", 5)]),
    ("last_update_time <= -5", [C("attribute", "last_update_time", "<=", -5)]),
    ("tags.x = 'y'", [C("tag", "x", "=", "y")]),
    ("tag.`a b` != 'y'", [C("tag", "a b", "!=", "y")]),
    ("tags.x IS NULL", [C("tag", "x", "IS NULL", None)]),
    ("tags.x is not null", [C("tag", "x", "IS NOT NULL", None)]),
    ("name = 'a' and tags.x LIKE 'b%'", [C("attribute", "name", "=", "a"), C("tag", "x", "LIKE", "b%")]),
]


@pytest.mark.parametrize(("filter_string", "expected"), EXPERIMENT_FILTERS_ACCEPTED)
def test_experiment_filter_accepted(filter_string: str | None, expected: list[Comparison]) -> None:
    assert parse_experiment_filter(filter_string) == expected


EXPERIMENT_FILTERS_REJECTED = [
    ("name = 'a' OR tags.x = 'b'", "Invalid clause(s) in filter string: OR"),
    ("(name = 'a')", "Invalid clause(s) in filter string: (name = 'a')"),
    ("name = 'a'; name = 'b'", "Search filter contained multiple expression"),
    ("attributes.name = 'x'", "Invalid entity type 'attributes'. Valid entity types are ('attribute', 'tag', 'tags')"),
    ("metrics.x > 1", "Invalid entity type 'metrics'."),
    ("lifecycle_stage = 'active'", "Invalid attribute key 'lifecycle_stage' specified. Valid keys are "),
    ("name IS NULL", "IS NULL / IS NOT NULL is only supported for tags, not for attribute 'name'"),
    ("name = 5", "Expected a quoted string value for attributes. Got value 5"),
    ("name IN ('a')", "Only ['experiment_id'] attributes support comparison with a list of quoted string values."),
    ("name > 'x'", "Invalid comparator '>' not one of '{'!=', '=', 'ILIKE', 'IN', 'LIKE', 'NOT IN'}'"),
    ("experiment_id = 1", "Expected a quoted string value for attributes. Got value 1"),
    ("experiment_id = 'abc'", "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."),
    ("experiment_id IN ('1', 'a')", "Invalid experiment ID 'a'."),
    ("experiment_id LIKE '1%'", "Invalid comparator for experiment_id: LIKE"),
    ("creation_time > '5'", "Expected numeric value type for numeric attribute: creation_time. Found '5'"),
    ("creation_time > 1.5", "Invalid value for numeric attribute 'creation_time': '1.5'"),
    ("creation_time LIKE 5", "Invalid comparator 'LIKE' not one of '{'!=', '<', '<=', '=', '>', '>='}'"),
    ("tags.x = 5", "Expected a quoted string value for tag (e.g. 'my-value'). Got value 5"),
    ("tags.x > 'y'", "Invalid comparator for tag: >"),
]


@pytest.mark.parametrize(("filter_string", "fragment"), EXPERIMENT_FILTERS_REJECTED)
def test_experiment_filter_rejected(filter_string: str, fragment: str) -> None:
    assert fragment in _error(parse_experiment_filter, filter_string)


def test_experiment_order_by() -> None:
    assert parse_experiment_order_by(None) == []
    assert parse_experiment_order_by(["name DESC", "attribute.experiment_id", "creation_time asc"]) == [
        OrderKey("attribute", "name", False),
        OrderKey("attribute", "experiment_id", True),
        OrderKey("attribute", "creation_time", True),
    ]
    assert parse_experiment_order_by(["last_update_time"]) == [OrderKey("attribute", "last_update_time", True)]
    # MLflow does not reject a repeated experiment order key, so neither do we.
    assert len(parse_experiment_order_by(["name", "name DESC"])) == 2


@pytest.mark.parametrize(
    ("order_by", "fragment"),
    [
        (["tags.x"], "Invalid order_by entity: tag"),
        (["metrics.x"], "Invalid entity type 'metrics'. Valid entity types are ('attribute', 'tag', 'tags')"),
        (["lifecycle_stage"], "Invalid attribute key 'lifecycle_stage' specified."),
        (["name UP"], "Invalid ordering key in order_by clause 'name UP'."),
        (["name DESC ASC"], "Invalid order_by clause 'name DESC ASC'. Could not be parsed."),
    ],
)
def test_experiment_order_by_rejected(order_by: list[str], fragment: str) -> None:
    assert fragment in _error(parse_experiment_order_by, order_by)


# --- logged models ------------------------------------------------------------------------------------------------

LOGGED_MODEL_FILTERS_ACCEPTED: list[tuple[str | None, list[Comparison]]] = [
    (None, []),
    ("metrics.acc > 0.5", [C("metric", "acc", ">", 0.5)]),
    ("metrics.`f1 score` <= 1", [C("metric", "f1 score", "<=", 1.0)]),
    ('metrics."f1 score" <= 1', [C("metric", "f1 score", "<=", 1.0)]),
    ("params.lr = '0.1'", [C("param", "lr", "=", "0.1")]),
    ("params.lr = 0.01", [C("param", "lr", "=", "0.01")]),
    ("tags.t like 'a%'", [C("tag", "t", "LIKE", "a%")]),
    ("name = 'm'", [C("attribute", "name", "=", "m")]),
    ("attributes.name IN ('a', 'b')", [C("attribute", "name", "IN", ("a", "b"))]),
    ("model_id NOT IN ('m-1')", [C("attribute", "model_id", "NOT IN", ("m-1",))]),
    ("model_type != 'agent'", [C("attribute", "model_type", "!=", "agent")]),
    ("status = 'READY'", [C("attribute", "status", "=", "READY")]),
    ("source_run_id = 'r'", [C("attribute", "source_run_id", "=", "r")]),
    ("creation_time > 5", [C("attribute", "creation_timestamp", ">", 5.0)]),
    ("creation_timestamp >= 5", [C("attribute", "creation_timestamp", ">=", 5.0)]),
    ("attributes.creation_time < 1.5", [C("attribute", "creation_timestamp", "<", 1.5)]),
    ("last_updated_timestamp > 5", [C("attribute", "last_updated_timestamp", ">", 5.0)]),
    ("last_updated_time != 5", [C("attribute", "last_updated_timestamp", "!=", 5.0)]),
    ("metrics.a > 1 and params.b = 'c'", [C("metric", "a", ">", 1.0), C("param", "b", "=", "c")]),
]


@pytest.mark.parametrize(("filter_string", "expected"), LOGGED_MODEL_FILTERS_ACCEPTED)
def test_logged_model_filter_accepted(filter_string: str | None, expected: list[Comparison]) -> None:
    assert parse_logged_model_filter(filter_string) == expected


LOGGED_MODEL_FILTERS_REJECTED = [
    (
        "metrics.a > 1 OR params.b = 'c'",
        "Invalid filter string: \"metrics.a > 1 OR params.b = 'c'\". Expected a list of comparisons separated by "
        "'AND' (e.g. 'metrics.loss > 0.1 AND params.lr = 0.01').",
    ),
    ("metrics.a > 1; metrics.b > 2", "Invalid filter string: 'metrics.a > 1; metrics.b > 2'. Expected a single SQL"),
    ("metric.acc > 1", "Invalid entity type: 'metric'. Expected one of ['attributes', 'metrics', 'params', 'tags']."),
    ("datasets.name = 'x'", "Invalid entity type: 'datasets'."),
    ("tags.t IS NULL", "Invalid comparison: tags.t IS NULL. Expected a comparison with 3 tokens."),
    (
        "metrics.acc LIKE 1",
        "Invalid comparison operator for metrics.acc: 'LIKE'. Expected one of ('<', '<=', '>', '>=', '=', '!=').",
    ),
    (
        "name > 'a'",
        "Invalid comparison operator for attributes.name: '>'. Expected one of "
        "('=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN').",
    ),
    ("creation_time LIKE 5", "Invalid comparison operator for attributes.creation_timestamp: 'LIKE'."),
    ("foo = 'x'", "Invalid attribute key 'foo' specified. Valid keys are '{'creation_time', "),
    ("metrics.acc > '0.5'", "Expected numeric value type for metric. Found '0.5'"),
    ("creation_time > 'x'", "Expected numeric value type for numeric attribute: creation_timestamp. Found 'x'"),
    ("params.lr = x", "Parameter value is either not quoted"),
    ("name IN ()", "but got empty list"),
    ("name = ('a')", "Expected a quoted string value for attributes. Got value ('a')"),
]


@pytest.mark.parametrize(("filter_string", "fragment"), LOGGED_MODEL_FILTERS_REJECTED)
def test_logged_model_filter_rejected(filter_string: str, fragment: str) -> None:
    assert fragment in _error(parse_logged_model_filter, filter_string)


# --- parity with MLflow 3.17 --------------------------------------------------------------------------------------


def _mlflow(step: Callable[[], Any]) -> Outcome:
    try:
        return "ok", step()
    except MlflowException as error:
        return "error", error.message


def _mlflow_run_filter(filter_string: str) -> Outcome:
    def step() -> list[Comparison]:
        parsed = SearchUtils.parse_search_filter(filter_string)
        mlflow_store._get_sqlalchemy_filter_clauses(parsed, Session(), "sqlite")  # the store's operator checks
        return [_comparison_from_mlflow(clause) for clause in parsed]

    return _mlflow(step)


def _mlflow_experiment_filter(filter_string: str) -> Outcome:
    def step() -> list[Comparison]:
        parsed = SearchExperimentsUtils.parse_search_filter(filter_string)
        mlflow_store._get_search_experiments_filter_clauses(parsed, "sqlite")
        return [_comparison_from_mlflow(clause) for clause in parsed]

    return _mlflow(step)


def _kind(mlflow_type: str) -> Kind:
    """Our name for one of MLflow's entity type names ("parameter", "metrics", ...)."""
    kind = {"parameter": "param", "attributes": "attribute", "metrics": "metric", "params": "param", "tags": "tag"}
    return cast(Kind, kind.get(mlflow_type, mlflow_type))


def _comparison_from_mlflow(clause: dict[str, Any]) -> Comparison:
    kind = _kind(clause["type"])
    key = SearchUtils.translate_key_alias(clause["key"]) if kind == "attribute" else clause["key"]
    value = float(clause["value"]) if kind == "metric" else clause["value"]
    return Comparison(kind, key, clause["comparator"].upper(), value)


def _assert_same_outcome(ours: Outcome, theirs: Outcome) -> None:
    assert ours[0] == theirs[0], f"ours {ours!r}, MLflow {theirs!r}"
    if ours[0] == "ok":
        assert ours[1] == theirs[1]
    elif "{" not in theirs[1]:  # MLflow prints sets in hash order; we sort them
        assert ours[1] == theirs[1]


RUN_PARITY = [
    "metrics.acc > 0.9",
    "metric.acc >= -1",
    "metrics.x > 1.5e-3",
    "metrics.`f1 score` != 1",
    'metrics."f1 score" < 1',
    "metrics.a.b = 1",
    "params.lr = '0.1'",
    'params.lr = "0.1"',
    "params.lr LIKE '%a'",
    "params.lr ilike '%a'",
    "params.lr IS NULL",
    "tags.t IS NOT NULL",
    "tags.mlflow.runName = 'x'",
    "tags.`mlflow.runName` = 'x'",
    "attributes.status = 'RUNNING'",
    "run.status != 'RUNNING'",
    "status = 'RUNNING' AND start_time > 5",
    "`Run Name` = 'x'",
    "created > 5",
    "attributes.end_time <= 1.5",
    "run_id IN ('a', 'b')",
    "run_id not in ('a')",
    "datasets.name = 'x'",
    "datasets.digest IN ('a', 'b')",
    "datasets.context LIKE 'tr%'",
    "metrics.a > 1 and params.b = 'c'",
    "metrics.a > 1 AND",
    "metrics.a > 1 metrics.b < 2",
    "metrics.acc > '1'",
    "metrics.acc > inf",
    "metrics.acc == 1",
    "metrics.acc LIKE 1",
    "metrics.acc IS NULL",
    "metrics.a-b > 1",
    "params.lr = 0.1",
    "params.lr NOT LIKE 'a'",
    "params.lr IN ('a')",
    "status = RUNNING",
    "lifecycle_stage = 'active'",
    "start_time > '5'",
    "start_time LIKE 5",
    "run_name IN ('a')",
    "run_id IN ()",
    "run_id IN (1, 2)",
    "run_id = 5",
    "datasets.foo = 'x'",
    "datasets.name IS NULL",
    "foo.bar = 'x'",
    "METRICS.a > 1",
    "metrics.a > 1 OR params.b = 'c'",
    "NOT metrics.a > 1",
    "(metrics.a > 1)",
    "metrics.a > 1; metrics.b > 2",
    "metrics.a >",
    "'x' = params.a",
    "params.x = 'abc",
]


@pytest.mark.parametrize("filter_string", RUN_PARITY)
def test_run_filter_matches_mlflow(filter_string: str) -> None:
    _assert_same_outcome(_ours(parse_run_filter, filter_string), _mlflow_run_filter(filter_string))


EXPERIMENT_PARITY = [
    "name = 'x'",
    "name LIKE 'x%'",
    "attribute.name != 'x'",
    "experiment_id = '1'",
    "experiment_id IN ('1', '2')",
    "experiment_id NOT IN ('1')",
    "creation_time > 5",
    "last_update_time = -5",
    "tags.x = 'y'",
    "tag.x ILIKE 'y'",
    "tags.x IS NULL",
    "tags.x IS NOT NULL",
    "name = 'a' AND tags.x = 'b'",
    "name > 'x'",
    "name IN ('a')",
    "name = 5",
    "name IS NULL",
    "attributes.name = 'x'",
    "metrics.x > 1",
    "foo = 'x'",
    "experiment_id = 'abc'",
    "experiment_id LIKE '1'",
    "creation_time > 1.5",
    "creation_time > '5'",
    "tags.x > 'y'",
    "tags.x = 5",
    "name = 'a' OR tags.x = 'b'",
]


@pytest.mark.parametrize("filter_string", EXPERIMENT_PARITY)
def test_experiment_filter_matches_mlflow(filter_string: str) -> None:
    _assert_same_outcome(_ours(parse_experiment_filter, filter_string), _mlflow_experiment_filter(filter_string))


RUN_ORDER_BY_PARITY = [
    ["metrics.acc"],
    ["metrics.acc DESC", "params.lr asc"],
    ["metrics.`f1 score` DESC"],
    ["tags.mlflow.runName"],
    ["start_time", "end_time DESC", "run_name", "status", "run_id", "user_id", "artifact_uri"],
    ["created DESC"],
    ["lifecycle_stage"],
    ["metrics.acc DESC ASC"],
    ["metrics.acc DOWN"],
    ["datasets.name"],
    ["foo.bar"],
    ["metrics.a", "metrics.a DESC"],
    ["created", "start_time"],
    [""],
]


def _order_key_from_mlflow(parsed: tuple[str, str, bool]) -> OrderKey:
    mlflow_type, key, ascending = parsed
    kind = _kind(mlflow_type)
    return OrderKey(kind, SearchUtils.translate_key_alias(key) if kind == "attribute" else key, ascending)


@pytest.mark.parametrize("order_by", RUN_ORDER_BY_PARITY)
def test_run_order_by_matches_mlflow(order_by: list[str]) -> None:
    def step() -> list[OrderKey]:
        mlflow_store._get_orderby_clauses(order_by, Session())
        return [_order_key_from_mlflow(SearchUtils.parse_order_by_for_search_runs(o)) for o in order_by]

    _assert_same_outcome(_ours(parse_run_order_by, order_by), _mlflow(step))


@pytest.mark.parametrize(
    "order_by", [["name"], ["name DESC", "experiment_id"], ["tags.x"], ["metrics.x"], ["foo"], ["name UP"]]
)
def test_experiment_order_by_matches_mlflow(order_by: list[str]) -> None:
    def step() -> list[OrderKey]:
        mlflow_store._get_search_experiments_order_by_clauses(order_by)
        parsed = map(SearchExperimentsUtils.parse_order_by_for_search_experiments, order_by)
        return [OrderKey(kind, key, ascending) for kind, key, ascending in parsed]

    _assert_same_outcome(_ours(parse_experiment_order_by, order_by), _mlflow(step))


@pytest.mark.parametrize(
    "filter_string",
    [
        "metrics.acc > 0.5",
        "params.lr = '0.1'",
        "params.lr = 0.01",
        "tags.t like 'a%'",
        "name IN ('a', 'b')",
        "model_id != 'm'",
        "creation_time > 5",
        "creation_timestamp >= 1.5",
        "last_updated_timestamp < 5",
        "metrics.a > 1 AND params.b = 'c'",
        "metrics.acc LIKE 1",
        "name > 'a'",
        "metric.acc > 1",
        "tags.t IS NULL",
        "metrics.a > 1 OR params.b = 'c'",
        "metrics.a > 1; metrics.b > 2",
    ],
)
def test_logged_model_filter_matches_mlflow(filter_string: str) -> None:
    def step() -> list[Comparison]:
        parsed = mlflow_parse_logged_model_filter(filter_string)
        return [C(_kind(c.entity.type.value), c.entity.key.removesuffix("_ms"), c.op, c.value) for c in parsed]

    ours, theirs = _ours(parse_logged_model_filter, filter_string), _mlflow(step)
    assert ours[0] == theirs[0], f"ours {ours!r}, MLflow {theirs!r}"
    if ours[0] == "ok":
        assert ours[1] == theirs[1]
    elif not theirs[1].startswith("Invalid comparison operator for attributes.creation"):
        assert ours[1] == theirs[1].replace("tags.tIS", "tags.t IS")  # MLflow glues these tokens together


# Each row: (parser, text, what MLflow 3.17 does, what we do) for a place where we deliberately differ.
DEVIATIONS: list[tuple[Callable[[str], Any], str, str, str]] = [
    # Whitespace-only filters mean "no filter", as an empty one does.
    (parse_run_filter, "   ", "error", "ok"),
    # A list value only makes sense with IN / NOT IN; MLflow builds `column = (...)` SQL from it.
    (parse_run_filter, "run_id = ('a')", "ok", "error"),
    (parse_run_filter, "dataset.name = ('a')", "ok", "error"),
    (parse_experiment_filter, "experiment_id = ('1')", "ok", "error"),
    # Operators are keywords, so their case does not matter anywhere (MLflow's experiment store compares verbatim).
    (parse_experiment_filter, "name like 'x%'", "error", "ok"),
    (parse_experiment_filter, "experiment_id in ('1', '2')", "error", "ok"),
    (parse_experiment_filter, "tags.x like 'y'", "error", "ok"),
    # Any amount of whitespace inside IS NOT NULL / NOT IN; SQL keywords after a dot are ordinary key names.
    (parse_run_filter, "params.lr IS  NOT  NULL", "error", "ok"),
    (parse_run_filter, "tags.from = 'x'", "error", "ok"),
    # Python's implicit string concatenation inside a list is not part of the grammar.
    (parse_run_filter, "run_id IN ('a' 'b')", "ok", "error"),
    # Logged models: MLflow's parser accepts unknown attributes, bare words and empty lists, then fails later.
    (parse_logged_model_filter, "foo = 'x'", "ok", "error"),
    (parse_logged_model_filter, "params.lr = x", "ok", "error"),
    (parse_logged_model_filter, "name IN ()", "ok", "error"),
    # ...and treats the documented alias last_updated_time as a string column.
    (parse_logged_model_filter, "last_updated_time > 5", "error", "ok"),
]


def _mlflow_outcome(parser: Callable[[str], Any], text: str) -> str:
    if parser is parse_run_filter:
        return _mlflow_run_filter(text)[0]
    if parser is parse_experiment_filter:
        return _mlflow_experiment_filter(text)[0]
    return _mlflow(lambda: mlflow_parse_logged_model_filter(text))[0]


@pytest.mark.parametrize(("parser", "text", "mlflow_outcome", "our_outcome"), DEVIATIONS)
def test_known_deviations_from_mlflow(
    parser: Callable[[str], Any], text: str, mlflow_outcome: str, our_outcome: str
) -> None:
    assert _mlflow_outcome(parser, text) == mlflow_outcome
    assert _ours(parser, text)[0] == our_outcome


def test_order_by_tolerates_surrounding_whitespace_unlike_mlflow() -> None:
    assert _mlflow(lambda: SearchUtils.parse_order_by_for_search_runs(" metrics.a DESC "))[0] == "error"
    assert parse_run_order_by([" metrics.a  DESC "]) == [OrderKey("metric", "a", False)]


def test_mlflow_alias_is_not_applied_to_metric_keys() -> None:
    """MLflow rewrites `created` to `start_time` for every key type; only the attribute alias is meant."""
    assert parse_run_filter("metrics.created > 1") == [C("metric", "created", ">", 1.0)]


# --- trace metrics: one `<view>.<entity>[.<key>] = '<value>'` clause per filter ---------------------------------

TRACE_METRICS_PARITY = [
    # accepted
    "trace.status = 'OK'",
    'trace.status = "ERROR"',
    'trace.status="OK"',
    "`trace`.status = 'OK'",
    "trace.tag.team = 'vision'",
    "trace.tag.`a.b` = 'x'",
    'trace.tag."a b" = "x"',
    "trace.tag.'a b' = 'x'",
    "trace.metadata.mlflow.trace.session = 's-1'",
    "trace.metadata.mlflow.sourceRun = 'r'",
    'trace.tag.k = "it\'s"',
    "trace.tag.k = 'a''b'",
    "trace.status = ''",
    'span.type = "TOOL"',
    "span.name = 'retrieve'",
    "span.status = 'ERROR'",
    "assessment.name = 'relevance'",
    'assessment.type = "feedback"',
    # refused, each with MLflow's message
    "",
    "  ",
    "trace.status",
    "status = 'x'",
    "'x' = trace.status",
    '"x" = trace.status',
    "5 = trace.status",
    "trace.status = OK",
    "trace.status = 5",
    "trace.status = 1.5",
    'trace.status = ("a")',
    "trace.status = trace.name",
    "trace.status = 'abc",
    "trace.status IS NULL",
    'span.name IN ("a")',
    'trace.status LIKE "a"',
    'trace.status like "a"',
    'trace.status != "a"',
    'trace.status == "a"',
    'trace.status >= "a"',
    'trace.status = "a" AND span.name = "b"',
    'trace.status = "a" OR trace.status = "b"',
    'trace.status = "a" AND',
    'trace.status = "a" trace.status = "b"',
    'trace.status = "a";',
    'trace.status = "a"; span.name = "b"',
    'TRACE.status = "a"',
    'run.status = "a"',
    'trace.STATUS = "a"',
    'trace.`status` = "a"',
    'trace.foo = "a"',
    'span.foo = "a"',
    'assessment.value = "a"',
    'trace.tag = "a"',
    'trace.metadata = "a"',
    'trace.status.x = "a"',
    'span.name.x = "a"',
]


def _mlflow_trace_metrics_filter(text: str) -> Outcome:
    def step() -> tuple[str, str, str | None, str]:
        parsed = SearchTraceMetricsUtils.parse_search_filter(text)
        return parsed.view_type, parsed.entity, parsed.key, parsed.value

    return _mlflow(step)


@pytest.mark.parametrize("text", TRACE_METRICS_PARITY)
def test_trace_metrics_filter_matches_mlflow(text: str) -> None:
    outcome, parsed = _ours(parse_trace_metrics_filter, text)
    ours = (outcome, (parsed.view, parsed.entity, parsed.key, parsed.value) if outcome == "ok" else parsed)
    assert ours == _mlflow_trace_metrics_filter(text)


# --- robustness ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "(" + "'" * 20001 + ")",
        "(" + '"' * 20001 + ")",
        "'" + "\\'" * 20000,
        "params.x = 'a" + "\\'" * 10000,
        "a." * 20000,
        "a-" * 20000,
        "(" * 20000,
        "run_id IN (" + "'a' " * 10000 + ")",
    ],
    ids=lambda text: repr(text[:12]),
)
def test_pathological_input_is_answered_fast(text: str) -> None:
    """Runs of quotes and separators must not make the tokenizer backtrack exponentially. On inputs this long,
    exponential backtracking takes hours, and linear parsing well under a second, so a bound of a minute tells them
    apart however loaded the machine is."""
    started = time.perf_counter()
    for parse in (parse_run_filter, parse_experiment_filter, parse_logged_model_filter, parse_trace_metrics_filter):
        _ours(parse, text)
    _ours(parse_run_order_by, [text])
    assert time.perf_counter() - started < 60


def test_long_valid_filter() -> None:
    text = " AND ".join(f"metrics.m{i} > {i}" for i in range(2000))
    assert parse_run_filter(text)[-1] == C("metric", "m1999", ">", 1999.0)


# --- registered models and model versions -------------------------------------------------------------------------

REGISTERED_MODEL_FILTERS = [
    ("name = 'a'", [C("attribute", "name", "=", "a")]),
    ("name ILIKE '%a%' AND tags.team = \"ml\"", [C("attribute", "name", "ILIKE", "%a%"), C("tag", "team", "=", "ml")]),
    ("name IN ('a', 'b')", [C("attribute", "name", "IN", ("a", "b"))]),
    ("tags.`mlflow.prompt.is_prompt` != 'true'", [C("tag", "mlflow.prompt.is_prompt", "!=", "true")]),
    ("attribute.name NOT IN ('x')", [C("attribute", "name", "NOT IN", ("x",))]),
]
MODEL_VERSION_FILTERS = [
    ("version_number >= 2", [C("attribute", "version_number", ">=", 2)]),
    ("version_number = '3'", [C("attribute", "version_number", "=", 3)]),
    (
        "run_id IN ('r1') AND source_path LIKE 's3://%'",
        [
            C("attribute", "run_id", "IN", ("r1",)),
            C("attribute", "source_path", "LIKE", "s3://%"),
        ],
    ),
    (
        "name = 'm' AND tag.`mlflow.prompt.is_prompt` = 'true'",
        [
            C("attribute", "name", "=", "m"),
            C("tag", "mlflow.prompt.is_prompt", "=", "true"),
        ],
    ),
]


@pytest.mark.parametrize(("text", "expected"), REGISTERED_MODEL_FILTERS)
def test_registered_model_filters(text: str, expected: list[Comparison]) -> None:
    assert parse_registered_model_filter(text) == expected
    assert len(SearchModelUtils.parse_search_filter(text)) == len(expected)  # MLflow's parser takes it too


@pytest.mark.parametrize(("text", "expected"), MODEL_VERSION_FILTERS)
def test_model_version_filters(text: str, expected: list[Comparison]) -> None:
    assert parse_model_version_filter(text) == expected
    assert len(SearchModelVersionUtils.parse_search_filter(text)) == len(expected)


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (parse_registered_model_filter, "name = 3"),
        (parse_registered_model_filter, "version_number = 1"),
        (parse_registered_model_filter, "params.a = 'b'"),
        (parse_registered_model_filter, "name = 'a' OR name = 'b'"),
        (parse_registered_model_filter, "tags.t > 'a'"),
        (parse_registered_model_filter, "tags.t IS NULL"),
        (parse_registered_model_filter, "name IN ()"),
        (parse_registered_model_filter, "name > 'a'"),
        (parse_model_version_filter, "version_number = 1.5"),
        (parse_model_version_filter, "version_number = 'x'"),
        (parse_model_version_filter, "source_path IN ('a')"),
        (parse_model_version_filter, "run_id = 5"),
        (parse_model_version_filter, "name IN 'a'"),
        (parse_model_version_filter, "metrics.acc > 1"),
    ],
)
def test_registry_filters_refused(parse: Callable[[str], list[Comparison]], text: str) -> None:
    outcome = _ours(parse, text)
    assert outcome[0] == "error", outcome


def test_registry_order_by() -> None:
    assert parse_registered_model_order_by(["timestamp DESC", "name"]) == [
        OrderKey("attribute", "last_updated_timestamp", False),
        OrderKey("attribute", "name", True),
    ]
    assert parse_model_version_order_by(["attribute.version_number desc"]) == [
        OrderKey("attribute", "version_number", False)
    ]
    for parse, order_by in (
        (parse_registered_model_order_by, ["timestamp", "last_updated_timestamp DESC"]),
        (parse_registered_model_order_by, ["creation_timestamp"]),
        (parse_model_version_order_by, ["run_id"]),
        (parse_model_version_order_by, ["tags.name"]),
        (parse_model_version_order_by, ["name", "name"]),
    ):
        assert _ours(parse, order_by)[0] == "error", order_by


# --- trace search filters: refusals in MLflow's words (sets sorted, where MLflow prints them in hash order) ------

_TRACE_STRING_OPS = "{'!=', '=', 'ILIKE', 'IN', 'LIKE', 'NOT IN', 'RLIKE'}"
_TRACE_KEYED_OPS = "{'!=', '=', 'ILIKE', 'IS NOT NULL', 'IS NULL', 'LIKE', 'RLIKE'}"
_TRACE_NUMERIC = "{'end_time', 'end_time_ms', 'execution_time', 'execution_time_ms', 'timestamp', 'timestamp_ms'}"


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        ("trace.status IS NULL", f"Invalid comparator 'IS NULL' not one of '{_TRACE_STRING_OPS}'"),
        ("tags.a > 'x'", f"Invalid comparator '>' not one of '{_TRACE_KEYED_OPS}'"),
        ("tags.a IN ('x')", f"Invalid comparator 'IN' not one of '{_TRACE_KEYED_OPS}'"),
        ("trace.run_id IN ('a')", f"Invalid comparator 'IN' not one of '{_TRACE_KEYED_OPS}'"),
        ("metadata.a = 5", "Expected a quoted string value for request_metadata (e.g. 'my-value'). Got value 5"),
        ("trace.status = 5", f"Only the '{_TRACE_NUMERIC}' attributes support comparison with numeric values."),
        ("trace.text LIKE 5", f"Only the '{_TRACE_NUMERIC}' attributes support comparison with numeric values."),
        ("trace.text = 'x'", "span.content comparator '=' not one of '{'ILIKE', 'LIKE'}'"),
        ("span.type IS NOT NULL", f"span.type comparator 'IS NOT NULL' not one of '{_TRACE_STRING_OPS}'"),
        ("feedback.x > 'a'", "Expected a numeric value for feedback when using comparator '>'. Got value 'a'"),
        ("expectation.y = 1", "Expected a quoted string value for expectation (e.g. 'my-value'). Got value 1"),
        ("issue.id != 'a'", "issue.id comparator '!=' not one of '{'='}'"),
        (
            "foo.bar = 'x'",
            "Invalid entity type 'foo'. Valid values are {'attribute', 'attributes', 'expectation', 'feedback', "
            "'issue', 'metadata', 'request_metadata', 'span', 'tag', 'tags', 'trace'}",
        ),
        ("tags.a RLIKE '[a-'", "Invalid regular expression '[a-' for RLIKE: unterminated character set at position 0"),
    ],
)
def test_refused_trace_filters(filter_string: str, message: str) -> None:
    with pytest.raises(MlflowError) as refused:
        parse_trace_filter(filter_string)
    assert refused.value.message == message


def test_a_quoted_number_compares_as_a_number_on_a_numeric_trace_attribute() -> None:
    assert parse_trace_filter("trace.timestamp_ms >= '1700000000000'") == [
        Comparison("attribute", "timestamp_ms", ">=", 1_700_000_000_000)
    ]
