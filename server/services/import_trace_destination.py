"""Where an import's traces go: each trace written into the Runyard store with its spans and assessments in one
transaction, and read back for comparison with the source.

As with runs, the destination is the progress record: a trace is there complete or not at all (and imported by the
next attempt); one that is there with other content is a conflict, never overwritten. The trace's artifact folder
(where clients put attachments) is the destination's, under its experiment's, as the server places a new one.
"""

from __future__ import annotations

from server.services.import_destination import Destination
from server.services.import_trace_content import TraceContent, content_tags
from server.services.traces import ARTIFACT_LOCATION_TAG, SPANS_LOCATION_TAG, TRACE_NAME_TAG, TRACKING_STORE
from server.store import artifact_destinations, import_traces
from server.store import assessments as assessment_store
from server.store import experiments as experiment_store
from server.store import traces as trace_store
from server.store.imports import id_chunks
from server.store.models import Trace


class TraceDestination:
    def __init__(self, destination: Destination) -> None:
        self.destination = destination
        self.db = destination.db

    def trace_experiments(self, trace_ids: list[str]) -> dict[str, int]:
        """The destination experiment of each of these traces it already holds."""
        with self.db.read() as session:
            return import_traces.trace_experiments(session, trace_ids)

    def assessment_owners(self, assessment_ids: list[str]) -> dict[str, str]:
        """The trace each of these assessment ids belongs to in the destination (ids it lacks left out)."""
        with self.db.read() as session:
            return {
                assessment_id: trace_id
                for chunk in id_chunks(assessment_ids)
                for assessment_id, trace_id in assessment_store.owners(session, chunk).items()
            }

    def stored_trace(self, trace_id: str) -> TraceContent | None:
        with self.db.read() as session:
            row = session.get(Trace, trace_id)
            if row is None:
                return None
            tags = content_tags(trace_store.tags_of(session, [trace_id]).get(trace_id, {}))
            if row.name is not None:
                tags[TRACE_NAME_TAG] = row.name
            return TraceContent(
                trace_id=row.trace_id,
                request_time=row.request_time,
                execution_duration=row.execution_duration,
                state=row.state,
                client_request_id=row.client_request_id,
                request_preview=row.request_preview,
                response_preview=row.response_preview,
                tags=tags,
                metadata=dict(trace_store.metadata_of(session, [trace_id]).get(trace_id, {})),
                spans=tuple(import_traces.span_rows(session, trace_id)),
                assessments=tuple(import_traces.assessment_rows(session, trace_id)),
            )

    def import_trace(self, content: TraceContent, experiment_id: int) -> None:
        """The trace, its tags, metadata, spans and assessments in one transaction."""
        with self.db.write() as session:
            location = experiment_store.get_experiment(session, experiment_id).artifact_location
            artifact_uri = f"{location}/traces/{content.trace_id}/artifacts"
            import_traces.insert_trace(
                session,
                Trace(
                    trace_id=content.trace_id,
                    experiment_id=experiment_id,
                    request_time=content.request_time,
                    execution_duration=content.execution_duration,
                    state=content.state,
                    name=content.name,
                    client_request_id=content.client_request_id,
                    request_preview=content.request_preview,
                    response_preview=content.response_preview,
                    finalized=True,
                ),
            )
            artifact_destinations.record_once(session, artifact_uri, self.destination.destination_uri, content.trace_id)
            tags = {key: value for key, value in content.tags.items() if key != TRACE_NAME_TAG}
            tags[ARTIFACT_LOCATION_TAG] = artifact_uri
            if content.spans:
                tags[SPANS_LOCATION_TAG] = TRACKING_STORE
            trace_store.set_tags(session, content.trace_id, tags)
            trace_store.set_metadata(session, content.trace_id, content.metadata)
            trace_store.upsert_spans(session, list(content.spans))
            assessment_store.upsert_rows(session, list(content.assessments))
