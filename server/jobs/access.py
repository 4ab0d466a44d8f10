"""Who may do what with jobs when auth is on: jobs belong to their experiment (submitting needs EDIT on it,
reading a job or its logs READ, cancelling or retrying EDIT); the worker endpoints are for administrators (a
worker signs in with an admin's token), and each claimed job gets a token that acts on its own run only."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session
from starlette.requests import Request

from server.auth.identity import Principal
from server.auth.rules import Authorizer, permission_denied
from server.jobspec.schemas import ClaimedJob, JobView
from server.permissions import Permission
from server.services import users as accounts
from server.store import users
from server.store.models import Experiment, Job
from server.web.context import Context, authorize, principal_of

TRACKING_TOKEN_DAYS = 7  # revoked as soon as the job finishes; the expiry only bounds a token whose job was lost


async def require_experiment(
    context: Context, request: Request, experiment_id: str | None, experiment_name: str | None, need: Permission
) -> None:
    def check(authorizer: Authorizer, session: Session, principal: Principal) -> None:
        if experiment_name:
            found = session.scalar(select(Experiment.experiment_id).where(Experiment.name == experiment_name))
        else:
            found = int(experiment_id or "0") if (experiment_id or "0").isdigit() else None
        if found is not None:  # an unknown experiment gets the service's own 404/400
            authorizer.require(authorizer.on_experiment(session, principal, found), need, f"experiment {found}")

    await authorize(request, context, check)


async def require_job(context: Context, request: Request, job_id: str, need: Permission) -> None:
    def check(authorizer: Authorizer, session: Session, principal: Principal) -> None:
        experiment_id = session.scalar(select(Job.experiment_id).where(Job.job_id == job_id))
        if experiment_id is not None:
            authorizer.require(authorizer.on_experiment(session, principal, experiment_id), need, f"job {job_id}")

    await authorize(request, context, check)


async def require_worker(context: Context, request: Request) -> None:
    def check(_: Authorizer, __: Session, principal: Principal) -> None:
        if not principal.is_admin or principal.run_id is not None:
            raise permission_denied("job workers sign in as an administrator")

    await authorize(request, context, check)


def readable_clause(context: Context, request: Request) -> Callable[[Session], ColumnElement[bool]] | None:
    """The caller's visibility on jobs (their experiments'), for the listing to apply in SQL; None when open."""
    principal = principal_of(request)
    authorizer = context.authorizer
    if authorizer is None or principal is None:
        return None
    return lambda session: authorizer.readable_condition(session, principal)


async def issue_tracking_tokens(context: Context, request: Request, claimed: list[ClaimedJob]) -> list[ClaimedJob]:
    principal = principal_of(request)
    if context.authorizer is None or principal is None or not claimed:
        return claimed

    def token_for(session: Session, job: JobView) -> str | None:
        """A project's process acts on its own run only; a GenAI job acts for the user who submitted it, with
        exactly their permissions (never the worker's)."""
        if job.kind == "genai" and job.creator is None:
            return None
        username = principal.username if job.kind == "project" else job.creator
        name = users.job_token_name(job.job_id)
        return accounts.issue_token(
            session, username or "", name, expires_in_days=TRACKING_TOKEN_DAYS, run_id=job.run_id
        )[1]

    def issue(session: Session) -> list[ClaimedJob]:
        return [c.model_copy(update={"tracking_token": token_for(session, c.job)}) for c in claimed]

    return await context.db.run_write(issue)


async def revoke_tracking_tokens(context: Context, job: JobView) -> None:
    if context.authorizer is not None:
        await context.db.run_write(lambda session: users.revoke_job_tokens(session, job.job_id, job.run_id))
    if context.authenticator is not None:
        context.authenticator.forget_job(job.run_id, job.creator)
