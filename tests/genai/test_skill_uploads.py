"""Skill versions registered by upload (MLflow 3.18's `mlflow.genai.register_skill` of a local directory), on
SQLite and PostgreSQL: the stock 3.18 client packs a directory, the server checks, hashes and stores it, and the
client pulls it back through the artifact proxy; deleting the skill takes its stored content away. Archives a
client would never send (escaping paths, links, ambiguous names, bombs) are refused with MLflow's words, and
nothing of them is kept."""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import venvs
from tests.support.processes import runyard_server
from tests.support.stores import kind_of, new_store_uri

API = "/api/3.0/mlflow/skills"
FILES = {
    "SKILL.md": "---\nname: reviewer\ndescription: Reviews pull requests\n---\nRead the diff, then comment.\n",
    "scripts/check.py": "print('checked')\n",
    "docs/Über.md": "Umlauts survive the round trip.\n",
}

CLIENT_SCRIPT = """
import json, sys
from pathlib import Path
import mlflow
from mlflow import MlflowClient

mlflow.set_tracking_uri(sys.argv[1])
name, source, target = sys.argv[2], sys.argv[3], sys.argv[4]
version = mlflow.genai.register_skill(source=source, name=name, status="draft")
pulled = Path(mlflow.genai.pull(f"skills:/{name}/{version.version}", destination=target))
files = {p.relative_to(pulled).as_posix(): p.read_text() for p in sorted(pulled.rglob("*")) if p.is_file()}
again = mlflow.genai.register_skill(source=source, name=name)
print(json.dumps({
    "version": [version.version, str(version.source_type), str(version.status), version.digest],
    "source": version.source.uri if hasattr(version.source, "uri") else str(version.source),
    "files": files,
    "again": [again.version, again.digest],
}))
"""


@pytest.fixture
def name() -> str:
    return f"upload-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def skills_folder(server_dir: Path) -> Path:
    return server_dir / "mlartifacts" / "skills"


