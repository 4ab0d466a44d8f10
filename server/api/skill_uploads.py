"""The two Skill Registry routes that carry more than JSON: registering a version by uploading its content (a
`multipart/form-data` body with a `metadata` part and a `content` part, as MLflow 3.18's client sends for
`register_skill` of a local directory), and deleting a skill, which also reclaims the content its versions
uploaded.

A JSON registration and the delete itself are the RPCs of `server.api.skills`; these routes sit in front of them
and add only what the RPC table cannot express. Their bodies bypass the server-wide request limit and are bounded
here instead: an upload by the skill content limit, as MLflow bounds it, anything else by the server-wide limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message

from server.api import skills
from server.api.routing import Rpc, rpc_endpoint
from server.api.wire import Fields, json_response
from server.auth import rules as access
from server.errors import MlflowError
from server.services import skills as service
from server.services.skill_uploads import SkillUploads, max_archive_bytes
from server.web.context import Context, authorize, principal_of

_JSON, _MULTIPART = "application/json", "multipart/form-data"
_METADATA_LIMIT = 1024 * 1024
_MULTIPART_OVERHEAD = 2 * 1024 * 1024
_METADATA_FIELDS: dict[str, type | tuple[type, ...]] = {**skills.REGISTRATION_FIELDS, "name": str, "organization": str}


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _limited(request: Request, limit: int, message: str) -> Request:
    """The request with its body cut off past `limit` bytes: at once when Content-Length says so, else as read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise StarletteHTTPException(413, message)
    received = 0
    receive = request.receive

    async def limited_receive() -> Message:
        nonlocal received
        message_in = await receive()
        received += len(message_in.get("body", b""))
        if received > limit:
            raise StarletteHTTPException(413, message)
        return message_in

    return Request(request.scope, receive=limited_receive)


def _registration(metadata: Any, organization: str, name: str, created_by: str | None) -> service.Registration:
    """The `metadata` part, checked as MLflow's request model checks it; a name or organization it gives must be
    the path's."""
    if isinstance(metadata, str):
        if len(metadata.encode("utf-8")) > _METADATA_LIMIT:
            raise StarletteHTTPException(
                413, f"The registration metadata exceeds the maximum allowed size of {_METADATA_LIMIT} bytes."
            )
        try:
            metadata = orjson.loads(metadata)
        except orjson.JSONDecodeError:
            metadata = None
    if not isinstance(metadata, dict):
        raise MlflowError.invalid_parameter("The 'metadata' part must contain a valid JSON object.")
    fields = Fields(metadata)
    skills.check_body(fields, _METADATA_FIELDS)
    for field, expected in (("name", name), ("organization", organization)):
        if field in metadata and metadata[field] != expected:
            raise MlflowError.invalid_parameter(f"Registration metadata '{field}' must match the path identity.")
    return skills.registration_of(fields, organization, name, created_by)


def _identity(request: Request) -> tuple[str, str]:
    return request.path_params.get("organization", ""), request.path_params["name"]


def _identity_fields(organization: str, name: str) -> Fields:
    return Fields({"organization": organization, "name": name})


def _write_hooks(
    context: Context, request: Request, identity: Fields
) -> tuple[Callable[[Session], None] | None, Callable[[Session, Any], None] | None]:
    """In the write that records an uploaded version: the caller's right to register it, checked again (the skill
    may have appeared since the first check), and then MANAGE for them if the upload made the skill, as on the RPC
    path."""
    authorizer, principal = context.authorizer, principal_of(request)
    if authorizer is None or principal is None or principal.signed:
        return None, None

    def guard(session: Session) -> None:
        authorizer.check(access.SKILL_REGISTER, identity, session, principal)

    def then(session: Session, row: Any) -> None:
        authorizer.grant_creator(access.SKILL_REGISTER, session, principal, skills.version_json(row))

    return guard, then


