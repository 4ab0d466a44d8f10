"""The artifact proxy: streaming up and down, listings, deletes, and paths that try to leave the root."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import httpx
import pytest

from tests.support.processes import runyard_server

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A server of its own, so the tests can see and plant files in its artifact root."""
    base = tmp_path_factory.mktemp("proxy")
    root = base / "mlartifacts"
    root.mkdir()
    (base / "secret.txt").write_text("outside the root")
    os.symlink(base, root / "escape")
    with runyard_server(f"sqlite:///{base / 'db.sqlite'}", root) as url:
        yield url, root


@pytest.fixture
def http(proxy: tuple[str, Path]) -> httpx.Client:
    with httpx.Client(base_url=proxy[0], timeout=60) as client:
        yield client


def test_upload_download_list_delete(http: httpx.Client, proxy: tuple[str, Path]) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)
    assert http.put(f"{ARTIFACTS}/1/run/artifacts/data/blob.bin", content=payload).status_code == 200
    assert http.put(f"{ARTIFACTS}/1/run/artifacts/index.html", content=b"<script>x</script>").status_code == 200

    download = http.get(f"{ARTIFACTS}/1/run/artifacts/data/blob.bin")
    assert download.status_code == 200
    assert download.content == payload
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "attachment" in download.headers["content-disposition"]
    assert http.get(f"{ARTIFACTS}/1/run/artifacts/index.html").headers["content-type"].startswith("text/plain")

    listing = http.get(ARTIFACTS, params={"path": "1/run/artifacts"}).json()
    assert listing == {
        "files": [
            {"path": "data", "is_dir": True},
            {"path": "index.html", "is_dir": False, "file_size": 18},
        ]
    }
    assert http.get(ARTIFACTS, params={"path": "1/run/artifacts/data/blob.bin"}).json() == {}
    assert http.get(ARTIFACTS, params={"path": "no/such/dir"}).json() == {}

    assert http.delete(f"{ARTIFACTS}/1/run/artifacts/data").status_code == 200
    missing = http.get(f"{ARTIFACTS}/1/run/artifacts/data/blob.bin")
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_directory_download_is_a_400(http: httpx.Client) -> None:
    http.put(f"{ARTIFACTS}/2/x/f.txt", content=b"x")
    assert http.get(f"{ARTIFACTS}/2/x").status_code == 400
    assert http.get(f"{ARTIFACTS}/2/x/").status_code == 400


TRAVERSALS = [
    "../secret.txt",
    "a/../../secret.txt",
    "%2e%2e/secret.txt",
    "%252e%252e/secret.txt",
    "..%2fsecret.txt",
    "..%5csecret.txt",
    "a\\..\\..\\secret.txt",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "C:/Windows/win.ini",
    "a%00b.txt",
    "escape/secret.txt",
]


