"""The simulated provider: a deterministic universe whose bars depend only on instrument and time."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import MAX_BARS, AssetType, BarSize, SymbolRef
from tradelane.market_data.provider import MarketDataProvider, SymbolNotFoundError
from tradelane.market_data.simulated import UNIVERSE, SimulatedInstrument, SimulatedProvider

END = datetime(2025, 6, 13, 22, 0, tzinfo=UTC)
"""A Friday evening, after the US close."""


@pytest.fixture
def provider() -> SimulatedProvider:
    return SimulatedProvider()


async def resolve(provider: SimulatedProvider, symbol: str, **fields: object) -> ResolvedSymbol:
    return await provider.resolve(SymbolRef.model_validate({"symbol": symbol, **fields}))


async def fetch(
    provider: SimulatedProvider,
    symbol: str = "AAPL",
    bar_size: BarSize = BarSize.DAY_1,
    duration: str = "1 Y",
    end: datetime = END,
    **fields: object,
) -> tuple[Bar, ...]:
    return await provider.bars(await resolve(provider, symbol, **fields), bar_size, duration, end)


def test_simulated_provider_satisfies_the_provider_protocol(provider: SimulatedProvider) -> None:
    typed: MarketDataProvider = provider
    assert typed.name == "simulated"


async def test_same_request_returns_identical_bars(provider: SimulatedProvider) -> None:
    assert await fetch(provider) == await fetch(SimulatedProvider())


async def test_overlapping_windows_agree_bar_by_bar(provider: SimulatedProvider) -> None:
    """A bar has the same OHLCV whichever end and duration it is fetched with."""
    long = await fetch(provider, duration="1 Y", end=END)
    short = await fetch(provider, duration="60 D", end=END - timedelta(days=45, hours=3))
    by_time = {bar.time: bar for bar in long}
    assert len(short) > 30
    assert all(by_time[bar.time] == bar for bar in short)


async def test_intraday_windows_agree_bar_by_bar(provider: SimulatedProvider) -> None:
    long = await fetch(provider, "BTC", BarSize.MIN_5, "5 D", asset_type="CRYPTO")
    short = await fetch(provider, "BTC", BarSize.MIN_5, "1 D", END - timedelta(hours=7), asset_type="CRYPTO")
    assert set(short) <= set(long)


async def test_different_instruments_have_different_bars(provider: SimulatedProvider) -> None:
    aapl = await fetch(provider, "AAPL")
    msft = await fetch(provider, "MSFT")
    assert [bar.close for bar in aapl] != [bar.close for bar in msft]


@pytest.mark.parametrize("instrument", UNIVERSE, ids=lambda instrument: instrument.symbol)
@pytest.mark.parametrize("bar_size", [BarSize.MIN_5, BarSize.HOUR_1, BarSize.DAY_1, BarSize.WEEK_1])
async def test_high_and_low_bound_open_and_close(
    provider: SimulatedProvider, instrument: SimulatedInstrument, bar_size: BarSize
) -> None:
    symbol = await provider.resolve(SymbolRef(symbol="X", conid=instrument.conid))
    bars = await provider.bars(symbol, bar_size, "30 D", END)
    assert bars
    assert all(bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high for bar in bars)


async def test_prices_are_on_the_tick_grid(provider: SimulatedProvider) -> None:
    bars = await fetch(provider, "ES", asset_type="FUT", exchange="CME")
    prices = [price for bar in bars for price in (bar.open, bar.high, bar.low, bar.close)]
    assert all(math.isclose(price * 4, round(price * 4), abs_tol=1e-9) for price in prices)


async def test_volume_is_larger_on_big_moves(provider: SimulatedProvider) -> None:
    bars = await fetch(provider, duration="5 Y")
    moves = np.array([abs(math.log(bar.close / bar.open)) for bar in bars])
    volumes = np.array([bar.volume for bar in bars])
    big = moves > np.quantile(moves, 0.8)
    small = moves < np.quantile(moves, 0.2)
    assert volumes[big].mean() > 1.3 * volumes[small].mean()


async def test_stock_daily_bars_skip_weekends(provider: SimulatedProvider) -> None:
    bars = await fetch(provider, "AAPL")
    assert {bar.time.weekday() for bar in bars} == {0, 1, 2, 3, 4}


async def test_crypto_daily_bars_include_weekends(provider: SimulatedProvider) -> None:
    bars = await fetch(provider, "BTC", asset_type="CRYPTO")
    assert {bar.time.weekday() for bar in bars} == set(range(7))


async def test_daily_bars_start_at_midnight_utc(provider: SimulatedProvider) -> None:
    bars = await fetch(provider, "AAPL", duration="30 D")
    assert {(bar.time.hour, bar.time.minute, bar.time.tzinfo) for bar in bars} == {(0, 0, UTC)}


async def test_stock_intraday_bars_fall_in_session_hours(provider: SimulatedProvider) -> None:
    bars = await fetch(provider, "AAPL", BarSize.MIN_5, "10 D")
    minutes = {bar.time.hour * 60 + bar.time.minute for bar in bars}
    assert min(minutes) == 14 * 60 + 30
    assert max(minutes) == 20 * 60 + 55
    assert len(minutes) == 78
    assert all(bar.time.weekday() < 5 for bar in bars)


async def test_hourly_stock_bars_are_aligned_to_the_hour_and_overlap_the_session(
    provider: SimulatedProvider,
) -> None:
    bars = await fetch(provider, "SPY", BarSize.HOUR_1, "5 D")
    assert {bar.time.hour for bar in bars} == set(range(14, 21))
    assert {bar.time.minute for bar in bars} == {0}


async def test_forex_intraday_bars_trade_around_the_clock_on_weekdays(provider: SimulatedProvider) -> None:
    bars = await fetch(provider, "EUR", BarSize.HOUR_1, "14 D", asset_type="CASH")
    assert {bar.time.hour for bar in bars} == set(range(24))
    assert {bar.time.weekday() for bar in bars} == {0, 1, 2, 3, 4}


async def test_crypto_intraday_bars_trade_every_hour_of_every_day(provider: SimulatedProvider) -> None:
    bars = await fetch(provider, "BTC", BarSize.HOUR_1, "7 D", asset_type="CRYPTO")
    assert len(bars) == 7 * 24 - 1
    assert len({bar.time.weekday() for bar in bars}) == 7


async def test_weekly_bars_start_on_monday_midnight(provider: SimulatedProvider) -> None:
    bars = await fetch(provider, "AAPL", BarSize.WEEK_1, "2 Y")
    assert {(bar.time.weekday(), bar.time.hour) for bar in bars} == {(0, 0)}
    assert 103 <= len(bars) <= 105


async def test_monthly_bars_start_on_the_first(provider: SimulatedProvider) -> None:
    bars = await fetch(provider, "AAPL", BarSize.MONTH_1, "3 Y")
    assert {(bar.time.day, bar.time.hour) for bar in bars} == {(1, 0)}
    assert len(bars) == 36


def _grouped(daily: tuple[Bar, ...], period_start: Callable[[datetime], datetime]) -> list[tuple[object, ...]]:
    """The daily bars grouped by period as (start, open, high, low, close, volume), oldest first."""
    groups: dict[datetime, list[Bar]] = {}
    for bar in daily:
        groups.setdefault(period_start(bar.time), []).append(bar)
    return [
        (
            start,
            days[0].open,
            max(day.high for day in days),
            min(day.low for day in days),
            days[-1].close,
            sum(day.volume for day in days),
        )
        for start, days in groups.items()
    ]


def _ohlcv(bars: tuple[Bar, ...]) -> list[tuple[object, ...]]:
    return [(bar.time, bar.open, bar.high, bar.low, bar.close, bar.volume) for bar in bars]


@pytest.mark.parametrize("symbol", ["AAPL", "BTC"])
async def test_weekly_bars_are_the_daily_bars_grouped_by_week(provider: SimulatedProvider, symbol: str) -> None:
    """Monday's open, the week's extremes, the last day's close: weekly and daily charts agree."""
    fields = {"asset_type": "CRYPTO", "exchange": "PAXOS"} if symbol == "BTC" else {}
    end = END + timedelta(days=2)  # Sunday: the week in progress (Monday 9 June) is complete for AAPL
    weekly = await fetch(provider, symbol, BarSize.WEEK_1, "26 W", end, **fields)
    daily = await fetch(provider, symbol, BarSize.DAY_1, "1 Y", end, **fields)
    daily = tuple(bar for bar in daily if bar.time >= weekly[0].time)
    assert _ohlcv(weekly) == _grouped(daily, lambda time: time - timedelta(days=time.weekday()))


