"""MLflow 3.18's Skill Registry on SQLite and PostgreSQL: the 3.18 client's `MlflowClient` skill methods, run in a
venv of their own (the suite's MLflow is 3.17, which has none), and raw HTTP for the exact JSON MLflow's server
answers, its errors, searches and the `@organization` spellings; with workspaces, a team's skills are its own."""

from __future__ import annotations

import gzip
import io
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import venvs
from tests.support.processes import runyard_server
from tests.support.stores import kind_of, new_store_uri

API = "/api/3.0/mlflow/skills"
REPO = "https://github.com/acme/skills.git"
DIGEST = "ab" * 32
SKILL_KEYS = {
    "name",
    "organization",
    "workspace",
    "description",
    "icons",
    "status",
    "latest_version",
    "source_type",
    "aliases",
    "tags",
    "created_by",
    "last_updated_by",
    "creation_timestamp",
    "last_updated_timestamp",
}

CLIENT_SCRIPT = """
import json, sys
from mlflow import MlflowClient
from mlflow.entities.skill_source import GitSource, OCISource
from mlflow.exceptions import MlflowException

client, name = MlflowClient(sys.argv[1]), sys.argv[2]
skill = client.create_skill(name=name, description="Reviews pull requests")
v1 = client.create_skill_version(name=name, source=GitSource(url="https://github.com/acme/skills.git", ref="v1",
                                                             subpath="reviewer"))
v2 = client.create_skill_version(name=name, source="oci://ghcr.io/acme/reviewer:2", status="draft")
client.set_skill_alias(name=name, alias="stable", version=1)
client.set_skill_tag(name=name, key="team", value="platform")
client.set_skill_version_tag(name=name, version=1, key="reviewed", value="yes")
got = client.get_skill(name=name)
stable = client.get_skill_version_by_alias(name=name, alias="stable")
latest = client.get_latest_skill_version(name=name)
client.update_skill_version(name=name, version=2, status="active")
after = client.get_latest_skill_version(name=name)
found = client.search_skills(filter_string=f"name = '{name}'")
versions = client.search_skill_versions(name=name, filter_string="source_type = 'oci'")
updated = client.update_skill(name=name, description="Reviews every pull request")
in_org = client.create_skill(name=name, organization="acme")
client.update_skill_version(name=name, version=2, status="deprecated")
client.delete_skill_version(name=name, version=2)
try:
    client.get_skill_version(name=name, version=2)
    missing = None
except MlflowException as e:
    missing = e.error_code
client.delete_skill(name=name, organization="acme")
print(json.dumps({
    "created": [skill.name, skill.description, skill.status, skill.latest_version],
    "v1": [v1.version, str(v1.source_type), v1.source.url, v1.source.ref, v1.source.subpath, str(v1.status)],
    "v2": [v2.version, str(v2.source_type), v2.source.image, str(v2.status)],
    "got": [str(got.status), got.latest_version, str(got.source_type), got.aliases, got.tags],
    "stable": [stable.version, stable.aliases, stable.tags],
    "latest": [latest.version, after.version],
    "found": [s.name for s in found],
    "versions": [v.version for v in versions],
    "updated": updated.description,
    "in_org": [in_org.name, in_org.organization],
    "missing": missing,
}))
"""


@pytest.fixture
def name() -> str:
    return f"skill-{uuid.uuid4().hex[:12]}"


def _error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error_code"], body["message"]


def _version(http: httpx.Client, name: str, **body: Any) -> dict[str, Any]:
    response = http.post(f"{API}/{name}/versions", json={"source": REPO, **body})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_the_318_client_manages_skills(server_url: str, name: str, tmp_path: Path) -> None:
    seen = venvs.client_report(venvs.mlflow_client("3.18.0"), "-c", CLIENT_SCRIPT, server_url, name, cwd=tmp_path)
    assert seen["created"] == [name, "Reviews pull requests", None, None]
    assert seen["v1"] == [1, "git", REPO, "v1", "reviewer", "active"]
    assert seen["v2"] == [2, "oci", "ghcr.io/acme/reviewer:2", "draft"]
    # The skill shows its resolved latest version: the newest active one, ahead of a newer draft.
    assert seen["got"] == ["active", 1, "git", {"stable": 1}, {"team": "platform"}]
    assert seen["stable"] == [1, ["stable"], {"reviewed": "yes"}]
    assert seen["latest"] == [1, 2]
    assert seen["found"] == [name]
    assert seen["versions"] == [2]
    assert seen["updated"] == "Reviews every pull request"
    assert seen["in_org"] == [name, "acme"]
    assert seen["missing"] == "RESOURCE_DOES_NOT_EXIST"


