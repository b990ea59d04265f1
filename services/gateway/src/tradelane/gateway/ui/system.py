"""``/system``: the services' health, the streams and consumer lag, model usage and cost by model, and the
notifier's settings.

Each part comes from a REST route's own function (``GET /api/system/services``,
``GET /api/system/streams``, ``GET /api/llm/usage``, ``GET /api/system/notifications``), asked
at once; a part whose source does not answer (NATS down, no notifier running) says so instead
of failing the page. The dashboard's services card uses :func:`services_health` too.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from tradelane.contracts.notifications import NotificationKind, NotificationSettings
from tradelane.gateway.deps import State
from tradelane.gateway.routes import llm, system
from tradelane.gateway.routes.system import ServicesOut, StreamOut
from tradelane.gateway.ui.templating import render
from tradelane.gateway.ui.viewer import SignedIn

router = APIRouter(include_in_schema=False)

NOTIFICATION_KINDS: Final = {
    NotificationKind.SIGNAL: "BUY and SELL signals",
    NotificationKind.ORDER: "orders submitted, cancelled or rejected",
    NotificationKind.FILL: "fills",
    NotificationKind.EXECUTION_FAILED: "executions a step gave up on",
    NotificationKind.HALT: "trading halted, reducing or resumed",
    NotificationKind.LLM_BUDGET: "the LLM budget reaching 50, 80 and 100 %",
}
"""Every kind of notification, as the system page describes it."""


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


@dataclass(frozen=True)
class Notifier:
    """The notifier's settings, or why they are not known (no notifier answered)."""

    settings: NotificationSettings | None
    problem: str = ""

    @property
    def max_age(self) -> str:
        """How old an event may be and still be sent, in the largest whole unit: ``1 h``, ``90 min``, ``45 s``."""
        seconds = self.settings.max_age_seconds if self.settings else 0
        for unit, size in (("h", 3600), ("min", 60)):
            if seconds >= size and seconds % size == 0:
                return f"{seconds / size:g} {unit}"
        return f"{seconds:g} s"


async def _notifier(state: State) -> Notifier:
    try:
        return Notifier(await system.notifications(state))
    except HTTPException as error:
        return Notifier(None, str(error.detail))


@router.get("/system")
async def system_page(request: Request, viewer: SignedIn, state: State) -> HTMLResponse:
    services, streams, usage, notifier = await asyncio.gather(
        services_health(state), _streams(state), llm.usage(state), _notifier(state)
    )
    return render(
        request,
        "system.html",
        {
            "viewer": viewer,
            "page": "system",
            "services": services,
            "streams": streams,
            "usage": usage,
            "models": by_model(usage),
            "notifier": notifier,
            "notification_kinds": NOTIFICATION_KINDS,
        },
    )
