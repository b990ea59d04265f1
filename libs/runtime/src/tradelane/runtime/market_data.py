"""market-data's answers on request, over NATS: an instrument resolved, and its bars between two times.

The signals ledger asks for the bars that followed a signal; the backtester resolves a strategy's
instrument and asks for the bars of a backtest's period. A window longer than one request may hold
is asked for in consecutive parts. market-data's provider answers (the simulator, or IB with its
pacing, which may hold a request back).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import nats.errors
from nats.aio.client import Client as NatsClient

from tradelane.contracts import subjects
from tradelane.contracts.envelope import Contract
from tradelane.contracts.history import BarsReply, BarsRequest, ResolveReply, ResolveRequest
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import MAX_BARS, BarSize, SymbolRef
from tradelane.contracts.symbols import SymbolServiceError


class MarketDataUnavailableError(Exception):
    """market-data could not answer now (none runs, it timed out, or its provider is unreachable): ask later."""


class MarketDataRefusedError(Exception):
    """market-data answered that this cannot be had (an unknown instrument, a request the provider refused)."""


class MarketData:
    """Asks market-data for instruments and bars, one request per part of a window of at most ``bars_per_request``."""

    def __init__(self, client: NatsClient, timeout_seconds: float, bars_per_request: int = MAX_BARS) -> None:
        if not 1 <= bars_per_request <= MAX_BARS:
            msg = f"bars_per_request must be between 1 and {MAX_BARS}, not {bars_per_request}"
            raise ValueError(msg)
        self._client = client
        self._timeout = timeout_seconds
        self._bars_per_request = bars_per_request

    async def resolve(self, symbol: SymbolRef) -> ResolvedSymbol:
        """The instrument ``symbol`` names, as the pipeline's market-data step resolves it."""
        reply = ResolveReply.model_validate_json(
            await self._ask(subjects.MARKET_DATA_RESOLVE, ResolveRequest(symbol=symbol))
        )
        if reply.symbol is None:
            raise _refusal(reply.error, f"market-data resolved no instrument for {symbol.symbol}")
        return reply.symbol

    async def between(
        self,
        symbol: ResolvedSymbol,
        bar_size: BarSize,
        start: datetime,
        end: datetime,
        *,
        use_rth: bool,
        what_to_show: str,
    ) -> list[Bar]:
        """The bars starting at or after ``start`` and before ``end``, oldest first."""
        part = timedelta(seconds=bar_size.seconds * self._bars_per_request)
        bars: list[Bar] = []
        while start < end:
            until = min(end, start + part)
            request = BarsRequest.model_validate(
                {
                    "symbol": symbol,
                    "bar_size": bar_size,
                    "start": start,
                    "end": until,
                    "use_rth": use_rth,
                    "what_to_show": what_to_show,
                }
            )
            reply = BarsReply.model_validate_json(await self._ask(subjects.MARKET_DATA_BARS, request))
            if reply.error is not None:
                raise _refusal(reply.error, "")
            bars.extend(reply.bars)
            start = until
        return bars

    async def _ask(self, subject: str, request: Contract) -> bytes:
        try:
            message = await self._client.request(
                subject,
                request.model_dump_json().encode(),
                timeout=self._timeout,
                headers={"content-type": "application/json"},
            )
        except nats.errors.NoRespondersError as error:
            msg = f"no market-data service runs to answer {subject}"
            raise MarketDataUnavailableError(msg) from error
        except nats.errors.TimeoutError as error:
            msg = f"market-data did not answer {subject} within {self._timeout:g} s"
            raise MarketDataUnavailableError(msg) from error
        return message.data


def _refusal(error: SymbolServiceError | None, otherwise: str) -> Exception:
    """The exception for market-data's ``error``: try later when it is unavailable, else a refusal."""
    if error is None:
        return MarketDataRefusedError(otherwise)
    if error.kind == "unavailable":
        return MarketDataUnavailableError(error.message)
    return MarketDataRefusedError(f"{error.kind}: {error.message}")
