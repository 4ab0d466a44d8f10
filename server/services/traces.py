"""Rules for traces: the two halves that make one (spans over OTLP, the trace info at its end), reading, searching,
tagging and deleting them. Every trace info shown lists the trace's assessments (see `assessments`).

MLflow's client sends a trace twice over: each span as it ends (OTLP, to `/v1/traces`) and, once the root span has
ended, the trace's info (StartTraceV3), in either order. Whichever arrives first creates the trace row; the info
then fills in what the spans could not know (previews as the client cut them, tags, metadata), and a root span that
arrives before the info sets the trace's timing, state and name. A plain OpenTelemetry exporter sends only spans:
its traces are complete when their root span arrives. A span or info that arrives twice changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.orm import Session

from server.errors import MlflowError
from server.services import assessments as assessment_rules
from server.services import span_translation, validation
from server.services import spans as span_rules

if TYPE_CHECKING:
    from mlflow.tracing.utils import SpanAggregationNode
from server.services.assessments import AssessmentIn
from server.store import artifact_destinations, trace_search
from server.store import assessments as assessment_store
from server.store import experiments as experiment_store
from server.store import runs as run_store
from server.store import trace_grammar as grammar
from server.store import traces as store
from server.store.models import Assessment, Trace
from server.store.search import Page
from server.store.trace_metrics import SESSION_METADATA, USAGE_METADATA

ARTIFACT_LOCATION_TAG = "mlflow.artifactLocation"
SPANS_LOCATION_TAG = "mlflow.trace.spansLocation"
TRACKING_STORE = "TRACKING_STORE"
TRACE_NAME_TAG = grammar.TRACE_NAME_TAG
SOURCE_RUN_METADATA = grammar.TRACE_SOURCE_RUN
USER_METADATA = "mlflow.trace.user"
CHAT_USAGE_ATTRIBUTE = "mlflow.chat.tokenUsage"
# Tags the server keeps itself: a client may not set or delete them (MLflow refuses them too).
SYSTEM_TAGS = frozenset({SPANS_LOCATION_TAG, "mlflow.trace.archiveLocation", "mlflow.trace.archivalFailure"})
STATES = ("STATE_UNSPECIFIED", "OK", "ERROR", "IN_PROGRESS")
MAX_SEARCH_RESULTS = 500
MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 8000
MAX_TRACE_LINKS = 100  # MLflow's MAX_TRACE_LINKS_PER_REQUEST


@dataclass(frozen=True, slots=True)
class TraceInfoIn:
    """A trace's info as the client reports it at the end of the trace (StartTraceV3)."""

    trace_id: str
    experiment_id: str
    request_time: int
    execution_duration: int | None
    state: str
    client_request_id: str | None = None
    request_preview: str | None = None
    response_preview: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    assessments: tuple[AssessmentIn, ...] = ()  # logged while the trace was running


@dataclass(frozen=True, slots=True)
class TraceView:
    """A trace row with its tags (the name included, as MLflow shows it), metadata and assessments (valid or not,
    oldest first)."""

    row: Trace
    tags: dict[str, str]
    metadata: dict[str, str]
    assessments: list[Assessment] = field(default_factory=list)


def _experiment_id(value: str) -> int:
    if not value.isdigit():
        raise MlflowError.invalid_parameter(f"Invalid experiment ID '{value}'. Experiment ID must be a valid integer.")
    return int(value)


def _describe(session: Session, rows: Sequence[Trace]) -> list[TraceView]:
    ids = [row.trace_id for row in rows]
    tags, metadata = store.tags_of(session, ids), store.metadata_of(session, ids)
    assessments = assessment_store.of_traces(session, ids)
    views = []
    for row in rows:
        shown = dict(tags.get(row.trace_id, {}))
        if row.name is not None:
            shown[TRACE_NAME_TAG] = row.name
        found = assessments.get(row.trace_id, [])
        views.append(TraceView(row, shown, dict(metadata.get(row.trace_id, {})), found))
    return views


