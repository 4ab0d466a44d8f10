"""MLflow's error contract: one exception type carrying an error code, one table deriving the HTTP status.

The exception stores no status of its own, so a code and its status can never disagree; the single handler in
`install_error_handlers` is the only place that turns an error into a response.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections.abc import Mapping
from contextvars import ContextVar
from enum import StrEnum
from typing import Any, cast

import orjson
import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from psycopg import errors as pg_errors
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


class ErrorCode(StrEnum):
    INTERNAL_ERROR = "INTERNAL_ERROR"
    TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
    BAD_REQUEST = "BAD_REQUEST"
    INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
    ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
    INVALID_STATE = "INVALID_STATE"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
    RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
    NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
    REQUEST_LIMIT_EXCEEDED = "REQUEST_LIMIT_EXCEEDED"
    ABORTED = "ABORTED"
    FEATURE_DISABLED = "FEATURE_DISABLED"


# Meaning copied from MLflow's ERROR_CODE_TO_HTTP_STATUS (mlflow/exceptions.py): "already exists" is a 400.
HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_PARAMETER_VALUE: 400,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.RESOURCE_ALREADY_EXISTS: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.RESOURCE_DOES_NOT_EXIST: 404,
    ErrorCode.ENDPOINT_NOT_FOUND: 404,
    ErrorCode.ABORTED: 409,  # a compare-and-set lost: e.g. a job lease that passed to another worker
    ErrorCode.REQUEST_LIMIT_EXCEEDED: 429,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.INVALID_STATE: 400,  # MLflow answers 500, which the client retries; the caller has to act instead
    ErrorCode.NOT_IMPLEMENTED: 501,
    # MLflow answers 500, which the client retries for minutes; the caller has to ask for something else.
    ErrorCode.FEATURE_DISABLED: 400,
    ErrorCode.TEMPORARILY_UNAVAILABLE: 503,
}


# The classification MLflow 3.x adds to every error body (mlflow/error_classification.py, as `mlflow server`
# sends it): clients keep these keys and derive their own when they are missing.
_CLASSIFICATION: dict[ErrorCode, tuple[str, str]] = {
    ErrorCode.BAD_REQUEST: ("KAM00", "INVALID_PARAMETER_VALUE"),
    ErrorCode.INVALID_PARAMETER_VALUE: ("KAM00", "INVALID_PARAMETER_VALUE"),
    ErrorCode.ENDPOINT_NOT_FOUND: ("KAM00", "RESOURCE_NOT_FOUND"),
    ErrorCode.RESOURCE_DOES_NOT_EXIST: ("KAM00", "RESOURCE_NOT_FOUND"),
    ErrorCode.RESOURCE_ALREADY_EXISTS: ("KAM00", "RESOURCE_ALREADY_EXISTS"),
    ErrorCode.PERMISSION_DENIED: ("KAM00", "PERMISSION_DENIED"),
    ErrorCode.INTERNAL_ERROR: ("XXM00", "CLIENT_INTERNAL_ERROR"),
    ErrorCode.INVALID_STATE: ("XXM00", "CLIENT_INTERNAL_ERROR"),
    ErrorCode.TEMPORARILY_UNAVAILABLE: ("XXM00", "CLIENT_INTERNAL_ERROR"),
    ErrorCode.REQUEST_LIMIT_EXCEEDED: ("KAMC3", "CP_REQUEST_RATE_LIMITED"),
}


class MlflowError(Exception):
    """An expected failure, rendered as MLflow's `{"error_code", "message"}` body."""

    def __init__(
        self,
        message: str,
        code: ErrorCode = ErrorCode.INVALID_PARAMETER_VALUE,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details  # more top-level body fields a client acts on, as MLflow's exception keywords

    @property
    def status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)

    @classmethod
    def invalid_parameter(cls, message: str) -> MlflowError:
        return cls(message, ErrorCode.INVALID_PARAMETER_VALUE)

    @classmethod
    def not_found(cls, message: str) -> MlflowError:
        return cls(message, ErrorCode.RESOURCE_DOES_NOT_EXIST)

    @classmethod
    def already_exists(cls, message: str) -> MlflowError:
        return cls(message, ErrorCode.RESOURCE_ALREADY_EXISTS)

    @classmethod
    def invalid_state(cls, message: str) -> MlflowError:
        return cls(message, ErrorCode.INVALID_STATE)

    @classmethod
    def aborted(cls, message: str) -> MlflowError:
        return cls(message, ErrorCode.ABORTED)

    @classmethod
    def not_implemented(cls, message: str) -> MlflowError:
        return cls(message, ErrorCode.NOT_IMPLEMENTED)


