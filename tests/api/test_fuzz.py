"""Every MLflow RPC the server routes, fuzzed from outside on both databases: requests built from MLflow's protobuf
descriptors (each field given a wrong type, an empty, huge, negative, out-of-range or unpaired-surrogate value, or a
real id of a stored resource), sent to `/api` and `/ajax-api`, must each get an answer below 500. A 500 means
unchecked input reached the database or the filesystem; the test lists every request that got one, reproducibly
(the generator is seeded)."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import random
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mlflow.protos
import pytest
from fastapi.routing import APIRoute
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from mlflow.protos import databricks_pb2
from starlette.routing import Route

from server.api import RPCS
from server.api.routing import route_path
from server.app import create_app
from server.config import Settings
from tests.support.processes import runyard_server
from tests.support.stores import kind_of, new_store_uri

SEED = int(os.environ.get("RUNYARD_FUZZ_SEED", "20261207"))  # another seed explores other requests
JSON = {"Content-Type": "application/json"}
REQUESTS_PER_RPC = 30
# Field names of the RPCs that have no descriptor (the UI's helpers, the user API): a request draws from these.
LOOSE_FIELDS = (
    "experiment_id",
    "experiment_ids",
    "run_id",
    "name",
    "username",
    "password",
    "permission",
    "trace_ids",
    "serialized_scorer",
    "serialized_scorers",
    "scorer_name",
    "scorer_version",
    "scorer_ids",
    "sample_rate",
    "filter_string",
    "metric_key",
    "max_results",
)


@dataclass(frozen=True)
class Ids:
    experiment_id: str
    run_id: str
    trace_id: str
    dataset_id: str
    model: str

    def values(self) -> list[str]:
        return [self.experiment_id, self.run_id, self.trace_id, self.dataset_id, self.model, "0"]


def _descriptors() -> dict[tuple[str, str, int], Descriptor]:
    """(method, path, major version) of every RPC in MLflow's protos -> its request message."""
    found: dict[tuple[str, str, int], Descriptor] = {}
    for module in pkgutil.iter_modules(mlflow.protos.__path__):
        if not module.name.endswith("_pb2"):
            continue
        try:
            protos = importlib.import_module(f"mlflow.protos.{module.name}")
        except ImportError:
            continue
        for service in protos.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                for endpoint in method.GetOptions().Extensions[databricks_pb2.rpc].endpoints:
                    found[(endpoint.method, endpoint.path, endpoint.since.major)] = method.input_type
    return found


class Garbage:
    """Values of every kind a field should refuse cleanly, mixed with real ids so that checks past the first run."""

    def __init__(self, rng: random.Random, ids: Ids) -> None:
        self.rng = rng
        self.ids = ids

    def scalar(self) -> Any:
        return self.rng.choice(
            [
                "",
                " ",
                "x",
                "x" * 70_000,
                "../../../../etc/passwd",
                "a" * 300 + "/" + "b" * 300,
                "\udf69",
                "NaN",
                "-1",
                "99999999999999999999",
                "9223372036854775808",
                "name = 'x' AND",
                "attributes.foo LIKE '%",
                0,
                -1,
                2**63,
                2**70,
                1e308,
                -1e308,
                True,
                None,
                [],
                {},
                [1, "two", None],
                {"nested": {"deep": [1]}},
                *self.ids.values(),
            ]
        )

    def field(self, field: FieldDescriptor, depth: int = 0) -> Any:
        if self.rng.random() < 0.3:
            return self.scalar()  # anything at all, whatever the field's type
        if field.is_repeated and not _is_map(field):
            return [self.one(field, depth) for _ in range(self.rng.choice([0, 1, 2, 5]))]
        return self.one(field, depth)

    def one(self, field: FieldDescriptor, depth: int) -> Any:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if _is_map(field):
                return {str(self.scalar())[:50]: str(self.scalar())[:50] for _ in range(self.rng.choice([0, 1, 3]))}
            return self.message(field.message_type, depth + 1) if depth < 3 else self.scalar()
        if field.type == FieldDescriptor.TYPE_ENUM:
            return self.rng.choice([*[v.name for v in field.enum_type.values], "NOT_AN_ENUM", 999, -5])
        if field.type == FieldDescriptor.TYPE_BOOL:
            return self.rng.choice([True, False, "true", "maybe"])
        if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return self.rng.choice([0.5, -1.0, 1e308, "NaN", "Infinity", "x"])
        if field.type == FieldDescriptor.TYPE_STRING:
            return self.rng.choice([str(self.scalar())[:80_000], *self.ids.values()])
        return self.rng.choice([0, -1, 1, 2**31, 2**63 - 1, 2**64, "12", "x"])  # integers

    def message(self, descriptor: Descriptor, depth: int = 0) -> dict[str, Any]:
        fields = [f for f in descriptor.fields if self.rng.random() < 0.7]
        return {f.name: self.field(f, depth) for f in fields}

    def loose(self) -> dict[str, Any]:
        return {name: self.scalar() for name in self.rng.sample(LOOSE_FIELDS, self.rng.randint(0, 6))}


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


def _query(body: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for key, value in body.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str | int | float | bool):
                # A URL holds no lone surrogate, and is kept well under the line length servers accept.
                pairs.append((key, str(item).encode("utf-8", "backslashreplace").decode()[:2000]))
    return pairs


