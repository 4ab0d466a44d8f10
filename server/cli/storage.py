"""`runyard db …` and `runyard artifacts …`: one-off commands on the metadata database and the artifact store."""

from __future__ import annotations

import click

from server.cli.settings import settings_from_flags
from server.errors import MlflowError


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command()
@click.option("--backend-store-uri", default=None, help="Metadata database URL [env MLFLOW_BACKEND_STORE_URI].")
def upgrade(backend_store_uri: str | None) -> None:
    """Migrate the database schema to this version's head revision."""
    from server.store import schema
    from server.store.engine import Database

    database = Database(settings_from_flags(backend_store_uri=backend_store_uri).backend_store_uri)
    before = schema.current_revision(database.engine)
    schema.upgrade(database.engine)
    click.echo(f"Database schema upgraded from {before} to {schema.current_revision(database.engine)}.")
    database.dispose()


@click.group()
def artifacts() -> None:
    """Artifact store commands."""


@artifacts.command("create-container")
@click.option("--artifacts-destination", default=None, help="wasbs:// destination [env MLFLOW_ARTIFACTS_DESTINATION].")
def create_container(artifacts_destination: str | None) -> None:
    """Create the destination's Azure container if it is missing (for a fresh Azurite or storage account)."""
    from azure.core.exceptions import ResourceExistsError

    from server.artifacts.azure_blob import AzureBlobArtifactStore
    from server.artifacts.base import StorageCredentials

    settings = settings_from_flags(artifacts_destination=artifacts_destination)
    destination = settings.artifacts_destination
    if not destination.startswith("wasbs://"):
        raise click.ClickException(f"{destination!r} is not an Azure destination (wasbs://...); nothing to create.")
    credentials = StorageCredentials(settings.azure_storage_connection_string, settings.azure_storage_access_key)
    try:
        store = AzureBlobArtifactStore(destination, credentials)
        store.container.create_container()
        click.echo(f"Created container {store.container.container_name!r}.")
    except ResourceExistsError:
        click.echo(f"Container {store.container.container_name!r} already exists.")
    except MlflowError as exc:
        raise click.ClickException(exc.message) from None
    except Exception as exc:
        raise click.ClickException(f"Cannot create the container: {exc}") from None
