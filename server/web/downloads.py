"""Serving one stored file over HTTP: whole or one byte range, streamed in bounded chunks, with a media type a
browser cannot be tricked into running. Shared by the artifact proxy and the job log and snapshot downloads."""

from __future__ import annotations

import mimetypes
import posixpath
import re
import unicodedata
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from server.artifacts.base import ArtifactStore

# Types a browser would render or run are sent as plain text, so an uploaded page cannot script our origin.
_NEUTERED_TYPES = {"text/html", "application/javascript", "text/javascript", "image/svg+xml", "application/xhtml+xml"}
# What MLflow's server sends as text/plain, matched on the extension or, for a name without one, the whole name
# (its model and project files). `MLproject` is how projects spell their file; MLflow's list has `mlproject`.
_TEXT_EXTENSIONS = frozenset(
    {
        *("txt", "log", "err", "cfg", "conf", "cnf", "cf", "ini", "properties", "prop", "hocon", "toml"),
        *("yaml", "yml", "xml", "json", "js", "py", "py3", "csv", "tsv", "md", "rst", "ipynb"),
        *("MLmodel", "mlproject", "MLproject"),
    }
)
# RFC 9110 `tchar`: a filename made only of these goes unquoted, as MLflow (and werkzeug) send it.
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
# RFC 5987 `attr-char` besides letters and digits: what `filename*` leaves unescaped.
_ATTR_CHARS = "!#$&+-.^_`|~"


def _media_type(path: str) -> str:
    name = posixpath.basename(path)
    extension = posixpath.splitext(name)[1][1:] or name
    if extension in _TEXT_EXTENSIONS:
        return "text/plain"
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return "text/plain" if guessed in _NEUTERED_TYPES else guessed


def content_disposition(filename: str) -> str:
    """`attachment` with the file's own name (RFC 6266), so a browser saves it under that name and never renders
    it on our origin. The name is sent as MLflow's server sends it: bare when it is a token, else quoted; a name
    with characters a header cannot carry also gets `filename*=UTF-8''...` (RFC 5987) and an ASCII `filename`
    for clients that ignore it."""
    if all(" " <= char <= "~" for char in filename):
        return f"attachment; filename={_quoted(filename)}"
    printable = "".join(char for char in unicodedata.normalize("NFKD", filename) if " " <= char <= "~")
    return f"attachment; filename={_quoted(printable or 'download')}; filename*=UTF-8''{quote(filename, _ATTR_CHARS)}"


def _quoted(value: str) -> str:
    if value and _TOKEN_CHARS.issuperset(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


_RANGE = re.compile(r"^bytes=(\d{0,30})-(\d{0,30})$")
_BEYOND_ANY_FILE = 2**62


def _byte_range(header: str | None) -> tuple[int | None, int | None] | None:
    """One `bytes=first-last` range (either end may be missing); anything else is served whole, as RFC 9110
    allows a server to do with ranges it does not handle."""
    match = _RANGE.match(header.strip()) if header else None
    if match is None or match[1] == match[2] == "":
        return None
    # Positions past any file (however many digits they have) are capped, so the store never seeks past 2**62.
    return (
        min(int(match[1]), _BEYOND_ANY_FILE) if match[1] else None,
        min(int(match[2]), _BEYOND_ANY_FILE) if match[2] else None,
    )


async def stream_file(
    store: ArtifactStore, path: str, range_header: str | None = None, *, name: str | None = None
) -> Response:
    """`path` in `store`, saved by a browser as `name` (by default the path's last segment). The media type is sent
    as MLflow's server sends it, without a charset: clients compare it whole."""
    name = name or posixpath.basename(path)
    headers = {
        "Content-Type": _media_type(name),
        "Content-Disposition": content_disposition(name),
        "X-Content-Type-Options": "nosniff",
        "Accept-Ranges": "bytes",
    }
    wanted = _byte_range(range_header)
    if wanted is None:
        download = await run_in_threadpool(store.open, path)
        headers["Content-Length"] = str(download.size)
        return StreamingResponse(download.chunks, headers=headers)
    first, last = wanted
    if first is None:  # a suffix: the last `last` bytes
        size = (await run_in_threadpool(store.open, path, 0, 0)).size
        first, last = max(0, size - (last or 0)), size - 1
    length = None if last is None else max(0, last - first + 1)
    download = await run_in_threadpool(store.open, path, first, length)
    if first >= download.size or (last is not None and last < first):
        headers["Content-Range"] = f"bytes */{download.size}"
        del headers["Content-Type"]  # no body
        return Response(status_code=416, headers=headers)
    end = download.size - 1 if last is None else min(last, download.size - 1)
    headers["Content-Range"] = f"bytes {first}-{end}/{download.size}"
    headers["Content-Length"] = str(end - first + 1)
    return StreamingResponse(download.chunks, status_code=206, headers=headers)
