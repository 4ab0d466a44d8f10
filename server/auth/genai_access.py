"""Who may touch the GenAI resources: registered scorers and their online scoring configs, issues, GenAI jobs,
label schemas and evaluation datasets. Each belongs to its experiment (a dataset to its experiments), so each check
finds the experiment and asks for the caller's permission on it.

The routes declare these kinds with the names below (`issue(READ)`, `DATASET_CREATE`, ...). The checks are the
methods of `GenAIChecks`, a base of `rules.Authorizer`, whose table maps each kind to its check; what they ask of
the Authorizer (its effective permissions) is declared abstract here. Like `review_queue_access.py`, this module
never imports `rules.py`: the terms both use are in `access.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.auth.access import Access, permission_denied
from server.auth.identity import Principal
from server.permissions import Permission
from server.store import issues, label_schemas, scorers
from server.store.models import Experiment, Job

READ, EDIT = Permission.READ, Permission.EDIT


def issue(need: Permission) -> Access:
    """An issue is its experiment's: READ to see it, EDIT to change it."""
    return Access("issue", need, "issue_id")


def genai_job(need: Permission) -> Access:
    """A GenAI job (a prompt optimization) is its experiment's: READ to see it, EDIT to cancel or delete it."""
    return Access("genai_job", need, "job_id")


def label_schema(need: Permission) -> Access:
    """A label schema is its experiment's: READ to see it, MANAGE to change or delete it (as in MLflow)."""
    return Access("label_schema", need, "schema_id")


def dataset(need: Permission) -> Access:
    """An evaluation dataset follows the experiments it belongs to: the caller needs `need` on every one of them
    (MLflow's rule), so a dataset in no experiment is for administrators only."""
    return Access("dataset", need, "dataset_id")


# Creating a dataset needs EDIT on each experiment it is created in, and at least one of them.
DATASET_CREATE = Access("dataset_create", Permission.EDIT, "experiment_ids")
# Adding a dataset to experiments needs EDIT on the dataset and on each experiment it joins.
DATASET_LINK = Access("dataset_link", Permission.EDIT, "experiment_ids")
# A dataset search naming experiments drops the unreadable ones, as other searches do; it finds only the datasets
# the caller may read.
DATASET_SEARCH = Access("dataset_search", Permission.READ, "experiment_ids")
# Listing scorers: one experiment (READ on it), several (unreadable ones dropped), or none (the handler shows only
# readable experiments' scorers).
SCORER_LIST = Access("scorer_list", READ, "experiment_id")
# Online scoring configs by scorer id: READ on the experiment of every scorer named.
SCORER_IDS = Access("scorer_ids", READ, "scorer_ids")
# Searching issues: READ on the experiment named; without one, the handler shows only readable experiments' issues.
ISSUE_SEARCH = Access("issue_search", READ, "experiment_id")


class GenAIChecks(ABC):
    """The Authorizer's checks for the GenAI kinds (registered in `rules.Authorizer`'s table)."""

    # --- what the checks ask of the Authorizer ------------------------------------------------------------------

    @abstractmethod
    def on_experiment(self, session: Session, principal: Principal, experiment_id: int) -> Permission: ...

    @abstractmethod
    def on_dataset(self, session: Session, principal: Principal, dataset_id: str) -> Permission | None: ...

    @abstractmethod
    def readable_ids(self, session: Session, principal: Principal, ids: Sequence[str]) -> list[str]: ...

    @abstractmethod
    def _check_experiment(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any: ...

    @staticmethod
    @abstractmethod
    def require(have: Permission | None, need: Permission, what: str) -> None: ...

    # --- checks -------------------------------------------------------------------------------------------------

    def _check_scorer_list(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        if fields.string(access.field):
            return self._check_experiment(access, fields, session, principal)
        if not fields.has("experiment_ids"):
            return fields
        asked = fields.string_list("experiment_ids")
        readable = set(self.readable_ids(session, principal, asked))
        kept = [i for i in asked if not i.isdigit() or i in readable]  # malformed ids: the handler refuses them
        if asked and not kept:
            raise permission_denied("READ on the requested experiments required")
        return type(fields)({**fields.as_dict(), "experiment_ids": kept}, from_query=fields.from_query)

    def _check_scorer_ids(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        for scorer_id, experiment_id in scorers.scorer_experiments(session, fields.string_list(access.field)).items():
            self.require(self.on_experiment(session, principal, experiment_id), access.need, f"scorer {scorer_id}")
        return fields

    def _check_issue(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        issue_id = fields.string(access.field)
        experiment_id = issues.experiment_of(session, issue_id) if issue_id else None
        if experiment_id is not None:  # an unknown issue: the handler answers 404
            self.require(self.on_experiment(session, principal, experiment_id), access.need, f"issue {issue_id}")
        return fields

    def _check_genai_job(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        job_id = fields.string(access.field)
        experiment_id = session.scalar(select(Job.experiment_id).where(Job.job_id == job_id)) if job_id else None
        if experiment_id is not None:  # an unknown job: the handler answers 404
            self.require(self.on_experiment(session, principal, experiment_id), access.need, f"job {job_id}")
        return fields

    def _check_issue_search(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        return self._check_experiment(access, fields, session, principal) if fields.string(access.field) else fields

    def _check_label_schema(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        schema_id = fields.string(access.field)
        schema = label_schemas.find(session, schema_id) if schema_id else None
        if schema is not None:
            self.require(self.on_experiment(session, principal, schema.experiment_id), access.need, "experiment")
        return fields

    def _check_dataset(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        if dataset_id := fields.string(access.field):
            self.require(self.on_dataset(session, principal, dataset_id), access.need, f"dataset {dataset_id}")
        return fields

    def _require_on_experiments(self, access: Access, fields: Any, session: Session, principal: Principal) -> None:
        """`access.need` on each existing experiment the request names (unknown ones get the handler's 404)."""
        named = [int(e) for e in fields.string_list(access.field) if e.isdigit() and len(e) < 19]
        found = session.scalars(select(Experiment.experiment_id).where(Experiment.experiment_id.in_(named)))
        for experiment_id in found:
            self.require(self.on_experiment(session, principal, experiment_id), access.need, "experiment")

    def _check_dataset_create(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        if not (principal.is_admin and principal.run_id is None) and not fields.string_list(access.field):
            raise permission_denied("a dataset must be created in an experiment the caller may edit")
        self._require_on_experiments(access, fields, session, principal)
        return fields

    def _check_dataset_link(self, access: Access, fields: Any, session: Session, principal: Principal) -> Any:
        self._check_dataset(dataset(EDIT), fields, session, principal)
        self._require_on_experiments(access, fields, session, principal)
        return fields
