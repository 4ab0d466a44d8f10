"""When an experiment's issue-detection schedule next fires (MLflow 3.18's `issues/schedule/state`).

The UI stores a schedule in experiment tags and then asks the server to bring the schedule's dispatch state in line
and say when it next runs. Runyard dispatches no scheduled detection (server-info says so with
`features_enabled.scheduled_issue_detection: false`), but it keeps the state tag exactly as MLflow's dispatcher reads
it, so the dialog shows the right time and a server that later runs schedules finds a correct anchor.

The arithmetic follows MLflow's `genai/discovery/schedule.py`: candidates are built on the wall clock of the
schedule's timezone and only then turned into instants, so a daily 09:00 stays at 09:00 across a DST change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from server.clock import now_ms
from server.services import experiments, validation

SCHEDULE_TAG = "mlflow.issueDetection.schedule"
STATE_TAG = "mlflow.issueDetection.scheduleState"
_VERSION = 1
_CADENCES = ("hourly", "daily", "weekly")
_DEFAULT_FIRE_TIME = "09:00"


@dataclass(frozen=True, slots=True)
class Schedule:
    cadence: str
    timezone: str = "UTC"
    fire_time: str = _DEFAULT_FIRE_TIME
    weekday: int = 0  # Monday, as `datetime.weekday()` numbers it

    @property
    def timing(self) -> str:
        """Everything that decides when the schedule fires; a change means the owner moved it."""
        return f"{self.cadence}|{self.fire_time}|{self.weekday}|{self.timezone}"


@dataclass(frozen=True, slots=True)
class State:
    last_fire_time_ms: int
    last_dispatched_at_ms: int | None = None
    last_run_id: str | None = None
    timing: str | None = None
    next_fire_time_ms: int | None = None

    def to_json(self) -> str:
        payload: dict[str, object] = {"version": _VERSION, "lastFireTimeMs": self.last_fire_time_ms}
        for key, value in (
            ("lastDispatchedAtMs", self.last_dispatched_at_ms),
            ("lastRunId", self.last_run_id),
            ("timing", self.timing),
            ("nextFireTimeMs", self.next_fire_time_ms),
        ):
            if value is not None:
                payload[key] = value
        return json.dumps(payload)


def _envelope(raw: str | None) -> dict[str, Any] | None:
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) and parsed.get("version") == _VERSION else None


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _fire_time(value: object) -> str:
    if isinstance(value, str):
        hour, separator, minute = value.strip().partition(":")
        digits = all(1 <= len(part) <= 2 and part.isascii() and part.isdecimal() for part in (hour, minute))
        if separator and digits and int(hour) <= 23 and int(minute) <= 59:
            return f"{int(hour):02d}:{int(minute):02d}"
    return _DEFAULT_FIRE_TIME


def _timezone(name: object) -> str:
    if not isinstance(name, str) or not name:
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


def parse_schedule(raw: str | None) -> Schedule | None:
    """The stored schedule; None for none, an unknown version or cadence (each means "do not fire")."""
    parsed = _envelope(raw)
    if parsed is None or parsed.get("cadence") not in _CADENCES:
        return None
    weekday = _integer(parsed.get("weekday"))
    return Schedule(
        cadence=str(parsed["cadence"]),
        timezone=_timezone(parsed.get("timezone")),
        fire_time=_fire_time(parsed.get("fireTime")),
        weekday=weekday if weekday is not None and 0 <= weekday <= 6 else 0,
    )


def parse_state(raw: str | None) -> State | None:
    parsed = _envelope(raw)
    last_fire = _integer(parsed.get("lastFireTimeMs")) if parsed else None
    if parsed is None or last_fire is None:
        return None
    run_id, timing = parsed.get("lastRunId"), parsed.get("timing")
    return State(
        last_fire_time_ms=last_fire,
        last_dispatched_at_ms=_integer(parsed.get("lastDispatchedAtMs")),
        last_run_id=run_id if isinstance(run_id, str) else None,
        timing=timing if isinstance(timing, str) and timing else None,
        next_fire_time_ms=_integer(parsed.get("nextFireTimeMs")),
    )


def next_fire_time_ms(schedule: Schedule, after_ms: int) -> int:
    """The first time the schedule fires strictly after `after_ms` (epoch milliseconds)."""
    zone = ZoneInfo(schedule.timezone)
    now = datetime.fromtimestamp(after_ms / 1000, tz=zone).replace(tzinfo=None)
    hour, minute = (int(part) for part in schedule.fire_time.split(":"))
    if schedule.cadence == "hourly":
        base, step = now.replace(minute=minute, second=0, microsecond=0), timedelta(hours=1)
    elif schedule.cadence == "daily":
        base, step = now.replace(hour=hour, minute=minute, second=0, microsecond=0), timedelta(days=1)
    else:
        day = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        base, step = day - timedelta(days=(now.weekday() - schedule.weekday) % 7), timedelta(weeks=1)
    for index in range(4):
        candidate_ms = int((base + step * index).replace(tzinfo=zone).timestamp() * 1000)
        if candidate_ms > after_ms:
            return candidate_ms
    raise ValueError(f"no {schedule.cadence} fire time after {after_ms} in {schedule.timezone}")


def synced_state(schedule: Schedule, state: State | None, now_ms: int) -> State:
    """The state as MLflow's dispatcher would leave it: anchored now for a new schedule, the timing adopted for a
    state that recorded none, re-anchored now when the owner changed the timing, else unchanged."""
    if state is None:
        return State(now_ms, timing=schedule.timing, next_fire_time_ms=next_fire_time_ms(schedule, now_ms))
    if state.timing is None:
        next_ms = next_fire_time_ms(schedule, state.last_fire_time_ms)
        return replace(state, timing=schedule.timing, next_fire_time_ms=next_ms)
    if state.timing != schedule.timing:
        next_ms = next_fire_time_ms(schedule, now_ms)
        return replace(state, last_fire_time_ms=now_ms, timing=schedule.timing, next_fire_time_ms=next_ms)
    return state


def sync(session: Session, experiment_id: str) -> int | None:
    """Bring the experiment's schedule state in line with its stored schedule; when it next fires, or None when it
    has no schedule this server recognises (then nothing is written)."""
    experiment, tags = experiments.get_experiment(session, validation.parse_experiment_id(experiment_id))
    schedule = parse_schedule(tags.get(SCHEDULE_TAG))
    if schedule is None:
        return None
    state = parse_state(tags.get(STATE_TAG))
    updated = synced_state(schedule, state, now_ms())
    if updated is not state:
        experiments.set_experiment_tag(session, experiment, STATE_TAG, updated.to_json())
    return updated.next_fire_time_ms
