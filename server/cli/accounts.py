"""`runyard users …` and `runyard tokens …`: account administration straight on the metadata database."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.orm import Session

from server.config import Settings
from server.errors import MlflowError
from server.permissions import parse_permission
from server.services import users as accounts
from server.store import users, workspaces
from server.store.engine import Database
from server.store.schema import ensure_schema
from server.store.scope import working_in
from server.store.workspace_models import DEFAULT_WORKSPACE

_store_option = click.option(
    "--backend-store-uri", default=None, help="Metadata database URL [env MLFLOW_BACKEND_STORE_URI]."
)


@contextmanager
def _session(backend_store_uri: str | None) -> Iterator[Session]:
    database = Database(backend_store_uri or Settings().backend_store_uri)
    try:
        ensure_schema(database.engine)
        with database.write() as session:
            yield session
    except MlflowError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        database.dispose()


def _when(ms: int | None) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M") if ms else "-"


@click.group()
def users_group() -> None:
    """Manage users (for `runyard server --auth`)."""


@users_group.command("create")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="At least 8 characters.")
@click.option("--admin", is_flag=True, help="Administrators may do anything.")
@_store_option
def create_user(username: str, password: str, admin: bool, backend_store_uri: str | None) -> None:
    """Create a user."""
    with _session(backend_store_uri) as session:
        accounts.create_user(session, username, password, is_admin=admin)
    click.echo(f"Created {'admin ' if admin else ''}user {username!r}.")


@users_group.command("list")
@_store_option
def list_users(backend_store_uri: str | None) -> None:
    """List users."""
    with _session(backend_store_uri) as session:
        for user in users.list_users(session):
            click.echo(f"{user.username}\t{'admin' if user.is_admin else 'user'}\tcreated {_when(user.created_at_ms)}")


@users_group.command("delete")
@click.argument("username")
@_store_option
def delete_user(username: str, backend_store_uri: str | None) -> None:
    """Delete a user, with their tokens and permissions."""
    with _session(backend_store_uri) as session:
        users.delete_user(session, username)
    click.echo(f"Deleted user {username!r}.")


@users_group.command("set-password")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@_store_option
def set_password(username: str, password: str, backend_store_uri: str | None) -> None:
    """Change a user's password (servers that cached the old one forget it within a minute)."""
    with _session(backend_store_uri) as session:
        accounts.set_password(session, username, password)
    click.echo(f"Password of {username!r} changed.")


@users_group.command("grant")
@click.argument("username")
@click.argument("permission")
@click.option("--experiment-id", type=int, default=None)
@click.option("--registered-model", default=None, help="A registered model's name.")
@click.option(
    "--workspace",
    default=DEFAULT_WORKSPACE,
    show_default=True,
    help="The workspace of the registered model (with --enable-workspaces, names are per workspace).",
)
@_store_option
def grant(
    username: str,
    permission: str,
    experiment_id: int | None,
    registered_model: str | None,
    workspace: str,
    backend_store_uri: str | None,
) -> None:
    """Set USERNAME's PERMISSION (READ, EDIT, MANAGE, NO_PERMISSIONS) on an experiment or a registered model."""
    try:
        level = parse_permission(permission).value
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if (experiment_id is None) == (registered_model is None):
        raise click.UsageError("Give exactly one of --experiment-id and --registered-model.")
    if experiment_id is not None and workspace != DEFAULT_WORKSPACE:
        raise click.UsageError("--workspace goes with --registered-model: an experiment id is unique on its own.")
    with _session(backend_store_uri) as session:
        user = users.get_user(session, username)
        if experiment_id is not None:
            users.set_experiment_permission(session, experiment_id, user.id, level)
        else:
            workspaces.get_workspace(session, workspace)
            with working_in(workspace):
                users.set_registered_model_permission(session, str(registered_model), user.id, level)
    click.echo(f"{username!r} now has {level}.")


@click.group()
def tokens_group() -> None:
    """Manage API tokens (sent as MLFLOW_TRACKING_TOKEN)."""


@tokens_group.command("create")
@click.argument("username")
@click.option("--name", default="cli", help="What the token is for.")
@click.option("--expires-in-days", type=float, default=None, help="Lifetime; no expiry when omitted.")
@_store_option
def create_token(username: str, name: str, expires_in_days: float | None, backend_store_uri: str | None) -> None:
    """Create a token for USERNAME and print it (it is shown only once)."""
    with _session(backend_store_uri) as session:
        row, token = accounts.issue_token(session, username, name, expires_in_days=expires_in_days)
        click.echo(f"Token {row.id} for {username!r} (expires {_when(row.expires_at_ms)}):", err=True)
    click.echo(token)


@tokens_group.command("list")
@click.argument("username", required=False)
@_store_option
def list_tokens(username: str | None, backend_store_uri: str | None) -> None:
    """List tokens (never their secrets)."""
    with _session(backend_store_uri) as session:
        owner = users.get_user(session, username) if username else None
        for row in users.list_tokens(session, owner):
            state = "revoked" if row.revoked_at_ms else f"expires {_when(row.expires_at_ms)}"
            click.echo(f"{row.id}\tuser {row.user_id}\t{row.name}\tcreated {_when(row.created_at_ms)}\t{state}")


@tokens_group.command("revoke")
@click.argument("token_id", type=int)
@_store_option
def revoke_token(token_id: int, backend_store_uri: str | None) -> None:
    """Revoke a token (servers that cached it refuse it within 30 seconds)."""
    with _session(backend_store_uri) as session:
        users.revoke_token(session, token_id)
    click.echo(f"Revoked token {token_id}.")