def test_a_skill_and_its_version_as_mlflow_answers_them(http: httpx.Client, name: str) -> None:
    icons = [{"src": "https://example.com/icon.png", "mimeType": "IMAGE/PNG", "sizes": ["48x48"]}]
    created = http.post(API, json={"name": name, "description": "Finds bugs", "icons": icons})
    assert created.status_code == 200, created.text
    skill = created.json()
    assert set(skill) == SKILL_KEYS
    assert skill["icons"] == [{"src": "https://example.com/icon.png", "mimeType": "image/png", "sizes": ["48x48"]}]
    assert (skill["organization"], skill["workspace"], skill["aliases"], skill["tags"]) == ("", "default", [], {})
    assert (skill["status"], skill["latest_version"], skill["source_type"], skill["created_by"]) == (None,) * 4
    assert skill["creation_timestamp"] == skill["last_updated_timestamp"] > 0

    version = _version(http, name, ref="main", subpath="finder/", digest=DIGEST)
    assert version == {
        "name": name,
        "version": 1,
        "organization": "",
        "workspace": "default",
        "source_type": "git",
        "source": REPO,
        "ref": "main",
        "subpath": "finder",
        "digest": DIGEST,
        "status": "active",
        "aliases": [],
        "tags": {},
        "created_by": None,
        "last_updated_by": None,
        "creation_timestamp": version["creation_timestamp"],
        "last_updated_timestamp": version["creation_timestamp"],
    }
    shown = http.get(f"{API}/{name}").json()
    assert (shown["status"], shown["latest_version"], shown["source_type"]) == ("active", 1, "git")
    assert http.get(f"/ajax-api/3.0/mlflow/skills/{name}/versions/1").json() == version


def test_a_version_registered_for_a_new_name_makes_the_skill(http: httpx.Client, name: str) -> None:
    version = _version(http, name, source="https://example.com/skills/reviewer.zip")
    assert (version["version"], version["source_type"]) == (1, "zip")
    assert http.get(f"{API}/{name}").json()["latest_version"] == 1


def test_organizations_are_separate_namespaces(http: httpx.Client, name: str) -> None:
    assert http.post(API, json={"name": name}).status_code == 200
    assert http.post(API, json={"name": name, "organization": "acme.labs"}).status_code == 200
    in_org = http.post(f"{API}/@acme.labs/{name}/versions", json={"source": "oci://ghcr.io/acme/x:1"})
    assert in_org.status_code == 200, in_org.text
    assert (in_org.json()["organization"], in_org.json()["source"]) == ("acme.labs", "ghcr.io/acme/x:1")
    assert http.get(f"{API}/{name}").json()["latest_version"] is None
    assert http.get(f"{API}/@acme.labs/{name}").json()["latest_version"] == 1
    selected = http.get(API, params={"include_skill_identities": [f"@acme.labs/{name}"]}).json()["skills"]
    assert [(s["organization"], s["name"]) for s in selected] == [("acme.labs", name)]
    assert http.get(API, params={"include_skill_identities": [""]}).json() == {"skills": [], "next_page_token": None}
    assert http.delete(f"{API}/@acme.labs/{name}").json() == {}
    assert _error(http.get(f"{API}/@acme.labs/{name}")) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"Skill '{name}' not found in organization 'acme.labs'",
    )
    assert http.get(f"{API}/{name}").status_code == 200


def test_refused_skills(http: httpx.Client, name: str) -> None:
    assert http.post(API, json={"name": name}).status_code == 200
    assert _error(http.post(API, json={"name": name})) == (
        400,
        "RESOURCE_ALREADY_EXISTS",
        f"Skill '{name}' already exists in organization ''",
    )
    status, code, message = _error(http.post(API, json={"name": "Bad_Name"}))
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    assert message.startswith("Invalid skill name 'Bad_Name'. Names must be 1-64 lowercase ASCII letters")
    assert _error(http.post(API, json={"name": name, "owner": "me"})) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid request: owner: Extra inputs are not permitted",
    )
    assert _error(http.post(API, json={"name": name, "icons": "x", "description": 3}))[2] == (
        "Invalid request: description: Input should be a valid string; icons: Input should be a valid list"
    )
    status, _, message = _error(http.post(API, json={"name": "x", "icons": [{"src": "http://example.com/i.png"}]}))
    assert (status, message) == (
        400,
        "Icon URL must use one of the allowed schemes ['https'], got 'http://example.com/i.png'.",
    )


