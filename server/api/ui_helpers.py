"""Answers for the web UI's housekeeping calls that have nothing to show on Runyard, so the UI stays quiet instead of
raising "endpoint not found" toasts: the legacy prompt lab's gateway endpoint list, the UI telemetry switch, the
assistant panel's settings, and the playground's endpoints and keys, which show their empty state."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.api.routing import Rpc
from server.api.wire import Fields, json_response
from server.auth import rules
from server.web.context import Context

# As MLflow's `get_ui_telemetry_handler` when telemetry is off: nothing is collected, nothing is sent.
TELEMETRY_OFF = {"disable_ui_telemetry": True, "disable_ui_events": [], "ui_rollout_percentage": 0}
# As MLflow's assistant API answers before anyone has set it up: no provider chosen, no project, no remote use. The
# UI then shows its setup screen instead of a chat, and hides the assistant entirely unless the page was opened on a
# loopback address (it decides that from the address alone); Runyard offers no provider to set up.
ASSISTANT_CONFIG = {"providers": {}, "projects": {}, "remote_access_allowed": False}
ASSISTANT_PROVIDERS: dict[str, Any] = {"providers": [], "resolved": None, "gateway_vendor_options": {}}


async def gateway_endpoints(_: Request) -> Response:
    """MLflow's `gateway_proxy_handler` answers an empty list when no deployments target is configured; we have
    none."""
    return json_response({"endpoints": []})


async def ui_telemetry(_: Request) -> Response:
    return json_response(TELEMETRY_OFF)


async def drop_ui_telemetry(_: Request) -> Response:
    return json_response({})


async def assistant_config(_: Request) -> Response:
    return json_response(ASSISTANT_CONFIG)


async def assistant_providers(_: Request) -> Response:
    return json_response(ASSISTANT_PROVIDERS)


async def gateway_secrets_config(_: Request) -> Response:
    """The AI Gateway page asks whether API keys can be stored; Runyard stores none."""
    return json_response({"secrets_available": False, "using_default_passphrase": False})


def nothing_stored(_: Fields, __: Session, ___: Context) -> dict[str, Any]:
    """Runyard keeps no label schemas, review queues or gateway endpoints, so every
    search or listing of them is empty: MLflow's answer for an empty result, which omits the empty list."""
    return {}


def _empty_listing(method: str, path: str, access: rules.Access) -> Rpc:
    return Rpc(method, path, nothing_stored, since=3, writes=False, prefixes=("/ajax-api",), access=access)


# Under /ajax-api only: the stock client's calls keep getting the 404 that tells it these are not stored here, rather
# than an empty answer it would take for "none yet".
RPCS = [
    _empty_listing("GET", "/mlflow/gateway/endpoints/list", rules.SIGNED_IN),
    _empty_listing("GET", "/mlflow/gateway/secrets/list", rules.SIGNED_IN),
]


def routes() -> list[BaseRoute]:
    return [
        Route("/ajax-api/2.0/mlflow/gateway-proxy", gateway_endpoints, methods=["GET"]),
        Route("/ajax-api/3.0/mlflow/ui-telemetry", ui_telemetry, methods=["GET"]),
        Route("/ajax-api/3.0/mlflow/ui-telemetry", drop_ui_telemetry, methods=["POST"]),
        Route("/ajax-api/3.0/mlflow/assistant/config", assistant_config, methods=["GET"]),
        Route("/ajax-api/3.0/mlflow/assistant/providers", assistant_providers, methods=["GET"]),
        Route("/ajax-api/3.0/mlflow/gateway/secrets/config", gateway_secrets_config, methods=["GET"]),
    ]
