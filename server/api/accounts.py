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

from server.api.routing import Handler, Rpc
from server.api.wire import Fields, missing
from server.auth import rules
from server.auth import secrets as auth_secrets
from server.auth.identity import Principal
from server.errors import ErrorCode, MlflowError
from server.permissions import Permission
from server.services import users as accounts
from server.store import users
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


def _permission(fields: Fields) -> Permission:
    value = fields.required_string("permission")
    try:
        return Permission(value)
    except ValueError:
        names = ", ".join(p.value for p in Permission)
        raise MlflowError.invalid_parameter(f"Invalid permission '{value}'. Valid permissions are: ({names})") from None


def _experiment_id(fields: Fields, name: str = "experiment_id") -> int:
    value = fields.integer(name, required=True)
    assert value is not None
    return value


def _user_json(session: Session, user: User) -> dict[str, Any]:
    experiments = users.experiment_grants(session, user.id)
    models = users.registered_model_grants(session, user.id)
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
    if not username or not password:
        raise MlflowError.invalid_parameter("Username and password cannot be empty.")
    user = accounts.create_user(session, username, password)
    return {"user": _user_json(session, user)}


def get_user(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    return {"user": _user_json(session, users.get_user(session, fields.required_string("username")))}


def list_users(_: Fields, session: Session, context: Context) -> dict[str, Any]:
    """The roster the admin page and the reviewer picker show. Runyard has no roles, so each user's list is empty."""
    _require_auth(context)
    return {
        "users": [
            {"id": u.id, "username": u.username, "is_admin": u.is_admin, "roles": []} for u in users.list_users(session)
        ]
    }


def list_user_roles(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    users.get_user(session, fields.required_string("username"))  # an unknown user is RESOURCE_DOES_NOT_EXIST
    return {"roles": []}


def list_roles(_: Fields, __: Session, context: Context) -> dict[str, Any]:
    """MLflow 3's roles bundle grants per workspace; Runyard grants per user only, so there are none to list."""
    _require_auth(context)
    return {"roles": []}


def update_user_password(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    username, password = fields.required_string("username"), fields.required_string("password")
    user = users.get_user(session, username)
    principal = rules.current_principal()
    if principal is not None and principal.username == username:
        # Changing one's own password re-states the current one, so that a borrowed session cannot take the account.
        current = fields.string("current_password")
        if not current:
            raise MlflowError.invalid_parameter("Current password is required when changing your own password.")
        if not auth_secrets.password_matches(user.password_hash, current):
            raise MlflowError.invalid_parameter("Current password does not match.")
        if password == current:
            raise MlflowError.invalid_parameter("New password must differ from the current password.")
    accounts.set_password(session, username, password)
    _forget_credentials(session, context, username)
    return {}


def update_user_admin(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    username = fields.required_string("username")
    if not fields.has("is_admin"):
        raise missing("is_admin")
    users.get_user(session, username).is_admin = fields.boolean("is_admin")
    _forget_credentials(session, context, username)
    return {}


def delete_user(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    username = fields.required_string("username")
    principal = rules.current_principal()
    if principal is not None and principal.username == username:
        raise MlflowError(
            "Users cannot delete their own account. Ask another admin to delete this user instead.",
            ErrorCode.BAD_REQUEST,
        )
    users.delete_user(session, username)
    _forget_credentials(session, context, username)
    return {}


# --- per-resource grants: one set of handlers, told apart by what they grant on -----------------------------------


@dataclass(frozen=True)
class _Grants:
    """How grants on one kind of resource are named and stored; the handlers below are the same for both kinds."""

    label: str  # as MLflow's messages name them
    body_key: str  # the answer's key
    field: str  # the request field naming the resource
    parse: Callable[[Fields], Any]
    table: users.PermissionTable[Any, Any]

    def target(self, session: Session, fields: Fields) -> tuple[Any, User]:
        return self.parse(fields), users.get_user(session, fields.required_string("username"))

    def body(self, resource: Any, user: User, permission: str) -> dict[str, Any]:
        return {self.body_key: {self.field: str(resource), "user_id": user.id, "permission": permission}}

    def not_found(self, resource: Any, user: User) -> MlflowError:
        return MlflowError.not_found(
            f"{self.label} permission with {self.field}={resource} and username={user.username} not found"
        )


EXPERIMENT_GRANTS = _Grants(
    "Experiment",
    "experiment_permission",
    "experiment_id",
    _experiment_id,
    users.EXPERIMENT_PERMISSIONS,
)
MODEL_GRANTS = _Grants(
    "Registered model",
    "registered_model_permission",
    "name",
    lambda fields: fields.required_string("name"),
    users.REGISTERED_MODEL_PERMISSIONS,
)


def _create_grant(grants: _Grants) -> Handler:
    def create(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
        _require_auth(context)
        resource, user = grants.target(session, fields)
        permission = _permission(fields)
        if grants.table.row(session, resource, user.id) is not None:
            raise MlflowError.already_exists(
                f"{grants.label} permission ({grants.field}={resource}, username={user.username}) already exists"
            )
        grants.table.set(session, resource, user.id, permission.value)
        return grants.body(resource, user, permission.value)

    return create


def _get_grant(grants: _Grants) -> Handler:
    def get(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
        _require_auth(context)
        resource, user = grants.target(session, fields)
        row = grants.table.row(session, resource, user.id)
        if row is None:
            raise grants.not_found(resource, user)
        return grants.body(resource, user, row.permission)

    return get


def _update_grant(grants: _Grants) -> Handler:
    def update(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
        _require_auth(context)
        resource, user = grants.target(session, fields)
        permission = _permission(fields)
        row = grants.table.row(session, resource, user.id)
        if row is None:
            raise grants.not_found(resource, user)
        row.permission = permission.value
        return {}

    return update


def _delete_grant(grants: _Grants) -> Handler:
    def delete(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
        _require_auth(context)
        resource, user = grants.target(session, fields)
        if not grants.table.delete(session, resource, user.id):
            raise grants.not_found(resource, user)
        return {}

    return delete


# --- MLflow 3's per-user grant API: one (resource_type, resource_id) shape for both kinds -------------------------


def _resource(fields: Fields) -> tuple[str, _Grants, Any]:
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
    return (kind, EXPERIMENT_GRANTS, int(name)) if kind == EXPERIMENT else (kind, MODEL_GRANTS, name)


def grant_user_permission(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    kind, grants, resource = _resource(fields)
    user = users.get_user(session, fields.required_string("username"))
    permission = _permission(fields)
    if grants.table.row(session, resource, user.id) is not None:
        raise MlflowError.already_exists(
            f"Permission for user={user.username} on resource_type={kind}, resource_id={resource} already exists."
        )
    grants.table.set(session, resource, user.id, permission.value)
    return {}


def revoke_user_permission(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    _require_auth(context)
    kind, grants, resource = _resource(fields)
    user = users.get_user(session, fields.required_string("username"))
    if not grants.table.delete(session, resource, user.id):
        raise MlflowError.not_found(
            f"No permission for user={user.username} on resource_type={kind}, resource_id={resource}."
        )
    return {}


def get_user_permission(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    """The user's effective permission (their grant, else the server's default), as a request would see it."""
    _require_auth(context)
    assert context.authorizer is not None
    kind, _, resource = _resource(fields)
    user = users.get_user(session, fields.required_string("username"))
    target = Principal(user.id, user.username, user.is_admin)
    if kind == EXPERIMENT:
        have = context.authorizer.on_experiment(session, target, resource)
    else:
        have = context.authorizer.on_registered_model(session, target, resource)
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
    Rpc("GET", "/mlflow/users/roles/list", list_user_roles, since=3, access=rules.SELF_OR_ADMIN),
    Rpc("GET", "/mlflow/roles/list", list_roles, since=3, access=rules.ADMIN),
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
