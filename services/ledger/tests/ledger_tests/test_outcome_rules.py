"""The outcome rules on hand-made bars: stop first, target first, both in one bar, gaps, expiry, HOLDs and fills."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tradelane.contracts.events import Action
from tradelane.contracts.outcomes import OutcomeKind
from tradelane.ledger.outcome_rules import (
    PriceBar,
    TradeFill,
    TradePlan,
    Window,
    judge_fills,
    judge_hold,
    judge_trade,
)

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
WINDOW = Window(start=START, end=START + 10 * MINUTE, bar=MINUTE)
LATER = START + timedelta(hours=1)
"""Long after the window: every bar is complete and the window has passed."""
BUY = TradePlan(Action.BUY, entry=Decimal(100), stop=Decimal(98), target=Decimal(104))
SELL = TradePlan(Action.SELL, entry=Decimal(100), stop=Decimal(102), target=Decimal(96))


def bars(*ohlc: tuple[float, float, float, float]) -> list[PriceBar]:
    """One bar a minute from START: (open, high, low, close) each."""
    return [PriceBar(START + i * MINUTE, *(Decimal(str(price)) for price in prices)) for i, prices in enumerate(ohlc)]


@dataclass(frozen=True)
class Case:
    plan: TradePlan
    bars: list[PriceBar]
    kind: OutcomeKind
    exit_price: Decimal | None
    r: Decimal | None
    mfe: Decimal | None
    mae: Decimal | None
    exit_bar: int | None


CASES = {
    "buy: stop first": Case(
        BUY, bars((100, 101, 99, 100), (100, 100.5, 97.5, 98)), OutcomeKind.STOP, Decimal(98), Decimal(-1),
        Decimal("0.5"), Decimal(1), 1,
    ),
    "buy: target first": Case(
        BUY, bars((100, 101, 99, 100.5), (100.5, 104.2, 100, 104)), OutcomeKind.TARGET, Decimal(104), Decimal(2),
        Decimal(2), Decimal("0.5"), 1,
    ),
    "buy: both in one bar counts as the stop": Case(
        BUY, bars((100, 105, 97, 101)), OutcomeKind.STOP, Decimal(98), Decimal(-1), Decimal(0), Decimal(1), 0,
    ),
    "buy: gap through the stop exits at the open": Case(
        BUY, bars((100, 101, 99.5, 100), (96.5, 97, 95, 96)), OutcomeKind.STOP, Decimal("96.5"), Decimal("-1.75"),
        Decimal("0.5"), Decimal("1.75"), 1,
    ),
    "buy: gap through the target exits at the open": Case(
        BUY, bars((105, 106, 104.5, 105)), OutcomeKind.TARGET, Decimal(105), Decimal("2.5"), Decimal("2.5"),
        Decimal(0), 0,
    ),
    "buy: expired, marked at the last close in the window": Case(
        BUY, bars(*[(100, 101, 99, 100.5)] * 10, (100, 110, 90, 100)), OutcomeKind.EXPIRED, Decimal("100.5"),
        Decimal("0.25"), Decimal("0.5"), Decimal("0.5"), 9,
    ),
    "sell: stop first": Case(
        SELL, bars((100, 102.5, 99, 102)), OutcomeKind.STOP, Decimal(102), Decimal(-1), Decimal(0), Decimal(1), 0,
    ),
    "sell: target first": Case(
        SELL, bars((100, 101, 99, 99.5), (99.5, 100, 95.5, 96)), OutcomeKind.TARGET, Decimal(96), Decimal(2),
        Decimal(2), Decimal("0.5"), 1,
    ),
    "sell: both in one bar counts as the stop": Case(
        SELL, bars((100, 103, 95, 99)), OutcomeKind.STOP, Decimal(102), Decimal(-1), Decimal(0), Decimal(1), 0,
    ),
    "sell: gap through the stop exits at the open": Case(
        SELL, bars((103, 104, 102.5, 103.5)), OutcomeKind.STOP, Decimal(103), Decimal("-1.5"), Decimal(0),
        Decimal("1.5"), 0,
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_trade_is_judged_on_the_bars_that_followed_it(case: Case) -> None:
    judged = judge_trade(case.plan, case.bars, WINDOW, LATER)
    assert judged is not None
    assert (judged.kind, judged.exit_price, judged.r_multiple) == (case.kind, case.exit_price, case.r)
    assert (judged.mfe_r, judged.mae_r) == (case.mfe, case.mae)
    assert judged.exit_at == (case.bars[case.exit_bar].time if case.exit_bar is not None else None)
    assert judged.hit == (case.r > 0 if case.r is not None else None)


def test_an_open_trade_has_no_outcome_until_its_window_has_passed() -> None:
    quiet = bars((100, 101, 99, 100), (100, 101, 99, 100))
    assert judge_trade(BUY, quiet, WINDOW, START + 3 * MINUTE) is None
    assert judge_trade(BUY, quiet, WINDOW, WINDOW.end) is None, "the window's last bar is not complete yet"
    expired = judge_trade(BUY, quiet, WINDOW, WINDOW.end + MINUTE)
    assert expired is not None
    assert expired.kind is OutcomeKind.EXPIRED


def test_a_bar_still_forming_is_not_judged() -> None:
    """It touched the target so far, but it may touch the stop before it closes, which would make it a stop."""
    forming = bars((100, 105, 99, 104))
    assert judge_trade(BUY, forming, WINDOW, START + MINUTE / 2) is None
    closed = judge_trade(BUY, forming, WINDOW, START + MINUTE)
    assert closed is not None
    assert closed.kind is OutcomeKind.TARGET


def test_bars_outside_the_window_do_not_count() -> None:
    before = PriceBar(START - MINUTE, Decimal(100), Decimal(110), Decimal(90), Decimal(100))
    judged = judge_trade(BUY, [before, *bars((100, 101, 99, 101))], WINDOW, LATER)
    assert judged is not None
    assert (judged.kind, judged.bars) == (OutcomeKind.EXPIRED, 1)


def test_a_window_without_a_bar_expires_with_no_exit_and_no_r() -> None:
    judged = judge_trade(BUY, [], WINDOW, LATER)
    assert judged is not None
    assert (judged.kind, judged.exit_price, judged.r_multiple, judged.hit) == (OutcomeKind.EXPIRED, None, None, None)


@pytest.mark.parametrize(
    ("last_close", "kind", "hit"),
    [("100.9", OutcomeKind.FLAT, True), ("99.1", OutcomeKind.FLAT, True), ("101.1", OutcomeKind.MOVED, False),
     ("98.9", OutcomeKind.MOVED, False)],
)  # fmt: skip
def test_a_hold_is_right_when_price_stays_within_half_an_atr_times_the_root_of_its_bars(
    last_close: str, kind: OutcomeKind, hit: bool
) -> None:
    """Four bars and an ATR of 1: the threshold is 0.5 x 1 x sqrt(4) = 1 either way of the close of 100."""
    closes = [(100, 101, 99, 100)] * 3 + [(100, 102, 98, float(last_close))]
    judged = judge_hold(Decimal(100), Decimal(1), bars(*closes), WINDOW, LATER)
    assert judged is not None
    assert (judged.kind, judged.hit, judged.exit_price, judged.bars) == (kind, hit, Decimal(last_close), 4)
    assert judged.r_multiple is None


def test_a_hold_is_judged_only_once_its_window_has_passed() -> None:
    assert judge_hold(Decimal(100), Decimal(1), bars((100, 120, 80, 120)), WINDOW, START + 5 * MINUTE) is None


def _fill(kind: OutcomeKind | None, quantity: int, price: str, minute: int) -> TradeFill:
    return TradeFill(
        entry=kind is None,
        kind=kind,
        quantity=Decimal(quantity),
        price=Decimal(price),
        commission=Decimal(1),
        filled_at=START + minute * MINUTE,
    )


def test_a_traded_signal_is_judged_from_its_fills_once_its_exits_closed_what_it_entered() -> None:
    fills = [_fill(None, 6, "100", 0), _fill(None, 4, "100.5", 1), _fill(OutcomeKind.TARGET, 10, "104", 7)]
    assert judge_fills(BUY, fills[:2], entry_done=True) is None, "nothing left yet"
    assert judge_fills(BUY, fills, entry_done=False) is None, "the entry may fill more"
    judged = judge_fills(BUY, fills, entry_done=True)
    assert judged is not None
    # entered 10 at 100.2 on average; R against the risk taken, 100.2 - 98 = 2.2: (104 - 100.2) / 2.2
    assert (judged.kind, judged.exit_price, judged.exit_at) == (OutcomeKind.TARGET, Decimal(104), START + 7 * MINUTE)
    assert (judged.r_multiple, judged.hit, judged.quantity) == (Decimal("1.7273"), True, Decimal(10))
    assert (judged.pnl, judged.fees) == (Decimal(35), Decimal(3))


def test_a_trade_closed_partly_by_its_stop_and_partly_otherwise_is_closed() -> None:
    fills = [_fill(None, 10, "100", 0), _fill(OutcomeKind.STOP, 5, "98", 3), _fill(OutcomeKind.TARGET, 5, "104", 5)]
    judged = judge_fills(BUY, fills, entry_done=True)
    assert judged is not None
    assert (judged.kind, judged.exit_price, judged.r_multiple) == (OutcomeKind.CLOSED, Decimal(101), Decimal("0.5"))