def test_refused_registrations(http: httpx.Client, name: str) -> None:
    assert _error(http.post(f"{API}/{name}/versions", json={})) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "A registration without a 'source' uploads the skill content and requires a multipart/form-data body with a "
        "'content' part. To register a remote skill, set 'source' to its git, oci, or zip location.",
    )
    _, _, message = _error(http.post(f"{API}/{name}/versions", json={"source": "/home/me/skill"}))
    assert message.startswith("'source' must be a remote git, oci, or zip location, got '/home/me/skill'.")
    _, _, message = _error(http.post(f"{API}/{name}/versions", json={"source": "https://example.com/skill"}))
    assert message.startswith("Cannot infer the source type of 'https://example.com/skill'.")
    refused = http.post(f"{API}/{name}/versions", json={"source": REPO, "source_type": "mlflow"})
    assert (
        _error(refused)[2]
        == "'source_type' 'mlflow' is set by the server from the creation flow and cannot be submitted."
    )
    refused = http.post(f"{API}/{name}/versions", json={"source": REPO, "status": "deprecated"})
    assert _error(refused)[2] == "A skill version can be registered as 'active' or 'draft', got 'deprecated'."
    refused = http.post(f"{API}/{name}/versions", json={"source": "https://u:p@example.com/s.zip"})
    assert "must be publicly accessible" in _error(refused)[2]
    assert http.get(f"{API}/{name}").status_code == 404  # nothing was registered


def test_status_lifecycle_and_aliases(http: httpx.Client, name: str) -> None:
    for _ in range(3):
        _version(http, name)
    path = f"{API}/{name}"
    assert http.post(f"{path}/aliases", json={"alias": "prod", "version": 2}).json() == {}
    assert http.get(f"{path}/aliases/prod").json()["version"] == 2
    assert http.get(f"{path}/aliases/LATEST").json()["version"] == 3
    assert http.get(f"{path}").json()["aliases"] == [{"alias": "prod", "version": 2}]
    assert http.get(f"{path}/versions/2").json()["aliases"] == ["prod"]
    assert _error(http.post(f"{path}/aliases", json={"alias": "latest", "version": 1}))[2] == (
        "'latest' alias name (case insensitive) is reserved."
    )
    assert _error(http.post(f"{path}/aliases", json={"alias": "v3", "version": 1}))[2] == (
        "Version alias name 'v3' is reserved."
    )
    assert _error(http.delete(f"{path}/aliases/latest"))[2] == (
        "The 'latest' alias is resolved automatically and cannot be deleted"
    )

    # active -> deprecated -> deleted; deleting skips no step, and a deleted version is gone with its aliases.
    assert _error(http.delete(f"{path}/versions/2")) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid status transition from 'active' to 'deleted'. Allowed transitions: ['deprecated', 'draft']",
    )
    assert http.patch(f"{path}/versions/2", json={"status": "deprecated"}).json()["status"] == "deprecated"
    assert http.delete(f"{path}/versions/2").json() == {}
    assert _error(http.get(f"{path}/versions/2")) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"Skill version '{name}' version '2' not found",
    )
    assert _error(http.get(f"{path}/aliases/prod"))[:2] == (404, "RESOURCE_DOES_NOT_EXIST")
    assert http.get(path).json()["aliases"] == []
    assert _error(http.post(f"{path}/aliases", json={"alias": "prod", "version": 2}))[2] == (
        f"Skill version '{name}' version '2' not found or is deleted"
    )

    # The latest is the newest active version; with none active, the newest live one.
    http.patch(f"{path}/versions/3", json={"status": "draft"})
    assert (http.get(path).json()["latest_version"], http.get(path).json()["status"]) == (1, "active")
    http.patch(f"{path}/versions/1", json={"status": "deprecated"})
    assert (http.get(path).json()["latest_version"], http.get(path).json()["status"]) == (3, "draft")
    assert _error(http.patch(f"{path}/versions/3", json={"status": None}))[2] == (
        "status cannot be null; omit the field to leave it unchanged"
    )
    assert _version(http, name)["version"] == 4  # a deleted version's number is never handed out again


