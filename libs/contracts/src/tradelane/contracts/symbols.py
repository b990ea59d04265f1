"""Symbol service and IB status: the requests and replies market-data answers over NATS request/reply.

Replies never carry an exception: when a request cannot be served, the reply's ``error``
says why (``SymbolServiceError``), and callers such as the gateway turn it into an HTTP status.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field, field_validator

from tradelane.contracts.envelope import Contract
from tradelane.contracts.fields import Conid, Text
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import AssetType

MAX_SEARCH_RESULTS = 50
MAX_BATCH_CONIDS = 100
MAX_REFRESH_BATCH = 500

ErrorKind = Literal["invalid_request", "not_found", "provider_error", "unavailable"]
Source = Literal["provider", "cache"]


class SymbolServiceError(Contract):
    """Why a request could not be served."""

    kind: ErrorKind = Field(
        description="'invalid_request': change the request; 'not_found': no such instrument; "
        "'provider_error': the provider refused it (see ib_code); 'unavailable': the provider "
        "cannot be reached and the cache has nothing to offer."
    )
    message: str = Field(description="What went wrong, in words a user can act on.")
    ib_code: int | None = Field(default=None, description="IB's error code, when IB refused the request.")


class SymbolSummary(Contract):
    """A search hit: enough to pick an instrument; its details are fetched by conid."""

    conid: int = Field(gt=0, description="IB contract id (the simulated provider makes one up).")
    symbol: str
    asset_type: AssetType
    primary_exchange: str = Field(default="", description="Listing exchange, e.g. 'NASDAQ'.")
    currency: str
    description: str = Field(default="", description="Long name, e.g. 'APPLE INC'.")
    derivative_types: tuple[str, ...] = Field(default=(), description="IB secTypes derived from it, e.g. 'OPT'.")


class SymbolDetails(Contract):
    """Everything the cache keeps about one contract, as the provider describes it."""

    conid: int = Field(gt=0)
    symbol: str
    asset_type: AssetType
    exchange: str = Field(description="Exchange bars are requested on ('SMART' for smart-routed stocks).")
    primary_exchange: str = ""
    currency: str
    description: str = ""
    min_tick: float = Field(gt=0, description="Smallest price increment.")
    local_symbol: str = ""
    trading_class: str = ""
    multiplier: str = ""
    last_trade_date: str = Field(default="", description="Futures: last trading day or contract month.")
    industry: str = ""
    category: str = ""
    subcategory: str = ""
    time_zone: str = Field(default="", description="The exchange's time zone, e.g. 'US/Eastern'.")
    valid_exchanges: tuple[str, ...] = ()

    def summary(self) -> SymbolSummary:
        """The search-hit view of these details."""
        return SymbolSummary(
            conid=self.conid,
            symbol=self.symbol,
            asset_type=self.asset_type,
            primary_exchange=self.primary_exchange,
            currency=self.currency,
            description=self.description,
        )

    def resolved(self) -> ResolvedSymbol:
        """The instrument as the pipeline's market-data step resolves it."""
        return ResolvedSymbol(
            conid=self.conid,
            symbol=self.symbol,
            exchange=self.exchange,
            currency=self.currency,
            asset_type=self.asset_type,
            description=self.description,
            min_tick=self.min_tick,
        )


class SymbolSearchRequest(Contract):
    """Find instruments whose symbol or name matches ``text``."""

    text: Text = Field(min_length=1, max_length=64, description="Symbol or part of a company name.")
    limit: int = Field(default=10, ge=1, le=MAX_SEARCH_RESULTS, description="Most results to return.")

    @field_validator("text")
    @classmethod
    def _text_is_not_blank(cls, value: str) -> str:
        stripped = value.strip()
        if not stripped:
            msg = "text must not be blank"
            raise ValueError(msg)
        return stripped


class SymbolSearchResult(Contract):
    """Matches for a search, best first."""

    text: str = Field(description="The text searched for.")
    results: tuple[SymbolSummary, ...] = ()
    source: Source = Field(default="provider", description="Whether the provider or the cache answered.")
    stale: bool = Field(
        default=False,
        description="True when the provider could not be asked and the cache answered with entries "
        "that may be out of date (or older than the cache TTL).",
    )
    fetched_at: AwareDatetime | None = Field(default=None, description="When the provider gave these results.")
    provider: str = Field(default="", description="'simulated' or 'ib'.")
    warning: str | None = Field(default=None, description="Why the answer is stale, when it is.")
    error: SymbolServiceError | None = None


class SymbolDetailsRequest(Contract):
    """The details of one contract."""

    conid: Conid = Field(description="IB contract id.")


