"""The traces of an import's source, read with the stock MLflow client like its runs: MLflow 3 traces with their
spans and assessments (feedback, expectations), experiment by experiment.

Each trace is turned into the rows Runyard stores: its spans into OTLP encodings through the same function that
stores a span a client sends (`spans.span_record`), its assessments into rows through the assessment rules. A
source that predates traces (MLflow 2.x) answers their search with "endpoint not found": that is no error, there is
just nothing of the kind to copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan

from server.services import assessments as assessment_rules
from server.services import spans as span_rules
from server.services.assessments import AssessmentIn, Valued
from server.services.import_source import Source
from server.services.import_trace_content import TraceContent, content_tags

_PAGE = 100  # traces per search page (MLflow's default)
_MISSING_ENDPOINT = frozenset({"ENDPOINT_NOT_FOUND", "NOT_IMPLEMENTED"})


class TraceSource:
    """Reads through the import's `Source`, whose client, credentials and error wording it shares."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.client = source.client

    def has_traces(self, experiment_id: int) -> bool:
        """Whether the source answers a trace search at all (asked of one of its experiments)."""
        from mlflow.exceptions import MlflowException

        with self.source.reading("search the traces of"):
            try:
                self.client.search_traces(locations=[str(experiment_id)], max_results=1, include_spans=False)
            except MlflowException as exc:
                if exc.error_code in _MISSING_ENDPOINT:
                    return False
                raise
        return True

    def traces(self, experiment_id: int, *, since_ms: int | None) -> Iterator[TraceContent]:
        """The experiment's traces that started at or after `since_ms` (all when None), with spans and
        assessments, a page at a time."""
        token = None
        while True:
            with self.source.reading(f"read the traces of experiment {experiment_id} in"):
                page = self.client.search_traces(
                    locations=[str(experiment_id)], max_results=_PAGE, page_token=token, include_spans=True
                )
                found = [_content(trace) for trace in page if since_ms is None or trace.info.request_time >= since_ms]
            yield from found
            token = page.token
            if not token:
                return


def _content(trace: Any) -> TraceContent:
    info = trace.info
    spans = {}
    for span in trace.data.spans:
        record = span_rules.span_record(OtlpSpan.FromString(span.to_otel_proto().SerializeToString()))
        if record.trace_id != info.trace_id:  # an id not derived from the OTLP trace id: the trace's own is kept
            record = replace(record, trace_id=info.trace_id)
        spans[record.span_id] = record.as_row()
    assessments = {
        assessment.assessment_id: assessment_rules.imported_row(
            _assessment(assessment),
            info.trace_id,
            assessment.assessment_id,
            valid=assessment.valid is not False,
        )
        for assessment in info.assessments or []
    }
    return TraceContent(
        trace_id=info.trace_id,
        request_time=info.request_time,
        execution_duration=info.execution_duration,
        state=str(getattr(info.state, "value", info.state)),
        client_request_id=info.client_request_id or None,
        request_preview=info.request_preview,
        response_preview=info.response_preview,
        tags=content_tags(dict(info.tags)),
        metadata=dict(info.trace_metadata),
        spans=tuple(spans[span_id] for span_id in sorted(spans)),
        assessments=tuple(assessments[assessment_id] for assessment_id in sorted(assessments)),
    )


def _assessment(assessment: Any) -> AssessmentIn:
    feedback = expectation = issue = None
    if assessment.feedback is not None:
        error = assessment.feedback.error
        feedback = Valued(
            assessment.feedback.value,
            None
            if error is None
            else {
                "error_code": error.error_code,
                "error_message": error.error_message,
                "stack_trace": error.stack_trace,
            },
        )
    elif assessment.expectation is not None:
        expectation = Valued(assessment.expectation.value)
    elif assessment.issue is not None:
        issue = Valued({"issue_name": assessment.issue.issue_name})
    source = assessment.source
    return AssessmentIn(
        name=assessment.name,
        feedback=feedback,
        expectation=expectation,
        issue=issue,
        source_type=str(getattr(source, "source_type", None) or "SOURCE_TYPE_UNSPECIFIED"),
        source_id=getattr(source, "source_id", None),
        span_id=assessment.span_id,
        rationale=assessment.rationale,
        metadata=dict(assessment.metadata or {}),
        overrides=assessment.overrides,
        create_time=assessment.create_time_ms,
        last_update_time=assessment.last_update_time_ms,
        trace_id=assessment.trace_id,
        assessment_id=assessment.assessment_id,
    )
