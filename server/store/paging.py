"""Opaque page tokens: base64 of `{"offset": N}`, the form MLflow's SQL store uses."""

from __future__ import annotations

import base64
import binascii

import orjson

from server.errors import MlflowError


def encode_offset(offset: int) -> str:
    return base64.b64encode(orjson.dumps({"offset": offset})).decode()


def decode_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        payload = orjson.loads(base64.b64decode(token, validate=True))
    except (binascii.Error, ValueError):
        raise MlflowError.invalid_parameter("Invalid page token, could not base64-decode") from None
    offset = payload.get("offset") if isinstance(payload, dict) else None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise MlflowError.invalid_parameter(f"Invalid page token, offset must be a non-negative integer: {token}")
    return offset