@pytest.fixture(scope="module")
def fuzz_server(
    backend_store_uri: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A server of its own: the fuzzer deletes, renames and overwrites whatever it finds."""
    folder = tmp_path_factory.mktemp("fuzz")
    store = new_store_uri(kind_of(backend_store_uri), folder, "fuzz", request)
    with runyard_server(store, folder / "mlartifacts") as url:
        yield url


@pytest.fixture(scope="module")
def ids(fuzz_server: str) -> Ids:
    """One stored resource of each kind, whose ids the fuzzer mixes into its requests."""
    with httpx.Client(base_url=fuzz_server, timeout=60) as http:
        return _seed(http)


def _seed(http: httpx.Client) -> Ids:
    experiment_id = http.post("/api/2.0/mlflow/experiments/create", json={"name": "fuzz"}).json()["experiment_id"]
    run_id = http.post("/api/2.0/mlflow/runs/create", json={"experiment_id": experiment_id}).json()["run"]["info"][
        "run_id"
    ]
    trace = {
        "trace": {
            "trace_info": {
                "trace_id": "tr-" + "f" * 32,
                "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}},
                "request_time": "2026-01-01T00:00:00Z",
                "state": "OK",
            }
        }
    }
    trace_id = http.post("/api/3.0/mlflow/traces", json=trace).json()["trace"]["trace_info"]["trace_id"]
    dataset = http.post("/api/3.0/mlflow/datasets/create", json={"name": "fuzz", "experiment_ids": [experiment_id]})
    http.post("/api/2.0/mlflow/registered-models/create", json={"name": "fuzz-model"})
    return Ids(experiment_id, run_id, trace_id, dataset.json()["dataset"]["dataset_id"], "fuzz-model")


def test_no_request_built_from_mlflows_descriptors_gets_a_5xx(fuzz_server: str, ids: Ids) -> None:
    rng = random.Random(SEED)
    descriptors = _descriptors()
    failures: list[str] = []
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=fuzz_server, timeout=60) as http:
        garbage = Garbage(rng, ids)
        for rpc in sorted(RPCS, key=lambda r: (r.path, r.method, r.since)):
            descriptor = descriptors.get((rpc.method, rpc.path, rpc.since))
            for attempt in range(REQUESTS_PER_RPC):
                body = garbage.message(descriptor) if descriptor is not None else garbage.loose()
                path = re.sub(
                    r"{(\w+\.)?(\w+)}",
                    lambda m: str(rng.choice([*ids.values(), "x", "%2e%2e", "a" * 600])),
                    rpc.path,
                )
                url = f"{rpc.prefixes[attempt % len(rpc.prefixes)]}/{rpc.since}.0{path}"
                try:
                    if rpc.method == "GET":
                        response = http.get(url, params=_query(body))
                    else:
                        # ASCII JSON: a lone surrogate travels as its \\u escape, as a JSON client may send it.
                        content = json.dumps(body)
                        response = http.request(rpc.method, url, content=content, headers=JSON)
                except httpx.HTTPError as exc:  # a dropped connection is as bad as a 500
                    failures.append(f"{rpc.method} {url}: {type(exc).__name__} for {str(body)[:300]}")
                    continue
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code >= 500:
                    failures.append(
                        f"{rpc.method} {url}: {response.status_code} {response.text[:200]} for {str(body)[:300]}"
                    )
    # The garbage is mixed with enough sense to get past the first checks of many RPCs.
    assert statuses.get(200, 0) > len(RPCS), dict(sorted(statuses.items()))
    assert not failures, f"{len(failures)} requests got a 5xx:\n" + "\n".join(failures)


def _other_routes() -> list[tuple[str, str]]:
    """(method, path template) of every route outside MLflow's RPC table (artifacts, jobs, OTLP, the UI's helpers),
    from an app built as `runyard server` builds it."""
    folder = Path(tempfile.mkdtemp(prefix="runyard-fuzz-routes-"))
    app = create_app(Settings(backend_store_uri=f"sqlite:///{folder / 'db.sqlite'}", artifacts_destination=str(folder)))
    rpc_paths = {f"{prefix}/{rpc.since}.0{route_path(rpc.path)}" for rpc in RPCS for prefix in rpc.prefixes}
    found, routes = set(), list(app.routes)
    while routes:
        route = routes.pop()
        if hasattr(route, "original_router"):  # a router added with include_router
            routes.extend(route.original_router.routes)
        elif isinstance(route, Route | APIRoute) and route.path not in rpc_paths:
            found.update((method, route.path) for method in (route.methods or set()) - {"HEAD", "OPTIONS"})
    app.state.context.db.dispose()
    return sorted(found)


# A live tail follows its job until it ends: the fuzzer reads only its first answer.
STREAMING = {"/runyard/api/jobs/{job_id}/logs/stream"}


def test_no_request_to_the_other_routes_gets_a_5xx(fuzz_server: str, ids: Ids) -> None:
    rng = random.Random(SEED)
    failures: list[str] = []
    with httpx.Client(base_url=fuzz_server, timeout=60) as http:
        garbage = Garbage(rng, ids)
        for method, template in _other_routes():
            for _ in range(REQUESTS_PER_RPC):
                path = re.sub(
                    r"{(\w+)(:path)?}",
                    lambda m: str(rng.choice([*ids.values(), "x", "%2e%2e/%2e%2e", "a" * 300, "f/" * 40])),
                    template,
                )
                body = garbage.loose()
                try:
                    if template in STREAMING:
                        with http.stream(method, path, params=_query(body)) as response:
                            status = response.status_code
                    elif method in ("GET", "DELETE"):
                        status = http.request(method, path, params=_query(body)).status_code
                    else:
                        status = http.request(method, path, content=json.dumps(body), headers=JSON).status_code
                except httpx.HTTPError as exc:
                    failures.append(f"{method} {path}: {type(exc).__name__} for {str(body)[:300]}")
                    continue
                if status >= 500:
                    failures.append(f"{method} {path}: {status} for {str(body)[:300]}")
    assert not failures, f"{len(failures)} requests got a 5xx:\n" + "\n".join(failures)
