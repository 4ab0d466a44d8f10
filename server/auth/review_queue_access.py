"""Who may do what with a review queue, decided as MLflow's basic-auth app decides it (its review-queue validators in
`mlflow/server/auth/__init__.py`), from the caller's permission on the queue's experiment:

- see a queue and its items: READ, and either MANAGE, being one of its users, or EDIT as its owner;
- attach traces: EDIT;
- change its name, users or questions: MANAGE, or EDIT as its owner; hand it to a new owner: MANAGE;
- delete it or take traces out of it: MANAGE, or EDIT as the owner of a custom queue (a user queue's lifecycle is
  its managers' business, not its user's);
- close or reopen an item: EDIT as one of its users (a manager assigns themselves first). Administrators may do
  everything, as MLflow's admins bypass these checks.

Users and owners are compared without regard to case, as the queue stores them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from server.auth.identity import Principal
from server.permissions import Permission
from server.store import review_queues as store

READ, EDIT, MANAGE = Permission.READ, Permission.EDIT, Permission.MANAGE


@dataclass(frozen=True, slots=True)
class QueueFacts:
    experiment_id: int
    custom: bool
    owner: str  # lower-cased; "" when the queue has none
    users: frozenset[str]


def facts_of(session: Session, queue_id: str) -> QueueFacts | None:
    queue = store.find(session, queue_id)
    if queue is None:
        return None
    users = store.users_of(session, [queue.queue_id])[queue.queue_id]
    owner = (queue.created_by or "").strip().lower()
    return QueueFacts(queue.experiment_id, queue.queue_type == "custom", owner, frozenset(users))


def find_by_name(session: Session, experiment_id: int, name: str) -> QueueFacts | None:
    queue = store.find_by_name_key(session, experiment_id, name.lower())
    return facts_of(session, queue.queue_id) if queue is not None else None


def _who(principal: Principal) -> str:
    return principal.username.strip().lower()


def is_user(facts: QueueFacts, principal: Principal) -> bool:
    return _who(principal) in facts.users


def is_owner(facts: QueueFacts, principal: Principal) -> bool:
    return bool(facts.owner) and facts.owner == _who(principal)


def _is_admin(principal: Principal) -> bool:
    return principal.is_admin and principal.run_id is None


def may_view(have: Permission, facts: QueueFacts, principal: Principal) -> bool:
    if not have.allows(READ):
        return False
    return have.allows(MANAGE) or is_user(facts, principal) or (have.allows(EDIT) and is_owner(facts, principal))


def may_shape(have: Permission, facts: QueueFacts, principal: Principal, *, new_owner: bool) -> bool:
    if have.allows(MANAGE):
        return True
    return not new_owner and have.allows(EDIT) and is_owner(facts, principal)


def may_prune(have: Permission, facts: QueueFacts, principal: Principal) -> bool:
    if have.allows(MANAGE):
        return True
    return have.allows(EDIT) and is_owner(facts, principal) and facts.custom


def may_review(have: Permission, facts: QueueFacts, principal: Principal) -> bool:
    return _is_admin(principal) or (have.allows(EDIT) and is_user(facts, principal))
