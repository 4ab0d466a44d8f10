"""Every route the application has, walked with auth on: anonymous callers are refused on all but the probes,
and a signed-in user without permissions is refused on everything that names someone else's resource, while the
few routes open to any signed-in user (creating, searching, metrics) show nothing of it. A route added later
without an access rule fails here, because the walk is built from the application's own route table.

The walk runs twice on each database: without workspaces, and with them, where both users are members of one
team's workspace (its seeded `user` role) and every request names it."""

from __future__ import annotations

import io
import itertools
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi.routing import APIRoute
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.routing import Route

from server.app import create_app
from server.auth.middleware import PUBLIC_PATHS
from server.config import Settings
from tests.auth.conftest import ADMIN, AuthServer
from tests.support.processes import runyard_server
from tests.support.stores import new_store_uri

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"

# Open to any signed-in user; each lists only what the caller may read.
OPEN_TO_SIGNED_IN = {
    ("POST", "/api/2.0/mlflow/experiments/create"),
    ("POST", "/api/2.0/mlflow/registered-models/create"),
    ("GET", "/api/2.0/mlflow/experiments/search"),
    ("POST", "/api/2.0/mlflow/experiments/search"),
    ("GET", "/api/2.0/mlflow/registered-models/search"),
    ("GET", "/api/2.0/mlflow/model-versions/search"),
    ("GET", "/runyard/api/jobs"),
    ("POST", "/ajax-api/3.0/jobs/search"),  # MLflow's GenAI job search
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    # Who the caller is: only ever the caller's own name and grants.
    ("GET", "/api/2.0/mlflow/users/current"),
    ("GET", "/api/3.0/mlflow/users/current/permissions"),
    # The roster of user names, as MLflow lists it to every user (for picking reviewers); never to a job's token.
    ("GET", "/api/2.0/mlflow/users/list"),
    # The web UI's own files and its housekeeping calls carry no one's data.
    ("GET", "/"),
    ("GET", "/static-files/{path:path}"),
    ("GET", "/ajax-api/2.0/mlflow/gateway-proxy"),
    ("GET", "/ajax-api/3.0/mlflow/ui-telemetry"),
    ("POST", "/ajax-api/3.0/mlflow/ui-telemetry"),
    ("GET", "/ajax-api/3.0/mlflow/assistant/config"),
    ("GET", "/ajax-api/3.0/mlflow/assistant/providers"),
    ("GET", "/ajax-api/3.0/mlflow/gateway/endpoints/list"),
    ("GET", "/ajax-api/3.0/mlflow/gateway/secrets/list"),
    ("GET", "/ajax-api/3.0/mlflow/gateway/secrets/config"),
    # Workspaces: a server without them says so; with them, a user sees the workspaces they belong to.
    ("GET", "/api/3.0/mlflow/workspaces"),
    ("GET", "/api/3.0/mlflow/workspaces/{workspace_name}"),
    # The Jobs pages are shells whose scripts read the job API; the list shows only what the API lets through.
    ("GET", "/runyard/jobs"),
    ("GET", "/runyard/ui/{path:path}"),
    # So is the Webhooks page; the webhook routes its script reads are for admins only.
    ("GET", "/runyard/webhooks"),
    # The Skill Registry: anyone who may create in the workspace may make a skill, and a search shows only the
    # skills the caller may read (here none).
    ("GET", "/api/3.0/mlflow/skills"),
    ("POST", "/api/3.0/mlflow/skills"),
    # The MCP Server Registry likewise: anyone who may create in the workspace may make a server, and a search of
    # servers, or of every server's endpoints, shows only those of servers the caller may read (here none).
    ("GET", "/api/3.0/mlflow/mcp-servers"),
    ("POST", "/api/3.0/mlflow/mcp-servers"),
    ("GET", "/api/3.0/mlflow/mcp-servers/endpoints"),
}
# With workspaces, a workspace's roles and their grants are shown to its members (the walk's users both are).
SHOWN_TO_MEMBERS = {
    ("GET", "/api/3.0/mlflow/roles/get"),
    ("GET", "/api/3.0/mlflow/roles/list"),
    ("GET", "/api/3.0/mlflow/roles/permissions/list"),
}
# Every root field the UI's GraphQL endpoint resolves, each naming Alice's things; each must answer PERMISSION_DENIED.
GRAPHQL_PROBE = """
query Probe($exp: String, $run: String) {
  mlflowGetExperiment(input: {experimentId: $exp}) { apiError { code } experiment { name } }
  mlflowGetRun(input: {runId: $run}) { apiError { code } run { info { runName } experiment { name } } }
  mlflowSearchRuns(input: {experimentIds: [$exp]}) { apiError { code } runs { info { runId } } }
  mlflowGetMetricHistoryBulkInterval(input: {runIds: [$run], metricKey: "m"}) { apiError { code } metrics { value } }
  mlflowListArtifacts(input: {runId: $run}) { apiError { code } files { path } }
}
"""