def _create_version(context: Context, uploads: SkillUploads, json_rpc: Callable[[Request], Any]) -> Callable[..., Any]:
    upload_limit = max_archive_bytes(uploads.max_bytes) + _MULTIPART_OVERHEAD

    async def endpoint(request: Request) -> Response:
        kind = _content_type(request)
        if kind == _JSON:
            limit = context.settings.max_request_bytes
            request = _limited(request, limit, f"Request body is larger than the server's limit of {limit:,} bytes.")
            response: Response = await json_rpc(request)
            return response
        if kind != _MULTIPART:
            raise MlflowError.invalid_parameter(
                "Skill registration requires an application/json or multipart/form-data request."
            )
        organization, name = _identity(request)
        identity = _identity_fields(organization, name)
        # Checked before a byte of the content is read, and again with the write (the skill may appear meanwhile).
        await authorize(request, context, lambda a, s, p: a.check(access.SKILL_REGISTER, identity, s, p))
        too_big = f"The multipart request body exceeds the maximum allowed size of {upload_limit} bytes."
        request = _limited(request, upload_limit, too_big)
        try:
            form_context = request.form(max_files=2, max_fields=1)
            async with form_context as form:
                parts = list(form.multi_items())
                if len(parts) != 2 or {part for part, _ in parts} != {"metadata", "content"}:
                    raise MlflowError.invalid_parameter(
                        "Multipart registration requires exactly one 'metadata' part and one 'content' part."
                    )
                metadata, content = form.get("metadata"), form.get("content")
                if isinstance(metadata, UploadFile):
                    metadata = (await metadata.read(_METADATA_LIMIT + 1)).decode("utf-8", "replace")
                if not isinstance(content, UploadFile):
                    raise MlflowError.invalid_parameter("Multipart registration requires a 'content' file part.")
                principal = principal_of(request)
                registration = _registration(
                    metadata, organization, name, principal.username if principal is not None else None
                )
                guard, then = _write_hooks(context, request, identity)
                row = await uploads.register(registration, content.file, guard=guard, then=then)
        except StarletteHTTPException as e:
            if e.status_code == 413:
                raise
            raise MlflowError.invalid_parameter(f"Invalid multipart body: {e.detail}") from None
        return json_response(skills.version_json(row))

    return endpoint


def _delete_skill(uploads: SkillUploads, delete_rpc: Callable[[Request], Any]) -> Callable[..., Any]:
    async def endpoint(request: Request) -> Response:
        organization, name = _identity(request)
        # Read before the delete, acted on only after it succeeded: a version uploaded in between keeps its folder
        # (unreferenced bytes), and a refused or failed delete reclaims nothing.
        folders = await uploads.owned_folders(organization, name)
        response: Response = await delete_rpc(request)
        if response.status_code == 200:
            await uploads.reclaim_all(name, folders)
        return response

    return endpoint


def routes(context: Context) -> list[BaseRoute]:
    """Placed ahead of the RPC table's routes for the same paths, which they reach for JSON and the delete."""
    settings = context.settings
    proxied = context.artifacts.proxied_async if settings.serve_artifacts else None
    uploads = SkillUploads(context.db, proxied, settings.skill_content_max_decompressed_size)
    table: dict[tuple[str, str], Rpc] = {(rpc.method, rpc.path): rpc for rpc in skills.RPCS}
    found: list[BaseRoute] = []
    for identity in ("@{organization}/{name}", "{name}"):
        path = f"/mlflow/skills/{identity}"
        create = _create_version(context, uploads, rpc_endpoint(table["POST", f"{path}/versions"], context))
        delete = _delete_skill(uploads, rpc_endpoint(table["DELETE", path], context))
        for prefix in ("/api", "/ajax-api"):
            found.append(Route(f"{prefix}/3.0{path}/versions", create, methods=["POST"]))
            found.append(Route(f"{prefix}/3.0{path}", delete, methods=["DELETE"]))
    return found
