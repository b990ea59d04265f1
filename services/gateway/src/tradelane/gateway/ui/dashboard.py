"""``/``: the dashboard, and the kill switch (halt and resume) on it.

What it shows comes from the REST routes' own functions: the trading state and limits
(``GET /api/risk``), the venue and mode and today's P&L (``GET /api/portfolio``), open
positions (``GET /api/positions``), executions (``GET /api/executions``) counted by status
since the start of the trading day, the latest signals (``GET /api/signals``), the model spend
since the start of the trading day (``GET /api/llm/usage``) against the daily budget, the dead
letters waiting (``GET /api/dlq``), and which services answer on the bus
(``GET /api/system/services``). A part whose source is unavailable (no book yet, NATS down)
says so instead of failing the page.

The services' health takes half a second (replies to a health request are gathered for that
long), so the page does not wait for it: its card asks ``/dashboard/services`` once the page
has loaded and says "checking" until the answer comes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from tradelane.contracts.envelope import utc_now
from tradelane.contracts.trading import TradingState, trading_day_start
from tradelane.gateway.book import Book
from tradelane.gateway.deps import Ledger, Lineage, State
from tradelane.gateway.routes import dlq, executions, llm, portfolio, risk, signals
from tradelane.gateway.routes.dlq import DeadLetterOut
from tradelane.gateway.routes.portfolio import PortfolioOut
from tradelane.gateway.routes.signals import SignalOut
from tradelane.gateway.ui.forms import form_values
from tradelane.gateway.ui.risk import Usage
from tradelane.gateway.ui.system import services_health
from tradelane.gateway.ui.templating import cost, money, render
from tradelane.gateway.ui.viewer import SignedIn, Viewer

router = APIRouter(include_in_schema=False)

COUNTED: Final = 500
"""Most recent executions counted for "today" (the API's page limit); more show as ``500+``."""
DEAD_LETTERS_LISTED: Final = 1000
SIGNALS_SHOWN: Final = 5


async def account(book: Book) -> PortfolioOut | None:
    """The portfolio, or None when the broker has not started once (no book yet)."""
    try:
        return await portfolio.get_portfolio(book)
    except HTTPException:
        return None


async def _dead_letters(state: State) -> list[DeadLetterOut] | None:
    """The dead letters waiting, or None when the dead-letter stream does not answer."""
    try:
        return await dlq.list_all(state, limit=DEAD_LETTERS_LISTED)
    except HTTPException:
        return None


async def _executions_today(lineage: Lineage, start: datetime) -> tuple[dict[str, int], bool]:
    """Executions started since ``start`` (the trading day's), by status; and whether there may be more."""
    today = await executions.list_executions(lineage, since=start, limit=COUNTED)
    return dict(Counter(execution.status for execution in today)), len(today) == COUNTED


async def _latest_signals(ledger: Ledger, book: Book) -> list[SignalOut]:
    """The newest signals generated or candidates rejected, of any strategy (from the signals ledger)."""
    return await signals.list_signals(ledger, book, limit=SIGNALS_SHOWN)


@dataclass(frozen=True)
class LlmSpend:
    """The model calls since the start of the trading day, and how much of the daily budget they used."""

    since: datetime
    totals: llm.UsageTotals
    budget: Usage | None
    """The spend against ``TRADELANE_LLM_DAILY_BUDGET_USD``, as a meter; None when no budget is set."""


async def _llm_spend(state: State, start: datetime) -> LlmSpend:
    usage = await llm.usage(state, since=start)
    spent, budget = usage.totals.cost, state.llm_daily_budget_usd
    used = (
        Usage("llm-budget", "Daily budget", spent, budget, f"{cost(spent)} of {money(budget)} USD")
        if budget is not None
        else None
    )
    return LlmSpend(since=start, totals=usage.totals, budget=used)


def _risk_card(
    request: Request, viewer: Viewer, risk_out: risk.RiskOut, message: str = "", *, failed: bool = False
) -> HTMLResponse:
    return render(request, "_risk.html", {"viewer": viewer, "risk": risk_out, "message": message, "failed": failed})


@router.get("/")
async def dashboard(
    request: Request, viewer: SignedIn, book: Book, state: State, lineage: Lineage, ledger: Ledger
) -> HTMLResponse:
    start = trading_day_start(utc_now())
    by_status, more = await _executions_today(lineage, start)
    context: dict[str, Any] = {
        "viewer": viewer,
        "page": "dashboard",
        "risk": await risk.get_risk(book, state),
        "portfolio": await account(book),
        "positions": await portfolio.list_positions(book),
        "executions_today": by_status,
        "more_executions": more,
        "signals": await _latest_signals(ledger, book),
        "llm_spend": await _llm_spend(state, start),
        "dead_letters": await _dead_letters(state),
        "message": "",
    }
    return render(request, "dashboard.html", context)


@router.get("/dashboard/services")
async def services_card(request: Request, state: State) -> HTMLResponse:
    """The services card's list, asked by the dashboard once it has loaded (it takes half a second)."""
    return render(request, "_services.html", {"services": await services_health(state)})


@router.post("/risk/halt")
async def halt(request: Request, viewer: SignedIn, book: Book, state: State) -> HTMLResponse:
    """The kill switch, as ``POST /api/risk/halt``: the risk card again, HALTED."""
    values = await form_values(request)
    try:
        body = risk.HaltIn(
            reason=values.get("reason") or "halted from the web UI",
            cancel_working_orders="cancel_working_orders" in values,
        )
    except ValidationError as error:
        problems = "; ".join(str(problem["msg"]) for problem in error.errors())
        return _risk_card(
            request, viewer, await risk.get_risk(book, state), f"Not halted: the reason: {problems}", failed=True
        )
    halted = await risk.halt(body, book, state)
    cancelled = f"; {len(halted.cancels)} working order(s) asked to cancel" if body.cancel_working_orders else ""
    return _risk_card(request, viewer, halted, f"Trading halted{cancelled}.")


@router.post("/risk/resume")
async def resume(request: Request, viewer: SignedIn, book: Book, state: State) -> HTMLResponse:
    """As ``POST /api/risk/resume``: back to ACTIVE or REDUCING."""
    values = await form_values(request)
    body = (
        risk.ResumeIn(state=TradingState.REDUCING, reason="resumed from the web UI (reducing only)")
        if values.get("state") == TradingState.REDUCING
        else risk.ResumeIn(state=TradingState.ACTIVE, reason="resumed from the web UI")
    )
    resumed = await risk.resume(book, state, body)
    return _risk_card(request, viewer, resumed, f"Trading is {resumed.state}.")