def _routes() -> list[tuple[str, str]]:
    """(method, path template) of every route, from an app built the way `runyard server --auth` builds it."""
    base = Path(__import__("tempfile").mkdtemp(prefix="runyard-routes-"))
    settings = Settings(
        backend_store_uri=f"sqlite:///{base / 'db.sqlite'}",
        artifacts_destination=str(base / "art"),
        auth=True,
        admin_username="a",
        admin_password="password-1",
    )
    app = create_app(settings)
    found = []
    routes = list(app.routes)
    while routes:
        route = routes.pop()
        if isinstance(route, Route | APIRoute):
            for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
                found.append((method, route.path))
        elif hasattr(route, "original_router"):  # a router included with include_router (the job API)
            routes.extend(route.original_router.routes)
        else:
            raise AssertionError(f"the walk does not know how to enumerate {route!r}")
    app.state.context.db.dispose()
    return sorted(set(found))


ROUTES = _routes()
_counter = itertools.count()


TEAM = "team-walk"


@pytest.fixture(
    scope="module",
    params=[("sqlite", False), ("sqlite", True), ("postgres", False), ("postgres", True)],
    ids=["sqlite", "sqlite-workspaces", "postgres", "postgres-workspaces"],
)
def auth_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """The conftest's server, and the same with `--enable-workspaces`, where the walk works in workspace TEAM."""
    kind, workspaces = request.param
    base = tmp_path_factory.mktemp("walk")
    store = new_store_uri(kind, base, "walk", request)
    env = {
        "RUNYARD_ADMIN_USERNAME": ADMIN[0],
        "RUNYARD_ADMIN_PASSWORD": ADMIN[1],
        "RUNYARD_AUTH_DEFAULT_PERMISSION": "NO_PERMISSIONS",
    }
    flags = ("--auth", "--enable-workspaces") if workspaces else ("--auth",)
    with runyard_server(store, base / "mlartifacts", *flags, env=env) as url:
        if not workspaces:
            yield AuthServer(url, store)
            return
        with httpx.Client(base_url=url, auth=ADMIN, timeout=30) as admin:
            assert admin.post("/api/3.0/mlflow/workspaces", json={"name": TEAM}).status_code == 201
        yield AuthServer(url, store, TEAM)


def _join_team(auth_server: AuthServer, username: str) -> None:
    """With workspaces, a user works in TEAM through the role every new workspace starts with."""
    if auth_server.workspace is None:
        return
    with auth_server.http(ADMIN) as admin:
        roles = admin.get("/api/3.0/mlflow/roles/list", params={"workspace": auth_server.workspace}).json()["roles"]
        member = next(role["id"] for role in roles if role["name"] == "user")
        assigned = admin.post("/api/3.0/mlflow/roles/assign", json={"username": username, "role_id": member})
        assert assigned.status_code == 200, assigned.text


