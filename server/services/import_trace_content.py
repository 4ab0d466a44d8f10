"""What an imported trace is made of, as plain values read from the source or from the destination, so that
"already imported" is an equality test and "other content" a list of the fields that differ.

Spans and assessments are held as the rows the destination stores for them (a span's OTLP encoding and the
columns read out of it; an assessment's columns), made from the source by the same functions the server uses when a
client logs them. The tags that say where a trace's files and spans live are the destination's own, not content.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from server.services.traces import ARTIFACT_LOCATION_TAG, SYSTEM_TAGS, TRACE_NAME_TAG

PLACEMENT_TAGS = frozenset({ARTIFACT_LOCATION_TAG, *SYSTEM_TAGS})
NAME_LENGTH = 500  # the longest trace name Runyard keeps, as when a client names a trace


def content_tags(tags: dict[str, str]) -> dict[str, str]:
    """A trace's tags without those naming where it is kept; its name (`mlflow.traceName`) stays, cut as Runyard
    keeps it."""
    kept = {key: value for key, value in tags.items() if key not in PLACEMENT_TAGS}
    if TRACE_NAME_TAG in kept:
        kept[TRACE_NAME_TAG] = kept[TRACE_NAME_TAG][:NAME_LENGTH]
    return kept


@dataclass(frozen=True, slots=True)
class TraceContent:
    """A trace with its tags (its name among them), metadata, spans (by span id) and assessments (by id)."""

    trace_id: str
    request_time: int
    execution_duration: int | None
    state: str
    client_request_id: str | None
    request_preview: str | None
    response_preview: str | None
    tags: dict[str, str]
    metadata: dict[str, str]
    spans: tuple[dict[str, Any], ...]
    assessments: tuple[dict[str, Any], ...]

    @property
    def name(self) -> str | None:
        return self.tags.get(TRACE_NAME_TAG)

    def differences(self, other: TraceContent) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]


@dataclass(frozen=True, slots=True)
class TraceCounts:
    """What the verification table counts of one source trace, kept instead of the trace's content."""

    trace_id: str
    spans: int
    assessments: int

    @classmethod
    def of(cls, content: TraceContent) -> TraceCounts:
        return cls(content.trace_id, len(content.spans), len(content.assessments))