def _archive(entries: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    """A gzip tar of (name, bytes) files and prepared entries (links, directories), in order."""
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped, tarfile.open(fileobj=zipped, mode="w") as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
                continue
            info = tarfile.TarInfo(entry[0])
            info.size = len(entry[1])
            tar.addfile(info, io.BytesIO(entry[1]))
    return raw.getvalue()


def _entry(name: str, kind: bytes, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def _upload(http: httpx.Client, name: str, content: bytes, metadata: dict[str, object] | None = None) -> httpx.Response:
    parts = {
        "metadata": (None, json.dumps({"name": name, "status": "active", **(metadata or {})}), "application/json"),
        "content": ("content.tar.gz", content, "application/gzip"),
    }
    return http.post(f"{API}/{name}/versions", files=parts)


def _refusal(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error_code"], body["message"]


def test_the_318_client_uploads_a_skill_pulls_it_back_and_deleting_the_skill_removes_it(
    server_url: str, name: str, tmp_path: Path, skills_folder: Path, http: httpx.Client
) -> None:
    source = tmp_path / "reviewer"
    for relative, text in FILES.items():
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_text(text)
    python = venvs.mlflow_client("3.18.0")
    seen = venvs.client_report(
        python, "-c", CLIENT_SCRIPT, server_url, name, str(source), str(tmp_path / "pulled"), cwd=tmp_path
    )

    number, source_type, status, digest = seen["version"]
    assert (number, source_type, status) == (1, "mlflow", "draft")
    # The client sent the digest it computed; the server computed its own and would have refused a mismatch.
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert seen["again"] == [2, digest]  # the same tree hashes the same, and each upload is a version of its own
    assert seen["files"] == FILES

    versions = http.get(f"{API}/{name}/versions").json()["skill_versions"]
    sources = [v["source"] for v in versions]
    assert all(re.fullmatch(rf"mlflow-artifacts:/skills/{name}/[0-9a-f]{{32}}", s) for s in sources)
    assert len(set(sources)) == 2
    stored = [skills_folder / name / s.rsplit("/", 1)[1] for s in sources]
    assert all(
        sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == sorted(FILES)
        for folder in stored
    )

    assert http.delete(f"{API}/{name}").status_code == 200
    assert not any(folder.exists() for folder in stored)
    assert http.get(f"{API}/{name}").status_code == 404


REFUSED = [
    pytest.param(
        [("../evil.md", b"x")],
        "Archive entry '../evil.md' has an unsafe path: Path '../evil.md' must not contain '.' or '..' segments.",
        id="parent-segment",
    ),
    pytest.param(
        [("/etc/evil.md", b"x")],
        "Archive entry '/etc/evil.md' has an unsafe path: Path '/etc/evil.md' must be relative to the content root.",
        id="absolute",
    ),
    pytest.param(
        [("SKILL.md", b"x"), _entry("link", tarfile.SYMTYPE, "/etc/passwd")],
        "Archive entry 'link' is not a regular file or directory.",
        id="symlink",
    ),
    pytest.param(
        [("SKILL.md", b"x"), _entry("hard", tarfile.LNKTYPE, "SKILL.md")],
        "Archive entry 'hard' is not a regular file or directory.",
        id="hardlink",
    ),
    pytest.param(
        [("SKILL.md", b"x"), _entry("pipe", tarfile.FIFOTYPE)],
        "Archive entry 'pipe' is not a regular file or directory.",
        id="fifo",
    ),
    pytest.param(
        [("Notes.md", b"a"), ("notes.md", b"b")],
        "Paths 'Notes.md' and 'notes.md' differ only by letter case; the skill tree is ambiguous on "
        "case-insensitive filesystems.",
        id="case-collision",
    ),
    pytest.param(
        [("SKILL.md", b"a"), ("SKILL.md", b"b")],
        "Path 'SKILL.md' appears more than once.",
        id="duplicate",
    ),
    pytest.param(
        [("docs", b"a"), ("docs/inner.md", b"b")],
        "Entry 'docs/inner.md' uses 'docs' as a directory, but it is a file.",
        id="file-as-folder",
    ),
    pytest.param(
        [("a\\b.md", b"x")],
        "Archive entry 'a\\b.md' has an unsafe path: Path 'a\\b.md' must use forward slashes as separators.",
        id="backslash",
    ),
    pytest.param(
        [("CON.md", b"x")],
        "Archive entry 'CON.md' has an unsafe path: Path 'CON.md' uses a reserved Windows device name.",
        id="reserved-name",
    ),
    pytest.param(
        [("100%.md", b"x")],
        "Uploaded skill content contains a name that cannot be downloaded back through the artifact API: "
        "'100%.md'. Names must not contain '%', '?', '#'.",
        id="undownloadable",
    ),
    pytest.param(
        [_entry("empty", tarfile.DIRTYPE)],
        "The uploaded skill content contains no files.",
        id="no-files",
    ),
]


@pytest.mark.parametrize(("entries", "message"), REFUSED)
def test_an_archive_mlflow_refuses_is_refused_with_its_words_and_nothing_is_kept(
    http: httpx.Client, name: str, skills_folder: Path, entries: list[tarfile.TarInfo | tuple[str, bytes]], message: str
) -> None:
    assert _refusal(_upload(http, name, _archive(entries))) == (400, "INVALID_PARAMETER_VALUE", message)
    assert http.get(f"{API}/{name}").status_code == 404  # the skill is made only with its first version
    assert not (skills_folder / name).exists()


def test_what_is_not_a_checked_gzip_tar_is_refused(http: httpx.Client, name: str, skills_folder: Path) -> None:
    good = _archive([("SKILL.md", b"hello")])
    wrong_digest = _upload(http, name, good, {"digest": "0" * 64})
    status, code, message = _refusal(wrong_digest)
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    assert re.fullmatch(r"'digest' does not match the uploaded content: expected [0-9a-f]{64}, got 0{64}\.", message)
    # A stream cut short fails gzip's own check, at the end.
    status, code, message = _refusal(_upload(http, name, good[:-6]))
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    assert message.startswith("'content.tar.gz' is not a readable tar archive: ")
    assert _refusal(_upload(http, name, b"")) == (400, "INVALID_PARAMETER_VALUE", "The 'content' part is empty.")
    assert _refusal(_upload(http, name, good, {"source": "https://github.com/acme/skills.git"})) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "A registration with a remote 'source' must use an application/json body; it cannot also carry uploaded "
        "content. Omit 'source' to upload content instead.",
    )
    assert _refusal(_upload(http, name, good, {"name": "someone-else"})) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Registration metadata 'name' must match the path identity.",
    )
    only_content = http.post(f"{API}/{name}/versions", files={"content": ("c.tar.gz", good, "application/gzip")})
    assert _refusal(only_content) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Multipart registration requires exactly one 'metadata' part and one 'content' part.",
    )
    as_text = http.post(f"{API}/{name}/versions", content=b"hello", headers={"Content-Type": "text/plain"})
    assert _refusal(as_text) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Skill registration requires an application/json or multipart/form-data request.",
    )
    assert http.get(f"{API}/{name}").status_code == 404
    assert not (skills_folder / name).exists()

    # The same archive, correctly described, goes in; in an organization's folder when the skill is in one.
    stored = http.post(
        f"{API}/@acme/{name}/versions",
        files={
            "metadata": (None, json.dumps({"organization": "acme"}), "application/json"),
            "content": ("content.tar.gz", good, "application/gzip"),
        },
    )
    assert stored.status_code == 200, stored.text
    assert stored.json()["source"].startswith(f"mlflow-artifacts:/skills/@acme/{name}/")
    assert (stored.json()["organization"], stored.json()["source_type"]) == ("acme", "mlflow")