@dataclass(frozen=True)
class Owned:
    workspace: str
    experiment_id: str
    experiment_name: str
    run_id: str
    model_id: str
    registered_model: str
    job_id: str
    trace_id: str
    scorer_id: str
    issue_id: str
    schema_id: str
    queue_id: str
    dataset_id: str
    role_id: int
    role_permission_id: int
    endpoint_id: str = ""
    mcp_server: str = "io.alice-walk/weather"

    @property
    def folder(self) -> str:
        return f"{self.experiment_id}/{self.run_id}/artifacts"

    def secrets(self) -> list[str]:
        return [
            self.experiment_name,
            self.run_id,
            self.model_id,
            self.registered_model,
            self.job_id,
            self.trace_id,
            self.scorer_id,
            self.issue_id,
            self.schema_id,
            self.queue_id,
            self.dataset_id,
            self.mcp_server,
        ]


TRACE_ID = "tr-" + "a1" * 16
# A built-in scorer as the client serializes it (`Safety().model_dump()`, trimmed to what the server reads).
SCORER = orjson.dumps({"name": "safety", "builtin_scorer_class": "Safety", "call_source": None}).decode()
ASSESSMENT_ID = "a-" + "c3" * 16


def _trace_export() -> bytes:
    """One root span of Alice's trace, as an OTLP exporter sends it."""
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = bytes.fromhex("a1" * 16), bytes.fromhex("b2" * 8), "alice-walk-span"
    span.start_time_unix_nano, span.end_time_unix_nano = 1_700_000_000_000_000_000, 1_700_000_001_000_000_000
    return request.SerializeToString()


