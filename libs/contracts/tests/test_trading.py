"""Trading contracts: deterministic references, subjects of the broker's events, manual order validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from tradelane.contracts import subjects
from tradelane.contracts.trading import (
    ORDER_REF_PREFIX,
    ManualOrder,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    OrderRole,
    OrderSubmitted,
    PositionChanged,
    child_order_ref,
    manual_execution_id,
    manual_order_ref,
    signal_order_ref,
    trading_day_start,
)


def test_a_signal_always_yields_the_same_client_reference() -> None:
    signal_id = uuid4()
    assert signal_order_ref(signal_id) == signal_order_ref(signal_id)
    assert signal_order_ref(signal_id) != signal_order_ref(uuid4())
    assert child_order_ref(signal_order_ref(signal_id), OrderRole.STOP_LOSS).endswith("-sl")


def test_every_order_tradelane_places_carries_its_reference_prefix() -> None:
    """The IB venue tells tradelane's orders from others' by this prefix alone."""
    signal_ref = signal_order_ref(uuid4())
    for ref in (signal_ref, child_order_ref(signal_ref, OrderRole.TAKE_PROFIT), manual_order_ref("buy-1")):
        assert ref.startswith(ORDER_REF_PREFIX) and ORDER_REF_PREFIX == "tl-"


def test_the_trading_day_starts_at_midnight_utc() -> None:
    assert trading_day_start(datetime(2026, 12, 4, 15, 42, 7, 123, tzinfo=UTC)) == datetime(2026, 12, 4, tzinfo=UTC)


def test_the_trading_day_of_a_local_time_is_its_day_in_utc() -> None:
    """23:30 in New York (UTC-5) is 04:30 UTC the next day: that day counts, at its UTC midnight."""
    new_york_evening = datetime(2026, 12, 4, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    start = trading_day_start(new_york_evening)
    assert start == datetime(2026, 12, 5, tzinfo=UTC)
    assert start.utcoffset() == timedelta(0)


def test_a_manual_order_has_an_execution_of_its_own() -> None:
    assert manual_execution_id("tl-m-a") == manual_execution_id("tl-m-a") != manual_execution_id("tl-m-b")


@pytest.mark.parametrize(
    ("event", "subject", "step"),
    [
        (OrderSubmitted, "trading.order.submitted", "order_submitted"),
        (OrderAccepted, "trading.order.accepted", "order_accepted"),
        (OrderPartiallyFilled, "trading.order.partially_filled", "order_partially_filled"),
        (OrderFilled, "trading.order.filled", "order_filled"),
        (OrderCancelled, "trading.order.cancelled", "order_cancelled"),
        (OrderRejected, "trading.order.rejected", "order_rejected"),
        (PositionChanged, "trading.position.changed", "position_changed"),
    ],
)
def test_every_trading_event_has_its_subject_and_lineage_step(event: type[Any], subject: str, step: str) -> None:
    assert subjects.event_type_for(subject) is event
    assert subjects.trading_step_of(subject) == step
    assert subject.startswith("trading.")


def _manual(**fields: Any) -> ManualOrder:
    return ManualOrder.model_validate({"instrument": {"symbol": "AAPL"}, "side": "BUY", "quantity": "1", **fields})


def _bad_fields(**fields: Any) -> list[tuple[str | int, ...]]:
    with pytest.raises(ValidationError) as caught:
        _manual(**fields)
    return [error["loc"] for error in caught.value.errors()]


def test_a_limit_order_needs_its_limit_price() -> None:
    assert _bad_fields(order_type="LMT") == [("limit_price",)]


def test_a_market_order_takes_no_prices() -> None:
    assert _bad_fields(limit_price="10", stop_price="9") == [("limit_price",), ("stop_price",)]


def test_a_bracket_exit_on_the_wrong_side_names_the_exit() -> None:
    assert _bad_fields(order_type="LMT", limit_price="100", take_profit="99", stop_loss="101") == [
        ("take_profit",),
        ("stop_loss",),
    ]


def test_a_valid_stop_limit_bracket_is_a_bracket() -> None:
    order = _manual(order_type="STP LMT", stop_price="101", limit_price="102", take_profit="110", stop_loss="95")
    assert order.is_bracket
    assert order.limit_price == Decimal(102)
