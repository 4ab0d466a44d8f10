"""Who the browser is signed in as, for the web UI's account menu (MLflow's basic-auth app serves the same two
routes). HTTP Basic leaves no cookie behind, so the UI has no other way to learn the user's name.

Without `--auth` MLflow has no such routes and the UI takes their 404 to mean "nobody signs in here"; we answer
the same 404.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.api.routing import Rpc
from server.api.wire import Fields
from server.auth import rules
from server.auth.identity import Principal
from server.errors import ErrorCode, MlflowError
from server.services import accounts as service
from server.services import roles as role_service
from server.web.context import Context

# As MLflow names the role that holds a user's direct grants, and its only workspace when workspaces are off.
DIRECT_ROLE = "__user_{user_id}__"
WORKSPACE = "default"


def _signed_in() -> Principal:
    principal = rules.current_principal()
    if principal is None:
        raise MlflowError("No such endpoint: this server does not sign users in.", ErrorCode.ENDPOINT_NOT_FOUND)
    return principal


def get_current_user(_: Fields, __: Session, ___: Context) -> dict[str, Any]:
    principal = _signed_in()
    return {
        "user": {"id": principal.user_id, "username": principal.username, "is_admin": principal.is_admin},
        "is_basic_auth": principal.basic,  # the UI offers "Logout" only then: it signs out by replacing them
    }


def list_current_user_permissions(_: Fields, session: Session, context: Context) -> dict[str, Any]:
    """The caller's grants in the rows of MLflow's role-based answer (their direct grants as those of MLflow's
    per-user role, then each role's), plus the server's default as a grant on every ("*") experiment and
    registered model. The UI uses this only to decide which controls to enable; every request is still checked
    on its own."""
    principal = _signed_in()

    def row(resource_type: str, pattern: str, permission: str) -> dict[str, Any]:
        return {
            "role_id": 0,
            "role_name": DIRECT_ROLE.format(user_id=principal.user_id),
            "workspace": WORKSPACE,
            "resource_type": resource_type,
            "resource_pattern": pattern,
            "permission": permission,
        }

    rows = []
    if principal.run_id is None:  # a job's token acts on its run only; it holds no grants to list
        default = context.authorizer.default.value if context.authorizer is not None else None
        if default is not None:
            rows += [row("experiment", "*", default), row("registered_model", "*", default)]
        grants = service.grants_of(session, principal.user_id)
        rows += [row("experiment", str(experiment_id), p) for experiment_id, p in sorted(grants.experiments.items())]
        rows += [row("registered_model", name, p) for name, p in sorted(grants.registered_models.items())]
        rows += [
            {
                "role_id": role.id,
                "role_name": role.name,
                "workspace": role.workspace,
                "resource_type": grant.resource_type,
                "resource_pattern": grant.resource_pattern,
                "permission": grant.permission,
            }
            for role, grant in role_service.grants_of_user(session, principal.user_id)
        ]
    return {"is_admin": principal.is_admin and principal.run_id is None, "permissions": rows}


RPCS = [
    Rpc("GET", "/mlflow/users/current", get_current_user, access=rules.SIGNED_IN),
    Rpc("GET", "/mlflow/users/current/permissions", list_current_user_permissions, since=3, access=rules.SIGNED_IN),
]