def _project_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"name: p\nentry_points:\n  main:\n    command: python -c pass\n"
        info = tarfile.TarInfo("MLproject")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def owned(auth_server: AuthServer) -> Owned:
    """Alice's experiment, run, artifact, logged model, registered model with a version, queued job, trace,
    registered scorer (named like her registered model, which the walk's `name` field names), issue, a label
    schema and a review queue holding the trace, and an evaluation dataset (with a record)."""
    alice = auth_server.add_user("alice-walk")
    _join_team(auth_server, "alice-walk")
    workspace = auth_server.workspace or "default"
    with auth_server.http(alice) as http:

        def post(path: str, body: dict[str, object]) -> dict[str, object]:
            response = http.post(path, json=body)
            assert response.status_code == 200, response.text
            return dict(response.json())

        experiment_id = str(post(f"{API}/experiments/create", {"name": "alice-walk-private"})["experiment_id"])
        run = post(f"{API}/runs/create", {"experiment_id": experiment_id})["run"]
        run_id = str(run["info"]["run_id"])  # type: ignore[index]
        assert http.put(f"{ARTIFACTS}/{experiment_id}/{run_id}/artifacts/x.txt", content=b"secret").status_code == 200
        model = post(f"{API}/logged-models", {"experiment_id": experiment_id, "source_run_id": run_id})["model"]
        model_id = str(model["info"]["model_id"])  # type: ignore[index]
        post(f"{API}/registered-models/create", {"name": "alice-walk-model"})
        post(
            f"{API}/model-versions/create",
            {"name": "alice-walk-model", "source": f"runs:/{run_id}/x", "run_id": run_id},
        )
        job = http.post(
            "/runyard/api/jobs/archive",
            data={"spec": orjson.dumps({"experiment_id": experiment_id}).decode()},
            files={"archive": ("p.tar.gz", _project_archive(), "application/gzip")},
        )
        assert job.status_code == 200, job.text
        spans = http.post(
            "/v1/traces",
            content=_trace_export(),
            headers={"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": experiment_id},
        )
        assert spans.status_code == 200, spans.text
        scorer = {"experiment_id": experiment_id, "name": "alice-walk-model", "serialized_scorer": SCORER}
        scorer_id = str(post("/api/3.0/mlflow/scorers/register", scorer)["scorer_id"])
        issue = post("/api/3.0/mlflow/issues", {"experiment_id": experiment_id, "name": "n", "description": "d"})
        issue_id = str(issue["issue"]["issue_id"])  # type: ignore[index]
        schema = post(
            "/api/3.0/mlflow/label-schemas/create",
            {"experiment_id": experiment_id, "name": "alice-walk-question", "type": "FEEDBACK", "input": {"text": {}}},
        )["label_schema"]
        queue = post(
            "/api/3.0/mlflow/review-queues/create",
            {
                "experiment_id": experiment_id,
                "name": "alice-walk-queue",
                "queue_type": "CUSTOM",
                "users": ["alice-walk"],
            },
        )["review_queue"]
        queue_id = str(queue["queue_id"])  # type: ignore[index]
        post("/api/3.0/mlflow/review-queues/items/add", {"queue_id": queue_id, "item_ids": [TRACE_ID]})
        dataset = post(
            "/api/3.0/mlflow/datasets/create", {"name": "alice-walk-data", "experiment_ids": [experiment_id]}
        )
        dataset_id = str(dataset["dataset"]["dataset_id"])  # type: ignore[index]
        post(f"/api/3.0/mlflow/datasets/{dataset_id}/records", {"records": '[{"inputs": {"q": "secret"}}]'})
        for skill in ("/api/3.0/mlflow/skills/alice-walk-model", "/api/3.0/mlflow/skills/@acme/alice-walk-model"):
            post(f"{skill}/versions", {"source": "https://github.com/alice/skills.git"})  # her own: she manages it
            post(f"{skill}/aliases", {"alias": "champion", "version": 1})
        # Her MCP server (she registered it, so she manages it): a version, an alias and an endpoint serving it.
        mcp = "/api/3.0/mlflow/mcp-servers/io.alice-walk%2Fweather"
        post(f"{mcp}/versions", {"server_json": {"name": "io.alice-walk/weather", "version": "1.0.0"}})
        post(f"{mcp}/aliases", {"alias": "champion", "version": "1.0.0"})
        endpoint = post(f"{mcp}/endpoints", {"url": "https://alice-walk.example.com", "server_alias": "champion"})
    with auth_server.http(ADMIN) as admin:  # a role of the default workspace, granting Alice her experiment
        role = admin.post("/api/3.0/mlflow/roles/create", json={"workspace": workspace, "name": "alice-walk-role"})
        role_id = role.json()["role"]["id"]
        grant = {"role_id": role_id, "resource_type": "experiment", "resource_pattern": experiment_id}
        added = admin.post("/api/3.0/mlflow/roles/permissions/add", json={**grant, "permission": "MANAGE"})
        assigned = admin.post("/api/3.0/mlflow/roles/assign", json={"username": "alice-walk", "role_id": role_id})
        assert (added.status_code, assigned.status_code) == (200, 200), added.text + assigned.text
    return Owned(
        workspace,
        experiment_id,
        "alice-walk-private",
        run_id,
        model_id,
        "alice-walk-model",
        job.json()["job_id"],
        TRACE_ID,
        scorer_id,
        issue_id,
        str(schema["schema_id"]),  # type: ignore[index]
        queue_id,
        dataset_id,
        role_id,
        added.json()["role_permission"]["id"],
        endpoint_id=str(endpoint["id"]),
    )


