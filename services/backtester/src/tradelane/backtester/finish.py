"""A backtest's result, once every decision of every variant is done or failed.

The runner calls :func:`finish` once per backtest whose decisions are all answered. It is to simulate
each variant's trades from its decisions' signals (``backtests.outcomes``) on the period's bars, measure
them beside buy-and-hold and the offline baseline, compare two variants, write the report, and store
all of it with ``backtests.store_result`` (which alone marks the backtest completed). An exception it
raises fails the backtest with its message, but a transient one (PostgreSQL, NATS or market-data out of
reach), after which the runner calls it again.
"""

from __future__ import annotations

from uuid import UUID

from tradelane.runtime.market_data import MarketData
from tradelane.store.backtests import BacktestRepository


async def finish(backtest_id: UUID, *, backtests: BacktestRepository, market: MarketData) -> None:
    """Simulate, measure, report and store the result of ``backtest_id`` (see the module docstring)."""
    raise NotImplementedError("simulation and report: integrated by the lead")
