"""The UI's files: index.html revalidated, hashed assets cached with their real types, nothing outside the build
folder, and install instructions instead of a bare 404 when the full `mlflow` wheel is absent."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest
from starlette.applications import Starlette

from server.ui import jobs as job_pages
from server.ui import static


class InProcess:
    """A synchronous face on httpx's ASGI transport: the app runs in-process, no server needed."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def get(self, path: str) -> httpx.Response:
        async def fetch() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://ui") as client:
                response = await client.get(path)
                await response.aread()
                return response

        return anyio.run(fetch)


@pytest.fixture(scope="module")
def build() -> Path:
    found = static.find_build()
    assert found is not None, "the test extra installs the full mlflow wheel, which carries the built UI"
    return found


@pytest.fixture(scope="module")
def http(build: Path) -> InProcess:
    return InProcess(Starlette(routes=static.routes(build)))


def test_the_index_page_is_html_and_always_revalidated(http: InProcess) -> None:
    response = http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert 'src="static-files/static/js/main.' in response.text
    head = response.text.split("</head>")[0]
    assert head.endswith('<script src="/runyard/ui/nav.js" defer></script>')  # the link to the Jobs page


def test_assets_carry_their_type_and_a_long_cache(http: InProcess, build: Path) -> None:
    script = next((build / "static" / "js").glob("main.*.js")).name
    css = next((build / "static" / "css").glob("main.*.css")).name
    for path, kind in [(f"static/js/{script}", "text/javascript"), (f"static/css/{css}", "text/css")]:
        response = http.get(f"/static-files/{path}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(kind)
        assert response.headers["cache-control"] == "public, max-age=2419200"
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["%2e%2e/%2e%2e/__init__.py", "..%2F..%2F__init__.py", "nope.js", "static"])
def test_nothing_outside_the_build_or_missing_is_served(http: InProcess, path: str) -> None:
    assert http.get(f"/static-files/{path}").status_code == 404


def test_without_the_ui_files_the_pages_say_how_to_install_them(tmp_path: Path) -> None:
    http = InProcess(Starlette(routes=static.routes(tmp_path)))
    for path in ["/", "/static-files/static/js/main.js"]:
        response = http.get(path)
        assert response.status_code == 404
        assert "pip install 'runyard[ui]'" in response.text


def test_the_job_pages_assets_are_served_and_nothing_beside_them() -> None:
    http = InProcess(Starlette(routes=job_pages.asset_routes()))
    script = http.get("/runyard/ui/jobs.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    for path in ["%2e%2e/jobs.py", "..%2F..%2Fconfig.py", "nope.js", ""]:
        assert http.get(f"/runyard/ui/{path}").status_code == 404
