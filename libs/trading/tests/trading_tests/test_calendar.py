"""The trading-hours table: who is open when, and when a DAY order expires."""

from __future__ import annotations

from datetime import UTC, datetime

from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import AssetType
from tradelane.trading.calendar import CRYPTO, FOREX, TOKYO, US_EQUITIES, US_FUTURES, calendar_for


def _symbol(exchange: str, asset_type: AssetType = AssetType.STOCK, currency: str = "USD") -> ResolvedSymbol:
    return ResolvedSymbol(conid=1, symbol="X", exchange=exchange, currency=currency, asset_type=asset_type)


def test_us_equities_trade_from_half_past_nine_to_four_in_new_york() -> None:
    assert not US_EQUITIES.is_open(datetime(2025, 3, 4, 14, 29, tzinfo=UTC))  # 09:29 EST
    assert US_EQUITIES.is_open(datetime(2025, 3, 4, 14, 30, tzinfo=UTC))
    assert not US_EQUITIES.is_open(datetime(2025, 3, 4, 21, 0, tzinfo=UTC))


def test_the_us_session_follows_daylight_saving_time() -> None:
    assert US_EQUITIES.is_open(datetime(2025, 7, 1, 13, 30, tzinfo=UTC))  # 09:30 EDT


def test_us_equities_are_closed_at_the_weekend() -> None:
    assert not US_EQUITIES.is_open(datetime(2025, 3, 8, 16, 0, tzinfo=UTC))


def test_crypto_trades_around_the_clock() -> None:
    assert CRYPTO.is_open(datetime(2025, 3, 8, 3, 17, tzinfo=UTC))


def test_futures_pause_an_hour_each_afternoon_and_reopen_on_sunday_evening() -> None:
    assert US_FUTURES.is_open(datetime(2025, 3, 4, 20, 0, tzinfo=UTC))  # 14:00 CST
    assert not US_FUTURES.is_open(datetime(2025, 3, 4, 22, 30, tzinfo=UTC))  # 16:30 CST
    assert US_FUTURES.is_open(datetime(2025, 3, 9, 23, 30, tzinfo=UTC))  # Sunday 18:30 CDT


def test_forex_is_closed_on_saturday() -> None:
    assert not FOREX.is_open(datetime(2025, 3, 8, 12, 0, tzinfo=UTC))


def test_tokyo_closes_for_lunch() -> None:
    assert not TOKYO.is_open(datetime(2025, 3, 4, 3, 0, tzinfo=UTC))  # 12:00 JST
    assert TOKYO.is_open(datetime(2025, 3, 4, 4, 0, tzinfo=UTC))  # 13:00 JST


def test_a_day_order_on_us_equities_expires_at_four_pm() -> None:
    assert US_EQUITIES.session_end(datetime(2025, 3, 4, 15, 0, tzinfo=UTC)) == datetime(2025, 3, 4, 21, tzinfo=UTC)


def test_a_day_order_placed_on_friday_evening_expires_on_monday() -> None:
    ends = US_EQUITIES.session_end(datetime(2025, 3, 7, 23, 0, tzinfo=UTC))
    assert ends == datetime(2025, 3, 10, 20, tzinfo=UTC)  # Monday 16:00 EDT


def test_a_crypto_day_order_expires_at_midnight_utc() -> None:
    assert CRYPTO.session_end(datetime(2025, 3, 4, 15, 0, tzinfo=UTC)) == datetime(2025, 3, 5, tzinfo=UTC)


def test_a_futures_day_ends_at_four_pm_chicago_even_overnight() -> None:
    ends = US_FUTURES.session_end(datetime(2025, 3, 4, 1, 0, tzinfo=UTC))  # Monday 19:00 CST
    assert ends == datetime(2025, 3, 4, 22, tzinfo=UTC)  # Tuesday 16:00 CST


def test_instruments_find_their_calendar_by_exchange_then_by_kind() -> None:
    assert calendar_for(_symbol("NASDAQ")) is US_EQUITIES
    assert calendar_for(_symbol("SMART")) is US_EQUITIES
    assert calendar_for(_symbol("GLOBEX", AssetType.FUTURE)) is US_FUTURES
    assert calendar_for(_symbol("PAXOS", AssetType.CRYPTO)) is CRYPTO
    assert calendar_for(_symbol("SMART", AssetType.FOREX)) is FOREX


def test_an_exchange_missing_from_the_table_has_no_calendar() -> None:
    assert calendar_for(_symbol("SMART", AssetType.STOCK, "CHF")) is None
