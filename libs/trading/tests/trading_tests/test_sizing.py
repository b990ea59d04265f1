"""Sizing: floor(equity x risk / |entry - stop|) to the quantity step, then the tightest cap."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradelane.contracts.strategy import AssetType
from tradelane.trading.sizing import Cap, floor_to, quantity_step, size_from_risk


def test_the_quantity_risks_the_fraction_of_equity_between_entry_and_stop() -> None:
    sizing = size_from_risk(
        equity=Decimal(100_000), risk_fraction=Decimal("0.01"), entry=Decimal(100), stop=Decimal(97), step=Decimal(1)
    )
    assert sizing.quantity == 333
    assert sizing.bound_by is None


def test_a_short_is_sized_from_the_stop_above_the_entry() -> None:
    sizing = size_from_risk(
        equity=Decimal(50_000), risk_fraction=Decimal("0.02"), entry=Decimal(40), stop=Decimal(42), step=Decimal(1)
    )
    assert sizing.quantity == 500


def test_the_quantity_is_rounded_down_never_up() -> None:
    sizing = size_from_risk(
        equity=Decimal(10_000), risk_fraction=Decimal("0.01"), entry=Decimal(10), stop=Decimal("9.3"), step=Decimal(1)
    )
    assert sizing.quantity == 142  # 142.857...


def test_crypto_is_sized_in_steps_of_a_ten_thousandth() -> None:
    assert quantity_step(AssetType.CRYPTO) == Decimal("0.0001")
    sizing = size_from_risk(
        equity=Decimal(100_000),
        risk_fraction=Decimal("0.01"),
        entry=Decimal(60_000),
        stop=Decimal(59_700),
        step=quantity_step(AssetType.CRYPTO),
    )
    assert sizing.quantity == Decimal("3.3333")


def test_stocks_are_sized_in_whole_shares() -> None:
    assert quantity_step(AssetType.STOCK) == 1


def test_the_tightest_cap_binds_and_is_named() -> None:
    caps = (
        Cap("max_position_notional", Decimal("250.7"), "25,000 / 99.7"),
        Cap("max_gross_exposure", Decimal(120), "12,000 / 100"),
        Cap("max_order_quantity", Decimal(1000), "limit 1000"),
    )
    sizing = size_from_risk(
        equity=Decimal(100_000),
        risk_fraction=Decimal("0.01"),
        entry=Decimal(100),
        stop=Decimal(99),
        step=Decimal(1),
        caps=caps,
    )
    assert sizing.quantity == 120
    assert sizing.risk_quantity == 1000
    assert sizing.bound_by == "max_gross_exposure"
    assert "capped to 120 by max_gross_exposure (12,000 / 100)" in sizing.explanation


def test_a_cap_above_the_risk_quantity_changes_nothing() -> None:
    sizing = size_from_risk(
        equity=Decimal(100_000),
        risk_fraction=Decimal("0.01"),
        entry=Decimal(100),
        stop=Decimal(99),
        step=Decimal(1),
        caps=(Cap("max_order_quantity", Decimal(5000), "limit"),),
    )
    assert sizing.quantity == 1000
    assert sizing.bound_by is None


def test_a_negative_cap_leaves_nothing() -> None:
    sizing = size_from_risk(
        equity=Decimal(100_000),
        risk_fraction=Decimal("0.01"),
        entry=Decimal(100),
        stop=Decimal(99),
        step=Decimal(1),
        caps=(Cap("max_gross_exposure", Decimal(-3), "full"),),
    )
    assert sizing.quantity == 0
    assert sizing.bound_by == "max_gross_exposure"


def test_an_entry_equal_to_its_stop_cannot_be_sized() -> None:
    with pytest.raises(ValueError, match="risk per unit is 0"):
        size_from_risk(
            equity=Decimal(1), risk_fraction=Decimal("0.01"), entry=Decimal(5), stop=Decimal(5), step=Decimal(1)
        )


def test_floor_to_keeps_the_step_scale() -> None:
    assert floor_to(Decimal("0.41666666"), Decimal("0.0001")) == Decimal("0.4166")
    assert floor_to(Decimal("-2"), Decimal(1)) == 0