# A message longer than this is cut in its middle. Messages quote the caller's input, so a megabyte-long id would come
# back as a megabyte-long error; the ends, where MLflow's wording is, stay.
MESSAGE_HEAD, MESSAGE_TAIL = 2_000, 500


def shown_message(message: str) -> str:
    cut = len(message) - MESSAGE_HEAD - MESSAGE_TAIL
    if cut <= 100:
        return message
    return f"{message[:MESSAGE_HEAD]}… ({cut} characters cut) …{message[-MESSAGE_TAIL:]}"


def error_response(
    code: ErrorCode,
    message: str,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    details: Mapping[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {"error_code": str(code), "message": shown_message(message)}
    if code in _CLASSIFICATION:
        body["sqlstate"], body["error_class"] = _CLASSIFICATION[code]
    if details:
        body.update(details)
    return Response(
        orjson.dumps(body),
        status_code=status or HTTP_STATUS.get(code, 500),
        headers=headers,
        media_type="application/json",
    )


# The hot paths talk to the DB-API drivers directly, so their own exception classes count as well as SQLAlchemy's.
_UNAVAILABLE = (OperationalError, sqlite3.OperationalError, psycopg.OperationalError, PoolTimeoutError)
_BAD_VALUE = (DataError, sqlite3.DataError, psycopg.DataError)


def _is_bad_value(exc: BaseException) -> bool:
    """A value the column cannot hold: PostgreSQL says so with a DataError; SQLite's driver refuses an integer past
    64 bits before the statement runs, with an OverflowError naming SQLite."""
    return isinstance(exc, _BAD_VALUE) or (isinstance(exc, OverflowError) and "SQLite INTEGER" in str(exc))


def _is_retryable_db_error(exc: BaseException) -> bool:
    """SQLite busy/locked past the busy timeout, or a dropped PostgreSQL connection: safe for the client to retry."""
    return isinstance(exc, _UNAVAILABLE)


# SQLite's primary result codes for "another connection holds the lock" (the extended codes share the low byte).
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6
# PostgreSQL errors that end the transaction with a rollback and mean only "not now": a lock wait past
# lock_timeout, a statement past statement_timeout (or cancelled), and the losers of a deadlock or a serialization
# conflict. The server reported each, so the transaction's fate is known: aborted.
_PG_REFUSED = (
    pg_errors.LockNotAvailable,
    pg_errors.QueryCanceled,
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
)


def is_refused_write(exc: BaseException) -> bool:
    """The database turned the transaction away and rolled it back, so nothing of it was stored: SQLite busy or
    locked past the busy timeout, PostgreSQL's lock or statement timeout, or no pooled connection came free.

    A dropped PostgreSQL connection is not one: it may have gone after the COMMIT was sent, and then the write
    may be stored."""
    if isinstance(exc, PoolTimeoutError):
        return True
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(cause, sqlite3.OperationalError):
        code = getattr(cause, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
        return "locked" in str(cause)
    return isinstance(cause, _PG_REFUSED)


class _RequestWrites:
    """Whether a write transaction of the current request has committed."""

    __slots__ = ("committed",)

    def __init__(self) -> None:
        self.committed = False


# Set per request by `UnexpectedErrorMiddleware`. The object is shared, not the variable: the thread pool and the
# group-commit writer run a request's work in copies of its context, which still point at the same object.
_request_writes: ContextVar[_RequestWrites | None] = ContextVar("runyard_request_writes", default=None)


def note_write_committed() -> None:
    """Called by the store after a write transaction commits. A request that refused later can no longer say that
    nothing was written, so it gets the ambiguous 503 instead of the 429 a client may safely resend."""
    if (writes := _request_writes.get()) is not None:
        writes.committed = True


RETRY_AFTER_MAX_S = 30


class RetryAdvice:
    """The `Retry-After` for a refused write: as many seconds as the database has been refusing writes, from 1 up
    to `RETRY_AFTER_MAX_S`.

    MLflow's client waits what the header says instead of its own exponential backoff, and it has few retries
    (7 by default). A fixed short wait would spend them all within a lock held for a minute; a wait that grows with
    the refusals spreads them out much as the client's backoff would, while a database that frees up soon is
    retried soon. A committed write ends the count, and so does a pause of twice the cap without refusals."""

    def __init__(self) -> None:
        self._since: float | None = None
        self._last = -math.inf

    def seconds(self) -> int:
        now = time.monotonic()
        if self._since is None or now - self._last > 2 * RETRY_AFTER_MAX_S:
            self._since = now
        self._last = now
        return max(1, min(RETRY_AFTER_MAX_S, math.ceil(now - self._since)))

    def written(self) -> None:
        self._since = None


REFUSED_MESSAGE = "The database is busy and nothing was written; retry after the Retry-After seconds."


def install_error_handlers(app: FastAPI) -> None:
    async def on_mlflow_error(_: Request, exc: Exception) -> Response:
        error = cast(MlflowError, exc)
        return error_response(error.code, error.message, details=error.details)

    async def on_http_error(_: Request, exc: Exception) -> Response:
        exc = cast(StarletteHTTPException, exc)
        if exc.status_code in (404, 405):
            return error_response(ErrorCode.ENDPOINT_NOT_FOUND, "No such endpoint.", 404)
        if exc.status_code == 413:
            return error_response(ErrorCode.INVALID_PARAMETER_VALUE, str(exc.detail), 413)
        return error_response(ErrorCode.BAD_REQUEST, str(exc.detail), exc.status_code)

    async def on_validation_error(_: Request, exc: Exception) -> Response:
        exc = cast(RequestValidationError, exc)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error_response(ErrorCode.INVALID_PARAMETER_VALUE, f"Invalid value for '{where}': {first.get('msg')}")

    app.add_exception_handler(MlflowError, on_mlflow_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_middleware(UnexpectedErrorMiddleware)


class UnexpectedErrorMiddleware:
    """The single catch-all: a bug becomes a logged traceback and a JSON 500, never a stack trace on the wire.
    Unlike Starlette's own 500 handling it does not re-raise, so the connection stays usable for the client's next
    request.

    A database that refused the work answers 429 REQUEST_LIMIT_EXCEEDED with a `Retry-After` when nothing of the
    request was stored (`is_refused_write`, and no earlier transaction of the request committed): MLflow 3.18's
    client resends a non-idempotent POST (create a run, an experiment, a model version) only on 408 and 429, since
    a 503 may come after the write committed. Any other database failure stays the 503 TEMPORARILY_UNAVAILABLE
    that older clients retry and 3.18 surfaces."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.retry_advice = RetryAdvice()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        writes = _RequestWrites()
        token = _request_writes.set(writes)
        try:
            await self.app(scope, receive, tracking_send)
            if writes.committed:
                self.retry_advice.written()
        except Exception as exc:
            if started:
                raise  # too late for an error body; let the server drop the connection
            where = f"{scope.get('method')} {scope.get('path')}"
            if isinstance(exc, UnicodeEncodeError) and exc.reason == "surrogates not allowed":
                # JSON may spell a lone UTF-16 surrogate (`"\\udf69"`), which no database can store
                log.warning("unencodable text on %s: %s", where, exc)
                response = error_response(
                    ErrorCode.INVALID_PARAMETER_VALUE, "A value in the request is not valid text."
                )
            elif _is_bad_value(exc):  # a value the column cannot hold: the request's fault, not ours
                log.warning("value out of range on %s: %s", where, exc)
                response = error_response(
                    ErrorCode.INVALID_PARAMETER_VALUE, "A value in the request is too long or out of range."
                )
            elif is_refused_write(exc) and not writes.committed:
                log.warning("database busy on %s, nothing written: %s", where, exc)
                retry_after = str(self.retry_advice.seconds())
                response = error_response(
                    ErrorCode.REQUEST_LIMIT_EXCEEDED, REFUSED_MESSAGE, headers={"Retry-After": retry_after}
                )
            elif _is_retryable_db_error(exc):
                log.warning("database unavailable on %s: %s", where, exc)
                response = error_response(ErrorCode.TEMPORARILY_UNAVAILABLE, "The database is unavailable; retry.")
            else:
                log.exception("unhandled error on %s", where)
                response = error_response(ErrorCode.INTERNAL_ERROR, "Internal server error; see the server log.")
            await response(scope, receive, send)
        finally:
            _request_writes.reset(token)
