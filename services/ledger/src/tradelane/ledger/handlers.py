"""Thin handlers: a signal event in, one ledger row out (a redelivery adds nothing)."""

from __future__ import annotations

from typing import Any

import structlog

from tradelane.contracts import subjects
from tradelane.contracts.events import SignalGenerated, SignalRejected
from tradelane.ledger.judging import first_check_at
from tradelane.ledger.kept_charts import ChartKeeper
from tradelane.ledger.recording import ledger_signal
from tradelane.runtime.errors import PermanentStepError
from tradelane.store.ledger import LedgerRepository
from tradelane.store.strategies import StrategyRepository

log = structlog.get_logger(__name__)


class SignalRecorder:
    """Writes each signal to the ledger with the version of the stored strategy that made it, and keeps its chart."""

    def __init__(self, ledger: LedgerRepository, strategies: StrategyRepository, charts: ChartKeeper) -> None:
        self._ledger = ledger
        self._strategies = strategies
        self._charts = charts

    async def on_signal(self, subject: str, body: dict[str, Any]) -> None:
        """Record the signal event ``body`` published on ``subject`` (Postgres errors propagate and are retried).

        A backtest's signal is not recorded: the ledger judges live performance, and a backtest reports its own.
        Backtests publish their signals on subjects of their own, which the ledger's consumer does not match; the
        check stays for one published on the live subject all the same (an older signals service, a hand-published
        message), so that it never counts among the live signals' outcomes.
        """
        contract = subjects.event_type_for(subject)
        if contract not in {SignalGenerated, SignalRejected}:
            msg = f"{subject!r} carries no signal the ledger knows"
            raise PermanentStepError(msg)
        event = contract.model_validate(body)
        assert isinstance(event, SignalGenerated | SignalRejected)
        if event.backtest is not None:
            log.debug("backtest_signal_not_recorded", signal_id=str(event.message_id))
            return
        stored = await self._strategies.get(event.strategy_id)
        # the version is known only while the stored definition is still the one that ran
        version = stored.version if stored is not None and stored.definition == event.strategy else None
        row = ledger_signal(event, version)
        inserted = await self._ledger.record_signal(row, first_check_at(row))
        log.debug("signal_recorded" if inserted else "signal_already_recorded", signal_id=str(event.message_id))
        # also on a redelivery: a copy that failed (NATS unreachable) is made when the signal comes back
        if event.provenance is not None and event.provenance.chart_sha256 is not None:
            await self._charts.keep(event.provenance.chart_sha256)
