"""The Skill Registry with `--auth` (default permission NO_PERMISSIONS), as MLflow 3.18's auth guards it: grants on
skills are role grants of type `skill` on `name` or `@organization/name`; a skill's creator manages it; READ shows
it, EDIT changes it, MANAGE deletes it; a DENY vetoes; a search shows only readable skills, each with its
`allowed_actions`; uploaded content is read with the skill's READ and written only by the registry; deleting a
skill drops the grants naming it."""

from __future__ import annotations

import gzip
import io
import itertools
import tarfile
from typing import Any

import httpx

from tests.auth.conftest import ADMIN, AuthServer

API = "/api/3.0/mlflow/skills"
ROLES = "/api/3.0/mlflow/roles"
REPO = "https://github.com/a/s.git"
_numbers = itertools.count()


def _unique(prefix: str) -> str:
    return f"{prefix}-{next(_numbers)}"


def _archive() -> bytes:
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb") as zipped, tarfile.open(fileobj=zipped, mode="w") as tar:
        info = tarfile.TarInfo("SKILL.md")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    return raw.getvalue()


def _upload_parts() -> dict[str, tuple[str | None, bytes | str, str]]:
    return {"metadata": (None, "{}", "application/json"), "content": ("c.tar.gz", _archive(), "application/gzip")}


def _role(admin: httpx.Client, user: str, *grants: tuple[str, str]) -> int:
    """A role granting (pattern, permission) on skills, assigned to `user`; returns its id."""
    created = admin.post(f"{ROLES}/create", json={"workspace": "default", "name": _unique("skills")})
    assert created.status_code == 200, created.text
    role_id = int(created.json()["role"]["id"])
    for pattern, permission in grants:
        body = {"role_id": role_id, "resource_type": "skill", "resource_pattern": pattern, "permission": permission}
        added = admin.post(f"{ROLES}/permissions/add", json=body)
        assert added.status_code == 200, added.text
    assert admin.post(f"{ROLES}/assign", json={"username": user, "role_id": role_id}).status_code == 200
    return role_id


def _denied(response: httpx.Response) -> bool:
    return response.status_code == 403 and response.json()["error_code"] == "PERMISSION_DENIED"


def _names(http: httpx.Client) -> list[str]:
    response = http.get(API, params={"max_results": 1000})
    assert response.status_code == 200, response.text
    return [s["name"] for s in response.json()["skills"]]


def test_administrators_run_the_registry_and_are_recorded(auth_server: AuthServer) -> None:
    name = _unique("auth-reviewer")
    with auth_server.http(ADMIN) as admin:
        created = admin.post(API, json={"name": name})
        assert created.status_code == 200, created.text
        assert (created.json()["created_by"], created.json()["last_updated_by"]) == (ADMIN[0], ADMIN[0])
        version = admin.post(f"{API}/{name}/versions", json={"source": REPO}).json()
        assert version["created_by"] == ADMIN[0]
        deprecated = admin.patch(f"{API}/{name}/versions/1", json={"status": "deprecated"}).json()
        assert deprecated["last_updated_by"] == ADMIN[0]
        uploaded = admin.post(f"{API}/{name}/versions", files=_upload_parts())
        assert uploaded.status_code == 200, uploaded.text
        assert (uploaded.json()["version"], uploaded.json()["created_by"]) == (2, ADMIN[0])
        assert admin.get(f"{API}/{name}").json()["allowed_actions"] == ["USE", "UPDATE", "DELETE", "MANAGE"]
        stored_at = uploaded.json()["source"].removeprefix("mlflow-artifacts:/")
        pulled = admin.get(f"/api/2.0/mlflow-artifacts/artifacts/{stored_at}/SKILL.md")
        assert (pulled.status_code, pulled.content) == (200, b"hello")
    with auth_server.http() as anonymous:
        assert anonymous.get(API).status_code == 401
        assert anonymous.post(f"{API}/{name}/versions", files=_upload_parts()).status_code == 401


