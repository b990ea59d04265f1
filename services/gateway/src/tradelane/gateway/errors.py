"""4xx answers that say what to change."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import HTTPException, Request, status
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from tradelane.cron import cron_problem
from tradelane.gateway.schemas import ErrorOut
from tradelane.runtime.redaction import redact
from tradelane.store.lineage_retention import DetailPrunedError

NOT_FOUND: dict[int | str, dict[str, object]] = {status.HTTP_404_NOT_FOUND: {"model": ErrorOut}}
CONFLICT: dict[int | str, dict[str, object]] = {status.HTTP_409_CONFLICT: {"model": ErrorOut}}
GONE: dict[int | str, dict[str, object]] = {status.HTTP_410_GONE: {"model": ErrorOut}}
BUS_UNAVAILABLE: dict[int | str, dict[str, object]] = {status.HTTP_503_SERVICE_UNAVAILABLE: {"model": ErrorOut}}


def strategy_not_found(strategy_id: UUID) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"no strategy with id {strategy_id}; list the strategies with GET /api/strategies",
    )


def execution_not_found(execution_id: UUID) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"no execution with id {execution_id}; list recent executions with GET /api/executions",
    )


def detail_pruned(error: DetailPrunedError, detail_days: float) -> HTTPException:
    """410 for a step message the lineage pruned: when, after how long, and where its summary still is."""
    return HTTPException(
        status.HTTP_410_GONE,
        f"the {error.what} of execution {error.execution_id} was pruned on {error.pruned_at:%Y-%m-%d}: the "
        f"lineage keeps step messages in full for {detail_days:g} days (TRADELANE_LINEAGE_DETAIL_DAYS); its "
        f"summary is still in the steps of GET /api/executions/{error.execution_id}",
    )


def ensure_valid_cron(expression: str) -> None:
    """Raise a 422 at ``body.schedule.cron``, in FastAPI's validation error shape, for a bad cron."""
    problem = cron_problem(expression)
    if problem is not None:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", "schedule", "cron"), "msg": problem, "input": expression}]
        )


def ensure_valid_window(since: datetime | None, until: datetime | None) -> None:
    """Raise a 422 at ``query.since``, in FastAPI's validation error shape, for a window that ends before it starts."""
    if since is not None and until is not None and since >= until:
        message = f"since ({since.isoformat()}) must be before until ({until.isoformat()})"
        problem = {"type": "value_error", "loc": ("query", "since"), "msg": message, "input": None}
        raise RequestValidationError([problem])


def without_knock_on_errors(errors: Sequence[Any]) -> list[Any]:
    """``errors`` minus a list's ``too_short`` that only follows from its own items failing.

    Pydantic drops invalid items before checking a list's length, so one bad indicator also
    yields "indicators: should have at least 1 item", which would send the user the wrong way.
    """
    locs = [tuple(error["loc"]) for error in errors]

    def knock_on(error: Any) -> bool:
        loc = tuple(error["loc"])
        nested = (other for other in locs if len(other) > len(loc))
        return error["type"] == "too_short" and any(other[: len(loc)] == loc for other in nested)

    return [error for error in errors if not knock_on(error)]


_NON_FINITE_NAMES: dict[str, str] = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by its JSON-literal name (``"NaN"``, ``"Infinity"``).

    A 422 quotes the input it refuses, and the refused input can be a NaN the request's JSON
    held as a literal; the response's strict JSON has no such number, so echoing it as is
    would turn the 422 into a 500.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return _NON_FINITE_NAMES[repr(value)]
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


async def validation_error_handler(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 answer, with only the errors that point at what to change, in strict JSON."""
    assert isinstance(error, RequestValidationError)
    errors = [json_safe(found) for found in without_knock_on_errors(error.errors())]
    cleaned = RequestValidationError(errors, body=error.body)
    return await request_validation_exception_handler(request, cleaned)


async def redacted_http_error_handler(request: Request, error: Exception) -> Response:
    """FastAPI's answer to an ``HTTPException``, its message redacted.

    Messages quote what went wrong downstream (a service's reason, a driver's error); a
    password or API key one of them carries never reaches a client.
    """
    assert isinstance(error, StarletteHTTPException)
    detail = redact(error.detail) if isinstance(error.detail, str) else error.detail
    return await http_exception_handler(
        request, StarletteHTTPException(error.status_code, detail, headers=error.headers)
    )
