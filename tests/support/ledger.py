"""Rows of the signals ledger as the ledger service writes them, for tests of what reads them (gateway, CLI).

``ledger_signal(...)`` is an AAPL BUY at 190.5 with its stop at 185 (a risk of 5.5) and its first
target at 199, confidence 70, made by the offline analyst a day after its daily bar;
``ledger_outcome(signal_id, r=2)`` an outcome of it worth ``r`` R.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from tradelane.contracts.outcomes import OutcomeSource
from tradelane.store.ledger import LedgerOutcome, LedgerSignal

ANALYSIS: dict[str, Any] = {"bias": "bullish", "trend": "uptrend", "confidence": 70, "model": "offline"}


def _signal(action: str, symbol: str, expires_at: datetime) -> dict[str, Any]:
    return {
        "action": action,
        "confidence": 70,
        "symbol": {"conid": 265598, "symbol": symbol, "exchange": "NASDAQ", "currency": "USD", "asset_type": "STK"},
        "entry": "190.5",
        "stop": "185",
        "targets": ["199"],
        "expires_at": expires_at.isoformat(),
        "model": "offline",
    }


def ledger_signal(
    *,
    action: str = "BUY",
    rejected: bool = False,
    strategy_id: UUID | None = None,
    occurred_at: datetime | None = None,
    symbol: str = "AAPL",
    model: str = "offline",
    prompt: tuple[UUID, int] | None = None,
    execution_id: UUID | None = None,
) -> LedgerSignal:
    """A signal (or, ``rejected``, a candidate a rule refused); ``prompt``: its template id and version (an LLM's)."""
    at = occurred_at or datetime.now(UTC)
    return LedgerSignal(
        signal_id=uuid4(),
        execution_id=execution_id or uuid4(),
        strategy_id=strategy_id or uuid4(),
        strategy_name="AAPL daily",
        strategy_version=2,
        replay_of=None,
        status="rejected" if rejected else "generated",
        rule="min_risk_reward" if rejected else None,
        reason="R 0.8 is below 1.5" if rejected else None,
        action=action,
        confidence=70,
        symbol=symbol,
        conid=265598,
        entry=Decimal("190.5"),
        stop=Decimal(185),
        first_target=Decimal(199),
        expires_at=at + timedelta(hours=24),
        signal=_signal(action, symbol, at + timedelta(hours=24)),
        analysis=ANALYSIS,
        analyst="llm" if prompt else "offline",
        model=model,
        llm_provider=None,
        prompt_template_id=prompt[0] if prompt else None,
        prompt_name="swing" if prompt else None,
        prompt_version=prompt[1] if prompt else None,
        chart_sha256="c" * 64,
        tokens_in=1200,
        tokens_out=300,
        cost=Decimal("0.0042"),
        reference_price=Decimal("190.4"),
        reference_bar_time=at - timedelta(days=1),
        bar_size="1 day",
        atr=Decimal("2.5"),
        use_rth=True,
        what_to_show="TRADES",
        occurred_at=at,
    )


def ledger_outcome(
    signal_id: UUID, *, r: int | str, source: OutcomeSource = "shadow", pnl: Decimal | None = None
) -> LedgerOutcome:
    """An outcome of ``signal_id`` worth ``r`` R (a manual one's kind is 'manual', others' 'target' or 'stop')."""
    r_multiple = Decimal(r)
    kind = "manual" if source == "manual" else "target" if r_multiple > 0 else "stop"
    return LedgerOutcome(
        signal_id=signal_id,
        source=source,
        message_id=uuid4(),
        kind=kind,
        hit=r_multiple > 0,
        exit_price=Decimal("190.5") + r_multiple * Decimal("5.5"),
        exit_at=datetime.now(UTC) - timedelta(minutes=1),
        r_multiple=r_multiple,
        mfe_r=None,
        mae_r=None,
        pnl=pnl,
        fees=None,
        quantity=None,
        bars=0,
        note="",
        recorded_by="test" if source == "manual" else None,
        occurred_at=datetime.now(UTC),
    )
