"""The GraphQL engine behind `/graphql` (graphql.py): MLflow's schema, the resolvers that answer each root field
with its RPC, and the size limits. It is imported with the first GraphQL request, so graphql-core stays out of a
server's start."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    build_schema,
    default_field_resolver,
    execute,
    is_list_type,
    parse,
    validate,
)
from graphql.language import IntValueNode, StringValueNode
from sqlalchemy.orm import Session

from server.api.graphql import ROOT_FIELDS
from server.api.routing import Rpc, invoke
from server.api.wire import Fields
from server.auth.identity import Principal
from server.errors import MlflowError
from server.web.context import Context

log = logging.getLogger(__name__)

SCHEMA_FILE = Path(__file__).with_name("graphql_schema.graphql")
# MLflow's `check_query_safety` limits; they keep one request from fanning out into thousands of lookups.
MAX_DEPTH = 10
MAX_SELECTIONS = 1000
MAX_ROOT_FIELDS = 10

RUN_PARTS = ("info", "data", "inputs", "outputs")
METRIC_TYPES = ("MlflowMetricExtension", "MlflowMetricWithRunId", "MlflowModelMetric")


@dataclass
class Call:
    """One GraphQL request: the session all its resolvers share, and who is asking."""

    session: Session
    context: Context
    principal: Principal | None
    rpcs: Mapping[tuple[str, str], Rpc]
    experiments: dict[str, Any] = field(default_factory=dict)  # a run list names few experiments; look each up once

    def rpc(self, method: str, path: str, fields: Mapping[str, Any]) -> Mapping[str, Any]:
        rpc = self.rpcs[(method, path)]
        return invoke(rpc, Fields(fields), self.session, self.context, self.principal)


@cache
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@cache
def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def camelize(value: Any) -> Any:
    """Our RPC answers use proto (snake_case) names; MLflow's GraphQL schema uses lowerCamel."""
    if isinstance(value, Mapping):
        return {_camel(k): camelize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camelize(v) for v in value]
    return value


def _input_fields(arguments: Mapping[str, Any] | None) -> dict[str, Any]:
    return {_snake(k): v for k, v in (arguments or {}).items() if v is not None}


def _root_resolver(method: str, path: str) -> Callable[..., Any]:
    def resolve(_: Any, info: GraphQLResolveInfo, input: Mapping[str, Any] | None = None) -> Any:
        call: Call = info.context
        try:
            return camelize(call.rpc(method, path, _input_fields(input)))
        except MlflowError as exc:
            return {"apiError": {"code": str(exc.code), "message": exc.message}}

    return resolve


def _run_experiment(run: Mapping[str, Any], info: GraphQLResolveInfo) -> Any:
    """MLflow's `MlflowRunExtension.experiment`: the run's experiment, through GetExperiment's checks."""
    call: Call = info.context
    experiment_id = str((run.get("info") or {}).get("experimentId", ""))
    if experiment_id not in call.experiments:
        try:
            found = call.rpc("GET", "/mlflow/experiments/get", {"experiment_id": experiment_id})
            call.experiments[experiment_id] = camelize(found.get("experiment"))
        except MlflowError:
            call.experiments[experiment_id] = None
    return call.experiments[experiment_id]


def _run_model_versions(run: Mapping[str, Any], info: GraphQLResolveInfo) -> Any:
    """MLflow's `MlflowRunExtension.modelVersions`: versions registered from this run that the caller may read."""
    call: Call = info.context
    run_id = str((run.get("info") or {}).get("runId", "")).replace("'", "")
    try:
        found = call.rpc("GET", "/mlflow/model-versions/search", {"filter": f"run_id = '{run_id}'"})
    except MlflowError:
        return None
    return camelize(found.get("model_versions", []))


