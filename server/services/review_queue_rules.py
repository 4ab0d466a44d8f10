"""MLflow's checks and normal forms for review queue fields (`mlflow/genai/review_queues/validation.py`), in its
words.

Users are compared as assessment sources are, without regard to case: they are stripped and lower-cased once, when
written. Trace ids and schema ids are case-sensitive and only stripped. Length caps match the columns, so a value
that passes also fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from server.errors import MlflowError

USER, CUSTOM = "user", "custom"
PENDING, COMPLETE, DECLINED = "pending", "complete", "declined"
TRACE = "trace"
QUEUE_NAME_MAX_LENGTH = 250
USER_MAX_LENGTH = 250
SCHEMA_ID_MAX_LENGTH = 36
ITEM_ID_MAX_LENGTH = 50
MAX_ASSIGNED_USERS = 10
RESERVED_QUEUE_NAME = "default"  # the default user queue of a server without sign-in


def _invalid(message: str) -> MlflowError:
    return MlflowError.invalid_parameter(message)


def _require_text(value: str, field: str, max_length: int) -> None:
    if not value:
        raise _invalid(f"`{field}` must be a non-empty string; got {value!r}.")
    if len(value) > max_length:
        raise _invalid(f"`{field}` must be at most {max_length} characters; got {len(value)}.")


def normal_user(user: str) -> str:
    return user.strip().lower()


def normal_users(users: Sequence[str]) -> list[str]:
    normalized = []
    for user in users:
        name = normal_user(user)
        _require_text(name, "user", USER_MAX_LENGTH)
        normalized.append(name)
    unique = list(dict.fromkeys(normalized))
    if len(unique) > MAX_ASSIGNED_USERS:
        raise _invalid(f"A review queue can have at most {MAX_ASSIGNED_USERS} assigned users; got {len(unique)}.")
    return unique


def normal_schema_ids(schema_ids: Sequence[str]) -> list[str]:
    normalized = []
    for schema_id in schema_ids:
        stripped = schema_id.strip()
        _require_text(stripped, "schema_id", SCHEMA_ID_MAX_LENGTH)
        normalized.append(stripped)
    return list(dict.fromkeys(normalized))


def custom_queue_name(name: str) -> str:
    """A custom queue's name: stripped, casing kept, and never the reserved name in any casing."""
    stripped = name.strip()
    _require_text(stripped, "name", QUEUE_NAME_MAX_LENGTH)
    if stripped.lower() == RESERVED_QUEUE_NAME:
        raise _invalid(f"`{stripped}` is a reserved queue name and cannot be used for a custom queue.")
    return stripped


def queue_owner(new_owner: str) -> str:
    """A new owner: stripped, casing kept (owners are compared without regard to case)."""
    stripped = new_owner.strip()
    _require_text(stripped, "new_owner", USER_MAX_LENGTH)
    return stripped


@dataclass(frozen=True, slots=True)
class QueueShape:
    """A new queue's validated fields."""

    queue_type: str
    name: str
    users: list[str]
    schema_ids: list[str]


def queue_shape(*, name: str, queue_type: str, users: Sequence[str], schema_ids: Sequence[str]) -> QueueShape:
    """A user queue is named after its one user and asks every question of its experiment, so it takes no schema
    ids; a custom queue has 0 to 10 users and the questions it is given."""
    normalized_users = normal_users(users)
    normalized_schemas = normal_schema_ids(schema_ids)
    if queue_type == USER:
        queue_name = normal_user(name)
        _require_text(queue_name, "name", QUEUE_NAME_MAX_LENGTH)
        if not normalized_users:
            normalized_users = [queue_name]
        elif normalized_users != [queue_name]:
            raise _invalid(
                "A user queue must have exactly one assigned user equal to its name; "
                f"got name={queue_name!r} and users={normalized_users!r}."
            )
        if normalized_schemas:
            raise _invalid(
                "A user queue cannot have explicitly-attached schemas; it resolves to all "
                "of the experiment's label schemas."
            )
    else:
        queue_name = custom_queue_name(name)
    return QueueShape(queue_type, queue_name, normalized_users, normalized_schemas)


def item_ids(values: Sequence[str]) -> list[str]:
    """A batch of item ids to attach or detach: not empty, each stripped and checked, duplicates once."""
    if not values:
        raise _invalid(f"`item_ids` must be a non-empty list; got {list(values)!r}.")
    normalized = []
    for value in values:
        stripped = value.strip()
        _require_text(stripped, "item_id", ITEM_ID_MAX_LENGTH)
        normalized.append(stripped)
    return list(dict.fromkeys(normalized))
