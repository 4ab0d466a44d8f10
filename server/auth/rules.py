"""What each route needs, and the one place that decides whether a caller has it.

Every RPC declares an `Access`: the resource it touches (found from a request field), the level it needs, and
whether the caller becomes the resource's manager. Searches do not refuse: they only ever see what the caller
may read. A job's token (`Principal.run_id`) acts for its user on its own run, reads that run's experiment, and
creates logged models from that run; nothing else.

The GenAI kinds (scorers, issues, GenAI jobs, label schemas, evaluation datasets) are declared and checked in
`genai_access.py`, whose checks the Authorizer inherits, as it inherits the MCP Server Registry's (`mcp_access.py`);
the review-queue rules are in `review_queue_access.py`, the role API's in `role_access.py`, and what roles grant
beside per-user grants in `role_grants.py`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, not_, select, true
from sqlalchemy.orm import Session, aliased

from server.auth import review_queue_access as queues
from server.auth import role_access, role_grants
from server.auth.access import Access as Access  # re-exported: routes declare their needs through this module
from server.auth.access import Resource
from server.auth.access import allowed_actions as allowed_actions  # re-exported too
from server.auth.access import permission_denied as permission_denied  # re-exported too
from server.auth.genai_access import GenAIChecks
from server.auth.identity import Principal
from server.auth.mcp_access import McpChecks
from server.auth.skill_access import SKILL_CREATE as SKILL_CREATE  # re-exported, as the other Access constants
from server.auth.skill_access import SKILL_REGISTER as SKILL_REGISTER
from server.auth.skill_access import SKILL_SCOPE_FIELD as SKILL_SCOPE_FIELD
from server.auth.skill_access import SKILL_SEARCH as SKILL_SEARCH
from server.auth.skill_access import SKILL_VERSION_UPDATE as SKILL_VERSION_UPDATE
from server.auth.skill_access import SkillChecks, skill_of_upload_path
from server.auth.skill_access import SkillScope as SkillScope
from server.auth.skill_access import skill as skill
from server.permissions import Permission
from server.store import artifact_destinations, users
from server.store.genai_models import EvaluationDataset, EvaluationDatasetExperiment
from server.store.models import Experiment, LoggedModel, RegisteredModel, Run, Trace


def experiment(need: Permission, field: str = "experiment_id") -> Access:
    return Access("experiment", need, field)


def run(need: Permission) -> Access:
    return Access("run", need, "run_id")


def logged_model(need: Permission) -> Access:
    return Access("logged_model", need, "model_id")


def registered_model(need: Permission, field: str = "name") -> Access:
    return Access("registered_model", need, field)


def trace(need: Permission, field: str = "trace_id") -> Access:
    """A trace is its experiment's: READ to see it, EDIT to change its tags or assessments."""
    return Access("trace", need, field)


def traces(need: Permission) -> Access:
    return Access("traces", need, "trace_ids")


def review_queue(need: Permission) -> Access:
    """A review queue by its experiment alone (attaching traces: EDIT); the finer rules follow."""
    return Access("review_queue", need, "queue_id")


READ, EDIT, MANAGE = Permission.READ, Permission.EDIT, Permission.MANAGE
LOGGED_MODEL_ID_PREFIX = "m-"
TRACE_ID_PREFIX = "tr-"
# A finished trace's info names its experiment inside `trace.trace_info.trace_location`; EDIT on it is needed.
TRACE_START = Access("trace_start", Permission.EDIT)
# A trace search names experiments inside `locations`: unreadable ones are dropped, as for other searches.
TRACE_LOCATIONS = Access("trace_locations", Permission.READ, "locations")
SIGNED_IN = Access("signed_in")
# Any signed-in user, but not a job's token: the roster of users is for people (MLflow lists it to every user).
PERSON = Access("person")
ADMIN = Access("admin", MANAGE)
# A user's own account (by its `username` field): that user or an administrator; never a job's token.
SELF_OR_ADMIN = Access("user", MANAGE, "username")
# Granting on the resource a request names by `resource_type` and `resource_id` needs MANAGE on it.
MANAGE_NAMED_RESOURCE = Access("named_resource", MANAGE)
# A search naming experiments: unreadable ones are dropped, and naming only unreadable ones is refused.
READABLE_EXPERIMENTS = Access("experiments", READ, "experiment_ids")
# Review queues as MLflow's basic-auth app guards them (`server/auth/review_queue_access.py`): seeing one (by id or by
# name), changing its shape, deleting it or taking traces out, and closing or reopening its items.
REVIEW_QUEUE_VIEW = Access("review_queue_view", READ, "queue_id")
REVIEW_QUEUE_VIEW_BY_NAME = Access("review_queue_view_by_name", READ, "experiment_id")
REVIEW_QUEUE_SHAPE = Access("review_queue_shape", EDIT, "queue_id")
REVIEW_QUEUE_PRUNE = Access("review_queue_prune", EDIT, "queue_id")
REVIEW_QUEUE_REVIEW = Access("review_queue_review", EDIT, "queue_id")


