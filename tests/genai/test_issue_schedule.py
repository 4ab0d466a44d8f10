"""MLflow 3.18's `issues/schedule/state`: after saving an issue-detection schedule (experiment tags), the UI asks when
it next runs, and the server keeps the schedule's state tag as MLflow's dispatcher would; and server-info says that
schedules do not run here. Run against the shared server on SQLite and PostgreSQL, as the UI calls it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import mlflow
import pytest
from mlflow import MlflowClient

from server.services.issue_schedule import Schedule, next_fire_time_ms

STATE = "/ajax-api/3.0/mlflow/issues/schedule/state"
SCHEDULE_TAG = "mlflow.issueDetection.schedule"
STATE_TAG = "mlflow.issueDetection.scheduleState"


@pytest.fixture
def experiment_id(client: MlflowClient, unique_name: str) -> str:
    return mlflow.set_experiment(unique_name).experiment_id


def _schedule(**fields: object) -> str:
    return json.dumps({"version": 1, "timezone": "UTC", "paused": False, **fields})


def _state(client: MlflowClient, experiment_id: str) -> dict[str, Any]:
    return dict(json.loads(client.get_experiment(experiment_id).tags[STATE_TAG]))


def test_without_a_schedule_there_is_no_next_run(http: httpx.Client, client: MlflowClient, experiment_id: str) -> None:
    assert http.post(STATE, json={"experiment_id": experiment_id}).json() == {"next_fire_time_ms": None}
    client.set_experiment_tag(experiment_id, SCHEDULE_TAG, _schedule(cadence="every full moon"))
    assert http.post(STATE, json={"experiment_id": experiment_id}).json() == {"next_fire_time_ms": None}
    assert STATE_TAG not in client.get_experiment(experiment_id).tags


def test_a_saved_schedule_is_anchored_and_moved(http: httpx.Client, client: MlflowClient, experiment_id: str) -> None:
    client.set_experiment_tag(experiment_id, SCHEDULE_TAG, _schedule(cadence="daily", fireTime="9:00"))
    before = int(time.time() * 1000)
    first = http.post(STATE, json={"experiment_id": experiment_id}).json()["next_fire_time_ms"]
    fires = datetime.fromtimestamp(first / 1000, tz=UTC)
    assert (fires.hour, fires.minute) == (9, 0)
    assert 0 < first - before <= 24 * 3600 * 1000
    state = _state(client, experiment_id)
    assert state["timing"] == "daily|09:00|0|UTC"
    assert state["nextFireTimeMs"] == first
    assert before <= int(state["lastFireTimeMs"]) <= int(time.time() * 1000)

    # Asked again with nothing changed: the same answer, and the state is left as it was.
    assert http.post(STATE, json={"experiment_id": experiment_id}).json() == {"next_fire_time_ms": first}
    assert _state(client, experiment_id) == state

    # The owner moves it to Wednesdays at 16:30 in Paris: re-anchored, and the answer is in the new timing.
    moved = _schedule(cadence="weekly", fireTime="16:30", weekday=2, timezone="Europe/Paris")
    client.set_experiment_tag(experiment_id, SCHEDULE_TAG, moved)
    answer = http.post(STATE, json={"experiment_id": experiment_id}).json()["next_fire_time_ms"]
    local = datetime.fromtimestamp(answer / 1000, tz=ZoneInfo("Europe/Paris"))
    assert (local.weekday(), local.hour, local.minute) == (2, 16, 30)
    assert _state(client, experiment_id)["timing"] == "weekly|16:30|2|Europe/Paris"


def test_refused_requests(http: httpx.Client) -> None:
    missing = http.post(STATE, json={})
    assert missing.status_code == 400
    assert missing.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert http.post("/api/3.0/mlflow/issues/schedule/state", json={"experiment_id": "0"}).status_code == 404


def test_a_daily_schedule_keeps_its_local_hour_across_a_clock_change() -> None:
    """New York moved its clocks forward on 2026-03-08: the 09:00 after it is 13:00 UTC, the one before 14:00."""
    schedule = Schedule(cadence="daily", timezone="America/New_York", fire_time="09:00")
    before_change = int(datetime(2026, 3, 7, 15, tzinfo=UTC).timestamp() * 1000)
    after = next_fire_time_ms(schedule, before_change)
    assert datetime.fromtimestamp(after / 1000, tz=UTC) == datetime(2026, 3, 8, 13, tzinfo=UTC)
    earlier = next_fire_time_ms(schedule, int(datetime(2026, 3, 6, 15, tzinfo=UTC).timestamp() * 1000))
    assert datetime.fromtimestamp(earlier / 1000, tz=UTC) == datetime(2026, 3, 7, 14, tzinfo=UTC)


def test_server_info_carries_318s_keys(http: httpx.Client) -> None:
    info = http.get("/api/3.0/mlflow/server-info").json()
    assert info["features_enabled"] == {"gateway": True, "scheduled_issue_detection": False}
    # Skill uploads are served with the proxy, under MLflow's default limits.
    assert info["artifact_serving_enabled"] is True
    assert (info["skill_content_max_size"], info["skill_content_max_files"]) == (25 * 1024 * 1024, 10_000)
    assert (info["artifacts_presigned_only"], info["model_artifact_presigned_downloads_supported"]) == (False, False)
    assert info["tracking_auth"] == ""
