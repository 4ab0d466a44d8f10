"""Spans from OpenTelemetry instrumentations other than MLflow's own, made MLflow spans as `mlflow server` makes them.

OpenInference, OpenLLMetry (Traceloop), the GenAI semantic conventions, Vercel AI, Spring AI and others name a
span's kind, inputs, outputs, token usage and model in attributes of their own. When `mlflow server` stores such a
span it adds MLflow's attributes for them (`mlflow.spanType`, `mlflow.spanInputs`, `mlflow.spanOutputs`,
`mlflow.chat.tokenUsage`, `mlflow.llm.model`, ...), so the UI shows an LLM call with its messages, the trace gets
its previews and token usage, and span filters work. Runyard does the same with the translators mlflow-skinny ships
(`translate_span_when_storing`), so both servers read a span the same way.

Spans made by MLflow's client already carry MLflow's attributes (its client sets `mlflow.spanType` on every span), so
they are stored as they came, without running a dozen translators over their inputs.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Iterable
from typing import Any, cast

import orjson

_logger = logging.getLogger(__name__)

# MLflow prices an LLM span (`mlflow.llm.cost`) with litellm when it is installed and with its own price list
# otherwise, trying `import litellm` for every span; a failed import is not cached and searches the whole path each
# time (a third of a translation). Where litellm is absent, it is marked absent once, so the import fails at once.
if "litellm" not in sys.modules and importlib.util.find_spec("litellm") is None:
    sys.modules["litellm"] = None  # type: ignore[assignment]

SPAN_TYPE_ATTRIBUTE = "mlflow.spanType"
SESSION_ATTRIBUTES = ("session.id", "gen_ai.conversation.id")  # OpenTelemetry's semantic conventions
USER_ATTRIBUTE = "user.id"


class _SpanView:
    """What the translators read of a span: its `to_dict()` with MLflow's JSON-encoded attribute values."""

    def __init__(self, attributes: dict[str, str], events: list[dict[str, Any]]) -> None:
        self._attributes, self._events = attributes, events

    def to_dict(self) -> dict[str, Any]:
        return {"attributes": dict(self._attributes), "events": self._events}


def speaks_mlflow(attributes: dict[str, Any]) -> bool:
    return SPAN_TYPE_ATTRIBUTE in attributes


def mlflow_attributes(attributes: dict[str, Any], events: Iterable[tuple[str, int, dict[str, Any]]]) -> dict[str, Any]:
    """The attributes MLflow adds to a span with these decoded attributes and events (name, time, attributes), as
    values (what MLflow's client sends: `"LLM"`, a dict of inputs); empty when none applies. A translator that fails
    leaves the span as it came, as `mlflow server` stores it untranslated then."""
    # MLflow's tracing helpers load all of `mlflow` (over a second): imported on the first span that needs them, so
    # a server, or a command, that never sees such a span never pays for it.
    from mlflow.tracing.otel.translation import translate_span_when_storing
    from mlflow.tracing.utils import dump_span_attribute_value

    encoded = {key: dump_span_attribute_value(value) for key, value in attributes.items()}
    event_dicts = [{"name": name, "timestamp": time, "attributes": dict(values)} for name, time, values in events]
    try:
        view = cast(Any, _SpanView(encoded, event_dicts))  # duck-typed: the translators read only `to_dict()`
        translated = translate_span_when_storing(view).get("attributes", {})
    except Exception:  # third-party translators over arbitrary input
        _logger.debug("Could not translate an OpenTelemetry span's attributes", exc_info=True)
        return {}
    added: dict[str, Any] = {}
    for key, value in translated.items():
        if key not in attributes:  # the sender's own attributes stay as sent; only MLflow's are added
            added[key] = _decoded(value)
    return added


def _decoded(value: Any) -> Any:
    """A translated attribute is JSON text, as MLflow keeps attributes; the value it holds is what is stored."""
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
