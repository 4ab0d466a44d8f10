"""The one rule for turning command-line flags into Settings, shared by every command that reads them."""

from __future__ import annotations

from typing import Any

from server.config import Settings


def settings_from_flags(**flags: Any) -> Settings:
    """Flags given on the command line win over the environment, which wins over defaults."""
    given = {name: value for name, value in flags.items() if value is not None}
    return Settings(**given)
