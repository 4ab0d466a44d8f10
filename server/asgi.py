"""Factory for uvicorn's worker processes: each rebuilds the app from the settings the CLI resolved."""

import os

from fastapi import FastAPI

from server.app import create_app
from server.config import SETTINGS_ENV, Settings
from server.observability.logs import configure_logging


def build() -> FastAPI:
    resolved = os.environ.get(SETTINGS_ENV)
    settings = Settings.model_validate_json(resolved) if resolved else Settings()
    configure_logging(settings)
    return create_app(settings)
