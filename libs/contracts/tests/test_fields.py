"""Shared field types: text PostgreSQL can store, integers that fit its columns, bounded Decimals in plain notation."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from tradelane.contracts.events import Analysis
from tradelane.contracts.fields import PG_INT_MAX, Moment, PlainDecimal, Price, Quantity, Text, Version, plain
from tradelane.contracts.market import Bar, MarketSnapshot
from tradelane.contracts.strategy import BollingerSpec, RiskLimits, StrategyDefinition
from tradelane.contracts.trading import ManualOrder, TradingLimits


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("3E+4", "30000"),
        ("1.0E+5", "100000"),
        ("1.50", "1.5"),
        ("0.0000000001", "0.0000000001"),
        ("1E-10", "0.0000000001"),
        ("0E-8", "0"),
        ("-0", "0"),
        ("-12.340", "-12.34"),
        ("61000", "61000"),
    ],
)
def test_a_decimal_is_written_in_plain_notation_without_trailing_zeros(value: str, written: str) -> None:
    assert plain(Decimal(value)) == written


class _Holder(BaseModel):
    amount: PlainDecimal
    price: Price | None = None
    quantity: Quantity | None = None
    text: Text = ""
    version: Version | None = None
    moment: Moment | None = None


def test_decimals_reach_json_as_plain_strings_and_stay_decimals_in_python() -> None:
    holder = _Holder(amount=Decimal("3E+4"))
    assert holder.model_dump_json(include={"amount"}) == '{"amount":"30000"}'
    assert holder.model_dump()["amount"] == Decimal("3E+4")


def test_limits_and_risk_settings_are_written_in_plain_notation() -> None:
    limits = TradingLimits.model_validate({"max_gross_exposure": "1.0E+5", "max_position_notional": "3E+4"})
    written = limits.model_dump(mode="json")
    assert (written["max_gross_exposure"], written["max_position_notional"]) == ("100000", "30000")
    assert RiskLimits.model_validate({"account_size": "5E+4"}).model_dump(mode="json")["account_size"] == "50000"


@pytest.mark.parametrize(
    "fields",
    [
        {"price": "NaN"},
        {"price": "Infinity"},
        {"price": "-Infinity"},
        {"price": "sNaN"},
        {"amount": "sNaN"},
        {"amount": "NaN"},
        {"amount": "Infinity"},
        {"price": "0"},
        {"price": "-1"},
        {"price": "1E+10"},
        {"price": "1E-11"},
        {"quantity": "0"},
        {"quantity": "1E+11"},
        {"quantity": "0.000000001"},
    ],
)
def test_prices_and_quantities_are_finite_positive_and_bounded(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as raised:
        _Holder.model_validate({"amount": "1", **fields})
    assert raised.value.errors()[0]["loc"] == (next(iter(fields)),)


_BAR = {"time": "2026-11-20T00:00:00Z", "open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": 10}
_ANALYSIS = {"bias": "bullish", "trend": "uptrend", "confidence": 60, "model": "offline-rules-v1"}


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(
    ("contract", "fields", "loc"),
    [
        (Bar, {**_BAR, "close": "{number}"}, ("close",)),
        (Bar, {**_BAR, "volume": "{number}"}, ("volume",)),
        (Analysis, {**_ANALYSIS, "suggested_entry": "{number}"}, ("suggested_entry",)),
        (Analysis, {**_ANALYSIS, "support": [10.0, "{number}"]}, ("support", 1)),
        (BollingerSpec, {"std_dev": "{number}"}, ("std_dev",)),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else None,
)
def test_a_float_that_is_not_finite_is_refused_naming_the_field(
    contract: type[BaseModel], fields: dict[str, Any], loc: tuple[str | int, ...], number: float
) -> None:
    """A NaN would slip past every bound (it compares false), an infinity past a one-sided one."""
    body = json.loads(json.dumps(fields).replace('"{number}"', json.dumps(number)))
    with pytest.raises(ValidationError) as raised:
        contract.model_validate(body)
    assert [(error["loc"], error["type"]) for error in raised.value.errors()] == [(loc, "finite_number")]


def test_an_indicator_without_a_value_yet_is_null_never_nan() -> None:
    snapshot = {
        "symbol": {"conid": 1, "symbol": "AAPL", "exchange": "NASDAQ", "currency": "USD", "asset_type": "STK"},
        "bar_size": "1 day",
        "last_bar_time": _BAR["time"],
        "last_close": 1.5,
        "recent_bars": [_BAR],
        "latest": {"sma_20": None, "rsi_14": 55.5},
        "previous": {"sma_20": None, "rsi_14": None},
    }
    assert MarketSnapshot.model_validate(snapshot).model_dump(mode="json")["latest"] == {"sma_20": None, "rsi_14": 55.5}
    with pytest.raises(ValidationError) as raised:
        MarketSnapshot.model_validate({**snapshot, "latest": {"sma_20": math.nan}})
    assert [error["loc"] for error in raised.value.errors()] == [("latest", "sma_20")]


def test_a_manual_order_refuses_a_price_beyond_the_bound_naming_the_field() -> None:
    order = {"instrument": {"symbol": "AAPL"}, "side": "BUY", "order_type": "LMT", "quantity": "1"}
    with pytest.raises(ValidationError) as raised:
        ManualOrder.model_validate({**order, "limit_price": "1E+100"})
    assert [error["loc"] for error in raised.value.errors()] == [("limit_price",)]


def test_text_with_a_nul_character_is_refused() -> None:
    with pytest.raises(ValidationError, match="NUL"):
        _Holder(amount=Decimal(1), text="a\x00b")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("name",), "swing\x00"),
        (("description",), "\x00"),
        (("symbol", "symbol"), "AA\x00PL"),
        (("symbol", "exchange"), "SMART\x00"),
        (("schedule", "cron"), "* * * * *\x00"),
        (("analysis", "model"), "gpt\x00"),
    ],
)
def test_a_strategy_refuses_nul_in_every_text_naming_the_field(path: tuple[str, ...], value: str) -> None:
    definition: dict[str, Any] = {"name": "s", "symbol": {"symbol": "AAPL"}, "schedule": {}, "analysis": {}}
    target = definition
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValidationError) as raised:
        StrategyDefinition.model_validate(definition)
    assert [error["loc"] for error in raised.value.errors()] == [path]


def test_versions_fit_a_postgresql_integer() -> None:
    assert _Holder(amount=Decimal(1), version=PG_INT_MAX).version == PG_INT_MAX
    with pytest.raises(ValidationError):
        _Holder(amount=Decimal(1), version=PG_INT_MAX + 1)


def test_a_moment_too_far_from_now_to_compute_with_is_refused() -> None:
    assert _Holder(amount=Decimal(1), moment=datetime(2026, 1, 1, tzinfo=UTC)).moment is not None
    for year in (1, 9999):
        with pytest.raises(ValidationError, match="between 1900-01-01 and 9000-01-01"):
            _Holder(amount=Decimal(1), moment=datetime(year, 6, 1, tzinfo=UTC))


def test_a_strategy_lists_are_bounded() -> None:
    too_many = [{"kind": "ma", "period": period} for period in range(2, 50)]
    with pytest.raises(ValidationError) as raised:
        StrategyDefinition.model_validate({"name": "s", "symbol": {"symbol": "A"}, "indicators": too_many})
    assert raised.value.errors()[0]["type"] == "too_long"
