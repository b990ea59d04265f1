"""The IB market-data provider: contracts, symbol search and historical bars through ``ib_async``.

Market-data uses it as its ``MarketDataProvider`` when ``TRADELANE_MARKET_DATA_PROVIDER=ib``;
it lives here, in the one IB adapter, because it is where IB's requests are made.

Every request goes through the shared :class:`PacingLimiter`, on the one connection
:class:`IbConnection` keeps up. IB's answers become tradelane's three outcomes: a result,
a permanent refusal (``SymbolNotFoundError`` / ``ProviderRequestError``, carrying IB's code
and text), or "unavailable, retry later" (``ProviderUnavailableError``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

import structlog
from ib_async import Contract, ContractDetails, RequestError
from ib_async.util import formatIBDatetime

from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import BarSize, SymbolRef, WhatToShow
from tradelane.contracts.symbols import IbStatus, PacingStatus, SymbolDetails, SymbolSummary
from tradelane.ib import parsing as ib_parsing
from tradelane.ib.codes import (
    NO_SECURITY_DEFINITION_CODES,
    Decision,
    decide,
    is_no_data,
    is_pacing_violation,
)
from tradelane.ib.connection import IbConnection
from tradelane.ib.errors import ProviderRequestError, ProviderUnavailableError, SymbolNotFoundError
from tradelane.ib.pacing import HistoricalRequest, PacingDelayError, PacingLimiter

log = structlog.get_logger(__name__)

T = TypeVar("T")

PACING_VIOLATION_RETRIES = 2
"""Retries of one historical request after IB reports a pacing violation, before the step is nak'ed."""


def _utc_today() -> date:
    return datetime.now(UTC).date()


