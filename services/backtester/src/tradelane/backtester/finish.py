"""A backtest's result, once every decision of every variant is done or failed (and its cost recorded).

The runner calls :func:`finish` once per backtest whose decisions are all answered. It reads the decisions'
signals (``backtests.outcomes``), asks market-data for the period's bars at the strategy's bar size, reads
the risk limits the broker trades under now, and lets :func:`tradelane.backtester.results.finish` simulate,
measure, compare and report; ``backtests.store_result`` stores it and marks the backtest completed. An
exception fails the backtest with its message, but a transient one (PostgreSQL, NATS or market-data out of
reach), after which the runner calls it again.
"""

from __future__ import annotations

from uuid import UUID

import structlog
from nats.js.errors import ObjectNotFoundError

from tradelane.backtester import results
from tradelane.backtester.variants import first_variant
from tradelane.contracts import subjects
from tradelane.contracts.envelope import utc_now
from tradelane.contracts.strategy import StrategyDefinition
from tradelane.runtime.bus import EventBus
from tradelane.runtime.market_data import MarketData
from tradelane.store.backtests import BacktestRepository
from tradelane.store.book.reads import BookReads
from tradelane.trading.risk import Guardrails

log = structlog.get_logger(__name__)

CHART_BUCKETS = (subjects.CHART_BUCKET, subjects.KEPT_CHART_BUCKET)
"""Where a decision's chart PNG may still be: the chart step's bucket (it expires), or the ledger's copy."""


class ChartLoader:
    """The PNG a decision's analyst was shown, from the object stores, or None once neither keeps it."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus

    async def __call__(self, sha256: str) -> bytes | None:
        for bucket in CHART_BUCKETS:
            try:
                return await self._bus.read_object(bucket, sha256)
            except ObjectNotFoundError:
                continue
        return None


async def finish(
    backtest_id: UUID,
    *,
    backtests: BacktestRepository,
    market: MarketData,
    book: BookReads,
    charts: results.ChartLoader,
    guards: Guardrails,
) -> None:
    """Simulate, measure, report and store the result of ``backtest_id`` (see the module docstring)."""
    summary = await backtests.summary(backtest_id)
    stored = await backtests.strategies(backtest_id)
    if summary is None or stored is None:
        return
    strategies = {name: StrategyDefinition.model_validate(definition) for name, definition in stored.items()}
    strategy = strategies[first_variant(summary.request)]
    instrument = await market.resolve(strategy.symbol)
    bars = await market.between(
        instrument,
        strategy.bar_size,
        summary.request.start,
        summary.request.end,
        use_rth=strategy.use_rth,
        what_to_show=strategy.what_to_show,
    )
    finished = await results.finish(
        summary.model_copy(update={"status": "completed", "finished_at": utc_now()}),  # what the report shows
        strategies,
        await backtests.outcomes(backtest_id),
        await backtests.decisions(backtest_id),
        instrument=instrument,
        bars=bars,
        limits=(await book.risk()).limits,
        guards=guards,
        chart=charts,
    )
    await backtests.store_result(backtest_id, finished.result, finished.report_html)
    log.info("backtest_completed", backtest_id=str(backtest_id), variants=len(finished.result.variants))