def test_a_user_without_grants_sees_nothing_and_the_creator_manages_what_they_create(
    auth_server: AuthServer,
) -> None:
    name, theirs = _unique("owned"), _unique("admins")
    creator, stranger = auth_server.add_user(_unique("creator")), auth_server.add_user(_unique("stranger"))
    with auth_server.http(ADMIN) as admin:
        assert admin.post(API, json={"name": theirs}).status_code == 200
    with auth_server.http(creator) as mine:
        assert theirs not in _names(mine)  # no grant and a default of NO_PERMISSIONS: invisible
        assert _denied(mine.get(f"{API}/{theirs}"))
        # Registering a first version makes the skill, and its creator its manager, for uploads too.
        uploaded = mine.post(f"{API}/{name}/versions", files=_upload_parts())
        assert uploaded.status_code == 200, uploaded.text
        assert mine.get(f"{API}/{name}").json()["allowed_actions"] == ["USE", "UPDATE", "DELETE", "MANAGE"]
        assert [s["allowed_actions"] for s in mine.get(API).json()["skills"] if s["name"] == name] == [
            ["USE", "UPDATE", "DELETE", "MANAGE"]
        ]
        assert mine.post(f"{API}/{name}/versions", json={"source": REPO}).json()["version"] == 2
        assert mine.post(f"{API}/{name}/aliases", json={"alias": "prod", "version": 2}).status_code == 200
        content = uploaded.json()["source"].removeprefix("mlflow-artifacts:/") + "/SKILL.md"
        assert mine.get(f"/api/2.0/mlflow-artifacts/artifacts/{content}").content == b"hello"
        # The registry alone writes uploaded content: not even the skill's manager rewrites it through the proxy.
        assert _denied(mine.put(f"/api/2.0/mlflow-artifacts/artifacts/{content}", content=b"changed"))
    with auth_server.http(stranger) as other:
        assert name not in _names(other)
        for response in (
            other.get(f"{API}/{name}"),
            other.post(f"{API}/{name}/versions", json={"source": REPO}),
            other.post(f"{API}/{name}/versions", files=_upload_parts()),
            other.delete(f"{API}/{name}"),
            other.get(f"/api/2.0/mlflow-artifacts/artifacts/{content}"),
            other.get("/api/2.0/mlflow-artifacts/artifacts", params={"path": "skills"}),
        ):
            assert _denied(response), response.text
    with auth_server.http(creator) as mine:
        assert mine.delete(f"{API}/{name}").status_code == 200
    # The creator's grant went with the skill: the same name made again by someone else is not theirs.
    with auth_server.http(ADMIN) as admin:
        assert admin.post(API, json={"name": name}).status_code == 200
    with auth_server.http(creator) as mine:
        assert _denied(mine.get(f"{API}/{name}"))


