"""Prompt-optimization jobs (MLflow 3.10+): create, get, search, cancel and delete, as MLflow's
`PromptOptimizationJob` messages, on /api and /ajax-api. The work runs on Runyard's job queue; a job and its run
follow their experiment (EDIT to create, cancel or delete; READ to see)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.api.routing import Rpc
from server.api.wire import Fields, invalid, missing
from server.auth import genai_access, rules
from server.clock import now_ms
from server.permissions import Permission
from server.services import prompt_optimization as service
from server.web.context import Context

PATH = "/mlflow/prompt-optimization/jobs"


def create_job(fields: Fields, session: Session, context: Context) -> dict[str, Any]:
    if not fields.string("source_prompt_uri"):
        raise missing("source_prompt_uri")
    config = fields.raw("config")
    if config is None:
        raise missing("config")
    if not isinstance(config, dict):
        raise invalid("config", config)
    principal = rules.current_principal()
    job = service.create(
        session,
        context.settings,
        experiment_id=fields.string("experiment_id") or "",
        source_prompt_uri=fields.required_string("source_prompt_uri"),
        config=config,
        tags=fields.objects("tags"),
        user=principal.username if principal is not None else None,
        artifact_destination=context.artifacts.destination_uri,
    )
    return {"job": job}


def get_job(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    job = service.get(session, fields.required_string("job_id"))
    return {"job": service.to_message(job, service.run_metrics(session, job))}


def search_jobs(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    jobs = [service.to_message(job) for job in service.search(session, fields.required_string("experiment_id"))]
    return {"jobs": jobs} if jobs else {}  # protobuf JSON leaves out an empty list, as MLflow's answer does


def cancel_job(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    return {"job": service.cancel(session, fields.required_string("job_id"), now=now_ms())}


def delete_job(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    service.delete(session, fields.required_string("job_id"))
    return {}


READ, EDIT = Permission.READ, Permission.EDIT
RPCS = [
    Rpc("POST", PATH, create_job, since=3, access=rules.experiment(EDIT)),
    Rpc("POST", f"{PATH}/search", search_jobs, since=3, writes=False, access=rules.experiment(READ)),
    Rpc("GET", f"{PATH}/search", search_jobs, since=3, access=rules.experiment(READ)),
    Rpc("GET", f"{PATH}/{{job_id}}", get_job, since=3, access=genai_access.genai_job(READ)),
    Rpc("POST", f"{PATH}/{{job_id}}/cancel", cancel_job, since=3, access=genai_access.genai_job(EDIT)),
    Rpc("DELETE", f"{PATH}/{{job_id}}", delete_job, since=3, access=genai_access.genai_job(EDIT)),
]