def _request(method: str, template: str, owned: Owned) -> tuple[str, dict[str, object]]:
    values = {
        "model_id": owned.model_id,
        "tag_key": "k",
        "artifact_path": f"{owned.folder}/x.txt",
        "upload_id": "0" * 32,
        "part_number": "1",
        "job_id": owned.job_id,
        "trace_id": owned.trace_id,
        "request_id": owned.trace_id,
        "assessment_id": ASSESSMENT_ID,
        "webhook_id": "00000000-0000-4000-8000-000000000000",
        "delivery_id": "00000000-0000-4000-8000-000000000001",
        "issue_id": owned.issue_id,
        "dataset_id": owned.dataset_id,
        "workspace_name": owned.workspace,
        "key": "k",
        # The Skill Registry: a skill (named like Alice's registered model), an organization, a version, an alias.
        "name": owned.registered_model,
        "organization": "acme",
        "version": "1",
        "alias": "champion",
        "endpoint_id": owned.endpoint_id,  # the access endpoint of Alice's MCP server
        "path": "jobs.css" if template.startswith("/runyard/ui/") else "favicon.ico",
    }
    if "/mcp-servers/" in template:  # Alice's MCP server, its version 1.0.0 and its alias
        values.update(name=owned.mcp_server, version="1.0.0")
    path = re.sub(r"{(\w+)(?::\w+)?}", lambda m: values[m.group(1)], template)
    fields: dict[str, object] = {
        "experiment_id": owned.experiment_id,
        "experiment_ids": [owned.experiment_id],
        "experiment_name": owned.experiment_name,
        "run_id": owned.run_id,
        "run_uuid": owned.run_id,
        "run_ids": [owned.run_id],
        "model_id": owned.model_id,
        "name": owned.registered_model,
        "version": "1",
        "alias": "champion",
        "key": "k",
        "value": "v",
        "new_name": "stolen",
        "path": f"{owned.folder}" if template.endswith("mlflow-artifacts/artifacts") else "x.txt",
        "metric_key": "m",
        "max_results": 10,
        "stage": "Staging",
        "source": f"runs:/{owned.run_id}/x",
        "upload_id": "0" * 32,
        "num_parts": 1,
        "worker_id": "w",
        "lease_token": "t",
        "outcome": "succeeded",
        "artifact_file_path": "x.txt",
        # The user and permission API: Alice's account, and grants on her experiment and registered model.
        "username": "alice-walk",
        "password": "taken-over-1",
        "current_password": "s3cret-password",
        "is_admin": True,
        "permission": "MANAGE",
        "resource_type": "experiment",
        "resource_id": owned.experiment_id,
        # Traces: Alice's trace by id, her experiment as a trace location, and a trace info naming both.
        "trace_id": owned.trace_id,
        "trace_ids": [owned.trace_id],
        "request_id": owned.trace_id,
        "request_ids": [owned.trace_id],
        "locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": owned.experiment_id}}],
        "trace": {
            "trace_info": {
                "trace_id": owned.trace_id,
                "trace_location": {"mlflow_experiment": {"experiment_id": owned.experiment_id}},
                "request_time": "2026-01-01T00:00:00Z",
                "state": "OK",
            }
        },
        # Assessments: feedback on Alice's trace, and an update of one (by a made-up id) under it.
        "assessment_id": ASSESSMENT_ID,
        "assessment": {"trace_id": owned.trace_id, "assessment_name": "stolen", "feedback": {"value": 1}},
        "update_mask": "assessment_name",
        # Scorers and issues: Alice's scorer (by `name` and by id) and a new version of it, and her issue.
        "scorer_ids": [owned.scorer_id],
        "serialized_scorer": SCORER,
        "sample_rate": 0,
        "description": "stolen",
        "issue_id": owned.issue_id,
        # Labeling: Alice's label schema and review queue, her trace in it, and a review of it.
        "schema_id": owned.schema_id,
        "queue_id": owned.queue_id,
        "item_id": owned.trace_id,
        "item_ids": [owned.trace_id],
        "type": "FEEDBACK",
        "input": {"text": {}},
        "queue_type": "CUSTOM",
        "user": "bob-walk",
        "users": ["bob-walk"],
        "update_users": True,
        "status": "COMPLETE",
        "completed_by": "bob-walk",
    }
    if "/roles/" in template:  # Alice's role (and its grant) in the walk's workspace
        fields.update(role_id=owned.role_id, role_permission_id=owned.role_permission_id, workspace=owned.workspace)
    if "/mlflow/datasets/" in template:  # Alice's dataset is in the path; tags and records travel as JSON text
        fields.update(tags='{"k": "stolen"}', records='[{"inputs": {"q": "stolen"}}]', dataset_record_ids=["dr-0"])
    if "/mpu/part/" in template:
        fields = {"path": f"{owned.folder}/x.txt"}
    creates = template.endswith("/create") and "/permissions/" not in template
    if creates and ("experiments" in template or "registered-models" in template):
        fields["name"] = f"made-by-the-walk-{next(_counter)}"  # creating is open; it must not collide
    if method == "POST" and template.endswith("/mlflow/skills"):
        fields = {"name": f"made-by-the-walk-{next(_counter)}"}  # a skill's body is checked strictly
    if method == "POST" and template.endswith("/mlflow/mcp-servers"):
        fields = {"name": f"io.walk/made-{next(_counter)}"}  # so is a server's
    if template.startswith("/runyard/api/") and method == "POST" and not template.endswith("/archive"):
        job_bodies: dict[str, dict[str, object]] = {
            "/runyard/api/jobs": {"source": {"uri": "https://example.com/p.git"}, "experiment_id": owned.experiment_id},
            "/runyard/api/workers/claim": {"worker_id": "w"},
            "/runyard/api/jobs/{job_id}/finish": {"lease_token": "t", "outcome": "succeeded"},
            "/runyard/api/jobs/{job_id}/start": {"lease_token": "t"},
            "/runyard/api/jobs/{job_id}/release": {"lease_token": "t"},
            "/runyard/api/jobs/{job_id}/heartbeat": {"lease_token": "t"},
        }
        return path, {"json": job_bodies.get(template, {})}
    if template.startswith("/ajax-api/3.0/jobs") and method == "POST":
        scorer_job = {"experiment_id": owned.experiment_id, "serialized_scorer": "{}", "trace_ids": [owned.trace_id]}
        genai_bodies: dict[str, dict[str, object]] = {
            "/ajax-api/3.0/jobs/search": {"params": {"experiment_id": owned.experiment_id}},
            "/ajax-api/3.0/jobs/": {"job_name": "invoke_scorer", "params": scorer_job},
            "/ajax-api/3.0/jobs": {"job_name": "invoke_scorer", "params": scorer_job},
        }
        return path, {"json": genai_bodies[template]}
    if template == "/graphql":
        variables = {"exp": owned.experiment_id, "run": owned.run_id}
        if method == "GET":
            return path, {"params": {"query": GRAPHQL_PROBE, "variables": orjson.dumps(variables).decode()}}
        return path, {"json": {"query": GRAPHQL_PROBE, "variables": variables}}
    if template.endswith("/upload-artifact"):
        return path, {"params": {"run_uuid": owned.run_id, "path": "x.txt"}, "content": b"x"}
    if method == "GET":
        return path, {"params": {k: v[0] if isinstance(v, list) else v for k, v in fields.items()}}
    if template == "/runyard/api/jobs/archive":
        spec = orjson.dumps({"experiment_id": owned.experiment_id}).decode()
        return path, {
            "data": {"spec": spec},
            "files": {"archive": ("p.tar.gz", _project_archive(), "application/gzip")},
        }
    if template == "/v1/traces":
        headers = {"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": owned.experiment_id}
        return path, {"content": _trace_export(), "headers": headers}
    if template.startswith("/api/2.0/mlflow-artifacts/artifacts") or "/mpu/part/" in template:
        return path + (f"?path={owned.folder}/x.txt" if "/mpu/part/" in template else ""), {"content": b"x"}
    return path, {"json": fields}