def test_role_grants_read_edit_and_manage_one_skill_and_deny_vetoes(auth_server: AuthServer) -> None:
    readable, editable, managed, hidden, org = (_unique(p) for p in ("read", "edit", "manage", "hidden", "acme"))
    user = auth_server.add_user(_unique("granted"))
    with auth_server.http(ADMIN) as admin:
        for name in (readable, editable, managed, hidden):
            assert admin.post(f"{API}/{name}/versions", json={"source": REPO}).status_code == 200
        for name in (readable, hidden):
            assert admin.post(f"{API}/@{org}/{name}/versions", json={"source": REPO}).status_code == 200
        grants = [(readable, "READ"), (editable, "EDIT"), (managed, "MANAGE"), (f"@{org}/{readable}", "READ")]
        _role(admin, user[0], *grants, (f"@{org}/{hidden}", "EDIT"))
    with auth_server.http(user) as http:
        listed = {(s["organization"], s["name"]): s["allowed_actions"] for s in http.get(API).json()["skills"]}
        assert listed == {
            ("", readable): [],
            ("", editable): ["USE", "UPDATE"],
            ("", managed): ["USE", "UPDATE", "DELETE", "MANAGE"],
            (org, readable): [],
            (org, hidden): ["USE", "UPDATE"],
        }
        assert http.get(f"{API}/{readable}/versions/1").status_code == 200
        assert _denied(http.post(f"{API}/{readable}/tags", json={"key": "k", "value": "v"}))
        assert http.post(f"{API}/{editable}/tags", json={"key": "k", "value": "v"}).status_code == 200
        assert http.post(f"{API}/{editable}/versions", json={"source": REPO}).status_code == 200
        assert http.patch(f"{API}/{editable}/versions/1", json={"status": "deprecated"}).status_code == 200
        # Deleting by status is deleting: MANAGE, as the delete route needs.
        assert _denied(http.patch(f"{API}/{editable}/versions/1", json={"status": "deleted"}))
        assert _denied(http.delete(f"{API}/{editable}"))
        assert http.patch(f"{API}/{managed}/versions/1", json={"status": "deprecated"}).status_code == 200
        assert http.patch(f"{API}/{managed}/versions/1", json={"status": "deleted"}).status_code == 200
        assert http.delete(f"{API}/{managed}").status_code == 200
        assert _denied(http.get(f"{API}/{hidden}"))
        # An organization's skill is a grant of its own, and naming one beside a skill outside any organization
        # reaches neither.
        assert http.get(f"{API}/@{org}/{readable}").status_code == 200
        assert http.post(f"{API}/@{org}/{hidden}/tags", json={"key": "k", "value": "v"}).status_code == 200
        sneaked = http.post(f"{API}/{hidden}/tags", json={"key": "k", "value": "v", "organization": org})
        assert (sneaked.status_code, sneaked.json()["message"]) == (
            400,
            "Invalid request: organization: Extra inputs are not permitted",
        )
        assert http.get(f"{API}/{hidden}", params={"organization": org}).status_code == 400
    with auth_server.http(ADMIN) as admin:
        assert admin.get(f"{API}/{hidden}").json()["tags"] == {}
        _role(admin, user[0], ("*", "EDIT"), (editable, "DENY"))
    with auth_server.http(user) as http:
        names = _names(http)
        assert hidden in names  # every skill, but the denied one
        assert editable not in names
        assert _denied(http.get(f"{API}/{editable}"))
        assert http.post(f"{API}/{hidden}/tags", json={"key": "k", "value": "v"}).status_code == 200


def test_creating_needs_no_deny_and_grants_are_checked_as_mlflow_checks_them(auth_server: AuthServer) -> None:
    user = auth_server.add_user(_unique("vetoed"))
    blocked = _unique("blocked")
    with auth_server.http(ADMIN) as admin:
        _role(admin, user[0], (blocked, "DENY"))
        invalid: dict[str, Any] = {"resource_type": "skill", "resource_pattern": "a/b", "permission": "READ"}
        role_id = _role(admin, ADMIN[0])
        refused = admin.post(f"{ROLES}/permissions/add", json={"role_id": role_id, **invalid})
        assert (refused.json()["error_code"], refused.json()["message"]) == (
            "INVALID_PARAMETER_VALUE",
            "Invalid Skill Registry resource_id. Expected 'name' or '@organization/name'.",
        )
        refused = admin.post(
            f"{ROLES}/permissions/add",
            json={"role_id": role_id, "resource_type": "skill", "resource_pattern": "x", "permission": "USE"},
        )
        assert refused.json()["message"] == (
            "Invalid permission 'USE' for resource_type='skill'. Skill Registry grants accept only: "
            "('DENY', 'EDIT', 'MANAGE', 'READ')."
        )
    with auth_server.http(user) as http:
        assert _denied(http.post(API, json={"name": blocked}))
        assert _denied(http.post(f"{API}/{blocked}/versions", json={"source": REPO}))
        assert _denied(http.post(f"{API}/bulk-register", json={"skills": [_bulk(blocked)]}))
        bulk = http.post(f"{API}/bulk-register", json={"skills": [_bulk(_unique("fresh"))]})
        assert bulk.status_code == 200, bulk.text
        fresh = bulk.json()["skill_versions"][0]["name"]
        assert http.get(f"{API}/{fresh}").json()["allowed_actions"] == ["USE", "UPDATE", "DELETE", "MANAGE"]


def _bulk(name: str) -> dict[str, str]:
    return {"name": name, "source": REPO, "ref": "main", "subpath": name, "digest": "ab" * 32}
