"""Rules for label schemas: the questions reviewers answer about an experiment's traces, with MLflow's checks, order
and wording (`mlflow/genai/label_schemas/validation.py` and the SQL store's CRUD).

A schema's `name` is the assessment name reviewers' answers are logged under, and is unique in its experiment. Its
type (feedback or expectation) never changes. Every experiment has one default question, "Feedback", seeded the
first time its schemas are listed (as MLflow seeds it); it can be neither edited nor deleted, and its name is taken
for every other schema. Deleting a schema leaves the answers logged under it alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from server.clock import now_ms
from server.errors import MlflowError
from server.services import label_inputs
from server.services.labeling_scope import active_experiment_id
from server.store import label_schemas as store
from server.store import paging
from server.store.genai_models import LabelSchema
from server.store.search import Page

FEEDBACK, EXPECTATION = "feedback", "expectation"
NAME_MAX_LENGTH = 250
INSTRUCTION_MAX_LENGTH = 1000
SCHEMA_ID_PREFIX = "ls-"
DEFAULT_NAME = "Feedback"
DEFAULT_INSTRUCTION = "Share any feedback on this trace."


@dataclass(frozen=True, slots=True)
class SchemaChanges:
    """A sparse update: None leaves a field as it is (an empty string is a value)."""

    name: str | None = None
    instruction: str | None = None
    enable_comment: bool | None = None
    input: label_inputs.Input | None = None


def input_of(schema: LabelSchema) -> label_inputs.Input:
    return label_inputs.from_stored(schema.input_type, schema.input_config)


def _validate_name(name: str) -> None:
    if not name:
        raise MlflowError.invalid_parameter(f"Label schema `name` must be a non-empty string; got {name!r}.")
    if len(name) > NAME_MAX_LENGTH:
        raise MlflowError.invalid_parameter(
            f"Label schema `name` must be at most {NAME_MAX_LENGTH} characters; got {len(name)}."
        )
    if name.strip().lower() == DEFAULT_NAME.lower():
        raise MlflowError.invalid_parameter(
            f"`{name}` is reserved for the experiment's default question and cannot be used for another label schema."
        )


def _validate_instruction(instruction: str | None) -> None:
    if instruction is not None and len(instruction) > INSTRUCTION_MAX_LENGTH:
        raise MlflowError.invalid_parameter(
            f"Label schema `instruction` must be at most {INSTRUCTION_MAX_LENGTH} characters; got {len(instruction)}."
        )


def _name_taken(name: str, experiment_id: str | int) -> MlflowError:
    return MlflowError.already_exists(
        f"Label schema with name '{name}' already exists for experiment '{experiment_id}'."
    )


def _not_found(schema_id: str) -> MlflowError:
    return MlflowError.not_found(f"Label schema with id '{schema_id}' not found.")


def _new_schema(
    experiment_id: int,
    *,
    name: str,
    type: str,
    input: label_inputs.Input,
    instruction: str | None,
    enable_comment: bool,
    created_by: str | None,
    is_default: bool = False,
) -> LabelSchema:
    input_type, input_config = label_inputs.to_stored(input)
    now = now_ms()
    return LabelSchema(
        schema_id=f"{SCHEMA_ID_PREFIX}{uuid.uuid4().hex}",
        experiment_id=experiment_id,
        name=name,
        type=type,
        instruction=instruction,
        enable_comment=enable_comment,
        input_type=input_type,
        input_config=input_config,
        created_by=created_by,
        created_time=now,
        last_update_time=now,
        is_default=is_default,
    )


def create_label_schema(
    session: Session,
    experiment_id: str,
    *,
    name: str,
    type: str,
    input: label_inputs.Input,
    instruction: str | None,
    enable_comment: bool,
    created_by: str | None,
) -> LabelSchema:
    """Checks run in MLflow's order: the fields, then the experiment, then the name's uniqueness."""
    _validate_name(name)
    _validate_instruction(instruction)
    label_inputs.validate(input)
    experiment = active_experiment_id(session, experiment_id)
    if store.find_by_name(session, experiment, name) is not None:
        raise _name_taken(name, experiment_id)
    schema = _new_schema(
        experiment,
        name=name,
        type=type,
        input=input,
        instruction=instruction,
        enable_comment=enable_comment,
        created_by=created_by,
    )
    if not store.insert(session, schema):
        raise _name_taken(name, experiment_id)
    return schema


def get_label_schema(session: Session, schema_id: str) -> LabelSchema:
    schema = store.find(session, schema_id)
    if schema is None:
        raise _not_found(schema_id)
    return schema


def get_label_schema_by_name(session: Session, experiment_id: str, name: str) -> LabelSchema:
    schema = store.find_by_name(session, active_experiment_id(session, experiment_id), name)
    if schema is None:
        raise MlflowError.not_found(f"Label schema with name '{name}' not found for experiment '{experiment_id}'.")
    return schema


def _ensure_default(session: Session, experiment_id: int) -> None:
    """The experiment's default question, added if it has none yet; a concurrent listing that added it first wins."""
    if store.has_default(session, experiment_id):
        return
    default = _new_schema(
        experiment_id,
        name=DEFAULT_NAME,
        type=FEEDBACK,
        input=label_inputs.Text(),
        instruction=DEFAULT_INSTRUCTION,
        enable_comment=False,
        created_by=None,
        is_default=True,
    )
    store.insert(session, default)


def list_label_schemas(
    session: Session, experiment_id: str, *, max_results: int, page_token: str | None
) -> Page[LabelSchema]:
    offset = paging.decode_offset(page_token)
    experiment = active_experiment_id(session, experiment_id)
    _ensure_default(session, experiment)
    rows = store.list_page(session, experiment, offset=offset, limit=max_results + 1)
    next_token = paging.encode_offset(offset + max_results) if len(rows) > max_results else None
    return Page(rows[:max_results], next_token)


def update_label_schema(session: Session, schema_id: str, changes: SchemaChanges) -> LabelSchema:
    """MLflow's sparse update: the schema must exist and not be the default; the type never changes, nor the kind
    of input."""
    schema = get_label_schema(session, schema_id)
    if schema.is_default:
        raise MlflowError.invalid_parameter("The experiment's default question cannot be edited.")
    if changes.name is not None:
        _validate_name(changes.name)
    _validate_instruction(changes.instruction)
    if changes.input is not None:
        label_inputs.validate(changes.input)
        label_inputs.validate_same_kind(input_of(schema), changes.input)
    if changes.name is not None and changes.name != schema.name:
        experiment = schema.experiment_id
        if store.find_by_name(session, experiment, changes.name) is not None:
            raise _name_taken(changes.name, experiment)
        if not store.rename(session, schema, changes.name):
            raise _name_taken(changes.name, experiment)
    if changes.instruction is not None:
        schema.instruction = changes.instruction
    if changes.enable_comment is not None:
        schema.enable_comment = changes.enable_comment
    if changes.input is not None:
        schema.input_type, schema.input_config = label_inputs.to_stored(changes.input)
    schema.last_update_time = now_ms()
    session.flush()
    return schema


def delete_label_schema(session: Session, schema_id: str) -> None:
    """A no-op for an unknown id, as in MLflow. Custom queues that asked this question no longer do."""
    schema = store.find(session, schema_id)
    if schema is None:
        return
    if schema.is_default:
        raise MlflowError.invalid_parameter("The experiment's default question cannot be deleted.")
    store.delete(session, schema)
