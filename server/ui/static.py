"""Serves MLflow's built web UI (`index.html` and `/static-files/...`) straight from the installed `mlflow` wheel.

The UI is optional (`pip install runyard[ui]`): only the full `mlflow` wheel carries the ~28 MB build, the
`mlflow-skinny` we depend on does not. We find the folder through the import system without importing `mlflow`,
because importing it pulls Flask-era server globals we never want at runtime.
"""

from __future__ import annotations

import importlib.util
import mimetypes
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

# As MLflow's `serve_static_file`: asset names carry a content hash, so a browser may keep them for four weeks.
ASSET_CACHE = "public, max-age=2419200"
# The page itself names the hashed assets, so it must be revalidated or an upgrade would load stale bundles.
INDEX_CACHE = "no-cache"

NOT_INSTALLED = (
    "The Runyard web UI is not installed.\n\n"
    "It is MLflow's own UI, which ships only in the full `mlflow` wheel. Install it with\n\n"
    "    pip install 'runyard[ui]'\n\n"
    "and restart the server. The tracking API works without it.\n"
)

# The bundle is served with types the browser trusts; the platform's table may lack some (e.g. .mjs, .wasm, .map).
for _type, _suffix in [("text/javascript", ".js"), ("text/javascript", ".mjs"), ("application/wasm", ".wasm")]:
    mimetypes.add_type(_type, _suffix)
mimetypes.add_type("application/json", ".map")


def find_build() -> Path | None:
    """The `mlflow/server/js/build` folder of the installed `mlflow` package, if it holds a built UI."""
    spec = importlib.util.find_spec("mlflow")
    for location in (spec.submodule_search_locations or []) if spec else []:
        build = Path(location) / "server" / "js" / "build"
        if (build / "index.html").is_file():
            return build
    return None


# MLflow's UI gets one script of ours: a link to the Jobs page, and from a job's run to its job (`server/ui/assets`).
NAV_SCRIPT = b'<script src="/runyard/ui/nav.js" defer></script>'


def with_nav(index: bytes) -> bytes:
    """The page with our navigation script added at the end of <head> (or first, if the build had no head)."""
    head_end = index.lower().rfind(b"</head>")
    return index[:head_end] + NAV_SCRIPT + index[head_end:] if head_end >= 0 else NAV_SCRIPT + index


def file_under(root: Path, relative: str, headers: dict[str, str]) -> Response:
    """`relative` below `root` (already resolved) with its type, or 404: nothing outside `root` is ever served."""
    try:
        wanted = (root / relative).resolve()
        found = wanted.is_relative_to(root) and wanted.is_file()
    except OSError:  # a name longer than the filesystem allows, say: no such file either
        found = False
    if not found:
        return PlainTextResponse("Not found.", status_code=404)
    media_type = mimetypes.guess_type(wanted.name)[0] or "application/octet-stream"
    return FileResponse(wanted, media_type=media_type, headers=headers)


def _not_installed() -> Response:
    return PlainTextResponse(NOT_INSTALLED, status_code=404)


def routes(build: Path | None = None) -> list[BaseRoute]:
    """`/` and `/static-files/{path}`; both answer 404 with install instructions when the UI is missing."""
    root = (build or find_build() or Path("/nonexistent")).resolve()
    installed = (root / "index.html").is_file()
    page = with_nav((root / "index.html").read_bytes()) if installed else b""

    async def index(_: Request) -> Response:
        if not installed:
            return _not_installed()
        headers = {"Cache-Control": INDEX_CACHE, "X-Content-Type-Options": "nosniff"}
        return HTMLResponse(page, headers=headers)

    async def static_file(request: Request) -> Response:
        if not installed:
            return _not_installed()
        headers = {"Cache-Control": ASSET_CACHE, "X-Content-Type-Options": "nosniff"}
        return file_under(root, request.path_params["path"], headers)

    return [
        Route("/", index, methods=["GET"]),
        Route("/static-files/{path:path}", static_file, methods=["GET"]),
    ]
