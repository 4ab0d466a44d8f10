"""MLflow search filters and orderings (parsed by `search_grammar`) turned into SQL, with offset page tokens.

Each metric/param/tag condition is one join against a table keyed by (run, key), so a filter reads only the rows
it names; metric conditions read `latest_metrics`, never the history.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Alias, ColumnElement, CompoundSelect, Row, Select, and_, exists, false, func, or_, select, true
from sqlalchemy.orm import Session, aliased

from server.errors import MlflowError
from server.store import registry_grammar, scope
from server.store import search_grammar as grammar
from server.store.base import Base
from server.store.logged_models import STATUS_NUMBERS
from server.store.models import (
    Dataset,
    Experiment,
    ExperimentTag,
    LatestMetric,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelParam,
    LoggedModelTag,
    ModelVersion,
    ModelVersionTag,
    Param,
    RegisteredModel,
    RegisteredModelTag,
    Run,
    RunDatasetInput,
    RunDatasetInputTag,
    RunTag,
)
from server.store.paging import decode_offset, encode_offset
from server.store.registered_models import PROMPT_TAG

T = TypeVar("T")
DATASET_CONTEXT_TAG = "mlflow.data.context"


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str | None


def _lifecycle(column: Any, view_type: str) -> ColumnElement[bool]:
    if view_type == "ACTIVE_ONLY":
        return _compare(column, "=", "active")
    if view_type == "DELETED_ONLY":
        return _compare(column, "=", "deleted")
    return true()


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "LIKE": lambda column, value: column.like(value),
    "ILIKE": lambda column, value: column.ilike(value),
    "RLIKE": lambda column, value: column.regexp_match(value),
    "IN": lambda column, value: column.in_(list(value)),
    "NOT IN": lambda column, value: column.not_in(list(value)),
}


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op not in _OPERATORS:
        raise MlflowError.invalid_parameter(f"Invalid comparator '{op}'")
    return cast(ColumnElement[bool], _OPERATORS[op](column, value))


# A run as a search page holds it: the row of `runs` (attributes named as on `Run`), not an ORM object, which would
# cost more to build than the rest of the page together and is never changed here.
RunRow = Row[Any]
_RUN_COLUMNS = tuple(Run.__table__.columns)


def _paginate_rows(session: Session, query: Select[Any], max_results: int, page_token: str | None) -> Page[RunRow]:
    return _paginate(session, query, max_results, page_token, rows=True)


def _paginate(
    session: Session, query: Select[Any], max_results: int, page_token: str | None, *, rows: bool = False
) -> Page[Any]:
    """One page (of ORM objects, or of table rows with `rows`) and the token of the next, if there is one."""
    offset = decode_offset(page_token)
    paged = query.offset(offset).limit(max_results + 1)
    found = list(session.execute(paged).all() if rows else session.scalars(paged))
    more = len(found) > max_results
    return Page(found[:max_results], encode_offset(offset + max_results) if more else None)


# --- runs ---------------------------------------------------------------------------------------------------------

_RUN_ATTRIBUTES: dict[str, Any] = {
    "run_id": Run.run_uuid,
    "run_name": Run.name,
    "status": Run.status,
    "user_id": Run.user_id,
    "artifact_uri": Run.artifact_uri,
    "start_time": Run.start_time,
    "end_time": Run.end_time,
}


def _keyed_condition(owned_by: ColumnElement[bool], table: Any, c: grammar.Comparison) -> ColumnElement[bool]:
    """A param/tag condition. IS NULL means "the owner has no such key"; other operators need the key present."""
    keyed = and_(owned_by, table.key == c.key)
    if c.op == "IS NULL":
        return ~exists().where(keyed)
    if c.op == "IS NOT NULL":
        return exists().where(keyed)
    return exists().where(keyed, _compare(table.value, c.op, c.value))


@lru_cache(maxsize=512)
def _table_alias(model: type[Base], number: int) -> Alias:
    return cast(Alias, model.__table__.alias(f"{model.__tablename__}_{number}"))


class _Aliases:
    """Hands out the aliases of one run-search statement: the n-th join of a table gets its n-th Core alias, built
    once per process and shared by every statement (an alias is immutable once built).

    An ORM `aliased()` entity, new for each statement, adapts every column it is asked for, on every use; building
    a filtered, ordered search statement that way cost several times what the database then needed to run it.
    A fresh Core alias still builds its column collection each time."""

    def __init__(self) -> None:
        self._used: Counter[type[Base]] = Counter()

    def of(self, model: type[Base]) -> Alias:
        number = self._used[model]
        self._used[model] += 1
        return _table_alias(model, number)

    def columns(self, model: type[Base]) -> Any:
        return self.of(model).c


def _run_condition(c: grammar.Comparison, aliases: _Aliases) -> ColumnElement[bool]:
    if c.kind == "metric":
        metric = aliases.columns(LatestMetric)
        return exists().where(
            metric.run_uuid == Run.run_uuid,
            metric.key == c.key,
            metric.is_nan == false(),
            _compare(metric.value, c.op, c.value),
        )
    if c.kind == "param":
        param = aliases.columns(Param)
        return _keyed_condition(param.run_uuid == Run.run_uuid, param, c)
    if c.kind == "tag":
        tag = aliases.columns(RunTag)
        return _keyed_condition(tag.run_uuid == Run.run_uuid, tag, c)
    if c.kind == "dataset":
        return _dataset_condition(c, aliases)
    column = _RUN_ATTRIBUTES[c.key]
    if c.op in ("IS NULL", "IS NOT NULL"):
        return cast(ColumnElement[bool], column.is_(None) if c.op == "IS NULL" else column.is_not(None))
    return _compare(column, c.op, c.value)


def _dataset_condition(c: grammar.Comparison, aliases: _Aliases) -> ColumnElement[bool]:
    link, dataset = aliases.columns(RunDatasetInput), aliases.columns(Dataset)
    base = [link.run_uuid == Run.run_uuid, dataset.dataset_uuid == link.dataset_uuid]
    if c.key == "context":
        tag = aliases.columns(RunDatasetInputTag)
        return exists().where(
            *base,
            tag.run_uuid == link.run_uuid,
            tag.dataset_uuid == link.dataset_uuid,
            tag.key == DATASET_CONTEXT_TAG,
            _compare(tag.value, c.op, c.value),
        )
    return exists().where(*base, _compare(getattr(dataset, c.key), c.op, c.value))


_KEYED_TABLES: dict[str, type[LatestMetric | Param | RunTag]] = {"metric": LatestMetric, "param": Param, "tag": RunTag}


def _run_order(
    query: Select[Any],
    keys: Sequence[grammar.OrderKey],
    filtered_metrics: dict[str, list[grammar.Comparison]],
    nulls_sort_low: bool,
    aliases: _Aliases,
) -> Select[Any]:
    """Runs lacking the ordered-by value come last either way; NaN metrics sort after numbers.

    Where no value can be missing (every run has a start time) or the database already puts missing values last
    (SQLite sorts NULL lowest, so in a descending order; PostgreSQL sorts it highest, so in an ascending one), no
    `IS NULL` term is added: the order is the same, and the database can read the runs' (experiment, lifecycle,
    start time) index in order and stop after a page. The UI's runs table asks for exactly that (newest first),
    which otherwise sorts every run of the experiment.

    Ordering by a metric the filter already constrains is the common "best runs" query. Every run that passes
    such a filter has a real number for that metric, so the filter moves into an inner join and the ordering is
    on the value alone: the database can then walk the (key, value) index in order and stop after one page
    instead of sorting every run of the experiment.
    """
    ordered_attrs = set()
    for key in keys:
        if key.kind == "attribute":
            column = _RUN_ATTRIBUTES[key.key]
            ordered_attrs.add(key.key)
            if column.expression.nullable and key.ascending == nulls_sort_low:  # NULL would come first: not so
                query = query.order_by(column.is_(None))
            query = query.order_by(column.asc() if key.ascending else column.desc())
            continue
        alias = aliases.of(_KEYED_TABLES[key.kind])
        joined: Any = alias.c
        on = and_(joined.run_uuid == Run.run_uuid, joined.key == key.key)
        value = joined.value
        if key.kind == "metric" and key.key in filtered_metrics:
            comparisons = [_compare(value, c.op, c.value) for c in filtered_metrics.pop(key.key)]
            query = query.join(alias, and_(on, joined.is_nan == false(), *comparisons))
        else:
            query = query.outerjoin(alias, on).order_by(value.is_(None))
            if key.kind == "metric":
                query = query.order_by(joined.is_nan)
        query = query.order_by(value.asc() if key.ascending else value.desc())
    if "start_time" not in ordered_attrs:
        query = query.order_by(Run.start_time.desc())
    return query.order_by(Run.run_uuid)


def search_runs(
    session: Session,
    *,
    experiment_ids: Sequence[int],
    filter_string: str | None,
    order_by: Sequence[str],
    view_type: str,
    max_results: int,
    page_token: str | None,
) -> Page[RunRow]:
    comparisons = grammar.parse_run_filter(filter_string)
    filtered_metrics: dict[str, list[grammar.Comparison]] = {}
    for c in comparisons:
        if c.kind == "metric":
            filtered_metrics.setdefault(c.key, []).append(c)
    experiment_ids = scope.visible_experiment_ids(session, experiment_ids)
    aliases = _Aliases()
    query = select(*_RUN_COLUMNS).where(
        Run.experiment_id.in_(experiment_ids), _lifecycle(Run.lifecycle_stage, view_type)
    )
    order_keys = grammar.parse_run_order_by(order_by)
    if len(order_keys) == 1 and order_keys[0].kind == "metric" and order_keys[0].key not in filtered_metrics:
        query = query.where(*[_run_condition(c, aliases) for c in comparisons])
        return _paginate_by_metric(session, query, order_keys[0], max_results, page_token, aliases)
    sqlite = session.get_bind().dialect.name == "sqlite"
    query = _run_order(query, order_keys, filtered_metrics, sqlite, aliases)
    remaining = [c for c in comparisons if c.kind != "metric" or c.key in filtered_metrics]
    query = query.where(*[_run_condition(c, aliases) for c in remaining])
    return _paginate_rows(session, query, max_results, page_token)


def _paginate_by_metric(
    session: Session,
    runs: Select[Any],
    key: grammar.OrderKey,
    max_results: int,
    page_token: str | None,
    aliases: _Aliases,
) -> Page[RunRow]:
    """Ordering by a metric the filter leaves open, in three segments read in turn: runs with a number (walking
    the (key, value) index, so a first page over 100,000 runs reads about a page of rows), then runs where it is
    NaN, then runs without it; the same order `_run_order` gives, without sorting every run of the experiment.
    A segment is counted only when a page runs past its end."""
    offset = decode_offset(page_token)
    wanted = max_results + 1
    table = aliases.of(LatestMetric)
    metric = table.c
    on = and_(metric.run_uuid == Run.run_uuid, metric.key == key.key)
    newest_first = (Run.start_time.desc(), Run.run_uuid)
    segments = [
        runs.join(table, and_(on, metric.is_nan == false())).order_by(
            metric.value.asc() if key.ascending else metric.value.desc(), *newest_first
        ),
        runs.join(table, and_(on, metric.is_nan == true())).order_by(*newest_first),
        runs.where(~exists().where(on)).order_by(*newest_first),
    ]
    rows: list[RunRow] = []
    skip = offset
    for segment in segments:
        rows += session.execute(segment.offset(skip).limit(wanted - len(rows))).all()
        if len(rows) >= wanted:
            break
        if skip:
            count = session.scalar(select(func.count()).select_from(segment.order_by(None).subquery())) or 0
            skip = max(0, skip - count)
    more = len(rows) > max_results
    return Page(rows[:max_results], encode_offset(offset + max_results) if more else None)


# --- experiments --------------------------------------------------------------------------------------------------

_EXPERIMENT_ATTRIBUTES: dict[str, Any] = {
    "name": Experiment.name,
    "experiment_id": Experiment.experiment_id,
    "creation_time": Experiment.creation_time,
    "last_update_time": Experiment.last_update_time,
}


def _experiment_condition(c: grammar.Comparison) -> ColumnElement[bool]:
    if c.kind == "tag":
        tag = aliased(ExperimentTag)
        return _keyed_condition(tag.experiment_id == Experiment.experiment_id, tag, c)
    value = c.value
    if c.key == "experiment_id":  # the grammar has already refused ids that are not integers
        value = tuple(int(v) for v in value) if isinstance(value, tuple) else int(value)  # type: ignore[arg-type,misc]
    return _compare(_EXPERIMENT_ATTRIBUTES[c.key], c.op, value)


def search_experiments(
    session: Session,
    *,
    filter_string: str | None,
    order_by: Sequence[str],
    view_type: str,
    max_results: int,
    page_token: str | None,
    visible: ColumnElement[bool] | None = None,
) -> Page[Experiment]:
    """`visible` narrows the search to what the caller may read, in SQL, so pages stay full and tokens stable."""
    conditions = [_experiment_condition(c) for c in grammar.parse_experiment_filter(filter_string)]
    if visible is not None:
        conditions.append(visible)
    query = select(Experiment).where(
        _lifecycle(Experiment.lifecycle_stage, view_type), scope.in_workspace(Experiment.workspace), *conditions
    )
    keys = grammar.parse_experiment_order_by(order_by)
    for key in keys:
        column = _EXPERIMENT_ATTRIBUTES[key.key]
        query = query.order_by(column.asc() if key.ascending else column.desc())
    if not keys:
        query = query.order_by(Experiment.creation_time.desc())
    return _paginate(session, query.order_by(Experiment.experiment_id), max_results, page_token)


# --- logged models ------------------------------------------------------------------------------------------------

_MODEL_ATTRIBUTES: dict[str, Any] = {
    "name": LoggedModel.name,
    "model_id": LoggedModel.model_id,
    "model_type": LoggedModel.model_type,
    "status": LoggedModel.status,
    "source_run_id": LoggedModel.source_run_id,
    "creation_timestamp": LoggedModel.creation_timestamp_ms,
    "creation_time": LoggedModel.creation_timestamp_ms,
    "last_updated_timestamp": LoggedModel.last_updated_timestamp_ms,
    "last_updated_time": LoggedModel.last_updated_timestamp_ms,
}


def _dataset_match(metric: Any, datasets: Sequence[tuple[str, str | None]]) -> ColumnElement[bool]:
    return or_(
        *[
            and_(metric.dataset_name == name, true() if digest is None else metric.dataset_digest == digest)
            for name, digest in datasets
        ]
    )


def _model_condition(c: grammar.Comparison, datasets: Sequence[tuple[str, str | None]]) -> ColumnElement[bool]:
    if c.kind in ("param", "tag"):
        table: Any = aliased(LoggedModelParam if c.kind == "param" else LoggedModelTag)
        return exists().where(
            table.model_id == LoggedModel.model_id, table.key == c.key, _compare(table.value, c.op, c.value)
        )
    if c.kind == "metric":
        metric = aliased(LoggedModelMetric)
        return exists().where(
            metric.model_id == LoggedModel.model_id,
            metric.key == c.key,
            _compare(metric.value, c.op, c.value),
            _dataset_match(metric, datasets) if datasets else true(),
        )
    value = c.value
    if c.key == "status":
        value = STATUS_NUMBERS.get(str(value), -1) if not isinstance(value, tuple) else value
    return _compare(_MODEL_ATTRIBUTES[c.key], c.op, value)


def search_logged_models(
    session: Session,
    *,
    experiment_ids: Sequence[int],
    filter_string: str | None,
    order_by: Sequence[tuple[str, bool]],
    max_results: int,
    page_token: str | None,
    datasets: Sequence[tuple[str, str | None]] = (),
) -> Page[LoggedModel]:
    """`datasets` restricts metric conditions to metrics of those datasets; alone, it keeps models with any
    metric on them (MLflow's `_apply_filter_string_datasets_search_logged_models`)."""
    comparisons = grammar.parse_logged_model_filter(filter_string)
    conditions = [_model_condition(c, datasets) for c in comparisons]
    if datasets and not any(c.kind == "metric" for c in comparisons):
        metric = aliased(LoggedModelMetric)
        conditions.append(exists().where(metric.model_id == LoggedModel.model_id, _dataset_match(metric, datasets)))
    experiment_ids = scope.visible_experiment_ids(session, experiment_ids)
    query = select(LoggedModel).where(
        LoggedModel.experiment_id.in_(experiment_ids), LoggedModel.lifecycle_stage == "active", *conditions
    )
    for field_name, ascending in order_by:
        if field_name.startswith("metrics."):
            metric = aliased(LoggedModelMetric)
            latest = (
                select(metric.value)
                .where(metric.model_id == LoggedModel.model_id, metric.key == field_name[len("metrics.") :])
                .order_by(metric.step.desc(), metric.timestamp.desc())
                .limit(1)
                .scalar_subquery()
            )
            query = query.order_by(latest.is_(None), latest.asc() if ascending else latest.desc())
            continue
        column = _MODEL_ATTRIBUTES.get(field_name)
        if column is None:
            raise MlflowError.invalid_parameter(f"Invalid order by field name: {field_name}")
        query = query.order_by(column.asc() if ascending else column.desc())
    query = query.order_by(LoggedModel.creation_timestamp_ms.desc(), LoggedModel.model_id)
    return _paginate(session, query, max_results, page_token)


# --- registered models and model versions -------------------------------------------------------------------------


def _prompt_scope(comparisons: list[grammar.Comparison]) -> tuple[list[grammar.Comparison], bool]:
    """(comparisons to apply, whether to leave prompts out), by MLflow's rule (`_is_querying_prompt`): a search
    returns prompts only when its first condition on the prompt tag asks for them (`= 'true'` or `!= 'false'`);
    otherwise every condition on that tag is dropped and prompts are left out, since models lack the tag."""
    on_tag = [c for c in comparisons if c.kind == "tag" and c.key == PROMPT_TAG]
    if on_tag and (on_tag[0].op, str(on_tag[0].value).lower()) in (("=", "true"), ("!=", "false")):
        return comparisons, False
    return [c for c in comparisons if c not in on_tag], True


def _prompt_models() -> CompoundSelect[int]:
    """Ids of registered models that are prompts, or that hold a version tagged as one."""
    model_tag, version_tag = aliased(RegisteredModelTag), aliased(ModelVersionTag)
    return (
        select(model_tag.model_pk)
        .where(model_tag.key == PROMPT_TAG, model_tag.value == "true")
        .union(select(version_tag.model_pk).where(version_tag.key == PROMPT_TAG, version_tag.value == "true"))
    )


def _ordered(query: Select[Any], keys: Sequence[grammar.OrderKey], columns: dict[str, Any]) -> Select[Any]:
    return query.order_by(*[columns[k.key].asc() if k.ascending else columns[k.key].desc() for k in keys])


_REGISTERED_MODEL_COLUMNS: dict[str, Any] = {
    "name": RegisteredModel.name,
    "last_updated_timestamp": RegisteredModel.last_updated_timestamp,
}


def search_registered_models(
    session: Session,
    *,
    filter_string: str | None,
    order_by: Sequence[str],
    max_results: int,
    page_token: str | None,
    visible: ColumnElement[bool] | None = None,
) -> Page[RegisteredModel]:
    """Ordered as asked, then by name."""
    comparisons, without_prompts = _prompt_scope(registry_grammar.parse_registered_model_filter(filter_string))
    conditions = []
    for c in comparisons:
        if c.kind == "tag":
            tag = aliased(RegisteredModelTag)
            conditions.append(_keyed_condition(tag.model_pk == RegisteredModel.id, tag, c))
        else:
            conditions.append(_compare(RegisteredModel.name, c.op, c.value))
    if without_prompts:
        conditions.append(RegisteredModel.id.not_in(_prompt_models()))
    conditions.append(scope.in_workspace(RegisteredModel.workspace))
    if visible is not None:  # what the caller may read, on RegisteredModel.name
        conditions.append(visible)
    keys = registry_grammar.parse_registered_model_order_by(order_by)
    query = _ordered(select(RegisteredModel).where(*conditions), keys, _REGISTERED_MODEL_COLUMNS)
    if all(k.key != "name" for k in keys):
        query = query.order_by(RegisteredModel.name)
    return _paginate(session, query, max_results, page_token)


_VERSION_COLUMNS: dict[str, Any] = {
    "name": RegisteredModel.name,
    "version_number": ModelVersion.version,
    "run_id": ModelVersion.run_id,
    "source_path": ModelVersion.source,
    "creation_timestamp": ModelVersion.creation_timestamp,
    "last_updated_timestamp": ModelVersion.last_updated_timestamp,
}
_DEFAULT_VERSION_ORDER = ("last_updated_timestamp DESC", "name ASC", "version_number DESC")


def search_model_versions(
    session: Session,
    *,
    filter_string: str | None,
    order_by: Sequence[str],
    max_results: int,
    page_token: str | None,
    visible: ColumnElement[bool] | None = None,
) -> Page[ModelVersion]:
    """Ordered as asked (by default newest change first), then by name, then by version number, newest first."""
    comparisons, without_prompts = _prompt_scope(registry_grammar.parse_model_version_filter(filter_string))
    conditions = []
    for c in comparisons:
        if c.kind == "tag":
            tag = aliased(ModelVersionTag)
            owner = and_(tag.model_pk == ModelVersion.model_pk, tag.version == ModelVersion.version)
            conditions.append(_keyed_condition(owner, tag, c))
        else:
            conditions.append(_compare(_VERSION_COLUMNS[c.key], c.op, c.value))
    if without_prompts:
        conditions.append(ModelVersion.model_pk.not_in(_prompt_models()))
    conditions.append(scope.in_workspace(RegisteredModel.workspace))  # the model is joined in anyway, for its name
    if visible is not None:
        conditions.append(visible)
    keys = registry_grammar.parse_model_version_order_by(order_by or _DEFAULT_VERSION_ORDER)
    query = select(ModelVersion).join(RegisteredModel, RegisteredModel.id == ModelVersion.model_pk).where(*conditions)
    query = _ordered(query, keys, _VERSION_COLUMNS)
    if all(k.key != "name" for k in keys):
        query = query.order_by(RegisteredModel.name)
    if all(k.key != "version_number" for k in keys):
        query = query.order_by(ModelVersion.version.desc())
    return _paginate(session, query, max_results, page_token)
