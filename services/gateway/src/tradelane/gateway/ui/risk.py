"""``/risk``: the kill switch, how much of each limit the book uses, and the limits form.

The kill switch is the dashboard's own card and actions (``_risk.html``, ``POST /risk/halt``
and ``/risk/resume`` in :mod:`.dashboard`). Usage and limits come from ``GET /api/risk``, and
the form saves through ``PUT /api/risk/limits``'s function, so a limit above its hard ceiling
is refused at its field with the API's message and nothing is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from tradelane.contracts.ceilings import LIMIT_CEILINGS
from tradelane.contracts.trading import TradingLimits
from tradelane.gateway.book import Book
from tradelane.gateway.deps import State
from tradelane.gateway.routes import risk as api
from tradelane.gateway.ui.forms import field_errors, form_values, nested
from tradelane.gateway.ui.templating import money, render
from tradelane.gateway.ui.viewer import SignedIn, Viewer

router = APIRouter(include_in_schema=False)

CHECKBOXES: Final = ("enforce_trading_hours",)
LIMIT_FIELDS: Final = tuple(TradingLimits.model_fields)
LABELS: Final = {
    "risk_per_trade": "Risk per trade (fraction of equity)",
    "max_position_notional": "Largest position",
    "max_open_positions": "Open positions",
    "max_gross_exposure": "Gross exposure",
    "daily_loss_limit": "Daily loss limit",
    "min_risk_reward": "Minimum reward/risk",
    "max_order_quantity": "Largest order quantity",
    "enforce_trading_hours": "Refuse orders outside the exchange's hours",
}


@dataclass(frozen=True)
class Usage:
    """One limit's use, as a meter shows it."""

    key: str
    label: str
    used: Decimal
    limit: Decimal
    text: str

    @property
    def high(self) -> Decimal:
        """From here on the meter shows a warning colour."""
        return self.limit * Decimal("0.8")

    @property
    def percent(self) -> str:
        return f"{self.used / self.limit * 100:.0f} %" if self.limit else "—"


def usage_of(risk: api.RiskOut) -> list[Usage]:
    """The limits with a measurable use now: today's loss, exposure, positions, the largest position."""
    usage = risk.usage
    loss = max(Decimal(0), -(usage.daily_pnl or Decimal(0)))
    exposure = usage.gross_exposure or Decimal(0)
    positions, most = Decimal(usage.open_positions), Decimal(usage.max_open_positions)
    largest = usage.largest_position_notional
    return [
        Usage(
            "daily-loss",
            "Today's loss",
            loss,
            usage.daily_loss_limit,
            f"{money(loss)} of {money(usage.daily_loss_limit)}",
        ),
        Usage(
            "gross-exposure",
            "Gross exposure",
            exposure,
            usage.max_gross_exposure,
            f"{money(exposure)} of {money(usage.max_gross_exposure)}",
        ),
        Usage(
            "open-positions", "Open positions", positions, most, f"{usage.open_positions} of {usage.max_open_positions}"
        ),
        Usage(
            "largest-position",
            "Largest position",
            largest,
            usage.max_position_notional,
            f"{money(largest)} of {money(usage.max_position_notional)}",
        ),
    ]


def _limit_values(limits: TradingLimits) -> dict[str, str]:
    return {name: str(value) for name, value in limits.model_dump().items() if name not in CHECKBOXES}


def _form(
    risk: api.RiskOut, values: dict[str, str], checked: dict[str, bool], errors: dict[str, str]
) -> dict[str, Any]:
    ceilings = {field: getattr(risk.ceilings, ceiling) for field, ceiling in LIMIT_CEILINGS.items()}
    return {
        "risk": risk,
        "usage": usage_of(risk),
        "values": values,
        "checked": checked,
        "errors": errors,
        "labels": LABELS,
        "ceilings": ceilings,
        "limit_fields": [name for name in LIMIT_FIELDS if name not in CHECKBOXES],
    }


def _stored_form(risk: api.RiskOut) -> dict[str, Any]:
    checked = {name: bool(getattr(risk.limits, name)) for name in CHECKBOXES}
    return _form(risk, _limit_values(risk.limits), checked, {})


@router.get("/risk")
async def risk_page(request: Request, viewer: SignedIn, book: Book, state: State) -> HTMLResponse:
    risk = await api.get_risk(book, state)
    context = {"viewer": viewer, "page": "risk", "message": "", "saved": "", **_stored_form(risk)}
    return render(request, "risk.html", context)


def _limits(request: Request, viewer: Viewer, context: dict[str, Any], saved: str = "") -> HTMLResponse:
    return render(request, "_limits_saved.html", {"viewer": viewer, "saved": saved, **context})


@router.put("/risk/limits")
async def put_limits(request: Request, viewer: SignedIn, book: Book, state: State) -> HTMLResponse:
    """Replace the limits from the form; the form again with the API's errors at their fields, or saved."""
    values = await form_values(request)
    body = nested(values, checkboxes=CHECKBOXES, required=LIMIT_FIELDS)
    try:
        saved = await api.put_limits(TradingLimits.model_validate(body), book, state)
    except (ValidationError, RequestValidationError) as error:
        checked = {name: name in values for name in CHECKBOXES}
        current = await api.get_risk(book, state)
        return _limits(request, viewer, _form(current, values, checked, field_errors(error.errors(), LIMIT_FIELDS)))
    return _limits(
        request, viewer, _stored_form(saved), "Limits saved; the broker checks every later order against them."
    )
