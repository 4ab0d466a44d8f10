"""MLflow 3 logged models: creating one (its name rules, its artifact folder and where that folder's bytes go),
finalizing, tagging, deleting and searching them, each answered with the model's params, tags and metrics."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from server.clock import now_ms
from server.errors import MlflowError
from server.services import validation
from server.services.names import generate_run_name
from server.store import artifact_destinations, search
from server.store import experiments as experiment_store
from server.store import logged_models as store
from server.store.logged_models import STATUS_NUMBERS as STATUS_NUMBERS  # LoggedModelStatus names -> numbers
from server.store.logged_models import LoggedModelData as LoggedModelData  # a model's params, tags and metrics
from server.store.models import LoggedModel
from server.store.search import Page

MAX_NAME_LENGTH = 500
MAX_MODEL_TYPE_LENGTH = 500
DEFAULT_MAX_RESULTS = 100
_BAD_NAME = re.compile(r"[/:.%\"']")


def _with_data(session: Session, model: LoggedModel) -> tuple[LoggedModel, LoggedModelData]:
    """The model as it now is (pending changes are flushed by the read) and everything its message shows."""
    return model, store.load_data(session, [model.model_id])[model.model_id]


def create_logged_model(
    session: Session,
    *,
    experiment_id: int,
    name: str | None,
    model_type: str | None,
    source_run_id: str | None,
    params: dict[str, str],
    tags: dict[str, str],
    artifact_destination: str,
) -> tuple[LoggedModel, LoggedModelData]:
    """A PENDING model in an active experiment, named like a run when no name is given. Its artifacts live under
    the experiment's location, in the destination the proxy uses today (kept if that setting changes later)."""
    experiment = experiment_store.get_active_experiment(session, experiment_id)
    name = validation.limit_length("name", MAX_NAME_LENGTH, name or generate_run_name())
    if model_type is not None:
        validation.limit_length("model_type", MAX_MODEL_TYPE_LENGTH, model_type)
    if _BAD_NAME.search(name):
        raise MlflowError.invalid_parameter(
            f"Invalid model name ({name!r}) provided. Model name must be a non-empty string and cannot contain "
            "the following characters: ('/', ':', '.', '%', '\"', \"'\")"
        )
    model_id = f"m-{uuid.uuid4().hex}"
    now = now_ms()
    model = LoggedModel(
        model_id=model_id,
        experiment_id=experiment_id,
        name=name,
        artifact_uri=f"{experiment.artifact_location}/models/{model_id}/artifacts",
        status=STATUS_NUMBERS["LOGGED_MODEL_PENDING"],
        model_type=model_type,
        source_run_id=source_run_id or None,
        creation_timestamp_ms=now,
        last_updated_timestamp_ms=now,
        lifecycle_stage="active",
    )
    session.add(model)
    session.flush()
    artifact_destinations.record(session, model.artifact_uri, artifact_destination, model_id)
    store.set_params(session, model_id, params)
    store.set_tags(session, model_id, tags)
    return _with_data(session, model)


def get_logged_model(
    session: Session, model_id: str, *, allow_deleted: bool = False
) -> tuple[LoggedModel, LoggedModelData]:
    return _with_data(session, store.get_logged_model(session, model_id, allow_deleted=allow_deleted))


def live_model(session: Session, model_id: str) -> LoggedModel:
    """The model unless deleted: what every change starts from, looked up before the change is read."""
    return store.get_logged_model(session, model_id)


def artifact_uri(session: Session, model_id: str) -> str:
    """Where a (not deleted) model's artifacts live."""
    return store.get_logged_model(session, model_id).artifact_uri


def finalize_logged_model(session: Session, model: LoggedModel, status: str) -> tuple[LoggedModel, LoggedModelData]:
    """Sets the model's status (a name of `STATUS_NUMBERS`): READY once its artifacts are uploaded."""
    model.status = STATUS_NUMBERS[status]
    model.last_updated_timestamp_ms = now_ms()
    return _with_data(session, model)


def delete_logged_model(session: Session, model_id: str) -> None:
    model = store.get_logged_model(session, model_id)
    model.lifecycle_stage = "deleted"
    model.last_updated_timestamp_ms = now_ms()


def set_tags(session: Session, model: LoggedModel, tags: dict[str, str]) -> tuple[LoggedModel, LoggedModelData]:
    store.set_tags(session, model.model_id, tags)
    model.last_updated_timestamp_ms = now_ms()
    return _with_data(session, model)


def delete_tag(session: Session, model_id: str, key: str) -> None:
    model = store.get_logged_model(session, model_id)
    store.delete_tag(session, model.model_id, key)


def log_params(session: Session, model: LoggedModel, params: dict[str, str]) -> None:
    """Params are written once: a key the model already has keeps its value."""
    store.set_params(session, model.model_id, params)


def check_dataset_names(names: Iterable[str | None]) -> None:
    """Every `datasets` entry of a search names its dataset; read lazily, so the first unnamed one stops the
    check before the entries after it are read."""
    if not all(names):
        raise MlflowError.invalid_parameter("`dataset_name` in the `datasets` clause must be specified.")


def search_logged_models(
    session: Session,
    *,
    experiment_ids: Sequence[int],
    filter_string: str | None,
    order_by: Sequence[tuple[str, bool]],
    max_results: int | None,
    page_token: str | None,
    datasets: Sequence[tuple[str, str | None]],
) -> tuple[Page[LoggedModel], dict[str, LoggedModelData]]:
    """One page of active models (100 unless `max_results` says otherwise) and the data of each."""
    page = search.search_logged_models(
        session,
        experiment_ids=experiment_ids,
        filter_string=filter_string,
        order_by=order_by,
        max_results=max_results or DEFAULT_MAX_RESULTS,
        page_token=page_token,
        datasets=datasets,
    )
    return page, store.load_data(session, [m.model_id for m in page.items])