def _trace_artifact_uri(session: Session, experiment_id: int, trace_id: str, destination: str) -> str:
    """Where an older client uploads the trace's spans (`traces.json`) and any client its attachments; recorded
    like a run's folder, so the proxy knows the trace owns it."""
    location = experiment_store.active_experiment_location(session, experiment_id)
    uri = f"{location}/traces/{trace_id}/artifacts"
    artifact_destinations.record_once(session, uri, destination, trace_id)
    return uri


def _check_same_experiment(trace_id: str, owner: int, experiment_id: int) -> None:
    """A trace stays in the experiment it was first written to, whichever half names another."""
    if owner != experiment_id:
        raise MlflowError.invalid_parameter(
            f"Trace '{trace_id}' belongs to experiment {owner}, not to experiment {experiment_id}."
        )


def start_trace(session: Session, info: TraceInfoIn, artifact_destination: str) -> TraceView:
    """Record the client's trace info; its fields win over what the spans implied."""
    if not info.trace_id:
        raise MlflowError.invalid_parameter("Missing value for required parameter 'trace_id'.")
    validation.limit_length("trace_id", 64, info.trace_id)
    if info.client_request_id is not None:
        validation.limit_length("client_request_id", 250, info.client_request_id)
    info_tags, metadata = _trace_tags(info.tags), _trace_metadata(info.metadata)
    experiment_id = _experiment_id(info.experiment_id)
    artifact_uri = _trace_artifact_uri(session, experiment_id, info.trace_id, artifact_destination)
    name = info_tags.get(TRACE_NAME_TAG)
    fields = {
        "request_time": info.request_time,
        "execution_duration": info.execution_duration,
        "state": info.state if info.state in STATES else "STATE_UNSPECIFIED",
        "client_request_id": info.client_request_id,
        "request_preview": info.request_preview,
        "response_preview": info.response_preview,
        "finalized": True,
    }
    store.insert_trace_if_new(
        session, {"trace_id": info.trace_id, "experiment_id": experiment_id, "name": name, **fields}
    )
    row = store.find_trace(session, info.trace_id)
    assert row is not None
    _check_same_experiment(row.trace_id, row.experiment_id, experiment_id)
    for column, column_value in fields.items():
        setattr(row, column, column_value)
    if name is not None:
        row.name = name
    tags = {k: v for k, v in info_tags.items() if k != TRACE_NAME_TAG and k not in SYSTEM_TAGS}
    tags[ARTIFACT_LOCATION_TAG] = artifact_uri
    if store.has_spans(session, info.trace_id):
        tags[SPANS_LOCATION_TAG] = TRACKING_STORE
    store.set_tags(session, info.trace_id, tags)
    store.set_metadata(session, info.trace_id, metadata)
    assessment_rules.record_carried(session, info.trace_id, info.assessments)
    session.flush()
    return _describe(session, [row])[0]


def start_trace_v2(
    session: Session,
    experiment_id: str,
    *,
    timestamp_ms: int | None,
    metadata: dict[str, str],
    tags: dict[str, str],
    artifact_destination: str,
) -> TraceView:
    """A trace opened by a client before 3.0, which ends it with `end_trace_v2` and uploads its spans as
    `traces.json`; its id gets MLflow 3's `tr-` form, which older clients take as an opaque string."""
    trace_id = span_rules.TRACE_ID_PREFIX + uuid.uuid4().hex
    info = TraceInfoIn(
        trace_id=trace_id,
        experiment_id=experiment_id,
        request_time=timestamp_ms or 0,
        execution_duration=None,
        state="IN_PROGRESS",
        metadata=metadata,
        tags=tags,
    )
    view = start_trace(session, info, artifact_destination)
    view.row.finalized = False  # the end of the trace is still to come
    return view


