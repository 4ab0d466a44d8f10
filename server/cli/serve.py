"""`runyard server`: the tracking server, with `mlflow server`'s flags so a deployment's command line carries over."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import click

from server.cli.settings import settings_from_flags
from server.cli.store_options import store_options
from server.config import SETTINGS_ENV, Settings
from server.errors import MlflowError

GRACEFUL_SHUTDOWN_S = 30  # on SIGTERM, in-flight requests get this long to finish


@click.command()
@click.option("--host", "-h", default=None, help="Interface to listen on [env MLFLOW_HOST; default 127.0.0.1].")
@click.option("--port", "-p", type=int, default=None, help="Port to listen on [env MLFLOW_PORT; default 5000].")
@click.option("--workers", "-w", type=int, default=None, help="Server processes [env MLFLOW_WORKERS; default 1].")
@store_options
@click.option(
    "--artifacts-direct-access/--no-artifacts-direct-access",
    default=None,
    help="Hand out short-lived SAS URLs so big files skip the server (Azure destinations; default off).",
)
@click.option(
    "--artifacts-presigned-only",
    is_flag=True,
    default=None,
    help="Refuse proxied artifact transfers; clients move bytes straight to and from storage through SAS URLs "
    "(MLflow 3.18's flag; Azure destinations) [env MLFLOW_ARTIFACTS_PRESIGNED_ONLY].",
)
@click.option(
    "--auth/--no-auth",
    default=None,
    help="Require sign-in and enforce permissions [env RUNYARD_AUTH; default off]. The first admin comes from "
    "MLFLOW_AUTH_ADMIN_USERNAME / MLFLOW_AUTH_ADMIN_PASSWORD (or RUNYARD_ADMIN_USERNAME / RUNYARD_ADMIN_PASSWORD).",
)
@click.option(
    "--allowed-hosts",
    default=None,
    help="Host values to answer besides IP addresses and single-label names, comma-separated, wildcards allowed "
    "[env MLFLOW_SERVER_ALLOWED_HOSTS]. Needed for dotted names, e.g. runyard.example.com.",
)
@click.option(
    "--cors-allowed-origins",
    default=None,
    help="Sites whose pages may call the API from a browser, comma-separated [env MLFLOW_SERVER_CORS_ALLOWED_ORIGINS].",
)
@click.option(
    "--x-frame-options", default=None, help="SAMEORIGIN (default), DENY or NONE [env MLFLOW_SERVER_X_FRAME_OPTIONS]."
)
@click.option(
    "--disable-security-middleware",
    is_flag=True,
    default=None,
    help="Turn off the Host, Origin and header guards [env MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE].",
)
@click.option(
    "--enable-workspaces",
    is_flag=True,
    default=None,
    help="Give each team a workspace of its own, chosen by the client's MLFLOW_WORKSPACE "
    "[env MLFLOW_ENABLE_WORKSPACES; default off].",
)
@click.option(
    "--embedded-worker/--no-embedded-worker",
    default=None,
    help="Also start one job worker [env RUNYARD_EMBEDDED_WORKER; default on].",
)
def server(**flags: Any) -> None:
    """Start the tracking server."""
    from server.app import create_app
    from server.observability.logs import configure_logging
    from server.observability.metrics import MULTIPROCESS_ENV

    settings = settings_from_flags(**flags)
    configure_logging(settings)
    if settings.workers > 1 and not os.environ.get(MULTIPROCESS_ENV):
        # Set before any worker process imports prometheus_client, so each writes its counters where /metrics
        # (in whichever process is scraped) can sum them.
        os.environ[MULTIPROCESS_ENV] = tempfile.mkdtemp(prefix="runyard-metrics-")
    try:
        app = create_app(settings)  # opens (or creates) the store now, so a bad one fails here, clearly
    except MlflowError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(
        f"Runyard serving http://{settings.host}:{settings.port} "
        f"(store {app.state.context.db.url.render_as_string(hide_password=True)}, "
        f"artifacts {settings.artifacts_destination if settings.serve_artifacts else 'not proxied'}, "
        f"{settings.workers} worker{'s' if settings.workers > 1 else ''}, "
        f"{'an' if settings.embedded_worker else 'no'} embedded job worker)"
    )
    embedded, token_id = None, None
    if settings.embedded_worker:
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
        env = None
        if settings.auth:  # the worker signs in like any other: with an administrator's token, revoked at exit
            from server.services.users import issue_admin_token

            with app.state.context.db.write() as session:
                token_id, token = issue_admin_token(session, f"embedded worker of pid {os.getpid()}", days=30)
            env = {**os.environ, "MLFLOW_TRACKING_TOKEN": token}
        from server.cli.jobs import start_embedded_worker

        embedded = start_embedded_worker(f"http://{host}:{settings.port}", env=env)
    try:
        _serve(app, settings)
    finally:
        if embedded is not None:
            embedded.terminate()
            embedded.wait(timeout=60)
        if token_id is not None:
            from server.store.users import revoke_token

            with app.state.context.db.write() as session:
                revoke_token(session, token_id)


def _serve(app: Any, settings: Settings) -> None:
    import uvicorn

    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "warning",
        "access_log": False,  # ours is structured and carries the request id
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
    }
    if settings.workers == 1:
        uvicorn.run(app, **options)
        return
    app.state.context.db.dispose()  # the store is checked; each worker process opens its own
    os.environ[SETTINGS_ENV] = settings.model_dump_json()  # read back by each worker process
    uvicorn.run("server.asgi:build", factory=True, workers=settings.workers, **options)