@pytest.fixture(scope="module")
def small_limit_server(
    backend_store_uri: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("skill-uploads-limit")
    store_uri = new_store_uri(kind_of(backend_store_uri), folder, "skills", request)
    env = {"MLFLOW_SKILL_CONTENT_MAX_DECOMPRESSED_SIZE": "65536"}
    with runyard_server(store_uri, folder / "mlartifacts", env=env) as url:
        yield url, folder / "mlartifacts"


def test_content_past_the_limit_and_decompression_bombs_are_refused(
    small_limit_server: tuple[str, Path], name: str
) -> None:
    url, artifacts = small_limit_server
    with httpx.Client(base_url=url, timeout=60) as http:
        too_big = _archive([("SKILL.md", b"x" * 70_000)])
        assert _refusal(_upload(http, name, too_big)) == (
            400,
            "INVALID_PARAMETER_VALUE",
            "Archive content exceeds the skill content size limit of 65536 bytes.",
        )
        # 200 MB of zeros packs into about 200 KB: the server stops inflating long before the end.
        bomb = io.BytesIO()
        with gzip.GzipFile(fileobj=bomb, mode="wb", compresslevel=9) as zipped:
            info = tarfile.TarInfo("SKILL.md")
            info.size = 200 * 1024 * 1024
            zipped.write(info.tobuf())
            for _ in range(200):
                zipped.write(bytes(1024 * 1024))
        assert _refusal(_upload(http, name, bomb.getvalue()))[:2] == (400, "INVALID_PARAMETER_VALUE")
        # A tar header that would inflate into a huge PAX record is cut off at the header allowance.
        pax = io.BytesIO()
        with gzip.GzipFile(fileobj=pax, mode="wb") as zipped:
            header = tarfile.TarInfo("././@PaxHeader")
            header.type = tarfile.XHDTYPE
            header.size = 50 * 1024 * 1024
            zipped.write(header.tobuf())
            zipped.write(b"9" * (50 * 1024 * 1024))
        status, code, message = _refusal(_upload(http, name, pax.getvalue()))
        assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
        assert message == (
            "Archive metadata decompresses to more than 10240000 bytes, which exceeds the allowance for tar headers."
        )
        # A body past the upload limit is refused from its declared length, before it is read.
        huge = http.post(
            f"{API}/{name}/versions",
            files={"metadata": (None, "{}", "application/json"), "content": ("c", bytes(4 * 1024 * 1024), "x")},
        )
        assert huge.status_code == 413
        assert huge.json()["message"] == "The multipart request body exceeds the maximum allowed size of 3211264 bytes."
        assert http.get(f"{API}/{name}").status_code == 404
        assert not (artifacts / "skills").exists()
        assert http.get("/health").status_code == 200