async def test_the_week_in_progress_holds_the_days_so_far(provider: SimulatedProvider) -> None:
    wednesday_noon = datetime(2025, 6, 11, 12, 0, tzinfo=UTC)
    [*_, this_week] = await fetch(provider, "AAPL", BarSize.WEEK_1, "4 W", wednesday_noon)
    daily = await fetch(provider, "AAPL", BarSize.DAY_1, "5 D", wednesday_noon)
    days = [bar for bar in daily if bar.time >= this_week.time]
    assert [bar.time.weekday() for bar in days] == [0, 1, 2]
    assert (this_week.open, this_week.close) == (days[0].open, days[-1].close)


async def test_monthly_bars_are_the_daily_bars_grouped_by_month(provider: SimulatedProvider) -> None:
    monthly = await fetch(provider, "MSFT", BarSize.MONTH_1, "1 Y", END)
    daily = await fetch(provider, "MSFT", BarSize.DAY_1, "2 Y", END)
    daily = tuple(bar for bar in daily if bar.time >= monthly[0].time)
    assert _ohlcv(monthly) == _grouped(daily, lambda time: time.replace(day=1))


async def test_one_year_of_daily_stock_bars_is_about_260(provider: SimulatedProvider) -> None:
    bars = await fetch(provider, "AAPL", duration="1 Y")
    assert 259 <= len(bars) <= 262