@pytest.fixture(scope="module")
def bob(auth_server: AuthServer) -> Iterator[httpx.Client]:
    bob = auth_server.add_user("bob-walk")
    _join_team(auth_server, "bob-walk")
    with auth_server.http(bob) as client:
        yield client


def test_the_walk_covers_the_whole_surface() -> None:
    assert len(ROUTES) > 150  # MLflow's tracking and registry RPCs under two prefixes, artifacts, jobs, probes
    templates = {path for _, path in ROUTES}
    assert "/runyard/api/workers/claim" in templates
    assert "/api/2.0/mlflow/registered-models/create" in templates
    assert "/api/2.0/mlflow/users/update-password" in templates  # the user and permission API
    assert {"/api/3.0/mlflow/scorers/online-configs", "/ajax-api/3.0/mlflow/issues/{issue_id}"} <= templates
    assert "/api/3.0/mlflow/label-schemas/delete" in templates  # labeling: schemas and review queues
    assert "/ajax-api/3.0/mlflow/review-queues/items/set-status" in templates
    assert "/api/3.0/mlflow/datasets/{dataset_id}/records" in templates  # evaluation datasets
    assert {"/api/3.0/mlflow/roles/permissions/update", "/ajax-api/3.0/mlflow/roles/users/list"} <= templates  # roles
    assert "/ajax-api/3.0/mlflow/skills/@{organization}/{name}/versions/{version}/tags/{key:path}" in templates
    assert "/api/3.0/mlflow/mcp-servers/{name:path}/endpoints/{endpoint_id}" in templates  # the MCP Server Registry