def test_tags_of_skills_and_versions(http: httpx.Client, name: str) -> None:
    _version(http, name)
    path = f"{API}/{name}"
    assert http.post(f"{path}/tags", json={"key": "team/owner", "value": "ml"}).json() == {}
    assert http.post(f"{path}/versions/1/tags", json={"key": "ci", "value": "green"}).json() == {}
    assert http.get(path).json()["tags"] == {"team/owner": "ml"}
    assert http.get(f"{path}/versions/1").json()["tags"] == {"ci": "green"}
    assert http.delete(f"{path}/tags/team/owner").json() == {}
    assert http.get(path).json()["tags"] == {}
    assert _error(http.delete(f"{path}/tags/team/owner")) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"Tag 'team/owner' not found on Skill '{name}'",
    )
    assert http.delete(f"{path}/versions/1/tags/ci").json() == {}
    assert _error(http.delete(f"{path}/versions/1/tags/ci"))[2] == (
        f"Tag 'ci' not found on Skill version '{name}' version '1'"
    )
    assert _error(http.post(f"{API}/no-such-{name}/tags", json={"key": "k", "value": "v"}))[2] == (
        f"Skill not found (name='no-such-{name}', organization='')"
    )


def test_search_filters_orders_and_pages(http: httpx.Client, name: str) -> None:
    names = [f"{name}-{letter}" for letter in "abc"]
    for index, skill in enumerate(names):
        http.post(API, json={"name": skill, "description": f"helper number {index}"})
        http.post(f"{API}/{skill}/tags", json={"key": "batch", "value": name})
    _version(http, names[0])
    _version(http, names[1], status="draft")

    def found(**params: Any) -> list[str]:
        response = http.get(API, params=params)
        assert response.status_code == 200, response.text
        return [skill["name"] for skill in response.json()["skills"]]

    assert found(filter_string=f"tags.batch = '{name}'") == names
    assert found(filter_string=f"tags.batch = '{name}' AND status = 'active'") == names[:1]
    assert found(filter_string=f"tags.batch = '{name}' AND status IN ('draft', 'active')") == names[:2]
    assert found(filter_string=f"name LIKE '{name}-%' AND description LIKE '%number 2'") == names[2:]
    assert found(filter_string=f"search_text ILIKE '%HELPER NUMBER 1%' AND name LIKE '{name}%'") == names[1:2]
    assert found(filter_string=f"tags.batch = '{name}'", order_by=["name DESC"]) == names[::-1]

    first = http.get(API, params={"filter_string": f"tags.batch = '{name}'", "max_results": 2}).json()
    assert [s["name"] for s in first["skills"]] == names[:2]
    assert first["next_page_token"]
    params = {"filter_string": f"tags.batch = '{name}'", "max_results": 2, "page_token": first["next_page_token"]}
    rest = http.get(API, params=params).json()
    assert ([s["name"] for s in rest["skills"]], rest["next_page_token"]) == (names[2:], None)
    other = http.get(API, params={"page_token": first["next_page_token"]})
    assert _error(other)[:2] == (400, "INVALID_PARAMETER_VALUE")

    assert _error(http.get(API, params={"filter_string": "owner = 'me'"}))[:2] == (400, "INVALID_PARAMETER_VALUE")
    assert _error(http.get(API, params={"filter_string": "name IN ('a')"}))[2] == (
        "Only 'status' supports IN and NOT IN comparisons, got 'name'."
    )
    assert _error(http.get(API, params={"order_by": ["owner"]}))[2].startswith("Invalid order_by key 'owner'.")
    assert _error(http.get(API, params={"max_results": 1001}))[2] == "max_results must be at most 1000, got 1001."


def test_searching_versions(http: httpx.Client, name: str) -> None:
    for source in (REPO, "oci://ghcr.io/acme/s:1", REPO):
        _version(http, name, source=source)
    path = f"{API}/{name}/versions"

    def found(**params: Any) -> list[int]:
        response = http.get(path, params=params)
        assert response.status_code == 200, response.text
        assert response.json()["next_page_token"] is None
        return [version["version"] for version in response.json()["skill_versions"]]

    assert found() == [1, 2, 3]
    assert found(order_by=["version DESC"]) == [3, 2, 1]
    assert found(filter_string="source_type = 'oci'") == [2]
    assert found(filter_string="version >= 2") == [2, 3]
    assert http.get(f"{API}/no-such-{name}/versions").json() == {"skill_versions": [], "next_page_token": None}