def _metric_value(metric: Mapping[str, Any], _: GraphQLResolveInfo) -> float | None:
    """GraphQL's Float has no NaN or infinity; MLflow answers null for them too (`MlflowMetricExtension`)."""
    value = metric.get("value")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _field(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    """Proto JSON leaves out empty repeated fields and unset messages, while MLflow's Graphene resolvers read the
    message itself and so answer `[]` and an empty run part; the UI relies on that (e.g. `experiment.tags.find`)."""
    value = default_field_resolver(source, info, **args)
    if value is None and isinstance(source, Mapping):
        kind = info.return_type
        if is_list_type(kind.of_type if isinstance(kind, GraphQLNonNull) else kind):
            return []
        if info.parent_type.name == "MlflowRunExtension" and info.field_name in RUN_PARTS:
            return {}
        if info.parent_type.name == "MlflowDatasetSummary" and info.field_name == "context":
            return ""  # a dataset logged without a context: the proto's unset string, as Graphene reads it
        if info.parent_type.name == "MlflowFileInfo" and info.field_name == "fileSize":
            return 0  # a folder: the proto's unset int64, as Graphene reads it ("0")
    return value


def _parse_long_literal(node: ValueNode, _variables: Any = None) -> int | None:
    if isinstance(node, IntValueNode | StringValueNode):
        return int(node.value)
    return None


def _echo(_: Any, __: GraphQLResolveInfo, inputString: str | None = None) -> dict[str, Any]:
    return {"output": inputString}


@cache
def schema() -> GraphQLSchema:
    built = build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))
    long_string = built.type_map["LongString"]
    assert isinstance(long_string, GraphQLScalarType)
    long_string.serialize = str  # type: ignore[assignment]  # int64 as text, so JavaScript keeps every digit
    long_string.parse_value = int  # type: ignore[assignment]
    long_string.parse_literal = _parse_long_literal  # type: ignore[assignment]
    for root in (built.query_type, built.mutation_type):
        assert root is not None
        for name, root_field in root.fields.items():
            if name in ROOT_FIELDS:
                root_field.resolve = _root_resolver(*ROOT_FIELDS[name])
            elif name in ("test", "testMutation"):
                root_field.resolve = _echo
    run = built.type_map["MlflowRunExtension"]
    assert isinstance(run, GraphQLObjectType)
    run.fields["experiment"].resolve = _run_experiment
    run.fields["modelVersions"].resolve = _run_model_versions
    for name in METRIC_TYPES:
        metric = built.type_map[name]
        assert isinstance(metric, GraphQLObjectType)
        metric.fields["value"].resolve = _metric_value
    return built


def _size(document: DocumentNode) -> str | None:
    """Why the query is refused (too deep, too many selections or root fields), or None."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    selections = 0

    def walk(selection_set: SelectionSetNode | None, depth: int, seen: frozenset[str]) -> str | None:
        nonlocal selections
        if selection_set is None:
            return None
        if depth > MAX_DEPTH:
            return f"Query exceeds maximum depth of {MAX_DEPTH}"
        for node in selection_set.selections:
            inner: SelectionSetNode | None = None
            next_depth, next_seen = depth, seen
            if isinstance(node, FieldNode):
                selections += 1
                inner, next_depth = node.selection_set, depth + 1
            elif isinstance(node, InlineFragmentNode):
                inner = node.selection_set
            elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
                fragment = fragments.get(node.name.value)
                inner = fragment.selection_set if fragment else None
                next_seen = seen | {node.name.value}
            if selections > MAX_SELECTIONS:
                return f"Query exceeds maximum total selections of {MAX_SELECTIONS}"
            if problem := walk(inner, next_depth, next_seen):
                return problem
        return None

    for operation in document.definitions:
        if isinstance(operation, OperationDefinitionNode):
            if len(operation.selection_set.selections) > MAX_ROOT_FIELDS:
                return f"Query exceeds maximum of {MAX_ROOT_FIELDS} root fields"
            if problem := walk(operation.selection_set, 0, frozenset()):
                return problem
    return None


def _errors(messages: Iterable[str]) -> dict[str, Any]:
    return {"data": None, "errors": list(messages)}


def run_query(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    query, variables = body.get("query"), body.get("variables")
    if not isinstance(query, str) or not query.strip():
        return _errors(["Must provide query string."])
    try:
        document = parse(query)
    except GraphQLError as exc:
        return _errors([exc.message])
    if problem := _size(document):
        return _errors([problem])
    if invalid := validate(schema(), document):
        return _errors(error.message for error in invalid)
    operation = body.get("operationName")
    result = execute(
        schema(),
        document,
        context_value=call,
        variable_values=variables if isinstance(variables, dict) else None,
        operation_name=operation if isinstance(operation, str) else None,
        field_resolver=_field,
    )
    assert not hasattr(result, "__await__")  # every resolver is synchronous
    errors = getattr(result, "errors", None) or []
    for error in errors:
        if error.original_error is not None and not isinstance(error.original_error, GraphQLError):
            log.error("GraphQL resolver failed: %s", error.message, exc_info=error.original_error)
    return {"data": getattr(result, "data", None), "errors": [e.message for e in errors] or None}