def end_trace_v2(
    session: Session,
    trace_id: str,
    *,
    timestamp_ms: int | None,
    status: str | None,
    metadata: dict[str, str],
    tags: dict[str, str],
) -> TraceView:
    tags, metadata = _trace_tags(tags), _trace_metadata(metadata)
    row = get_trace_row(session, trace_id)
    if timestamp_ms is not None:
        row.execution_duration = max(timestamp_ms - row.request_time, 0)
    if status is not None:
        row.state = status if status in STATES else "STATE_UNSPECIFIED"
    row.finalized = True
    if name := tags.get(TRACE_NAME_TAG):
        row.name = name[:500]
    store.set_tags(session, trace_id, {k: v for k, v in tags.items() if k != TRACE_NAME_TAG and k not in SYSTEM_TAGS})
    store.set_metadata(session, trace_id, metadata)
    return _describe(session, [row])[0]


def link_traces_to_run(session: Session, trace_ids: Sequence[str], run_id: str) -> None:
    """Associate traces with a run (evaluation does it), so `search_traces(run_id=...)` finds them beside the traces
    made inside the run; as in MLflow, the run must exist and unknown trace ids are passed over."""
    if len(trace_ids) > MAX_TRACE_LINKS:
        raise MlflowError.invalid_parameter(
            f"Cannot link more than {MAX_TRACE_LINKS} traces to a run in a single request. "
            f"Provided {len(trace_ids)} traces."
        )
    if not trace_ids:
        return
    run_store.get_run(session, run_id)
    found = [row.trace_id for row in store.find_traces(session, list(dict.fromkeys(trace_ids)))]
    store.link_to_run(session, found, run_id)


def link_prompts_to_trace(session: Session, trace_id: str, prompt_versions: Sequence[tuple[str, str]]) -> None:
    """Record which prompt versions (name, version) a trace used, so `search_traces(filter_string='prompt =
    "name/version"')` finds it; linking one twice is a no-op."""
    if not prompt_versions:
        return
    get_trace_row(session, trace_id)
    store.link_prompts(session, trace_id, [f"{name}/{version}" for name, version in prompt_versions])


def log_spans(
    session: Session,
    experiment_id: str,
    records: Sequence[span_rules.SpanRecord],
    artifact_destination: str,
    *,
    run_id: str | None = None,
) -> list[str]:
    """Store spans of one or more traces of one experiment; returns the traces whose root span came in this batch,
    which are linked to `run_id` when the sender names one.

    All or nothing: a span naming a trace of another experiment fails the whole batch. However many traces a
    request carries, it costs a fixed number of statements (each an executemany), not a few per trace."""
    experiment = _experiment_id(experiment_id)
    location = experiment_store.active_experiment_location(session, experiment)  # unknown or deleted: refused
    by_trace: dict[str, list[span_rules.SpanRecord]] = {}
    for record in records:
        by_trace.setdefault(record.trace_id, []).append(record)
    known = store.trace_states(session, list(by_trace))
    new_ids = [trace_id for trace_id in by_trace if trace_id not in known]
    if new_ids:
        folders = {trace_id: f"{location}/traces/{trace_id}/artifacts" for trace_id in new_ids}
        artifact_destinations.record_many_once(
            session, [(folder, artifact_destination, trace_id) for trace_id, folder in folders.items()]
        )
        store.insert_traces_if_new(
            session,
            [
                {
                    "trace_id": trace_id,
                    "experiment_id": experiment,
                    "request_time": min(span.start_time_ns for span in by_trace[trace_id]) // 1_000_000,
                    "execution_duration": None,
                    "state": "IN_PROGRESS",
                    "finalized": False,
                }
                for trace_id in new_ids
            ],
        )
        store.set_tags_many(session, [(trace_id, ARTIFACT_LOCATION_TAG, folders[trace_id]) for trace_id in new_ids])
        known = store.trace_states(session, list(by_trace))  # another request may have made one meanwhile
    for trace_id, (owner, _) in known.items():
        _check_same_experiment(trace_id, owner, experiment)
    roots = {trace_id: root for trace_id, spans in by_trace.items() if (root := _root(spans)) is not None}
    completions: list[dict[str, Any]] = []
    root_tags: list[tuple[str, str, str]] = []
    for trace_id, root in roots.items():
        if not known[trace_id][1]:  # not finalized by the client's trace info: the root span tells
            completions.append(_completion(trace_id, root))
            root_tags.extend((trace_id, key, value) for key, value in span_rules.root_tags(root).items())
    store.complete_traces(session, completions)
    store.upsert_spans(session, [span.as_row() for span in records])
    undescribed = {trace_id: spans for trace_id, spans in by_trace.items() if not known[trace_id][1]}
    _record_facts_of_spans(session, undescribed, fresh=set(new_ids))
    tags = [(trace_id, SPANS_LOCATION_TAG, TRACKING_STORE) for trace_id in by_trace] + root_tags
    store.set_tags_many(session, tags)
    if run_id and roots:
        store.set_metadata_many(session, [(trace_id, SOURCE_RUN_METADATA, run_id) for trace_id in roots])
    return list(roots)