def test_bulk_registration_reuses_an_identical_version(http: httpx.Client, name: str) -> None:
    skills = [
        {"name": f"{name}-a", "source": REPO, "ref": "v1", "subpath": "a", "digest": DIGEST},
        {"name": f"{name}-b", "source": REPO, "ref": "v1", "subpath": "b", "digest": DIGEST},
    ]
    first = http.post(f"{API}/bulk-register", json={"skills": skills})
    assert first.status_code == 200, first.text
    assert [(v["name"], v["version"], v["subpath"]) for v in first.json()["skill_versions"]] == [
        (f"{name}-a", 1, "a"),
        (f"{name}-b", 1, "b"),
    ]
    skills[1]["digest"] = "cd" * 32
    again = http.post(f"{API}/bulk-register", json={"skills": skills}).json()["skill_versions"]
    assert [(v["name"], v["version"]) for v in again] == [(f"{name}-a", 1), (f"{name}-b", 2)]
    other_ref = [{**skills[0], "ref": "v1"}, {**skills[1], "ref": "v2"}]
    assert _error(http.post(f"{API}/bulk-register", json={"skills": other_ref}))[2] == (
        "Bulk registration requires the same Git repository and ref for every Skill."
    )
    no_digest = [{"name": f"{name}-c", "source": REPO}]
    assert _error(http.post(f"{API}/bulk-register", json={"skills": no_digest}))[2] == (
        "Invalid request: skills.0.digest: Field required"
    )


# --- workspaces ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace_server(
    backend_store_uri: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("skills-workspaces")
    store_uri = new_store_uri(kind_of(backend_store_uri), folder, "skills", request)
    with runyard_server(store_uri, folder / "mlartifacts", "--enable-workspaces") as url:
        yield url


def test_a_teams_skills_are_its_own(workspace_server: str, name: str) -> None:
    teams = (f"team-a-{name}", f"team-b-{name}")
    with httpx.Client(base_url=workspace_server, timeout=30) as http:
        for team in teams:
            assert http.post("/api/3.0/mlflow/workspaces", json={"name": team}).status_code == 201
        mine, theirs = ({"X-MLFLOW-WORKSPACE": team} for team in teams)
        created = http.post(API, json={"name": name, "description": "ours"}, headers=mine)
        assert created.json()["workspace"] == teams[0]
        assert http.post(f"{API}/{name}/versions", json={"source": REPO}, headers=mine).status_code == 200
        assert http.get(f"{API}/{name}", headers=theirs).status_code == 404
        assert http.get(f"{API}/{name}/versions/1", headers=theirs).status_code == 404
        assert http.get(API, headers=theirs).json()["skills"] == []
        assert http.post(API, json={"name": name}, headers=theirs).status_code == 200  # the name is free there
        assert [s["workspace"] for s in http.get(API, headers=mine).json()["skills"]] == [teams[0]]
        refused = http.delete(f"/api/3.0/mlflow/workspaces/{teams[0]}")
        assert "table 'skills' still contains 1 resource(s)" in refused.json()["message"]


def test_uploaded_content_is_stored_in_the_teams_folder(workspace_server: str, name: str) -> None:
    """The recorded source is workspace-relative, as every `mlflow-artifacts:/` URI a client sees; the files lie
    in the team's folder, so another team reading the same URI finds nothing."""
    teams = (f"up-a-{name}", f"up-b-{name}")
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb") as zipped, tarfile.open(fileobj=zipped, mode="w") as tar:
        info = tarfile.TarInfo("SKILL.md")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"ours"))
    parts = {"metadata": (None, "{}", "application/json"), "content": ("c.tar.gz", raw.getvalue(), "application/gzip")}
    with httpx.Client(base_url=workspace_server, timeout=30) as http:
        for team in teams:
            assert http.post("/api/3.0/mlflow/workspaces", json={"name": team}).status_code == 201
        mine, theirs = ({"X-MLFLOW-WORKSPACE": team} for team in teams)
        uploaded = http.post(f"{API}/{name}/versions", files=parts, headers=mine)
        assert uploaded.status_code == 200, uploaded.text
        folder = uploaded.json()["source"].removeprefix("mlflow-artifacts:/")
        assert folder.startswith(f"skills/{name}/")
        file_url = f"/api/2.0/mlflow-artifacts/artifacts/{folder}/SKILL.md"
        assert http.get(file_url, headers=mine).content == b"ours"
        assert http.get(file_url, headers=theirs).status_code == 404
        assert http.delete(f"{API}/{name}", headers=mine).status_code == 200
        assert http.get(file_url, headers=mine).status_code == 404