async def test_bars_lie_inside_the_window_oldest_first(provider: SimulatedProvider) -> None:
    end = datetime(2025, 6, 11, 15, 7, tzinfo=UTC)
    bars = await fetch(provider, "AAPL", BarSize.MIN_15, "3 D", end)
    times = [bar.time for bar in bars]
    assert times == sorted(times)
    assert all(end - timedelta(days=3) < time < end for time in times)
    assert times[-1] == datetime(2025, 6, 11, 15, 0, tzinfo=UTC)


async def test_a_bar_starting_exactly_at_end_is_excluded(provider: SimulatedProvider) -> None:
    bars = await fetch(provider, "AAPL", end=datetime(2025, 6, 11, tzinfo=UTC), duration="10 D")
    assert bars[-1].time == datetime(2025, 6, 10, tzinfo=UTC)


async def test_bars_are_capped_at_max_bars_keeping_the_newest(provider: SimulatedProvider) -> None:
    bars = await fetch(provider, "BTC", BarSize.MIN_1, "30 D", asset_type="CRYPTO")
    assert len(bars) == MAX_BARS
    assert bars[-1].time == datetime(2025, 6, 13, 21, 59, tzinfo=UTC)


async def test_daily_moves_are_realistic(provider: SimulatedProvider) -> None:
    bars = await fetch(provider, "SPY", duration="5 Y")
    returns = np.diff(np.log([bar.close for bar in bars]))
    assert 0.005 < returns.std() < 0.02


@pytest.mark.parametrize("instrument", UNIVERSE, ids=lambda instrument: instrument.symbol)
async def test_a_year_of_daily_bars_has_both_an_up_and_a_down_trend(
    provider: SimulatedProvider, instrument: SimulatedInstrument
) -> None:
    """Some 40-bar stretch rises, and another falls, by 1.5 times the noise of 40 bars."""
    symbol = await provider.resolve(SymbolRef(symbol="X", conid=instrument.conid))
    closes = np.array([bar.close for bar in await provider.bars(symbol, BarSize.DAY_1, "1 Y", END)])
    moves = np.log(closes[40:] / closes[:-40])
    threshold = 1.5 * instrument.daily_volatility * math.sqrt(40)
    assert moves.max() > threshold
    assert moves.min() < -threshold


async def test_naive_end_is_refused(provider: SimulatedProvider) -> None:
    symbol = await resolve(provider, "AAPL")
    with pytest.raises(ValueError, match="aware"):
        await provider.bars(symbol, BarSize.DAY_1, "1 Y", datetime(2025, 1, 1))  # noqa: DTZ001


async def test_bad_duration_is_refused(provider: SimulatedProvider) -> None:
    symbol = await resolve(provider, "AAPL")
    with pytest.raises(ValueError, match="duration"):
        await provider.bars(symbol, BarSize.DAY_1, "one year", END)