def _usage_node(span_id: str, parent_id: str | None, usage: Any) -> SpanAggregationNode:
    from mlflow.tracing.utils import SpanAggregationNode  # on first use: loading `mlflow` takes over a second

    if isinstance(usage, str):
        try:
            usage = orjson.loads(usage)
        except orjson.JSONDecodeError:
            usage = None
    return SpanAggregationNode(span_id, parent_id, usage if isinstance(usage, dict) else None)


def _token_usage(
    session: Session, by_trace: dict[str, list[span_rules.SpanRecord]], fresh: set[str]
) -> list[tuple[str, str, str]]:
    """The token-usage metadata of traces whose spans report usage, summed over the trace's span tree as MLflow's
    client and server sum it (a span whose ancestor reports usage is not counted again), over every span stored so
    far, since one trace's spans may come in several requests."""
    with_usage = {
        trace_id: spans
        for trace_id, spans in by_trace.items()
        if any(CHAT_USAGE_ATTRIBUTE in s.attributes for s in spans)
    }
    if not with_usage:
        return []
    from mlflow.tracing.utils import aggregate_usage_from_span_nodes  # on first use, as in `_usage_node`

    nodes = {
        trace_id: [_usage_node(s.span_id, s.parent_span_id, s.attributes.get(CHAT_USAGE_ATTRIBUTE)) for s in spans]
        for trace_id, spans in with_usage.items()
    }
    earlier = sorted(set(with_usage) - fresh)
    sent_now = {(trace_id, s.span_id) for trace_id, spans in with_usage.items() for s in spans}
    for trace_id, span_id, parent_id, stored in store.span_attribute_values(session, earlier, CHAT_USAGE_ATTRIBUTE):
        if (trace_id, span_id) not in sent_now:  # a span sent again counts once
            nodes[trace_id].append(_usage_node(span_id, parent_id, stored))
    return [
        (trace_id, USAGE_METADATA, orjson.dumps(total).decode())
        for trace_id, trace_nodes in nodes.items()
        if (total := aggregate_usage_from_span_nodes(trace_nodes))
    ]


def _first_attribute(spans: list[span_rules.SpanRecord], keys: Sequence[str]) -> str | None:
    for span in spans:
        for key in keys:
            value = span_rules.attribute_text(span.attributes[key]) if key in span.attributes else None
            if value:
                return value[:MAX_TAG_VALUE_LENGTH]
    return None


def _record_facts_of_spans(
    session: Session, by_trace: dict[str, list[span_rules.SpanRecord]], *, fresh: set[str]
) -> None:
    """What `mlflow server` reads off the spans of a trace that its client has not described (a plain OpenTelemetry
    sender's trace, or spans ahead of the client's trace info, which then wins): the trace's token usage, and its
    session and user from OpenTelemetry's `session.id` (or `gen_ai.conversation.id`) and `user.id`."""
    if not by_trace:
        return
    store.set_metadata_many(session, _token_usage(session, by_trace, fresh))
    found: list[tuple[str, str, str]] = []
    for trace_id, spans in by_trace.items():
        if session_id := _first_attribute(spans, span_translation.SESSION_ATTRIBUTES):
            found.append((trace_id, SESSION_METADATA, session_id))
        if user_id := _first_attribute(spans, (span_translation.USER_ATTRIBUTE,)):
            found.append((trace_id, USER_METADATA, user_id))
    store.add_metadata_if_absent(session, found)