_acting: ContextVar[Principal | None] = ContextVar("runyard_principal", default=None)


@contextlib.contextmanager
def acting_as(principal: Principal | None) -> Iterator[None]:
    """Makes `principal` visible to the search code a handler runs, in the thread that runs it."""
    token = _acting.set(principal)
    try:
        yield
    finally:
        _acting.reset(token)


# A resource kind's check: raises PERMISSION_DENIED or returns the fields the handler should see.
_Checker = Callable[[Access, Any, Session, Principal], Any]


class Authorizer(GenAIChecks, McpChecks, SkillChecks):
    def __init__(self, default: Permission, baseline: role_grants.Baseline | None = None) -> None:
        self.default = default
        # Where no grant speaks: the default, and with workspaces only inside the caller's own workspaces.
        self.baseline = baseline or role_grants.Baseline(default)
        # One checker per resource kind; a kind missing here is refused by `check`.
        self._checks: dict[Resource, _Checker] = {
            "signed_in": self._check_signed_in,
            "person": self._check_person,
            "admin": self._check_admin,
            "user": self._check_user,
            "named_resource": self._check_named_resource,
            "experiments": self._check_experiments,
            "runs": self._check_runs,
            "run": self._check_run,
            "logged_model": self._check_logged_model,
            "registered_model": self._check_registered_model,
            "experiment": self._check_experiment,
            "experiment_name": self._check_experiment,
            "trace": self._check_trace,
            "traces": self._check_traces,
            "trace_start": self._check_trace_start,
            "trace_locations": self._check_trace_locations,
            "scorer_list": self._check_scorer_list,
            "scorer_ids": self._check_scorer_ids,
            "issue": self._check_issue,
            "genai_job": self._check_genai_job,
            "issue_search": self._check_issue_search,
            "label_schema": self._check_label_schema,
            "review_queue": self._check_review_queue,
            "review_queue_view": self._check_review_queue,
            "review_queue_view_by_name": self._check_review_queue_by_name,
            "review_queue_shape": self._check_review_queue,
            "review_queue_prune": self._check_review_queue,
            "review_queue_review": self._check_review_queue,
            "dataset": self._check_dataset,
            "dataset_create": self._check_dataset_create,
            "dataset_link": self._check_dataset_link,
            "dataset_search": self._check_experiments,
            "skill": self._check_skill,
            "skill_version_update": self._check_skill,
            "skill_create": self._check_skill_create,
            "skill_register": self._check_skill_register,
            "skill_search": self._check_skill_search,
            "mcp_server": self._check_mcp_server,
            "mcp_server_alias": self._check_mcp_server,
            "mcp_server_endpoint": self._check_mcp_server,
            "mcp_server_sweep": self._check_mcp_server,
            "mcp_server_version": self._check_mcp_server_version,
            "mcp_server_version_update": self._check_mcp_server_version,
            "mcp_server_create": self._check_mcp_server_create,
            "mcp_server_register": self._check_mcp_server_register,
            "mcp_server_search": self._check_mcp_search,
            "mcp_endpoint_search": self._check_mcp_search,
            "role": role_access.check_role,
            "roles": role_access.check_roles_list,
            "user_roles": role_access.check_user_roles,
        }

    # --- effective permissions ----------------------------------------------------------------------------------

    def on_experiment(self, session: Session, principal: Principal, experiment_id: int) -> Permission:
        if principal.run_id is not None:
            run_experiment = session.scalar(select(Run.experiment_id).where(Run.run_uuid == principal.run_id))
            if run_experiment != experiment_id:
                return Permission.NO_PERMISSIONS
            return _lower(self.on_experiment(session, _unscoped(principal), experiment_id), READ)
        if principal.is_admin:
            return MANAGE
        return role_grants.on_experiment(session, principal.user_id, experiment_id, self.baseline)

    def on_run(self, session: Session, principal: Principal, run_id: str) -> Permission | None:
        experiment_id = session.scalar(select(Run.experiment_id).where(Run.run_uuid == run_id))
        if experiment_id is None:
            return None  # unknown run: the handler answers 404
        if principal.run_id is not None:
            if run_id != principal.run_id:
                return Permission.NO_PERMISSIONS
            return _lower(self.on_experiment(session, _unscoped(principal), experiment_id), EDIT)
        return self.on_experiment(session, principal, experiment_id)

    def on_logged_model(self, session: Session, principal: Principal, model_id: str) -> Permission | None:
        row = session.execute(
            select(LoggedModel.experiment_id, LoggedModel.source_run_id).where(LoggedModel.model_id == model_id)
        ).first()
        if row is None:
            return None
        if principal.run_id is not None and row.source_run_id == principal.run_id:
            return self.on_run(session, principal, principal.run_id)
        return self.on_experiment(session, principal, row.experiment_id)

    def on_trace(self, session: Session, principal: Principal, trace_id: str) -> Permission | None:
        experiment_id = session.scalar(select(Trace.experiment_id).where(Trace.trace_id == trace_id))
        return None if experiment_id is None else self.tracing_into(session, principal, experiment_id)

    def tracing_into(self, session: Session, principal: Principal, experiment_id: int) -> Permission:
        """What a caller may do with the traces of an experiment: a job's token may trace into (EDIT) its own
        run's experiment, where it may otherwise only read."""
        if principal.run_id is not None:
            run_experiment = session.scalar(select(Run.experiment_id).where(Run.run_uuid == principal.run_id))
            if run_experiment != experiment_id:
                return Permission.NO_PERMISSIONS
            return _lower(self.on_experiment(session, _unscoped(principal), experiment_id), EDIT)
        return self.on_experiment(session, principal, experiment_id)

    def on_dataset(self, session: Session, principal: Principal, dataset_id: str) -> Permission | None:
        """The least of the caller's permissions on the dataset's experiments; None for an unknown dataset."""
        if (
            session.scalar(select(EvaluationDataset.dataset_id).where(EvaluationDataset.dataset_id == dataset_id))
            is None
        ):
            return None
        if principal.is_admin and principal.run_id is None:
            return MANAGE
        experiment_ids = session.scalars(
            select(EvaluationDatasetExperiment.experiment_id).where(
                EvaluationDatasetExperiment.dataset_id == dataset_id
            )
        )
        least = None
        for experiment_id in experiment_ids:
            have = self.on_experiment(session, principal, experiment_id)
            least = have if least is None else _lower(least, have)
        return least or Permission.NO_PERMISSIONS

    def on_artifact_path(self, session: Session, principal: Principal, path: str) -> Permission:
        """Proxied artifacts follow the run or logged model whose folder holds them; a skill's uploaded content
        follows the skill, read-only (only the registry writes it; MLflow lets EDIT rewrite it through the proxy,
        which would change a version under its recorded digest); paths in no such folder (the destination's root,
        stray uploads, the skills folder itself) are for administrators only."""
        if principal.is_admin and principal.run_id is None:
            return MANAGE
        if (skill := skill_of_upload_path(path)) is not None:
            return _lower(self.on_skill(session, principal, *skill), READ)
        record = artifact_destinations.lookup(session, path) if path else None
        have: Permission | None = None
        if record is not None and record.owner_id:
            if record.owner_id.startswith(LOGGED_MODEL_ID_PREFIX):
                have = self.on_logged_model(session, principal, record.owner_id)
            elif record.owner_id.startswith(TRACE_ID_PREFIX):
                have = self.on_trace(session, principal, record.owner_id)
            else:
                have = self.on_run(session, principal, record.owner_id)
        if have is None:
            return MANAGE if principal.is_admin and principal.run_id is None else Permission.NO_PERMISSIONS
        return have

    def require_on_artifact_path(self, session: Session, principal: Principal, path: str, need: Permission) -> None:
        if not self.on_artifact_path(session, principal, path).allows(need):
            raise permission_denied(f"{need.value} on artifacts at '{path}' required")

    def on_registered_model(self, session: Session, principal: Principal, name: str) -> Permission:
        """Registered models and prompts; a job's token has no say over the registry."""
        if principal.run_id is not None:
            return Permission.NO_PERMISSIONS
        if principal.is_admin:
            return MANAGE
        return role_grants.on_registered_model(session, principal.user_id, name, self.baseline)

    # --- checks -------------------------------------------------------------------------------------------------

    def check(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        """Raise PERMISSION_DENIED unless `principal` may make this request; returns the fields the handler should
        see (a search's experiment ids narrowed to the readable ones)."""
        checker = self._checks.get(access.resource)
        if checker is None:
            raise permission_denied()  # a resource this checker does not know is refused, never waved through
        return checker(access, fields, session, principal)

    def _check_signed_in(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        if access.grants_creator:
            role_grants.require_creation_seat(session, principal, self.baseline)
        return fields

    def _check_person(self, _access: Access, fields: Any, _session: Session, principal: Principal) -> Any:
        if principal.run_id is not None:
            raise permission_denied("a job's token acts on its own run only")
        return fields

    def _check_admin(self, _access: Access, fields: Any, _session: Session, principal: Principal) -> Any:
        if not (principal.is_admin and principal.run_id is None):
            raise permission_denied("administrators only")
        return fields

    def _check_user(self, access: Access, fields: Any, _session: Session, principal: Principal) -> Any:
        if principal.run_id is None and (principal.is_admin or fields.string(access.field) == principal.username):
            return fields
        raise permission_denied("only administrators act on other users' accounts")

    def _check_named_resource(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        kind, name = fields.string("resource_type"), fields.string("resource_id")
        if kind == "experiment" and name and name.isdigit():
            self.require(self.on_experiment(session, principal, int(name)), access.need, "experiment")
        elif kind == "registered_model" and name and name != "*":
            self.require(self.on_registered_model(session, principal, name), access.need, f"model '{name}'")
        elif not (principal.is_admin and principal.run_id is None):
            raise permission_denied("administrators only")  # whatever else it names, the handler refuses
        return fields

    def _check_experiments(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        asked = fields.string_list(access.field)
        readable = self.readable_ids(session, principal, asked)
        if asked and not readable:
            raise permission_denied("READ on the requested experiments required")
        return type(fields)({**fields.as_dict(), access.field: readable}, from_query=False)

    def _check_runs(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        for run_id in fields.string_list(access.field):
            self.require(self.on_run(session, principal, run_id), access.need, f"run {run_id}")
        return fields

    def _check_run(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        run_id = fields.string("run_id") or fields.string("run_uuid")
        model_id = fields.string("model_id")
        if run_id:
            self.require(self.on_run(session, principal, run_id), access.need, f"run {run_id}")
        elif model_id:  # requests that name a run or a logged model (presigned upload URLs)
            self.require(self.on_logged_model(session, principal, model_id), access.need, f"model {model_id}")
        return fields

    def _check_logged_model(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        model_id = fields.string(access.field)
        if model_id:
            self.require(self.on_logged_model(session, principal, model_id), access.need, f"model {model_id}")
        return fields

    def _check_registered_model(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        name = fields.string(access.field)
        if name:
            self.require(self.on_registered_model(session, principal, name), access.need, f"model '{name}'")
        # A new version's source must be readable too, or the registry would hand out someone else's files. A run or
        # logged model that does not exist cannot be read: as MLflow's auth does, only an administrator may name one
        # (the version would otherwise serve whatever later appears under that id, and the answer would not tell
        # which ids exist).
        if run_id := fields.string("run_id"):
            self._require_source(self.on_run(session, principal, run_id), principal, f"run {run_id}")
        if model_id := fields.string("model_id"):
            self._require_source(self.on_logged_model(session, principal, model_id), principal, f"model {model_id}")
        return fields

    def _require_source(self, have: Permission | None, principal: Principal, what: str) -> None:
        if have is None and not principal.is_admin:
            raise permission_denied(f"{READ.value} on {what} required")
        self.require(have, READ, what)

    def _check_experiment(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        """Both "experiment" (by id) and "experiment_name"; `_experiment_id` tells them apart."""
        experiment_id = self._experiment_id(session, access, fields)
        if experiment_id is None:
            return fields  # unknown or malformed: the handler answers with MLflow's error
        if principal.run_id is not None and access.need == EDIT and fields.string("source_run_id") == principal.run_id:
            # A job creating a logged model from its own run.
            self.require(self.on_run(session, principal, principal.run_id), EDIT, f"run {principal.run_id}")
            return fields
        self.require(self.on_experiment(session, principal, experiment_id), access.need, "experiment")
        return fields

    def _check_trace(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        trace_id = fields.string(access.field)
        if trace_id:
            self.require(self.on_trace(session, principal, trace_id), access.need, f"trace {trace_id}")
        return fields

    def _check_traces(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        for trace_id in fields.string_list(access.field):
            self.require(self.on_trace(session, principal, trace_id), access.need, f"trace {trace_id}")
        return fields

    def _check_trace_start(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        trace_value = fields.raw("trace")
        info = trace_value.get("trace_info") if isinstance(trace_value, dict) else None
        location = info.get("trace_location") if isinstance(info, dict) else None
        experiment = location.get("mlflow_experiment") if isinstance(location, dict) else None
        experiment_id = experiment.get("experiment_id") if isinstance(experiment, dict) else None
        if isinstance(experiment_id, str) and experiment_id.isdigit():
            have = self.tracing_into(session, principal, int(experiment_id))
            self.require(have, access.need, "experiment")
        if isinstance(info, dict) and isinstance(trace_id := info.get("trace_id"), str):
            # An existing trace keeps its experiment: writing into someone else's trace is refused too.
            self.require(self.on_trace(session, principal, trace_id), access.need, f"trace {trace_id}")
        return fields

    def _check_trace_locations(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        locations = fields.raw(access.field)
        asked, kept = 0, []
        for location in locations if isinstance(locations, list) else []:
            experiment = location.get("mlflow_experiment") if isinstance(location, dict) else None
            experiment_id = experiment.get("experiment_id") if isinstance(experiment, dict) else None
            if not isinstance(experiment_id, str):
                continue
            asked += 1
            if experiment_id.isdigit() and self.tracing_into(session, principal, int(experiment_id)).allows(READ):
                kept.append(location)
        if asked and not kept:
            raise permission_denied("READ on the requested experiments required")
        return type(fields)({**fields.as_dict(), access.field: kept}, from_query=False)

    def _check_review_queue(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        """The rule of `access.resource` on the queue the request names; an unknown queue is the handler's 404."""
        queue_id = fields.string(access.field)
        facts = queues.facts_of(session, queue_id) if queue_id else None
        if facts is None:
            return fields
        have = self.on_experiment(session, principal, facts.experiment_id)
        allowed = {
            "review_queue": lambda: have.allows(access.need),
            "review_queue_view": lambda: queues.may_view(have, facts, principal),
            "review_queue_shape": lambda: queues.may_shape(have, facts, principal, new_owner=fields.has("new_owner")),
            "review_queue_prune": lambda: queues.may_prune(have, facts, principal),
            "review_queue_review": lambda: queues.may_review(have, facts, principal),
        }[access.resource]()
        if not allowed:
            raise permission_denied(_QUEUE_RULES[access.resource].format(queue_id=queue_id))
        return fields

    def _check_review_queue_by_name(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        experiment_id, name = self._experiment_id(session, access, fields), fields.string("name")
        if experiment_id is None:
            return fields
        have = self.on_experiment(session, principal, experiment_id)
        self.require(have, READ, "experiment")
        facts = queues.find_by_name(session, experiment_id, name) if name and not have.allows(MANAGE) else None
        if facts is not None and not queues.may_view(have, facts, principal):
            raise permission_denied(_QUEUE_RULES["review_queue_view"].format(queue_id=name))
        return fields

    def grant_creator(self, access: Access, session: Session, principal: Principal, result: Any) -> None:
        if not access.grants_creator or principal.is_admin:
            return
        if not isinstance(result, dict):
            return
        if (experiment_id := result.get("experiment_id")) is not None:
            users.set_experiment_permission(session, int(experiment_id), principal.user_id, MANAGE.value)
        if isinstance(model := result.get("registered_model"), dict) and model.get("name"):
            users.set_registered_model_permission(session, model["name"], principal.user_id, MANAGE.value)
        if access.resource in ("skill_create", "skill_register"):
            self.grant_skill_creator(session, principal, result)

    @staticmethod
    def require(have: Permission | None, need: Permission, what: str) -> None:
        if have is not None and not have.allows(need):
            raise permission_denied(f"{need.value} on {what} required")

    @staticmethod
    def _experiment_id(session: Session, access: Access, fields: Any) -> int | None:
        if access.resource == "experiment_name":
            name = fields.string(access.field)
            return session.scalar(select(Experiment.experiment_id).where(Experiment.name == name)) if name else None
        value = fields.string(access.field)
        return int(value) if value and value.isdigit() else None

    # --- searches -----------------------------------------------------------------------------------------------

    def readable_ids(self, session: Session, principal: Principal, ids: Sequence[str]) -> list[str]:
        return [i for i in ids if i.isdigit() and self.on_experiment(session, principal, int(i)).allows(READ)]

    def readable_condition(
        self, session: Session, principal: Principal | None, column: Any = Experiment.experiment_id
    ) -> ColumnElement[bool]:
        """A WHERE clause on `column` (an experiment id) matching exactly the experiments `principal` may read."""
        if principal is None or (principal.is_admin and principal.run_id is None):
            return true()
        if principal.run_id is not None:
            run_experiment = session.scalar(select(Run.experiment_id).where(Run.run_uuid == principal.run_id))
            return column == (run_experiment if run_experiment is not None else -1)  # type: ignore[no-any-return]
        kept = role_grants.readable_experiments(session, principal.user_id, column, self.baseline)
        return true() if kept is None else kept

    def readable_dataset_condition(self, session: Session, principal: Principal | None) -> ColumnElement[bool]:
        """A WHERE clause on `EvaluationDataset` matching the datasets `principal` may read: those in at least one
        experiment, and in none the caller may not read."""
        if principal is None or (principal.is_admin and principal.run_id is None):
            return true()
        link, other = aliased(EvaluationDatasetExperiment), aliased(EvaluationDatasetExperiment)
        unreadable = not_(self.readable_condition(session, principal, other.experiment_id))
        return and_(
            exists().where(link.dataset_id == EvaluationDataset.dataset_id),
            ~exists().where(other.dataset_id == EvaluationDataset.dataset_id, unreadable),
        )


def readable_model_condition(
    authorizer: Authorizer, session: Session, principal: Principal | None
) -> ColumnElement[bool] | None:
    """A WHERE clause on `RegisteredModel.name` matching the registered models `principal` may read."""
    if principal is None or (principal.is_admin and principal.run_id is None):
        return None
    if principal.run_id is not None:
        return false()
    return role_grants.readable_models(session, principal.user_id, RegisteredModel.name, authorizer.baseline)


_QUEUE_RULES = {
    "review_queue": "EDIT on the experiment of review queue {queue_id} required",
    "review_queue_view": "review queue {queue_id} is shown to its users, its owner and the experiment's managers",
    "review_queue_shape": "review queue {queue_id} is changed by its owner or the experiment's managers, and handed to "
    "a new owner by the managers only",
    "review_queue_prune": "review queue {queue_id} is deleted or emptied by the experiment's managers, or by the owner "
    "of a custom queue",
    "review_queue_review": "items of review queue {queue_id} are reviewed by the queue's users",
}


def _lower(first: Permission, second: Permission) -> Permission:
    return first if first.rank <= second.rank else second


def _unscoped(principal: Principal) -> Principal:
    return Principal(principal.user_id, principal.username, principal.is_admin)


def current_principal() -> Principal | None:
    return _acting.get()
