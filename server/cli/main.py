"""`runyard` command line: a group whose commands are imported only when one is run.

`runyard --help` lists every command from the table below without importing any of them, so it answers as fast as
click loads; `runyard server` imports the server, `runyard worker` only the worker. This is click's documented
lazy-loading pattern (a `Group` that resolves `get_command` on demand), with the one-line help kept here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import click


@dataclass(frozen=True, slots=True)
class LazyCommand:
    target: str  # "module:attribute"
    help: str  # the command's own first help line (a test keeps them equal), shown without importing `target`


COMMANDS = {
    "server": LazyCommand("server.cli.serve:server", "Start the tracking server."),
    "import": LazyCommand(
        "server.cli.importing:import_command",
        "Import experiments, runs, traces, models and prompts from an MLflow tracking server or an mlruns folder.",
    ),
    "export": LazyCommand(
        "server.cli.exporting:export_command",
        "Export experiments, runs, traces, models and prompts to an MLflow mlruns folder, artifacts included.",
    ),
    "db": LazyCommand("server.cli.storage:db", "Database schema commands."),
    "artifacts": LazyCommand("server.cli.storage:artifacts", "Artifact store commands."),
    "users": LazyCommand("server.cli.accounts:users_group", "Manage users (for `runyard server --auth`)."),
    "tokens": LazyCommand("server.cli.accounts:tokens_group", "Manage API tokens (sent as MLFLOW_TRACKING_TOKEN)."),
    "worker": LazyCommand(
        "server.cli.jobs:worker", "Run queued MLflow Projects, pulling them from the server over HTTP."
    ),
    "submit": LazyCommand(
        "server.cli.jobs:submit",
        "Submit the MLflow Project at URI (a folder, a .zip, or a git URI with #subdirectory) to Runyard.",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: ARG002 (click's signature)
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:  # noqa: ARG002
        lazy = COMMANDS.get(cmd_name)
        if lazy is None:
            return None
        module_name, attribute = lazy.target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{lazy.target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)  # click's own layout for the list
        rows = [(name, click.Command(name, help=COMMANDS[name].help).get_short_help_str(limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
def cli() -> None:
    """Runyard: an MLflow-compatible tracking server."""
