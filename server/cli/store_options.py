"""The flags that name a Runyard store (database and artifacts), shared by every command that opens one, so
`runyard server` and `runyard import` pointed at the same store read the same flags and environment."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])

backend_store_uri = click.option(
    "--backend-store-uri", default=None, help="Metadata database URL [env MLFLOW_BACKEND_STORE_URI]."
)
default_artifact_root = click.option(
    "--default-artifact-root", default=None, help="Root for new experiments' artifacts."
)
serve_artifacts = click.option(
    "--serve-artifacts/--no-serve-artifacts", default=None, help="Proxy artifacts through the server (default on)."
)
artifacts_destination = click.option(
    "--artifacts-destination", default=None, help="Where proxied artifacts live [default ./mlartifacts]."
)


def store_options(command: F) -> F:
    """All four, in the order `runyard server --help` lists them."""
    for option in (artifacts_destination, serve_artifacts, default_artifact_root, backend_store_uri):
        command = option(command)
    return command
