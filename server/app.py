"""The ASGI application: built from a Settings object, never from import-time globals."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from server import __version__
from server.api import all_routes
from server.api.middleware import MergeSlashesMiddleware
from server.api.routing import Context
from server.artifacts.registry import ArtifactRegistry
from server.config import Settings
from server.errors import install_error_handlers
from server.jobs.router import PREFIX as JOBS_PREFIX
from server.jobs.router import router as jobs_router
from server.jobs.service import JobService
from server.services.experiments import artifact_root, ensure_default_experiment
from server.store.engine import Database
from server.store.schema import ensure_schema

log = logging.getLogger(__name__)


def prepare_database(settings: Settings) -> Database:
    """Open the store: create a fresh schema if empty, refuse an outdated one, make sure "Default" exists."""
    db = Database(settings.backend_store_uri)
    ensure_schema(db.engine)
    with db.write() as session:
        ensure_default_experiment(session, settings)
    return db


def create_app(settings: Settings) -> FastAPI:
    db = prepare_database(settings)
    artifacts = ArtifactRegistry(settings.artifacts_destination, local_roots=[artifact_root(settings)])
    context = Context(settings=settings, db=db, artifacts=artifacts)
    jobs = JobService(settings, db, artifacts)
    jobs.grant_grace()  # workers that kept running while the server was down reattach on their next heartbeat

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(jobs.reap_forever)
            yield
            tasks.cancel_scope.cancel()
        db.dispose()

    # MLflow publishes no OpenAPI document for its surface (its routes are plain Starlette routes, which FastAPI
    # leaves out); the document covers our own API under /runyard/api.
    app = FastAPI(
        title="Runyard",
        version=__version__,
        openapi_url=f"{JOBS_PREFIX}/openapi.json",
        docs_url=f"{JOBS_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.context = context
    app.state.jobs = jobs
    install_error_handlers(app)
    app.add_middleware(MergeSlashesMiddleware)
    app.router.routes.extend(all_routes(context))
    app.include_router(jobs_router)
    return app
