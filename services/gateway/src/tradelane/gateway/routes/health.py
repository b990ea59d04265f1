"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse, Response

from tradelane.gateway.deps import State
from tradelane.gateway.readiness import nats_problem, postgres_problem
from tradelane.gateway.schemas import Health, Readiness
from tradelane.runtime.metrics import METRICS_CONTENT_TYPE, render_metrics

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> Health:
    """The process is up and serving HTTP."""
    return Health()


@router.get(
    "/readyz",
    summary="Readiness",
    response_model=Readiness,
    responses={status.HTTP_503_SERVICE_UNAVAILABLE: {"model": Readiness}},
)
async def readyz(state: State) -> JSONResponse:
    """200 when Postgres answers and NATS is connected; 503 naming what is not."""
    postgres = await postgres_problem(state.pool)
    nats = nats_problem(state.broker.connection)
    ready = postgres is None and nats is None
    body = Readiness(status="ready" if ready else "unavailable", postgres=postgres or "ok", nats=nats or "ok")
    return JSONResponse(
        body.model_dump(),
        status_code=status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE,
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response, include_in_schema=False)
async def metrics() -> Response:
    """The gateway process's metrics in the Prometheus text format."""
    return Response(render_metrics(), media_type=METRICS_CONTENT_TYPE)