def _root(spans: list[span_rules.SpanRecord]) -> span_rules.SpanRecord | None:
    return next((span for span in spans if span.is_root), None)


def _completion(trace_id: str, root: span_rules.SpanRecord) -> dict[str, Any]:
    """A trace sent by spans alone takes its timing, state, name and previews from its root span."""
    return {
        "trace_id": trace_id,
        "request_time": root.start_time_ns // 1_000_000,
        "execution_duration": (root.end_time_ns - root.start_time_ns) // 1_000_000 if root.end_time_ns else None,
        "state": "ERROR" if root.status == "ERROR" else "OK",
        "name": root.name[:500],
        "request_preview": span_rules.preview(root.attributes.get(span_rules.INPUTS_ATTRIBUTE), "user"),
        "response_preview": span_rules.preview(root.attributes.get(span_rules.OUTPUTS_ATTRIBUTE), "assistant"),
    }


def get_trace_row(session: Session, trace_id: str) -> Trace:
    row = store.find_trace(session, trace_id)
    if row is None:
        raise MlflowError.not_found(f"Trace with ID '{trace_id}' not found.")
    return row


def get_trace_info(session: Session, trace_id: str) -> TraceView:
    return _describe(session, [get_trace_row(session, trace_id)])[0]


def get_trace(session: Session, trace_id: str) -> tuple[TraceView, list[bytes]]:
    """The trace with its spans (each as its OTLP protobuf encoding), in the order they started."""
    view = get_trace_info(session, trace_id)
    return view, store.span_payloads(session, trace_id)


def stored_spans_and_folder(session: Session, trace_id: str) -> tuple[list[bytes], str | None]:
    """A trace's spans stored here, and the artifact folder where an older client uploaded them (`traces.json`)
    and any client its attachments."""
    view = get_trace_info(session, trace_id)
    return store.span_payloads(session, trace_id), view.tags.get(ARTIFACT_LOCATION_TAG)


def batch_get_traces(
    session: Session, trace_ids: Sequence[str], experiment_ids: Sequence[str] | None = None
) -> list[tuple[TraceView, list[bytes]]]:
    """The traces that exist among `trace_ids` (unknown ids are left out, as MLflow does), in the order asked."""
    rows = {row.trace_id: row for row in store.find_traces(session, list(dict.fromkeys(trace_ids)))}
    if experiment_ids is not None:
        allowed = {int(e) for e in experiment_ids if e.isdigit()}
        rows = {k: v for k, v in rows.items() if v.experiment_id in allowed}
    ordered = [rows[t] for t in dict.fromkeys(trace_ids) if t in rows]
    return [(view, store.span_payloads(session, view.row.trace_id)) for view in _describe(session, ordered)]


def batch_get_trace_infos(
    session: Session, trace_ids: Sequence[str], experiment_ids: Sequence[str] | None = None
) -> list[TraceView]:
    return [view for view, _ in batch_get_traces(session, trace_ids, experiment_ids)]


def search_traces(
    session: Session,
    experiment_ids: Sequence[str],
    *,
    filter_string: str | None,
    max_results: int | None,
    order_by: Sequence[str],
    page_token: str | None,
) -> Page[TraceView]:
    limit = 100 if max_results is None else max_results
    if limit <= 0 or limit > MAX_SEARCH_RESULTS:
        raise MlflowError.invalid_parameter(
            f"Invalid value {limit} for parameter 'max_results' supplied. It must be at most {MAX_SEARCH_RESULTS}."
            if limit > MAX_SEARCH_RESULTS
            else f"Invalid value {limit} for parameter 'max_results' supplied. It must be a positive integer"
        )
    comparisons = grammar.parse_trace_filter(filter_string)
    keys = grammar.parse_trace_order_by(order_by)
    ids = [_experiment_id(e) for e in experiment_ids]
    page = trace_search.search_traces(session, ids, comparisons, keys, limit, page_token)
    return Page(_describe(session, page.items), page.next_page_token)


