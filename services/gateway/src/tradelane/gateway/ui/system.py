"""``/system``: the services' health, the streams and consumer lag, and model usage and cost by model.

Each part comes from a REST route's own function (``GET /api/system/services``,
``GET /api/system/streams``, ``GET /api/llm/usage``); a part whose source does not answer
(NATS down) says so instead of failing the page. The dashboard's services card uses
:func:`services_health` too.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from tradelane.gateway.deps import State
from tradelane.gateway.routes import llm, system
from tradelane.gateway.routes.system import ServicesOut, StreamOut
from tradelane.gateway.ui.templating import render
from tradelane.gateway.ui.viewer import SignedIn

router = APIRouter(include_in_schema=False)


async def services_health(state: State) -> ServicesOut | None:
    """The services' health reports, or None when NATS does not answer."""
    try:
        return await system.services(state)
    except HTTPException:
        return None


async def _streams(state: State) -> list[StreamOut] | None:
    try:
        return await system.streams(state)
    except HTTPException:
        return None


@dataclass
class ModelUsage:
    """One model's calls, tokens and estimated cost over the usage window (all strategies, all days)."""

    model: str
    calls: int = 0
    cached_calls: int = 0
    failed_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: Decimal = field(default_factory=Decimal)
    unpriced_calls: int = 0


def by_model(usage: llm.UsageOut) -> list[ModelUsage]:
    """The usage rows (per day, strategy and model) added up per model, the costliest first."""
    models: dict[str, ModelUsage] = defaultdict(lambda: ModelUsage(model=""))
    for row in usage.rows:
        total = models[row.model]
        total.model = row.model
        total.calls += row.calls
        total.cached_calls += row.cached_calls
        total.failed_calls += row.failed_calls
        total.tokens_in += row.tokens_in
        total.tokens_out += row.tokens_out
        total.cost += row.cost
        total.unpriced_calls += row.unpriced_calls
    return sorted(models.values(), key=lambda total: (-total.cost, total.model))


@router.get("/system")
async def system_page(request: Request, viewer: SignedIn, state: State) -> HTMLResponse:
    usage = await llm.usage(state)
    return render(
        request,
        "system.html",
        {
            "viewer": viewer,
            "page": "system",
            "services": await services_health(state),
            "streams": await _streams(state),
            "usage": usage,
            "models": by_model(usage),
        },
    )
