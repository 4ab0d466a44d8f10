"""Rules for registered scorers: which serialized scorers a server accepts, versioning per (experiment, name), and
the online scoring config that samples new traces for a scorer.

A serialized scorer is the client's `Scorer.model_dump()` as JSON. MLflow's server refuses two kinds of payload
(`_validate_serialized_scorer_payload` in mlflow/server/handlers.py): custom `@scorer` functions, which carry their
Python source in a `call_source` field (anywhere in the payload: an ensemble nests whole scorers) that is executed
when the scorer is rebuilt, unless the operator opted in with MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS; and third-party
scorer options that would choose where the judge's LLM client sends requests, always. Built-in scorers
(`builtin_scorer_class`) and `make_judge` judges (`instructions_judge_pydantic_data`) carry no code.

Runyard keeps no AI gateway endpoints, so a scorer whose model is `gateway:/<endpoint>` is refused as MLflow refuses
one naming an endpoint it does not have, and online scoring (which MLflow runs only through gateway models) can only
be switched off.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, true
from sqlalchemy.orm import Session

from server.clock import now_ms
from server.errors import MlflowError
from server.services import validation
from server.store import experiments as experiment_store
from server.store import scorers as store
from server.store import trace_grammar
from server.store.genai_models import OnlineScoringConfig, Scorer
from server.store.models import Experiment
from server.store.scorers import ScorerRow as ScorerRow  # re-exported: the rows handlers render

CUSTOM_SCORER_REFUSED = (
    "Custom scorer registration (using @scorer decorator) is disabled by default "
    "outside of Databricks tracking environments due to security concerns. "
    "Custom scorers require arbitrary code execution during deserialization.\n\n"
    "To use custom scorers:\n"
    "1. Configure MLflow to use a Databricks tracking URI, or\n"
    "2. Manage your custom scorer code in a source code repository "
    "(e.g., GitHub) and import it directly, or\n"
    "3. On a self-managed MLflow server (or local environment) that you trust to run the "
    "scorer's code, set the MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS environment variable to true, or\n"
    "4. Use built-in scorers or make_judge() scorers instead."
)
MAX_NAME_LENGTH = 256  # the width of MLflow's `scorers.scorer_name` column
# Options that choose an LLM client's upstream (mlflow/utils/validation.py GATEWAY_DESTINATION_KEYS).
_DESTINATION_KEYS = frozenset({"api_base", "base_url", "model_list", "fallbacks", "custom_llm_provider"})
_EXPERIMENT_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,63}$")
GATEWAY_PROVIDER = "gateway"


# --- the serialized scorer ----------------------------------------------------------------------------------------


def carries_code(value: Any) -> bool:
    """Whether a serialized scorer holds Python source (a non-null `call_source`, at any depth) that runs when the
    scorer is rebuilt: the registry and the GenAI job queue both refuse it unless the operator opted in."""
    if isinstance(value, dict):
        return value.get("call_source") is not None or any(carries_code(v) for v in value.values())
    if isinstance(value, list):
        return any(carries_code(v) for v in value)
    return False


def _third_party_data(value: Any) -> list[dict[str, Any]]:
    """Every `third_party_scorer_data` object anywhere in the payload (ensembles and memory judges nest scorers)."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if isinstance(data := value.get("third_party_scorer_data"), dict):
            found.append(data)
        for nested in value.values():
            found.extend(_third_party_data(nested))
    elif isinstance(value, list):
        for nested in value:
            found.extend(_third_party_data(nested))
    return found


