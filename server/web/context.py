"""What a route may use besides its request: the `Context` built once per app and handed to every router factory,
and the caller checks that routes outside MLflow's RPC table share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session
from starlette.requests import Request

from server.artifacts.registry import ArtifactRegistry
from server.auth.identity import Authenticator, Principal, unauthenticated
from server.auth.rules import Authorizer
from server.auth.signing import UrlSigner
from server.config import Settings
from server.store.engine import Database


@dataclass(frozen=True, slots=True)
class Context:
    """What a handler may use besides its request and session; built once per app."""

    settings: Settings
    db: Database
    artifacts: ArtifactRegistry
    authorizer: Authorizer | None = None  # None: authentication is off and every caller may do anything
    signer: UrlSigner | None = None  # with auth on, signs the artifact URLs handed to clients
    authenticator: Authenticator | None = None  # with auth on: told when a user's credentials change


def principal_of(request: Request) -> Principal | None:
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    return principal


Check = Callable[[Authorizer, Session, Principal], None]


async def authorize(request: Request, context: Context, check: Check) -> None:
    """For routes outside the RPC table: run `check` (which raises PERMISSION_DENIED) when auth is on."""
    if context.authorizer is None:
        return
    principal = principal_of(request)
    if principal is None:
        raise unauthenticated()
    if principal.signed:
        return  # the middleware checked the signature for exactly this method and path
    authorizer = context.authorizer
    await context.db.run_read(lambda session: check(authorizer, session, principal))
