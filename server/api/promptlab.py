"""`POST /ajax-api/2.0/mlflow/runs/create-promptlab-run`: the web UI's prompt engineering page records what it tried
as a run (MLflow's `create_promptlab_run_handler`). A route of its own, not an RPC: after the run's row it writes
files, which never happens inside a transaction."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.api import convert
from server.api.wire import Fields, json_response, read_fields
from server.auth import rules
from server.errors import MlflowError
from server.services import promptlab, validation
from server.web.context import Context, authorize

PATH = "/ajax-api/2.0/mlflow/runs/create-promptlab-run"
# Checked in this order, each present and not empty, with MLflow's message.
_REQUIRED = ("experiment_id", "prompt_template", "prompt_parameters", "model_route", "model_input", "mlflow_version")


def _pairs(fields: Fields, name: str) -> list[tuple[str, str]]:
    """`[{key, value}]` as MLflow reads it: every value as its string (`0.1` becomes "0.1")."""
    pairs = []
    for i, item in enumerate(fields.objects(name)):
        key, value = item.get("key"), item.get("value")
        if not isinstance(key, str) or not key:
            raise MlflowError.invalid_parameter(f"Missing value for required parameter '{name}[{i}].key'.")
        pairs.append((key, "" if value is None else str(value)))
    return pairs


def parse(fields: Fields) -> promptlab.PromptlabRun:
    for name in _REQUIRED:
        if not fields.raw(name):
            raise MlflowError.invalid_parameter(f"CreatePromptlabRun request must specify {name}.")
    return promptlab.PromptlabRun(
        experiment_id=validation.parse_experiment_id(str(fields.raw("experiment_id"))),
        run_name=fields.string("run_name"),
        tags=dict(_pairs(fields, "tags")),
        prompt_template=fields.required_string("prompt_template"),
        prompt_parameters=_pairs(fields, "prompt_parameters"),
        model_route=fields.required_string("model_route"),
        model_parameters=_pairs(fields, "model_parameters"),
        model_input=fields.required_string("model_input"),
        model_output=fields.string("model_output"),
        model_output_parameters=_pairs(fields, "model_output_parameters"),
        mlflow_version=fields.required_string("mlflow_version"),
        user_id=fields.string("user_id") or "unknown",
        start_time=fields.integer("start_time"),
    )


def routes(context: Context) -> list[BaseRoute]:
    async def create_promptlab_run(request: Request) -> Response:
        fields = await read_fields(request)
        # EDIT on the experiment first, as MLflow's auth checks it before the handler reads the body.
        await authorize(request, context, lambda a, s, p: a.check(rules.experiment(rules.EDIT), fields, s, p))
        run = parse(fields)
        created = await promptlab.create(context.db, context.artifacts, run)
        body: dict[str, Any] = {"run": convert.run_json(*created)}
        return json_response(body)

    return [Route(PATH, create_promptlab_run, methods=["POST"])]
