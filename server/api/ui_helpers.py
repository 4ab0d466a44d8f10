"""Answers for the web UI's housekeeping calls that have nothing to show on Runyard, so the UI stays quiet instead of
raising "endpoint not found" toasts: the legacy prompt lab's gateway endpoint list and the UI telemetry switch."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.api.wire import json_response

# As MLflow's `get_ui_telemetry_handler` when telemetry is off: nothing is collected, nothing is sent.
TELEMETRY_OFF = {"disable_ui_telemetry": True, "disable_ui_events": [], "ui_rollout_percentage": 0}


async def gateway_endpoints(_: Request) -> Response:
    """MLflow's `gateway_proxy_handler` answers an empty list when no deployments target is configured; we have
    none."""
    return json_response({"endpoints": []})


async def ui_telemetry(_: Request) -> Response:
    return json_response(TELEMETRY_OFF)


async def drop_ui_telemetry(_: Request) -> Response:
    return json_response({})


def routes() -> list[BaseRoute]:
    return [
        Route("/ajax-api/2.0/mlflow/gateway-proxy", gateway_endpoints, methods=["GET"]),
        Route("/ajax-api/3.0/mlflow/ui-telemetry", ui_telemetry, methods=["GET"]),
        Route("/ajax-api/3.0/mlflow/ui-telemetry", drop_ui_telemetry, methods=["POST"]),
    ]