async def test_bars_of_an_unknown_conid_raise_symbol_not_found(provider: SimulatedProvider) -> None:
    stranger = ResolvedSymbol(conid=1, symbol="ZZZ", exchange="NYSE", currency="USD", asset_type=AssetType.STOCK)
    with pytest.raises(SymbolNotFoundError, match="conid 1"):
        await provider.bars(stranger, BarSize.DAY_1, "1 Y", END)


async def test_resolve_by_symbol_fills_in_the_instrument(provider: SimulatedProvider) -> None:
    symbol = await resolve(provider, "aapl")
    assert (symbol.symbol, symbol.exchange, symbol.currency, symbol.asset_type) == (
        "AAPL",
        "NASDAQ",
        "USD",
        AssetType.STOCK,
    )
    assert symbol.description == "APPLE INC"
    assert symbol.min_tick == 0.01


async def test_resolve_by_conid_ignores_the_symbol(provider: SimulatedProvider) -> None:
    msft = await resolve(provider, "MSFT")
    assert await resolve(provider, "ANYTHING", conid=msft.conid) == msft


async def test_resolve_by_primary_exchange(provider: SimulatedProvider) -> None:
    assert (await resolve(provider, "JPM", exchange="NYSE")).symbol == "JPM"


async def test_resolve_with_another_exchange_names_the_known_one(provider: SimulatedProvider) -> None:
    with pytest.raises(SymbolNotFoundError, match=r"JPM \(STK on NASDAQ in USD\).*known as JPM \(STK on NYSE"):
        await resolve(provider, "JPM", exchange="NASDAQ")


async def test_resolve_with_another_currency_names_the_known_one(provider: SimulatedProvider) -> None:
    with pytest.raises(SymbolNotFoundError, match=r"AAPL \(STK on SMART in EUR\).*in USD"):
        await resolve(provider, "AAPL", currency="EUR")


async def test_resolve_a_stock_reference_finds_an_etf(provider: SimulatedProvider) -> None:
    assert (await resolve(provider, "SPY")).asset_type == AssetType.ETF


async def test_resolve_forex_by_symbol_and_currency_or_pair(provider: SimulatedProvider) -> None:
    by_fields = await resolve(provider, "EUR", currency="USD", asset_type="CASH")
    by_pair = await resolve(provider, "EUR.USD", asset_type="CASH")
    assert by_fields == by_pair
    assert (by_fields.exchange, by_fields.min_tick) == ("IDEALPRO", 0.00005)


async def test_resolve_forex_as_a_stock_is_refused(provider: SimulatedProvider) -> None:
    with pytest.raises(SymbolNotFoundError, match="CASH on IDEALPRO"):
        await resolve(provider, "EUR")


async def test_resolve_unknown_symbol_lists_what_is_known(provider: SimulatedProvider) -> None:
    with pytest.raises(SymbolNotFoundError, match=r"no ZZZZ \(STK on SMART in USD\); it knows AAPL"):
        await resolve(provider, "ZZZZ")


async def test_resolve_unknown_conid_raises(provider: SimulatedProvider) -> None:
    with pytest.raises(SymbolNotFoundError, match="conid 12345"):
        await resolve(provider, "AAPL", conid=12345)


async def test_universe_conids_and_symbols_are_unique() -> None:
    assert len({instrument.conid for instrument in UNIVERSE}) == len(UNIVERSE)
    assert len({(instrument.symbol, instrument.asset_type) for instrument in UNIVERSE}) == len(UNIVERSE)


async def test_search_puts_the_exact_symbol_first(provider: SimulatedProvider) -> None:
    found = await provider.search("spy")
    assert found[0].symbol == "SPY"


async def test_search_matches_symbol_prefix_before_description(provider: SimulatedProvider) -> None:
    found = await provider.search("a")
    symbols = [symbol.symbol for symbol in found]
    assert symbols[:2] == ["AAPL", "AMZN"]
    assert "NVDA" in symbols  # "NVIDIA CORP" contains an A


async def test_search_matches_descriptions(provider: SimulatedProvider) -> None:
    assert [symbol.symbol for symbol in await provider.search("s&p 500")] == ["SPY", "ES", "SPX"]


async def test_search_respects_the_limit(provider: SimulatedProvider) -> None:
    assert len(await provider.search("", limit=3)) == 3


async def test_search_without_match_is_empty(provider: SimulatedProvider) -> None:
    assert await provider.search("no such thing") == ()
