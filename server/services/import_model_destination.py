"""Where an import's models go: logged models and registered models written into the Runyard store, and read back
for comparison with the source.

As with runs, the destination is the progress record. A logged model is written in one transaction after its
artifacts are in the artifact store; a registered model in one transaction with all its versions, their tags and
its aliases. So either is there complete, or not at all and imported by the next attempt; one that is there with
other content is a conflict, never overwritten.

A version's `source` is pointed at the destination's copy of its files (`relocated`) before anything is compared
or written; where its files are served from (`storage_location`) is resolved as the server resolves it when a
client registers that source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from server.errors import MlflowError
from server.services import model_sources
from server.services.import_destination import Destination
from server.services.import_model_content import (
    LoggedModelContent,
    RegisteredModelContent,
    Relocation,
    VersionContent,
    needs_relocation,
    relocated,
)
from server.store import artifact_destinations
from server.store import experiments as experiment_store
from server.store import import_models as store
from server.store.models import LoggedModel, Run

SourceLocation = Callable[[str], str | None]  # an id -> where the source keeps its artifacts (None: unknown)


class ModelDestination:
    def __init__(self, destination: Destination) -> None:
        self.destination = destination
        self.db = destination.db

    # --- logged models ------------------------------------------------------------------------------------------

    def existing_logged_model_ids(self, model_ids: list[str]) -> set[str]:
        with self.db.read() as session:
            return store.existing_logged_model_ids(session, model_ids)

    def stored_logged_model(self, model_id: str) -> LoggedModelContent | None:
        with self.db.read() as session:
            found = store.stored_logged_model(session, model_id)
            if found is None:
                return None
            model, data = found
            return LoggedModelContent(
                model_id=model.model_id,
                experiment_id=model.experiment_id,
                name=model.name,
                model_type=model.model_type or None,
                status=model.status,
                status_message=model.status_message or None,
                source_run_id=model.source_run_id or None,
                creation_timestamp=model.creation_timestamp_ms,
                last_updated_timestamp=model.last_updated_timestamp_ms,
                params=data.params,
                tags=data.tags,
                metrics=frozenset(
                    (m.key, m.timestamp, m.step, m.value, m.is_nan, m.run_uuid, m.dataset_name, m.dataset_digest)
                    for m in data.metrics
                ),
            )

    def logged_model_location(self, model_id: str) -> str | None:
        with self.db.read() as session:
            model = session.get(LoggedModel, model_id)
            return model.artifact_uri if model is not None else None

    def import_logged_model(self, content: LoggedModelContent, artifacts: Path | None) -> None:
        """Its artifacts first, then the model in one transaction, under the experiment's folder as the server
        places a new one."""
        with self.db.read() as session:
            location = experiment_store.get_experiment(session, content.experiment_id).artifact_location
        artifact_uri = f"{location}/models/{content.model_id}/artifacts"
        if artifacts is not None:
            self.destination.upload(artifact_uri, artifacts)
        model = LoggedModel(
            model_id=content.model_id,
            experiment_id=content.experiment_id,
            name=content.name,
            artifact_uri=artifact_uri,
            status=content.status,
            status_message=content.status_message,
            model_type=content.model_type,
            source_run_id=content.source_run_id,
            creation_timestamp_ms=content.creation_timestamp,
            last_updated_timestamp_ms=content.last_updated_timestamp,
            lifecycle_stage="active",
        )
        with self.db.write() as session:
            store.insert_logged_model(
                session, model, params=content.params, tags=content.tags, metrics=sorted(content.metrics)
            )
            artifact_destinations.record_once(session, artifact_uri, self.destination.destination_uri, model.model_id)

    # --- registered models --------------------------------------------------------------------------------------

    def run_location(self, run_id: str) -> str | None:
        with self.db.read() as session:
            run = session.get(Run, run_id)
            return run.artifact_uri if run is not None else None

    def relocate(
        self, model: RegisteredModelContent, run_location: SourceLocation, model_location: SourceLocation
    ) -> RegisteredModelContent:
        """The model with each version's source pointed at the destination's copy of its run's or logged model's
        files, where the import brought them along."""
        versions = []
        for version in model.versions:
            moves: list[Relocation] = []
            if needs_relocation(version.source):
                if version.model_id:
                    moves += _move(model_location(version.model_id), self.logged_model_location(version.model_id))
                if version.run_id:
                    moves += _move(run_location(version.run_id), self.run_location(version.run_id))
            versions.append(replace(version, source=relocated(version.source, moves)))
        return replace(model, versions=tuple(versions))

    def stored_registered_model(self, name: str) -> RegisteredModelContent | None:
        with self.db.read() as session:
            found = store.stored_registered_model(session, name)
            if found is None:
                return None
            model = found.model
            return RegisteredModelContent(
                name=model.name,
                description=model.description or None,
                tags=found.tags,
                aliases=found.aliases,
                versions=tuple(
                    VersionContent(
                        version=row.version,
                        source=row.source,
                        run_id=row.run_id or None,
                        model_id=row.model_id or None,
                        run_link=row.run_link or None,
                        description=row.description or None,
                        status=row.status,
                        stage=row.current_stage,
                        tags=found.version_tags.get(row.version, {}),
                        creation_timestamp=row.creation_timestamp,
                        last_updated_timestamp=row.last_updated_timestamp,
                    )
                    for row in found.versions
                ),
                creation_timestamp=model.creation_timestamp,
                last_updated_timestamp=model.last_updated_timestamp,
            )

    def import_registered_model(self, content: RegisteredModelContent) -> None:
        """The model with every version (sources already relocated) and alias, in one transaction."""
        trusted = (self.destination.artifact_root, self.destination.destination_uri)
        with self.db.write() as session:
            rows = []
            for version in content.versions:
                try:
                    location = model_sources.resolve(
                        session,
                        source=version.source,
                        run_id=version.run_id,
                        model_id=version.model_id,
                        is_prompt=content.is_prompt,
                        trusted_roots=trusted,
                    ).storage_location
                except MlflowError:
                    # A source the server would not accept from a client (another host, a run not imported):
                    # the import keeps what the source registry held, and the files are read from there.
                    location = version.source
                rows.append(
                    store.VersionRow(
                        version=version.version,
                        source=version.source,
                        storage_location=location,
                        run_id=version.run_id,
                        model_id=version.model_id,
                        run_link=version.run_link,
                        description=version.description,
                        status=version.status,
                        stage=version.stage,
                        tags=version.tags,
                        creation_timestamp=version.creation_timestamp,
                        last_updated_timestamp=version.last_updated_timestamp,
                    )
                )
            store.insert_registered_model(
                session,
                name=content.name,
                description=content.description,
                tags=content.tags,
                creation_timestamp=content.creation_timestamp,
                last_updated_timestamp=content.last_updated_timestamp,
                versions=rows,
                aliases=content.aliases,
            )


def _move(source_prefix: str | None, destination_prefix: str | None) -> list[Relocation]:
    if source_prefix and destination_prefix:
        return [Relocation(source_prefix, destination_prefix)]
    return []