class IbProvider:
    """A market-data provider over one IB connection and one pacing limiter."""

    name = "ib"

    def __init__(
        self,
        connection: IbConnection,
        limiter: PacingLimiter,
        *,
        request_timeout: float = 10.0,
        historical_timeout: float = 60.0,
        today: Callable[[], date] = _utc_today,
    ) -> None:
        self._connection = connection
        self._limiter = limiter
        self._request_timeout = request_timeout
        self._historical_timeout = historical_timeout
        self._today = today

    async def resolve(self, ref: SymbolRef) -> ResolvedSymbol:
        """The contract ``ref`` names: by conid, or by symbol, type, exchange and currency (see ``ib_parsing``)."""
        asked = ib_parsing.describe_ref(ref)
        candidates = await self._contract_details(ib_parsing.contract_for(ref), asked)
        chosen = ib_parsing.choose_details(ref, candidates, self._today())
        return ib_parsing.details_model(chosen).resolved()

    async def details(self, conid: int) -> SymbolDetails:
        """The contract with ``conid``."""
        candidates = await self._contract_details(Contract(conId=conid), f"conid {conid}")
        if not candidates:
            msg = f"IB has no contract with conid {conid}"
            raise SymbolNotFoundError(msg)
        return ib_parsing.details_model(candidates[0])

    async def search(self, text: str, limit: int = 10) -> tuple[SymbolSummary, ...]:
        """IB's matching symbols (``reqMatchingSymbols``) for ``text``, in IB's order."""
        what = f"symbol search for {text!r}"
        found = await self._ask(what, lambda: self._connection.client().reqMatchingSymbolsAsync(text))
        if found is None:
            msg = f"IB did not answer the {what} in time"
            raise ProviderUnavailableError(msg, retry_after=self._request_timeout)
        return ib_parsing.summaries(found)[: max(limit, 0)]

    async def bars(
        self,
        symbol: ResolvedSymbol,
        bar_size: BarSize,
        duration: str,
        end: datetime,
        *,
        use_rth: bool = True,
        what_to_show: WhatToShow = "TRADES",
    ) -> tuple[Bar, ...]:
        """Historical bars (``reqHistoricalData``) ending at ``end``, oldest first.

        A pacing violation pauses every historical request for the limiter's window and
        retries this one; IB's "query returned no data" is an empty answer.
        """
        if end.tzinfo is None:
            msg = f"end must be an aware datetime, got naive {end.isoformat()}"
            raise ValueError(msg)
        contract = Contract(conId=symbol.conid, exchange=symbol.exchange)
        shown = ib_parsing.what_to_show_for(symbol.asset_type, what_to_show)
        request = HistoricalRequest(
            conid=symbol.conid,
            exchange=symbol.exchange,
            what_to_show=shown,
            bar_size=bar_size.value,
            duration=duration,
            end=formatIBDatetime(end),
            use_rth=use_rth,
        )
        what = f"{request.describe()} ({symbol.symbol})"
        for attempt in range(PACING_VIOLATION_RETRIES + 1):
            try:
                async with self._limiter.historical(request):
                    ib = self._connection.client()
                    started = time.monotonic()
                    received = await ib.reqHistoricalDataAsync(
                        contract,
                        endDateTime=end,
                        durationStr=duration,
                        barSizeSetting=bar_size.value,
                        whatToShow=shown,
                        useRTH=use_rth,
                        formatDate=2,
                        timeout=self._historical_timeout,
                    )
            except ProviderUnavailableError:
                raise
            except PacingDelayError as error:
                raise ProviderUnavailableError(str(error), retry_after=error.retry_after) from error
            except RequestError as error:
                if is_pacing_violation(error.code, error.message):
                    log.warning("ib_pacing_violation", request=what, attempt=attempt + 1, text=error.message)
                    self._limiter.pause()
                    continue
                if is_no_data(error.code, error.message):
                    return ()
                raise self._refused(error, what) from error
            except ConnectionError as error:
                raise self._lost(error, what) from error
            if not received and time.monotonic() - started >= self._historical_timeout:
                msg = f"IB did not answer the request for {what} within {self._historical_timeout:g} s"
                raise ProviderUnavailableError(msg, retry_after=self._limiter.rules.identical_gap)
            return ib_parsing.bars_from_ib(list(received))
        msg = f"IB kept reporting pacing violations for {what}; retrying later"
        raise ProviderUnavailableError(msg, retry_after=self._limiter.rules.violation_pause)

    def status(self) -> IbStatus:
        """The connection's state, with the pacing limiter's."""
        paused = self._limiter.paused_for()
        return self._connection.status(
            PacingStatus(
                in_flight=self._limiter.in_flight,
                waiting=self._limiter.waiting,
                historical_in_window=self._limiter.historical_in_window(),
                paused_until=datetime.now(UTC) + timedelta(seconds=paused) if paused else None,
            )
        )

    async def _contract_details(self, contract: Contract, asked: str) -> list[ContractDetails]:
        def request() -> Awaitable[list[ContractDetails]]:
            return self._connection.client().reqContractDetailsAsync(contract)

        try:
            return list(await self._ask(f"contract details of {asked}", request))
        except SymbolNotFoundError as error:
            msg = f"IB has no contract for {asked}: {error}"
            raise SymbolNotFoundError(msg, code=error.code) from error

    async def _ask(self, what: str, send: Callable[[], Awaitable[T]]) -> T:
        """Send one non-historical request through the limiter and map IB's failures."""
        try:
            async with self._limiter.request(what):
                async with asyncio.timeout(self._request_timeout):
                    return await send()
        except ProviderUnavailableError:
            raise
        except PacingDelayError as error:
            raise ProviderUnavailableError(str(error), retry_after=error.retry_after) from error
        except TimeoutError as error:
            msg = f"IB did not answer the {what} within {self._request_timeout:g} s"
            raise ProviderUnavailableError(msg, retry_after=self._request_timeout) from error
        except RequestError as error:
            raise self._refused(error, what) from error
        except ConnectionError as error:
            raise self._lost(error, what) from error

    def _refused(self, error: RequestError, what: str) -> Exception:
        """IB's error reply for one request, as the failure it means."""
        text = f"error {error.code}: {error.message}"
        decision = decide(error.code, error.message)
        if error.code in NO_SECURITY_DEFINITION_CODES:
            return SymbolNotFoundError(text, code=error.code)
        if decision == Decision.PACE:
            self._limiter.pause()
            return ProviderUnavailableError(
                f"IB paced the {what} ({text})", retry_after=self._limiter.rules.violation_pause
            )
        if decision in {Decision.RECONNECT, Decision.WAIT_FOR_SERVERS}:
            return ProviderUnavailableError(f"IB could not serve the {what} ({text})")
        return ProviderRequestError(f"IB refused the {what}: {text}", code=error.code)

    def _lost(self, error: ConnectionError, what: str) -> ProviderUnavailableError:
        msg = f"the connection to IB dropped during the {what} ({error}); it will be retried after reconnecting"
        return ProviderUnavailableError(msg, retry_after=self._connection.endpoint.reconnect_initial)
