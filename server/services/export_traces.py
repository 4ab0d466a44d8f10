"""A Runyard trace as MLflow's file store keeps it, for `runyard export`: the trace's info, its metadata and tags,
each assessment as the file store's assessment file, and its spans as the `traces.json` the stock client reads from
the trace's artifact folder.

The trace is read with the same service the server answers a client's GetTrace with; the info and the spans are
rendered by MLflow's own entities (loaded on first use: importing `mlflow` takes over a second), so the files are
what the file store would have written for the same trace.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan
from sqlalchemy.orm import Session

from server.services import traces as trace_service
from server.services.assessment_messages import assessment_json
from server.services.import_trace_content import PLACEMENT_TAGS
from server.services.traces import ARTIFACT_LOCATION_TAG


@dataclass(frozen=True, slots=True)
class TraceFiles:
    """What the file store holds of one trace: `info` (trace_info.yaml), `metadata` and `tags` (a file per key),
    `assessments` (by id) and `spans` (traces.json; None for a trace without spans); and `attachments_from`, the
    trace's artifact folder in Runyard, whose files (attachments) go with it."""

    trace_id: str
    info: dict[str, Any]
    metadata: dict[str, str]
    tags: dict[str, str]
    assessments: dict[str, dict[str, Any]]
    spans: str | None
    attachments_from: str | None


def trace_files(session: Session, trace_id: str, experiment_id: str, artifact_uri: str) -> TraceFiles:
    """The trace with its artifact folder at `artifact_uri`; the tags saying where Runyard keeps its spans and files
    are replaced by that folder, where the file store's client looks for both."""
    from mlflow.entities import TraceInfo, TraceLocation, TraceState

    view, payloads = trace_service.get_trace(session, trace_id)
    row = view.row
    tags = {key: value for key, value in view.tags.items() if key not in PLACEMENT_TAGS}
    tags[ARTIFACT_LOCATION_TAG] = artifact_uri
    info = TraceInfo(
        trace_id=row.trace_id,
        trace_location=TraceLocation.from_experiment_id(experiment_id),
        request_time=row.request_time,
        state=TraceState(row.state),
        request_preview=row.request_preview,
        response_preview=row.response_preview,
        client_request_id=row.client_request_id,
        execution_duration=row.execution_duration,
    ).to_dict()
    return TraceFiles(
        trace_id=row.trace_id,
        info=info,
        metadata=dict(view.metadata),
        tags=tags,
        assessments={a.assessment_id: assessment_json(a) for a in view.assessments},
        spans=_spans_json(payloads) if payloads else None,
        attachments_from=view.tags.get(ARTIFACT_LOCATION_TAG),
    )


def _spans_json(payloads: list[bytes]) -> str:
    """The spans as the stock client uploads them: MLflow's `TraceData.to_dict`, encoded as its client encodes it."""
    from mlflow.entities import Span, TraceData
    from mlflow.tracing.utils import TraceJSONEncoder

    spans = [Span.from_otel_proto(OtlpSpan.FromString(payload), preserve_request_id=True) for payload in payloads]
    return json.dumps(TraceData(spans=spans).to_dict(), cls=TraceJSONEncoder, ensure_ascii=False)
