"""Managing users and their grants over the API of MLflow's basic-auth app, so `mlflow.server.get_app_client(
"basic-auth", tracking_uri=...)` and the web UI's account pages work against Runyard.

Who may call what is MLflow's rule, declared as each route's `Access`: administrators anything; a user reads their
own account and changes their own password (re-stating the current one, as MLflow asks); granting on an experiment
or registered model needs MANAGE on it; the rest is for administrators only. Without `--auth` MLflow has none of
these routes, and neither do we: they answer 404.

A change to a user's password, admin flag or existence takes effect at once on this server: the cached
credentials of that user are dropped when the change commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from server.api import roles as roles_api
from server.api.routing import Handler, Rpc
from server.api.wire import Fields, missing
from server.auth import rules
from server.errors import ErrorCode, MlflowError
from server.permissions import Permission
from server.services import accounts as service
from server.services import roles as role_service
from server.store.models import User
from server.web.context import Context

EXPERIMENT, REGISTERED_MODEL = "experiment", "registered_model"


def _require_auth(context: Context) -> None:
    if context.authorizer is None:
        raise MlflowError("No such endpoint: this server does not sign users in.", ErrorCode.ENDPOINT_NOT_FOUND)


def _forget_credentials(session: Session, context: Context, username: str) -> None:
    """Drop the user's cached credentials now and again once the transaction commits, so that a check which read
    the old row meanwhile is not remembered either."""
    authenticator = context.authenticator
    if authenticator is None:
        return
    authenticator.forget(username)
    event.listen(session, "after_commit", lambda _: authenticator.forget(username), once=True)


def _permission(fields: Fields) -> Callable[[], str]:
    """The requested permission, read when the service asks for it: after the user is found."""
    return lambda: fields.required_string("permission")


def _experiment_id(fields: Fields, name: str = "experiment_id") -> int:
    value = fields.integer(name, required=True)
    assert value is not None
    return value


def _user_json(account: service.Account) -> dict[str, Any]:
    user, experiments, models = account.user, account.grants.experiments, account.grants.registered_models
    return {
        "id": user.id,
        "username": user.username,
        "is_admin": user.is_admin,
        "experiment_permissions": [
            {"experiment_id": str(e), "user_id": user.id, "permission": p} for e, p in sorted(experiments.items())
        ],
        "registered_model_permissions": [
            {"name": n, "user_id": user.id, "permission": p} for n, p in sorted(models.items())
        ],
    }


# --- users ------------------------------------------------------------------------------------------------------


def create_user(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    username, password = fields.string("username"), fields.string("password")
    return {"user": _user_json(service.create_account(session, username, password))}


def get_user(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    return {"user": _user_json(service.get_account(session, fields.required_string("username")))}


def list_users(_: Fields, session: Session, context: Context) -> dict[str, Any]:
    """The roster the admin page and the reviewer picker show, each user with the roles the caller may see of
    theirs (all to an administrator and of oneself; to a workspace's administrator, those of that workspace)."""
    _require_auth(context)
    held = role_service.roles_by_user(session, rules.current_principal())
    return {
        "users": [
            {
                "id": u.id,
                "username": u.username,
                "is_admin": u.is_admin,
                "roles": [roles_api.role_json(view) for view in held.get(u.id, [])],
            }
            for u in service.list_users(session)
        ]
    }


def update_user_password(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    username, password = fields.required_string("username"), fields.required_string("password")
    service.change_password(
        session,
        username,
        password,
        caller=rules.current_principal(),
        current_password=lambda: fields.string("current_password"),
    )
    _forget_credentials(session, context, username)
    return {}


def update_user_admin(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    username = fields.required_string("username")
    if not fields.has("is_admin"):
        raise missing("is_admin")
    service.set_admin(session, username, fields.boolean("is_admin"))
    _forget_credentials(session, context, username)
    return {}


def delete_user(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    username = fields.required_string("username")
    service.delete_user(session, username, caller=rules.current_principal())
    _forget_credentials(session, context, username)
    return {}


# --- per-resource grants: one set of handlers, told apart by what they grant on -----------------------------------


@dataclass(frozen=True)
class _Grants:
    """How grants on one kind of resource are asked for and answered; the handlers below are the same for both
    kinds, and so are the service's rules."""

    grants: service.Grants[Any]
    body_key: str  # the answer's key
    parse: Callable[[Fields], Any]

    def target(self, fields: Fields) -> tuple[Any, str]:
        """The resource, then the username, read in that order (the user is looked up by the service)."""
        return self.parse(fields), fields.required_string("username")

    def body(self, resource: Any, user: User, permission: str) -> dict[str, Any]:
        return {self.body_key: {self.grants.field: str(resource), "user_id": user.id, "permission": permission}}


EXPERIMENT_GRANTS = _Grants(service.EXPERIMENTS, "experiment_permission", _experiment_id)
MODEL_GRANTS = _Grants(
    service.REGISTERED_MODELS, "registered_model_permission", lambda fields: fields.required_string("name")
)


def _create_grant(grants: _Grants) -> Handler:
    def create(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
        _require_auth(context)
        resource, username = grants.target(fields)
        user, permission = service.create_grant(session, grants.grants, resource, username, _permission(fields))
        return grants.body(resource, user, permission)

    return create


def _get_grant(grants: _Grants) -> Handler:
    def get(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
        _require_auth(context)
        resource, username = grants.target(fields)
        user, permission = service.get_grant(session, grants.grants, resource, username)
        return grants.body(resource, user, permission)

    return get


def _update_grant(grants: _Grants) -> Handler:
    def update(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
        _require_auth(context)
        resource, username = grants.target(fields)
        service.update_grant(session, grants.grants, resource, username, _permission(fields))
        return {}

    return update


def _delete_grant(grants: _Grants) -> Handler:
    def delete(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
        _require_auth(context)
        resource, username = grants.target(fields)
        service.delete_grant(session, grants.grants, resource, username)
        return {}

    return delete


# --- MLflow 3's per-user grant API: one (resource_type, resource_id) shape for both kinds -------------------------


def _resource(fields: Fields) -> tuple[service.Grants[Any], Any]:
    """The kind and the resource, parsed and checked before the username is read."""
    kind, name = fields.required_string("resource_type"), fields.required_string("resource_id")
    if kind not in (EXPERIMENT, REGISTERED_MODEL):
        raise MlflowError.invalid_parameter(
            f"Unsupported resource_type '{kind}': this server grants on '{EXPERIMENT}' and '{REGISTERED_MODEL}'."
        )
    if name == "*":
        raise MlflowError.invalid_parameter(
            "Wildcard grants are not supported: the server's default permission applies to every resource."
        )
    if kind == EXPERIMENT and not name.isdigit():
        raise MlflowError.invalid_parameter(f"Invalid experiment id '{name}'.")
    return (service.EXPERIMENTS, int(name)) if kind == EXPERIMENT else (service.REGISTERED_MODELS, name)


def grant_user_permission(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    grants, resource = _resource(fields)
    service.grant_permission(session, grants, resource, fields.required_string("username"), _permission(fields))
    return {}


def revoke_user_permission(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    grants, resource = _resource(fields)
    service.revoke_permission(session, grants, resource, fields.required_string("username"))
    return {}


def get_user_permission(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    """The user's effective permission (their grant, else the server's default), as a request would see it."""
    _require_auth(context)
    assert context.authorizer is not None
    grants, resource = _resource(fields)
    have = service.effective_permission(
        session, context.authorizer, grants, resource, fields.required_string("username")
    )
    return {"allowed": have.allows(Permission.EDIT), "permission": have.value}


def _grant_routes(path: str, grants: _Grants, access: rules.Access) -> list[Rpc]:
    return [
        Rpc("POST", f"{path}/create", _create_grant(grants), access=access),
        Rpc("GET", f"{path}/get", _get_grant(grants), access=access),
        Rpc("PATCH", f"{path}/update", _update_grant(grants), access=access),
        Rpc("DELETE", f"{path}/delete", _delete_grant(grants), access=access),
    ]


RPCS = [
    Rpc("POST", "/mlflow/users/create", create_user, access=rules.ADMIN),
    Rpc("GET", "/mlflow/users/get", get_user, access=rules.SELF_OR_ADMIN),
    Rpc("GET", "/mlflow/users/list", list_users, access=rules.PERSON),
    Rpc("PATCH", "/mlflow/users/update-password", update_user_password, access=rules.SELF_OR_ADMIN),
    Rpc("PATCH", "/mlflow/users/update-admin", update_user_admin, access=rules.ADMIN),
    Rpc("DELETE", "/mlflow/users/delete", delete_user, access=rules.ADMIN),
    *_grant_routes("/mlflow/experiments/permissions", EXPERIMENT_GRANTS, rules.experiment(rules.MANAGE)),
    *_grant_routes("/mlflow/registered-models/permissions", MODEL_GRANTS, rules.registered_model(rules.MANAGE)),
    Rpc("POST", "/mlflow/users/permissions/grant", grant_user_permission, since=3, access=rules.MANAGE_NAMED_RESOURCE),
    Rpc(
        "POST", "/mlflow/users/permissions/revoke", revoke_user_permission, since=3, access=rules.MANAGE_NAMED_RESOURCE
    ),
    Rpc("GET", "/mlflow/users/permissions/get", get_user_permission, since=3, access=rules.SELF_OR_ADMIN),
]
