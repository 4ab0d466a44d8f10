"""Logging set-up shared by the CLI and each uvicorn worker process (which starts with a blank configuration)."""

from __future__ import annotations

import logging

from server.config import Settings

ACCESS_LOGGER = "runyard.access"


def configure_logging(settings: Settings) -> None:
    """Server messages as text; access lines as bare JSON objects, one per line, ready for a log shipper."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    access = logging.getLogger(ACCESS_LOGGER)
    access.propagate = False
    access.setLevel(logging.INFO if settings.access_log else logging.WARNING)
    if not access.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