def _trace_tags(tags: dict[str, str]) -> dict[str, str]:
    """MLflow's rule for trace tags: a valid key of at most 250 characters; a longer value is cut to 8,000."""
    return {
        validation.limit_length("key", MAX_TAG_KEY_LENGTH, validation.validate_entity_key(key, "key")): (
            validation.limit_length("value", MAX_TAG_VALUE_LENGTH, value, truncate=True)
        )
        for key, value in tags.items()
    }


def _trace_metadata(metadata: dict[str, str]) -> dict[str, str]:
    return {
        validation.limit_length("key", MAX_TAG_KEY_LENGTH, key): (
            validation.limit_length("value", MAX_TAG_VALUE_LENGTH, value, truncate=True)
        )
        for key, value in metadata.items()
    }


def set_trace_tag(session: Session, trace_id: str, key: str, value: str) -> None:
    if key in SYSTEM_TAGS:
        raise MlflowError.invalid_parameter(f"Tag '{key}' is immutable and cannot be set on a trace.")
    value = _trace_tags({key: value})[key]
    row = get_trace_row(session, trace_id)
    if key == TRACE_NAME_TAG:
        row.name = value[:500]
    else:
        store.set_tags(session, trace_id, {key: value})


def delete_trace_tag(session: Session, trace_id: str, key: str) -> None:
    if key in SYSTEM_TAGS:
        raise MlflowError.invalid_parameter(f"Tag '{key}' is immutable and cannot be deleted on a trace.")
    row = get_trace_row(session, trace_id)
    if key == TRACE_NAME_TAG and row.name is not None:
        row.name = None
        return
    if not store.delete_tag(session, trace_id, key):
        raise MlflowError.not_found(f"No trace tag with key '{key}' for trace with ID '{trace_id}'")


def delete_traces(
    session: Session,
    experiment_id: str,
    *,
    max_timestamp_millis: int | None,
    max_traces: int | None,
    trace_ids: Sequence[str],
    already_deleted: int = 0,
) -> tuple[int, bool]:
    """By ids, or the oldest traces at or before a time (at most `max_traces` of them); MLflow's checks and
    wording. Returns how many were deleted in this step and whether the work is done: by time, one step deletes
    at most one batch, so the caller commits between steps and a retention delete never holds the database."""
    if max_timestamp_millis is None and not trace_ids:
        raise MlflowError.invalid_parameter("Either `max_timestamp_millis` or `trace_ids` must be specified.")
    if max_timestamp_millis is not None and trace_ids:
        raise MlflowError.invalid_parameter("Only one of `max_timestamp_millis` and `trace_ids` can be specified.")
    if trace_ids and max_traces is not None:
        raise MlflowError.invalid_parameter("`max_traces` can't be specified if `trace_ids` is specified.")
    if max_traces is not None and max_traces <= 0:
        raise MlflowError.invalid_parameter(f"`max_traces` must be a positive integer, received {max_traces}.")
    experiment = _experiment_id(experiment_id)
    if trace_ids:
        return store.delete_traces(session, experiment, list(trace_ids)), True
    assert max_timestamp_millis is not None
    left = store.DELETE_BATCH if max_traces is None else min(store.DELETE_BATCH, max_traces - already_deleted)
    ids = store.oldest_trace_ids(session, experiment, max_timestamp_millis, left) if left > 0 else []
    deleted = store.delete_traces(session, experiment, ids)
    done = len(ids) < store.DELETE_BATCH or (max_traces is not None and already_deleted + deleted >= max_traces)
    return deleted, done
