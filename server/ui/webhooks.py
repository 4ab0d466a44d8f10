"""The Webhooks page, `/runyard/webhooks`: what was delivered to each webhook (state, attempts, the receiver's last
answer) and a button that sends a delivery again. MLflow's UI manages webhooks but shows nothing of their
deliveries, which only Runyard records. Like the Jobs pages it is a static shell whose script reads the API, so the
API's admin check is the page's too."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.ui.jobs import page_response

PAGE_URL = "/runyard/webhooks"


async def webhook_page(_: Request) -> Response:
    return page_response("webhooks.html")


def routes() -> list[BaseRoute]:
    return [Route(PAGE_URL, webhook_page, methods=["GET"])]
