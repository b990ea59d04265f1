"""The bars that followed a signal, asked of market-data over NATS (``tradelane.market_data.bars``).

A window longer than one request may hold is asked for in consecutive parts. market-data's
provider answers (the simulator, or IB with its pacing, which may hold a request back).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import nats.errors
from nats.aio.client import Client as NatsClient

from tradelane.contracts import subjects
from tradelane.contracts.history import BarsReply, BarsRequest
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import MAX_BARS, BarSize


class BarsUnavailableError(Exception):
    """market-data could not answer now (none runs, it timed out, or its provider is unreachable): ask later."""


class BarsRefusedError(Exception):
    """market-data answered that these bars cannot be had (an unknown instrument, a request the provider refused)."""


class MarketDataBars:
    """Asks market-data for bars, one request per part of a window."""

    def __init__(self, client: NatsClient, timeout_seconds: float) -> None:
        self._client = client
        self._timeout = timeout_seconds

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
        part = timedelta(seconds=bar_size.seconds * MAX_BARS)
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
            bars.extend(await self._ask(request))
            start = until
        return bars

    async def _ask(self, request: BarsRequest) -> tuple[Bar, ...]:
        try:
            message = await self._client.request(
                subjects.MARKET_DATA_BARS,
                request.model_dump_json().encode(),
                timeout=self._timeout,
                headers={"content-type": "application/json"},
            )
        except nats.errors.NoRespondersError as error:
            msg = "no market-data service runs to answer for bars"
            raise BarsUnavailableError(msg) from error
        except nats.errors.TimeoutError as error:
            msg = f"market-data did not answer for bars within {self._timeout:g} s"
            raise BarsUnavailableError(msg) from error
        reply = BarsReply.model_validate_json(message.data)
        if reply.error is None:
            return reply.bars
        if reply.error.kind == "unavailable":
            raise BarsUnavailableError(reply.error.message)
        raise BarsRefusedError(f"{reply.error.kind}: {reply.error.message}")
