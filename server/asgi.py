"""Factory for uvicorn's worker processes: each rebuilds the app from the settings the CLI resolved."""

import os

from fastapi import FastAPI

from server.app import create_app
from server.config import Settings

SETTINGS_ENV = "RUNYARD_RESOLVED_SETTINGS"


def build() -> FastAPI:
    resolved = os.environ.get(SETTINGS_ENV)
    return create_app(Settings.model_validate_json(resolved) if resolved else Settings())
