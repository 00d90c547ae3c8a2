"""Rejections: every refused request is logged with context and counted.

Shapes stay FastAPI's usual ones: ``{"detail": "..."}`` for 401/403/404/409/503 and
``{"detail": [{"type", "loc", "msg", "input", ...}]}`` for 422. Storage errors map to HTTP:
NotFound -> 404 (an object of another tenant is reported exactly like a missing one),
AlreadyExists / ConstraintViolation / StaleVersion -> 409, bus errors -> 503.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.bus.errors import BusError
from services.lorawan.errors import LoRaWANError
from services.storage.errors import (
    AlreadyExists,
    ConstraintViolation,
    NotFound,
    StaleVersion,
)

from . import metrics
from .events import HubClosed, HubFull

log = logging.getLogger("hyperlora.api")

REASONS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "validation",
    503: "unavailable",
}


def route_of(request: Request) -> str:
    """The route template (``/api/devices/{dev_eui}``), never the raw path (label cardinality)."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def tenant_of(request: Request) -> str:
    key = getattr(request.state, "api_key", None)
    if key is None:
        return "-"
    if key.is_admin:
        return "admin"
    return str(key.tenant_id)


def record_rejection(request: Request, status: int, detail: Any) -> None:
    reason = REASONS.get(status, "client_error" if status < 500 else "server_error")
    route = route_of(request)
    metrics.REJECTIONS.labels(route, reason).inc()
    key = getattr(request.state, "api_key", None)
    context = {
        "status": status,
        "reason": reason,
        "method": request.method,
        "path": request.url.path,
        "route": route,
        "tenant": tenant_of(request),
        "api_key_id": None if key is None else str(key.id),
        "detail": detail,
    }
    log.warning(
        "api.rejected status=%d reason=%s method=%s path=%s tenant=%s detail=%s",
        status,
        reason,
        request.method,
        request.url.path,
        context["tenant"],
        detail,
        extra={"api": context},
    )


def validation_error(
    loc: Sequence[str | int], msg: str, value: Any = None
) -> RequestValidationError:
    """A 422 in FastAPI's usual shape for a check made in a handler (e.g. a reference)."""
    return RequestValidationError(
        [{"type": "value_error", "loc": tuple(loc), "msg": msg, "input": value}]
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    record_rejection(request, exc.status_code, exc.detail)
    return await http_exception_handler(request, exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    summary = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errors[:5]
    )
    record_rejection(request, 422, summary)
    return await request_validation_exception_handler(request, exc)


def _plain(status: int, detail: str, suffix: str = "") -> Any:
    async def handler(request: Request, exc: Exception) -> Response:
        message = (f"{detail}: {exc}" if detail else str(exc)) + suffix
        record_rejection(request, status, message)
        return JSONResponse({"detail": message}, status_code=status)

    return handler


async def _lorawan_error(request: Request, exc: Exception) -> Response:
    record_rejection(request, 422, str(exc))
    body = {"detail": [{"type": "value_error", "loc": ["body"], "msg": str(exc), "input": None}]}
    return JSONResponse(body, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(NotFound, _plain(404, "", " not found"))
    app.add_exception_handler(AlreadyExists, _plain(409, ""))
    app.add_exception_handler(ConstraintViolation, _plain(409, ""))
    app.add_exception_handler(StaleVersion, _plain(409, "concurrent change, retry"))
    app.add_exception_handler(BusError, _plain(503, "message bus unavailable"))
    app.add_exception_handler(HubFull, _plain(503, ""))
    app.add_exception_handler(HubClosed, _plain(503, ""))
    app.add_exception_handler(LoRaWANError, _lorawan_error)
