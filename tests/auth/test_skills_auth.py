"""The Skill Registry with `--auth`: administrators run it and are recorded as who registered and changed what;
other users are refused, since there are no per-skill grants yet."""

from __future__ import annotations

import gzip
import io
import tarfile

from tests.auth.conftest import ADMIN, AuthServer

API = "/api/3.0/mlflow/skills"


def _archive() -> bytes:
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb") as zipped, tarfile.open(fileobj=zipped, mode="w") as tar:
        info = tarfile.TarInfo("SKILL.md")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    return raw.getvalue()


def _upload_parts() -> dict[str, tuple[str | None, bytes | str, str]]:
    return {"metadata": (None, "{}", "application/json"), "content": ("c.tar.gz", _archive(), "application/gzip")}


def test_administrators_run_the_registry_and_are_recorded(auth_server: AuthServer) -> None:
    with auth_server.http(ADMIN) as admin:
        created = admin.post(API, json={"name": "auth-reviewer"})
        assert created.status_code == 200, created.text
        assert (created.json()["created_by"], created.json()["last_updated_by"]) == (ADMIN[0], ADMIN[0])
        version = admin.post(f"{API}/auth-reviewer/versions", json={"source": "https://github.com/a/s.git"}).json()
        assert version["created_by"] == ADMIN[0]
        deprecated = admin.patch(f"{API}/auth-reviewer/versions/1", json={"status": "deprecated"}).json()
        assert deprecated["last_updated_by"] == ADMIN[0]
        uploaded = admin.post(f"{API}/auth-reviewer/versions", files=_upload_parts())
        assert uploaded.status_code == 200, uploaded.text
        assert (uploaded.json()["version"], uploaded.json()["created_by"]) == (2, ADMIN[0])
        # Only an administrator reads uploaded content back through the artifact proxy, as only one may upload it.
        stored_at = uploaded.json()["source"].removeprefix("mlflow-artifacts:/")
        pulled = admin.get(f"/api/2.0/mlflow-artifacts/artifacts/{stored_at}/SKILL.md")
        assert (pulled.status_code, pulled.content) == (200, b"hello")
    user = auth_server.add_user("skills-reader")
    with auth_server.http(user) as http:
        denied = http.get(f"/api/2.0/mlflow-artifacts/artifacts/{stored_at}/SKILL.md")
        assert (denied.status_code, denied.json()["error_code"]) == (403, "PERMISSION_DENIED")


def test_other_users_are_refused(auth_server: AuthServer) -> None:
    user = auth_server.add_user("skills-user")
    with auth_server.http(user) as http:
        for response in (
            http.get(API),
            http.get(f"{API}/auth-reviewer"),
            http.post(API, json={"name": "mine"}),
            http.post(f"{API}/mine/versions", json={"source": "https://github.com/a/s.git"}),
            http.post(f"{API}/mine/versions", files=_upload_parts()),
            http.delete(f"{API}/auth-reviewer"),
        ):
            assert response.status_code == 403, response.text
            assert response.json()["error_code"] == "PERMISSION_DENIED"
    with auth_server.http() as anonymous:
        assert anonymous.get(API).status_code == 401
        assert anonymous.post(f"{API}/mine/versions", files=_upload_parts()).status_code == 401