def _destination_keys(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        found |= _DESTINATION_KEYS & set(value)
        for nested in value.values():
            found |= _destination_keys(nested)
    elif isinstance(value, list):
        for nested in value:
            # A list of [key, value] pairs becomes a mapping when the options are rebuilt (`dict(pairs)`).
            if isinstance(nested, list) and len(nested) == 2 and isinstance(nested[0], str):
                found |= _DESTINATION_KEYS & {nested[0]}
            found |= _destination_keys(nested)
    return found


def _check_third_party_options(payload: Any) -> None:
    for data in _third_party_data(payload):
        kwargs = data.get("kwargs")
        if kwargs is not None and not isinstance(kwargs, dict):
            raise MlflowError.invalid_parameter(
                f"third_party_scorer_data.kwargs must be a JSON object, got {type(kwargs).__name__}."
            )
        if found := sorted(_destination_keys(kwargs)):
            raise MlflowError.invalid_parameter(
                f"third_party_scorer_data.kwargs must not contain {', '.join(map(repr, found))}: "
                "these options choose where the scorer's LLM client sends requests. Configure "
                "the judge endpoint on the server instead, for example through a gateway "
                "endpoint ('gateway:/<name>') or the provider's environment variables."
            )


def check_payload(serialized_scorer: str, *, allow_custom: bool) -> dict[str, Any]:
    """The parsed scorer, or MLflow's refusal. A payload that is JSON but not an object is refused here too (MLflow
    fails on it with a 500 later on)."""
    try:
        payload = json.loads(serialized_scorer)
    except ValueError:
        raise MlflowError.invalid_parameter("serialized_scorer must be valid JSON") from None
    if not allow_custom and carries_code(payload):
        raise MlflowError.invalid_parameter(CUSTOM_SCORER_REFUSED)
    _check_third_party_options(payload)
    if not isinstance(payload, dict):
        raise MlflowError.invalid_parameter("serialized_scorer must be a JSON object")
    return payload


def scorer_model(payload: dict[str, Any]) -> Any:
    """The judge model a scorer names, where MLflow's `extract_model_from_serialized_scorer` looks for it."""
    for key in ("instructions_judge_pydantic_data", "builtin_scorer_pydantic_data"):
        if isinstance(data := payload.get(key), dict) and data:
            return data.get("model")
    if isinstance(memory := payload.get("memory_augmented_judge_data"), dict) and memory:
        base = memory.get("base_judge", {})
        return scorer_model(base) if isinstance(base, dict) else None
    if isinstance(third_party := payload.get("third_party_scorer_data"), dict) and third_party:
        return third_party.get("model")
    return None


def gateway_endpoint(model: Any) -> str | None:
    """The endpoint a `gateway:/<endpoint>` model names; None for any other model."""
    if not isinstance(model, str):
        return None
    provider, separator, path = model.partition(":/")
    return path.lstrip("/") if separator and provider == GATEWAY_PROVIDER and path.lstrip("/") else None


def _check_model(model: Any) -> None:
    if model is None:
        return
    if not isinstance(model, str):
        raise MlflowError.invalid_parameter(f"Scorer model must be a string, got {type(model).__name__}.")
    if not model.strip():
        raise MlflowError.invalid_parameter("Scorer model cannot be empty or contain only whitespace.")
    if (endpoint := gateway_endpoint(model)) is not None:
        raise MlflowError.not_found(f"GatewayEndpoint not found (name='{endpoint}')")


# --- scorers ------------------------------------------------------------------------------------------------------


def _active_experiment(session: Session, experiment_id: str) -> Experiment:
    return experiment_store.get_active_experiment(session, validation.parse_experiment_id(experiment_id))


def _not_found(name: str, experiment_id: str, version: int | None = None) -> MlflowError:
    if version is None:
        return MlflowError.not_found(f"Scorer with name '{name}' not found for experiment {experiment_id}.")
    return MlflowError.not_found(
        f"Scorer with name '{name}' and version {version} not found for experiment {experiment_id}."
    )


def _existing_scorer(session: Session, experiment_id: str, name: str, *, for_update: bool = False) -> Scorer:
    experiment = _active_experiment(session, experiment_id)
    scorer = store.find_scorer(session, experiment.experiment_id, name, for_update=for_update)
    if scorer is None:
        raise _not_found(name, experiment_id)
    return scorer


def register_scorer(
    session: Session, *, experiment_id: str, name: str, serialized_scorer: str, allow_custom: bool
) -> ScorerRow:
    """The next version of the named scorer (version 1 makes the scorer)."""
    payload = check_payload(serialized_scorer, allow_custom=allow_custom)
    if not name.strip():
        raise MlflowError.invalid_parameter("Scorer name cannot be empty or contain only whitespace.")
    validation.limit_length("name", MAX_NAME_LENGTH, name)
    experiment = _active_experiment(session, experiment_id)
    _check_model(scorer_model(payload))
    scorer = store.get_or_create_scorer(session, experiment.experiment_id, name)
    return store.add_version(session, scorer, serialized_scorer, now_ms())


def list_scorers(session: Session, experiment_id: str) -> list[ScorerRow]:
    experiment = _active_experiment(session, experiment_id)
    return store.latest_versions(session, Experiment.experiment_id == experiment.experiment_id)


def list_scorers_of(session: Session, experiment_ids: Sequence[str]) -> list[ScorerRow]:
    """The latest versions in the named experiments; ids of experiments that are missing or deleted are skipped."""
    for experiment_id in experiment_ids:
        if _EXPERIMENT_ID_RE.match(experiment_id) is None:
            raise MlflowError.invalid_parameter(f"Invalid experiment ID: '{experiment_id}'")
    ids = sorted({validation.parse_experiment_id(e) for e in experiment_ids})
    return store.latest_versions(session, Experiment.experiment_id.in_(ids)) if ids else []


def list_all_scorers(session: Session, visible: ColumnElement[bool] | None) -> list[ScorerRow]:
    """The latest versions in every active experiment the caller may read."""
    return store.latest_versions(session, true() if visible is None else visible)


def list_scorer_versions(session: Session, experiment_id: str, name: str) -> list[ScorerRow]:
    rows = store.versions(session, _existing_scorer(session, experiment_id, name))
    if not rows:
        raise _not_found(name, experiment_id)
    return rows


def get_scorer(session: Session, experiment_id: str, name: str, version: int | None) -> ScorerRow:
    row = store.version(session, _existing_scorer(session, experiment_id, name), version)
    if row is None:
        raise _not_found(name, experiment_id, version)
    return row


def delete_scorer(session: Session, experiment_id: str, name: str, version: int | None) -> None:
    """One version, or (version None) the scorer with all its versions and its online config."""
    scorer = _existing_scorer(session, experiment_id, name, for_update=True)
    if store.delete_versions(session, scorer, version) == 0:
        raise _not_found(name, experiment_id, version)


# --- online scoring -----------------------------------------------------------------------------------------------


def online_configs(session: Session, scorer_ids: Sequence[str]) -> list[OnlineScoringConfig]:
    return store.online_configs(session, scorer_ids)


def set_online_config(
    session: Session, *, experiment_id: str, name: str, sample_rate: float, filter_string: str | None
) -> OnlineScoringConfig:
    """Replace the scorer's online config, with the checks of MLflow's `upsert_online_scoring_config`."""
    if not 0.0 <= sample_rate <= 1.0:
        raise MlflowError.invalid_parameter(f"sample_rate must be between 0.0 and 1.0, got {sample_rate}")
    if filter_string:
        trace_grammar.parse_trace_filter(filter_string)
    scorer = _existing_scorer(session, experiment_id, name, for_update=True)
    latest = store.version(session, scorer, None)
    if latest is not None and sample_rate > 0:
        # Scorers run online through a gateway model only; this server keeps no gateway endpoints, so a scorer
        # with one cannot have been registered here.
        model = scorer_model(json.loads(latest.serialized_scorer))
        if gateway_endpoint(model) is None:
            raise MlflowError.invalid_parameter(
                f"Scorer '{name}' does not use a gateway model. Automatic evaluation is only supported for "
                "scorers that use gateway models."
            )
    return store.replace_online_config(session, scorer, sample_rate=sample_rate, filter_string=filter_string)
