"""One JSON error shape for every failure the API reports.

`{"status": 404, "code": "not_found", "message": "...", "field": null}`: `message` says what to
change, `field` names the offending request field for validation errors. `UserError`s keep their
own status and code; validation errors become 422 naming the field; anything else is a bug and
becomes a 500 with a generic message, so that no traceback, SQL or data value ever leaves the
server (the details go to the server's log on the trusted host).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from trusted_env.errors import UserError

log = logging.getLogger("trusted_env.api")

MAX_LISTED_ERRORS = 5


class ErrorBody(BaseModel):
    status: int = Field(description="The HTTP status, repeated for clients that lose it.")
    code: str = Field(description="Stable machine-readable error code, e.g. `not_found`.")
    message: str = Field(description="What went wrong and what to change.")
    field: str | None = Field(
        default=None, description="The request field at fault (validation errors)."
    )


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The request was refused as it is; `message` says what to change.",
    401: "Missing, unknown or revoked API token (`Authorization: Bearer <token>`).",
    403: "The caller's role may not do this (`role_forbidden`), or a rule forbids it "
    "(`forbidden`, e.g. the four-eyes rule).",
    404: "The resource does not exist, or the caller may not see it (the two are not told apart).",
    409: "The request conflicts with the current state (illegal state change, budget, "
    "duplicate name).",
    413: "The request body is larger than the server accepts.",
    422: "A request field is invalid; `field` names it.",
    500: "Internal error; nothing about it is disclosed. The server log has the details.",
    503: "The control-plane database is busy or unreachable; retry shortly.",
}

# Every endpoint can get an oversized body, fail validation, hit a bug or lose its database.
COMMON_ERRORS = (413, 422, 500, 503)


RESPONSE_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "string"}}},
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses, all with the ErrorBody schema."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in sorted(set(statuses)):
        entry: dict[str, Any] = {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[status]}
        if status in RESPONSE_HEADERS:
            entry["headers"] = RESPONSE_HEADERS[status]
        responses[status] = entry
    return responses


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(status=status, code=code, message=message, field=field)
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _location(loc: Sequence[int | str]) -> tuple[str, str | None]:
    """('body', 'plan', 'job_name') -> ('body field', 'plan.job_name')."""
    if not loc:
        return "request", None
    where, rest = str(loc[0]), [str(part) for part in loc[1:]]
    kind = {"body": "body field", "query": "query parameter", "path": "path parameter"}
    field = ".".join(rest) if rest else None
    if where not in kind:
        return "field", ".".join([where, *rest])
    return kind[where], field


def _describe(error: dict[str, Any]) -> tuple[str, str | None]:
    where, field = _location(error.get("loc", ()))
    kind = error.get("type", "")
    # `input` is never echoed: it may be large; validators' messages name what to change.
    message = str(error.get("msg", "is invalid"))
    if kind == "json_invalid":
        return "The request body is not valid JSON.", None
    if field is None and kind == "missing" and where == "body field":
        return "The request needs a JSON body.", None
    if field is None:
        return f"The {where.split()[0]} is invalid: {message}.", None
    return f"{where.capitalize()} '{field}': {message}.", field


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    described = [_describe(dict(error)) for error in errors] or [("The request is invalid.", None)]
    shown = [text for text, _ in described[:MAX_LISTED_ERRORS]]
    more = len(described) - len(shown)
    message = " ".join(shown) + (f" ({more} more.)" if more > 0 else "")
    return error_response(
        422, "invalid_request", f"{message} Fix the request and send it again.", described[0][1]
    )


async def _user_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, UserError):  # pragma: no cover - registered for UserError only
        return await _internal_error(_request, exc)
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    return error_response(exc.http_status, exc.code, str(exc), headers=headers)


HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        message = f"There is no endpoint {request.url.path}. The API is described at /docs."
    elif status == 405:
        message = f"{request.method} is not allowed on {request.url.path}; see /docs."
    elif status == 413:
        message = too_large_message(request.app.state.max_body_bytes)
    else:
        detail = exc.detail if isinstance(exc, HTTPException) else None
        message = detail if isinstance(detail, str) else "The request was refused."
    headers = getattr(exc, "headers", None)
    return error_response(status, HTTP_CODES.get(status, "http_error"), message, headers=headers)


def too_large_message(limit: int) -> str:
    size = f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit} bytes"
    return (
        f"The request body is larger than the {size} the server accepts; "
        "send a smaller plan (fewer or shorter codelists)."
    )


class ContentLengthLimit:
    """Refuse a declared oversized body with the JSON error shape, before reading it.

    Bodies without a Content-Length are cut by FastAPI's own limit while they stream in.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = dict(scope["headers"]).get(b"content-length", b"")
            if declared.isdigit() and int(declared) > self.limit:
                response = error_response(413, "too_large", too_large_message(self.limit))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _unavailable(exc: Exception) -> bool:
    """A busy, locked or unreachable database, as opposed to a bug in a statement.

    SQLite reports both kinds as OperationalError; PostgreSQL's drivers only the first.
    """
    if not isinstance(exc, OperationalError):
        return True  # the connection pool timed out
    if exc.connection_invalidated or not isinstance(exc.orig, sqlite3.Error):
        return True
    text = str(exc.orig).lower()
    return any(marker in text for marker in ("locked", "busy", "unable to open"))


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if not _unavailable(exc):
        return await _internal_error(request, exc)
    log.warning("control-plane database unavailable: %s", type(exc).__name__)
    return error_response(
        503,
        "database_unavailable",
        "The control-plane database is busy or unreachable. Retry in a moment.",
        headers={"Retry-After": "2"},
    )


async def _integrity_error(_request: Request, exc: Exception) -> JSONResponse:
    # A concurrent request won a uniqueness race the service had checked for: say so, no SQL.
    log.info("integrity conflict: %s", type(exc).__name__)
    return error_response(
        409, "conflict", "The request conflicts with a concurrent change. Reload and retry."
    )


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        500,
        "internal_error",
        "The server failed to handle this request. Nothing about the failure is disclosed; "
        "retry later or ask the administrators (the server log has the details).",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(PoolTimeout, _database_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(Exception, _internal_error)
