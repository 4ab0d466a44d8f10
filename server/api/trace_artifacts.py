"""`get-trace-artifact`: the web UI's download of a trace's spans (`traces.json`) and attachments.

Spans stored here are rendered in MLflow's `traces.json` form; a trace whose client uploaded `traces.json` instead
(clients before span logging to the tracking store) is served from its artifact folder, as are attachments.
"""

from __future__ import annotations

import posixpath

import orjson
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.api.trace_json import span_dict
from server.artifacts.base import ArtifactStore
from server.auth import rules
from server.errors import ErrorCode, MlflowError
from server.services import traces
from server.web.context import Context, authorize
from server.web.downloads import content_disposition, stream_file

TRACE_DATA_FILE = "traces.json"


def routes(context: Context) -> list[BaseRoute]:
    async def trace_artifact(request: Request) -> Response:
        request_id = request.query_params.get("request_id")
        if not request_id:
            raise MlflowError('Request must include the "request_id" query parameter.', ErrorCode.BAD_REQUEST)
        await authorize(
            request,
            context,
            lambda a, s, p: a.require(a.on_trace(s, p, request_id), rules.READ, f"trace {request_id}"),
        )
        attachment = request.query_params.get("path")

        def locate(session: Session) -> list[bytes] | tuple[ArtifactStore, str]:
            payloads, folder = traces.stored_spans_and_folder(session, request_id)
            if folder is None:
                raise MlflowError.not_found(f"Trace with ID '{request_id}' has no stored data.")
            if attachment:
                return context.artifacts.locate(session, folder, posixpath.join("attachments", attachment))
            return payloads or context.artifacts.locate(session, folder, TRACE_DATA_FILE)

        found = await context.db.run_read(locate)
        if isinstance(found, list):
            body = orjson.dumps({"spans": [span_dict(payload) for payload in found]})
            headers = {"Content-Disposition": content_disposition(TRACE_DATA_FILE)}
            return Response(body, media_type="application/octet-stream", headers=headers)
        store, path = found
        return await stream_file(store, path)

    return [
        Route(f"/ajax-api/{version}/mlflow/get-trace-artifact", trace_artifact, methods=["GET"])
        for version in ("2.0", "3.0")
    ]