# Refusing anonymous callers happens before a workspace is read: the walk without workspaces covers it.
@pytest.mark.parametrize(
    "auth_server", [("sqlite", False), ("postgres", False)], ids=["sqlite", "postgres"], indirect=True
)
@pytest.mark.parametrize(("method", "template"), ROUTES)
def test_anonymous_callers_are_refused(auth_server: AuthServer, method: str, template: str, owned: Owned) -> None:
    path, kwargs = _request(method, template, owned)
    with auth_server.http() as anonymous:
        response = anonymous.request(method, path, **kwargs)  # type: ignore[arg-type]
    if template in PUBLIC_PATHS:
        assert response.status_code == 200
    else:
        assert response.status_code == 401, f"{method} {template}: {response.status_code} {response.text[:200]}"
        assert response.json()["error_code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(("method", "template"), [r for r in ROUTES if r[1] not in PUBLIC_PATHS])
def test_callers_without_permission_are_refused_or_see_nothing(
    bob: httpx.Client, method: str, template: str, owned: Owned
) -> None:
    path, kwargs = _request(method, template, owned)
    response = bob.request(method, path, **kwargs)  # type: ignore[arg-type]
    twin = (method, template.replace("/ajax-api/", "/api/"))
    if template == "/graphql":  # always 200, as in MLflow; each root field carries its own error
        assert response.status_code == 200, response.text
        answers = response.json()["data"]
        assert len(answers) == 5
        for field, answer in answers.items():
            assert answer["apiError"]["code"] == "PERMISSION_DENIED", f"{method} /graphql {field}: {answer}"
    elif owned.workspace != "default" and twin in SHOWN_TO_MEMBERS:
        assert response.status_code == 200, f"{method} {template}: {response.status_code} {response.text[:300]}"
        shown = "alice-walk-role" if "/permissions/" not in template else f'"resource_pattern":"{owned.experiment_id}"'
        assert shown in response.text, response.text
    elif (method, template) in OPEN_TO_SIGNED_IN or twin in OPEN_TO_SIGNED_IN:
        if response.status_code == 400:  # the workspace routes of a server without workspaces
            assert response.json()["error_code"] == "FEATURE_DISABLED", f"{method} {template}: {response.text[:200]}"
        else:
            assert response.status_code in (200, 501), f"{method} {template}: {response.status_code} {response.text}"
        for secret in owned.secrets():
            assert secret not in response.text, f"{method} {template} shows {secret}"
    else:
        assert response.status_code == 403, f"{method} {template}: {response.status_code} {response.text[:300]}"
        assert response.json()["error_code"] == "PERMISSION_DENIED"