class SymbolDetailsResult(Contract):
    """One contract's details, from the cache when fresh, else from the provider."""

    conid: int
    details: SymbolDetails | None = None
    source: Source = "provider"
    stale: bool = False
    fetched_at: AwareDatetime | None = None
    provider: str = ""
    warning: str | None = None
    error: SymbolServiceError | None = None


class BatchCacheRequest(Contract):
    """Fetch and cache the details of a list of contracts."""

    conids: tuple[Conid, ...] = Field(min_length=1, max_length=MAX_BATCH_CONIDS, description="IB contract ids.")
    force: bool = Field(default=False, description="Fetch even entries whose cached details are still fresh.")

    @field_validator("conids")
    @classmethod
    def _conids_are_unique(cls, values: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(dict.fromkeys(values))


BatchItemStatus = Literal["fresh", "fetched", "not_found", "failed", "unavailable"]


class BatchCacheItem(Contract):
    """What happened to one conid of a batch."""

    conid: int
    status: BatchItemStatus = Field(
        description="'fresh': already cached and within the TTL; 'fetched': fetched and cached now; "
        "'not_found': the provider has no such contract; 'failed': the provider refused; "
        "'unavailable': the provider could not be reached."
    )
    symbol: str | None = None
    message: str | None = None
    ib_code: int | None = None


class BatchCacheResult(Contract):
    """The outcome of a batch, one item per distinct conid, in the order asked."""

    items: tuple[BatchCacheItem, ...] = ()
    fetched: int = 0
    fresh: int = 0
    failed: int = Field(default=0, description="Items not cached: not found, refused or unavailable.")
    provider: str = ""
    error: SymbolServiceError | None = None


class RefreshRequest(Contract):
    """Re-fetch the stalest cache entries (those older than the TTL), at most ``limit`` of them."""

    limit: int = Field(default=50, ge=1, le=MAX_REFRESH_BATCH, description="Most entries to refresh now.")


class RefreshResult(Contract):
    """What a refresh did and what is left."""

    refreshed: int = 0
    items: tuple[BatchCacheItem, ...] = Field(default=(), description="Each entry tried, stalest first.")
    remaining_stale: int = Field(default=0, description="Stale entries left after this batch.")
    provider: str = ""
    error: SymbolServiceError | None = None


class CacheStatsRequest(Contract):
    """Statistics of the symbol cache."""

    top_exchanges: int = Field(default=10, ge=1, le=100, description="How many exchanges to list.")


class CacheStats(Contract):
    """How many entries the cache holds and how old they are."""

    provider: str = Field(description="The provider whose entries are counted.")
    total: int
    stale: int = Field(description="Entries older than the TTL.")
    with_details: int = Field(description="Entries whose full details were fetched (not only a search hit).")
    ttl_seconds: float
    by_asset_type: dict[str, int] = Field(default_factory=dict)
    by_exchange: dict[str, int] = Field(default_factory=dict, description="Top primary exchanges, most first.")
    oldest: AwareDatetime | None = None
    newest: AwareDatetime | None = None
    error: SymbolServiceError | None = None


class IbStatusRequest(Contract):
    """The state of market-data's connection to IB."""


class IbError(Contract):
    """The last error IB reported (or the last failure to reach it)."""

    code: int | None = Field(default=None, description="IB's error code; None for a socket-level failure.")
    message: str
    decision: str = Field(description="What market-data does about it, e.g. 'reconnect'.")
    at: AwareDatetime


class PacingStatus(Contract):
    """The shared pacing limiter right now."""

    in_flight: int = Field(description="Requests sent and not answered yet.")
    waiting: int = Field(description="Requests held back to respect IB's pacing rules.")
    historical_in_window: int = Field(description="Historical requests counted in the current window.")
    paused_until: AwareDatetime | None = Field(default=None, description="Set after IB reported a pacing violation.")


class IbStatus(Contract):
    """What market-data knows about its IB connection."""

    provider: str = Field(description="'ib', or 'simulated' when IB is not used at all.")
    connected: bool = Field(description="The API session with TWS / IB Gateway is up.")
    detail: str = Field(default="", description="One line on the state, for people.")
    host: str | None = None
    port: int | None = None
    client_id: int | None = None
    account: str | None = Field(default=None, description="The configured account, if any.")
    accounts: tuple[str, ...] = Field(default=(), description="Accounts IB reported as managed.")
    server_version: int | None = None
    servers_connected: bool | None = Field(
        default=None, description="Whether TWS / IB Gateway is connected to IB's servers (1100 / 1102)."
    )
    farms: dict[str, str] = Field(default_factory=dict, description="Data farm -> 'ok', 'inactive' or 'broken'.")
    connected_since: AwareDatetime | None = None
    next_attempt_at: AwareDatetime | None = Field(default=None, description="Next reconnect attempt while down.")
    last_error: IbError | None = None
    pacing: PacingStatus | None = None
