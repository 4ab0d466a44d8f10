"""Liveness, version and capability routes the client probes before it decides how to talk to us."""

from __future__ import annotations

import orjson
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from server.api.wire import json_response
from server.errors import MlflowError
from server.services import skill_content
from server.web.context import Context

# The MLflow release whose wire protocol we speak, answered at /version as `mlflow server` answers its own.
MLFLOW_PROTOCOL_VERSION = "3.18.0"


async def health(_: Request) -> Response:
    return PlainTextResponse("OK")


def _readiness(context: Context) -> dict[str, str]:
    """Each dependency a request needs, "ok" or why not; blocking, so run in a worker thread."""
    checks: dict[str, str] = {}
    try:
        with context.db.read() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    try:
        context.artifacts.destination.check()
        checks["artifacts"] = "ok"
    except MlflowError as exc:
        checks["artifacts"] = f"unavailable: {exc.message}"
    except Exception as exc:
        checks["artifacts"] = f"unavailable: {type(exc).__name__}"
    return checks


async def version(_: Request) -> Response:
    return PlainTextResponse(MLFLOW_PROTOCOL_VERSION)


def _server_info(context: Context) -> dict[str, object]:
    """`multipart_downloads_enabled` tells the stock client to fetch big files through presigned URLs; only
    worth it (and so only announced) when those URLs lead straight to the storage."""
    direct = context.settings.hands_out_storage_urls and context.artifacts.destination.signed_urls() is not None
    return {
        "store_type": "SqlStore",
        "workspaces_enabled": context.settings.enable_workspaces,
        "trace_archival_enabled": False,
        "multipart_uploads_enabled": True,
        "multipart_downloads_enabled": direct,
        "presigned_upload_run_id_supported": False,
        "presigned_upload_model_id_supported": False,
        # MLflow 3.18's keys. Uploaded skill content is stored through the proxied storage, so uploads are offered
        # exactly when artifacts are served, with the limits they are checked against, so the client can refuse
        # an oversized folder before packing it. A model version's or logged model's file is handed out as a URL
        # to storage (`?presigned=true`) where storage signs one; proxied downloads stay on.
        "artifact_serving_enabled": context.settings.serve_artifacts,
        "skill_content_max_size": context.settings.skill_content_max_decompressed_size,
        "skill_content_max_files": skill_content.MAX_ENTRIES,
        "model_artifact_presigned_downloads_supported": direct,
        "tracking_auth": "",
        "artifacts_presigned_only": context.settings.artifacts_presigned_only,
        # MLflow's UI lists registered judges only where the gateway feature is on; Runyard serves the judges, and
        # the gateway pages show no endpoints (ui_helpers). A saved issue-detection schedule would never run here:
        # there is no dispatcher, and the UI says so instead of offering a switch that does nothing.
        "features_enabled": {"gateway": True, "scheduled_issue_detection": False},
    }


def routes(context: Context) -> list[BaseRoute]:
    info = _server_info(context)

    async def server_info(_: Request) -> Response:
        return json_response(info)

    async def ready(_: Request) -> Response:
        """Ready to serve: the database answers and the artifact store is usable (503 otherwise, with why)."""
        checks = await run_in_threadpool(_readiness, context)
        ok = all(value == "ok" for value in checks.values())
        body = orjson.dumps({"status": "ready" if ok else "unavailable", "checks": checks})
        return Response(body, status_code=200 if ok else 503, media_type="application/json")

    return [
        Route("/health", health, methods=["GET"]),
        Route("/version", version, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/api/3.0/mlflow/server-info", server_info, methods=["GET"]),
        Route("/ajax-api/3.0/mlflow/server-info", server_info, methods=["GET"]),
    ]