def _raw_request(url: str, method: str, path: str, body: bytes = b"") -> int:
    """Sends the path byte for byte (HTTP clients would normalise `..` away before it left the machine)."""
    host, port = url.removeprefix("http://").split(":")
    request = (
        f"{method} {ARTIFACTS}/{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        status_line = sock.makefile("rb").readline().decode()
    return int(status_line.split()[1])


@pytest.mark.parametrize("path", TRAVERSALS)
def test_paths_cannot_leave_the_root(proxy: tuple[str, Path], path: str) -> None:
    url, root = proxy
    secret = root.parent / "secret.txt"
    for method, body in (("GET", b""), ("PUT", b"overwritten"), ("DELETE", b"")):
        status = _raw_request(url, method, path, body)
        assert status in (400, 404), (method, path, status)
    assert secret.read_text() == "outside the root"
    listing = httpx.get(url + ARTIFACTS, params={"path": path.replace("%2f", "/")})
    assert listing.status_code == 400 or listing.json() == {}


def test_experiment_locations_cannot_expose_server_files(http: httpx.Client) -> None:
    """An experiment may point its artifacts anywhere for clients that write directly, but the server never
    reads outside its configured roots on its behalf."""
    api = "/api/2.0/mlflow"
    experiment_id = http.post(f"{api}/experiments/create", json={"name": "etc", "artifact_location": "/etc"}).json()[
        "experiment_id"
    ]
    run = http.post(f"{api}/runs/create", json={"experiment_id": experiment_id}).json()["run"]["info"]
    assert run["artifact_uri"].startswith("/etc/")
    listing = http.get(f"{api}/artifacts/list", params={"run_id": run["run_id"], "path": "../../"})
    assert listing.status_code == 400
    assert http.get(f"{api}/artifacts/list", params={"run_id": run["run_id"]}).status_code == 400
    leaked = http.get("/get-artifact", params={"run_id": run["run_id"], "path": "../../passwd"})
    assert leaked.status_code == 400
    assert "root:" not in leaked.text

    for location in ("mlflow-artifacts:/../../etc", "mlflow-artifacts://evil.example/x", "/tmp/../etc"):
        response = http.post(f"{api}/experiments/create", json={"name": location, "artifact_location": location})
        assert response.status_code == 400, location
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def _refused(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    assert "Traceback" not in response.text
    return str(body["message"])


def test_a_name_past_the_filesystems_limit_is_a_400(http: httpx.Client) -> None:
    long_name = "n" * 300  # most filesystems stop at 255 bytes per name
    path = f"1/run/artifacts/{long_name}/x.txt"
    assert "longer than the artifact store allows" in _refused(
        http.put(f"{ARTIFACTS}/{path}", content=b"x"), 400, "INVALID_PARAMETER_VALUE"
    )
    _refused(http.get(f"{ARTIFACTS}/{path}"), 400, "INVALID_PARAMETER_VALUE")
    _refused(http.delete(f"{ARTIFACTS}/{path}"), 400, "INVALID_PARAMETER_VALUE")
    _refused(http.get(ARTIFACTS, params={"path": path}), 400, "INVALID_PARAMETER_VALUE")
    huge = http.put(f"{ARTIFACTS}/1/run/artifacts/{'m' * 5_000}", content=b"x")
    assert len(_refused(huge, 400, "INVALID_PARAMETER_VALUE")) < 1_000  # the path is not echoed whole


def test_a_file_used_as_a_folder_is_refused(http: httpx.Client) -> None:
    assert http.put(f"{ARTIFACTS}/2/run/artifacts/f/one.txt", content=b"one").status_code == 200
    _refused(http.get(f"{ARTIFACTS}/2/run/artifacts/f/one.txt/x"), 404, "RESOURCE_DOES_NOT_EXIST")
    _refused(http.put(f"{ARTIFACTS}/2/run/artifacts/f/one.txt/x", content=b"x"), 400, "INVALID_PARAMETER_VALUE")
    _refused(http.delete(f"{ARTIFACTS}/2/run/artifacts/f/one.txt/x"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert http.get(ARTIFACTS, params={"path": "2/run/artifacts/f/one.txt/x"}).json() == {}
    assert http.get(f"{ARTIFACTS}/2/run/artifacts/f/one.txt").content == b"one"


@pytest.mark.parametrize("ranges", ["bytes=99999999999999999999-", "bytes=9223372036854775807-", "bytes=5-" + "9" * 25])
def test_a_range_past_any_file_is_unsatisfiable(http: httpx.Client, ranges: str) -> None:
    assert http.put(f"{ARTIFACTS}/3/run/artifacts/r.bin", content=b"0123456789").status_code == 200
    answer = http.get(f"{ARTIFACTS}/3/run/artifacts/r.bin", headers={"Range": ranges})
    if ranges.startswith("bytes=5-"):
        assert (answer.status_code, answer.content) == (206, b"56789")
    else:
        assert answer.status_code == 416
        assert answer.headers["content-range"] == "bytes */10"


def test_completing_a_multipart_upload_onto_a_folder_is_a_400(http: httpx.Client) -> None:
    assert http.put(f"{ARTIFACTS}/4/run/artifacts/target/inside.txt", content=b"x").status_code == 200
    created = http.post("/api/2.0/mlflow-artifacts/mpu/create/4/run/artifacts", json={"path": "target"}).json()
    assert httpx.put(created["credentials"][0]["url"], content=b"part").status_code == 200
    completed = http.post(
        "/api/2.0/mlflow-artifacts/mpu/complete/4/run/artifacts",
        json={"path": "target", "upload_id": created["upload_id"], "parts": [{"part_number": 1, "etag": "e"}]},
    )
    _refused(completed, 400, "INVALID_PARAMETER_VALUE")
    assert http.get(f"{ARTIFACTS}/4/run/artifacts/target/inside.txt").content == b"x"
