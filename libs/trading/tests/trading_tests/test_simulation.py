"""The backtest's simulated venue: the broker's bracket, sizing and fill rules, on a clock taken from the bars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

from tradelane.contracts.backtest import EquityPoint, SimulationCosts
from tradelane.contracts.events import Action, Analysis, Signal, SignalGenerated, SignalProvenance
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import BarSize, RiskLimits, StrategyDefinition, SymbolRef
from tradelane.contracts.trading import TimeInForce, TradingLimits, TradingState
from tradelane.trading.orders import EntryType, plan_for_signal
from tradelane.trading.paper import PaperCosts
from tradelane.trading.risk import Approval, Exposure, assess
from tradelane.trading.simulation import Decision, Lapsed, Simulation, paper_costs, simulate

from .support import AAPL, BTC, NO_COSTS

D = Decimal
T0 = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
"""A Tuesday, 10:00 in New York: the first bar's start."""
HOUR = timedelta(hours=1)
CASH = D(10_000)
STRATEGY_ID = UUID("00000000-0000-4000-8000-00000000b001")
LIMITS = TradingLimits()
COSTS = PaperCosts(slippage_bps=D(0), commission_rate=D("0.001"), commission_minimum=D(1))


def at(hours: float) -> datetime:
    return T0 + hours * HOUR


def bars(*prices: tuple[float, float, float, float], start: datetime = T0) -> list[Bar]:
    """Hourly bars from ``start``, each given as (open, high, low, close)."""
    return [
        Bar(time=start + index * HOUR, open=o, high=h, low=lo, close=c, volume=10)
        for index, (o, h, lo, c) in enumerate(prices)
    ]


FLAT = (100, 100.5, 99.5, 100)
"""A bar that reaches neither the stop (98) nor the target (104) of the usual signal, and trades through 100."""


def signal(
    *,
    action: Action = Action.BUY,
    entry: str = "100",
    stop: str = "98",
    target: str = "104",
    instrument: ResolvedSymbol = BTC,
    decided_at: datetime = T0 + HOUR,
    seen_close: str | None = None,
) -> SignalGenerated:
    """A signal risking 1 % of equity: 10,000 x 0.01 / |100 - 98| = 50 units.

    ``seen_close``: the last close the pipeline saw, in the signal's provenance (None: no provenance).
    """
    strategy = StrategyDefinition(
        name="sim",
        symbol=SymbolRef(symbol=instrument.symbol, exchange=instrument.exchange, asset_type=instrument.asset_type),
        bar_size=BarSize.HOUR_1,
        duration="30 D",
        risk=RiskLimits(risk_per_trade=D("0.01")),
        auto_trade=True,
    )
    hold = action is Action.HOLD
    return SignalGenerated(
        execution_id=uuid4(),
        strategy_id=STRATEGY_ID,
        occurred_at=decided_at,
        strategy=strategy,
        signal=Signal(
            action=action,
            confidence=70,
            symbol=instrument,
            entry=None if hold else D(entry),
            stop=None if hold else D(stop),
            targets=() if hold else (D(target),),
            expires_at=decided_at + timedelta(days=1),
            model="offline-rules-v1",
        ),
        analysis=Analysis(bias="bullish", trend="uptrend", confidence=70, model="offline-rules-v1"),
        provenance=None
        if seen_close is None
        else SignalProvenance(
            analyst="offline",
            model="offline-rules-v1",
            reference_price=D(seen_close),
            reference_bar_time=decided_at - HOUR,
            bar_size=BarSize.HOUR_1,
        ),
    )


def decision(msg: SignalGenerated | None, decided_at: datetime = T0 + HOUR, seq: int = 0) -> Decision:
    return Decision(seq=seq, execution_id=uuid4(), decided_at=decided_at, signal=msg)


def run(
    prices: list[Bar],
    decisions: list[Decision],
    *,
    costs: PaperCosts = NO_COSTS,
    instrument: ResolvedSymbol = BTC,
    limits: TradingLimits = LIMITS,
    entry_type: EntryType = "MKT",
) -> Simulation:
    return simulate(
        instrument,
        prices,
        decisions,
        initial_cash=CASH,
        limits=limits,
        costs=costs,
        end=prices[-1].time + HOUR,
        entry_type=entry_type,
    )


def test_a_market_entry_fills_at_the_next_bars_open_with_slippage() -> None:
    """Decided half an hour into the first bar: the order meets the market at the second bar's open, not before."""
    prices = bars((100, 100.2, 99.9, 100.1), (100.5, 101, 100, 100.8), FLAT)
    costs = PaperCosts(slippage_bps=D(10), commission_rate=D(0), commission_minimum=D(0))
    result = run(prices, [decision(signal(seen_close="100"), decided_at=at(0.5))], costs=costs)
    (trade,) = result.trades
    assert trade.entry_at == at(1)
    assert trade.entry_price == D("100.61")  # 100.5 x 1.001 = 100.6005, up to the tick
    assert trade.side == "long"
    assert trade.quantity == D(50)


def test_a_decision_at_a_bars_start_trades_in_that_bar() -> None:
    """A decision at the second bar's start has seen the first bar closed; the second is its next bar."""
    prices = bars(FLAT, (101, 101.5, 100.5, 101), FLAT)
    result = run(prices, [decision(signal(), decided_at=at(1))])
    assert result.trades[0].entry_at == at(1)
    assert result.trades[0].entry_price == D(101)


def test_a_bar_touching_both_stop_and_target_fills_the_stop() -> None:
    prices = bars(FLAT, FLAT, (100, 105, 97, 101), FLAT)
    (trade,) = run(prices, [decision(signal())]).trades
    assert trade.exit_reason == "stop"
    assert trade.exit_at == at(2)
    assert trade.exit_price == D(98)
    assert trade.pnl == D(-100)  # 50 x (98 - 100), no costs


def test_a_target_hit_makes_target_minus_entry_times_quantity_less_fees() -> None:
    """A limit entry at 100 fills when a bar trades through it; the target at 104 closes it, the stop is cancelled."""
    prices = bars(FLAT, (100.4, 100.6, 99.8, 100.3), (101, 104.5, 100.5, 104.2), (103, 103, 97, 97))
    result = run(prices, [decision(signal())], costs=COSTS, entry_type="LMT")
    (trade,) = result.trades
    fees = D("5.00") + D("5.20")  # 0.1 % of 50 x 100 and of 50 x 104
    assert (trade.entry_price, trade.exit_price, trade.exit_reason) == (D(100), D(104), "target")
    assert trade.fees == fees == result.fees
    assert trade.pnl == (D(104) - D(100)) * 50 - fees
    assert result.equity[-1].equity == CASH + trade.pnl  # the stop at 98 (the last bar's low is 97) was cancelled


def test_without_provenance_the_mark_is_the_last_close_known_at_the_decision() -> None:
    """Half an hour into a bar that closes at 130, the risk engine's mark is the previous close, 100.

    Its close would put the limit entry at 100 beyond the 5 % price collar: the decision cannot have seen it.
    """
    prices = bars(FLAT, (100, 131, 100, 130), (100, 100.5, 99.5, 100), FLAT)
    result = run(prices, [decision(signal(decided_at=at(1.5)), decided_at=at(1.5))], entry_type="LMT")
    assert result.refusals == ()
    assert result.trades[0].entry_at == at(2)
    spiked = run(prices, [decision(signal(decided_at=at(2)), decided_at=at(2))], entry_type="LMT")
    assert [refused.rule for refused in spiked.refusals] == ["price_collar"]


def test_a_limit_entry_never_traded_through_expires_at_the_end_of_its_trading_day() -> None:
    """A DAY entry on crypto works until midnight UTC; a bar after it that trades through 100 fills nothing."""
    start = datetime(2025, 3, 4, 21, tzinfo=UTC)
    late = start + HOUR
    above = (101, 102, 100.5, 101)
    prices = bars(above, above, above, (100, 100, 99, 99), above, start=start)
    result = run(prices, [decision(signal(decided_at=late), decided_at=late, seq=3)], entry_type="LMT")
    midnight = datetime(2025, 3, 5, tzinfo=UTC)
    assert result.trades == ()
    assert result.lapses == (Lapsed(3, midnight, f"DAY order expired at {midnight.isoformat()}"),)
    assert result.fees == 0
    assert {point.equity for point in result.equity} == {CASH}


def test_a_signal_the_risk_engine_refuses_places_nothing() -> None:
    """A position limit of 50 leaves no room for one AAPL share at 100."""
    prices = bars(FLAT, FLAT, (100, 105, 97, 101), FLAT)
    limits = TradingLimits(max_position_notional=D(50))
    result = run(prices, [decision(signal(instrument=AAPL), seq=7)], instrument=AAPL, limits=limits)
    assert result.trades == ()
    ((seq, rule, reason),) = [(refused.seq, refused.rule, refused.reason) for refused in result.refusals]
    assert (seq, rule) == (7, "max_position_notional")
    assert "no room left under max_position_notional" in reason
    assert result.exposure == 0


def test_a_repeated_signal_while_its_bracket_works_is_refused_as_a_duplicate() -> None:
    prices = bars(FLAT, FLAT, FLAT, FLAT)
    first, second = decision(signal(), at(1), seq=0), decision(signal(decided_at=at(2)), at(2), seq=1)
    result = run(prices, [first, second])
    assert [trade.decision_seq for trade in result.trades] == [0]
    assert [(refused.seq, refused.rule) for refused in result.refusals] == [(1, "duplicate_signal")]


def test_hold_and_signal_less_decisions_place_nothing() -> None:
    prices = bars(FLAT, FLAT, FLAT)
    result = run(prices, [decision(signal(action=Action.HOLD), seq=0), decision(None, seq=1)])
    assert (result.trades, result.refusals, result.lapses, result.fees) == ((), (), (), D(0))


def test_a_position_open_at_the_end_closes_at_the_last_close_paying_its_commission() -> None:
    prices = bars(FLAT, FLAT, (100, 101, 99, 101), (101, 103, 100, 102.5))
    result = run(prices, [decision(signal())], costs=COSTS)
    (trade,) = result.trades
    assert (trade.exit_at, trade.exit_price, trade.exit_reason) == (at(3), D("102.5"), "end_of_period")
    fees = D("5.00") + D("5.12")  # 0.1 % of 50 x 100, and of 50 x 102.5 rounded to the cent
    assert trade.pnl == D("2.5") * 50 - fees
    assert result.equity[-1] == EquityPoint(time=at(3), equity=CASH + trade.pnl)


def test_the_equity_curve_marks_the_position_at_each_close_from_the_first_decision() -> None:
    """Bars before the first decision are not on the curve; the last point is after the close at the end."""
    prices = bars(FLAT, FLAT, (100, 101, 99, 100.5), (100.5, 102, 100, 101.5), (101.5, 101.5, 99.5, 100.2))
    result = run(prices, [decision(signal())])
    assert result.equity == tuple(
        EquityPoint(time=at(hours), equity=equity)
        for hours, equity in ((1, CASH), (2, CASH + 25), (3, CASH + 75), (4, CASH + 10))
    )
    assert result.exposure == 1.0


def test_the_quantity_is_the_one_the_risk_engine_sizes() -> None:
    """With a position limit of 3,000 the risk engine caps 50 units to 30; the simulation trades exactly that."""
    limits = TradingLimits(max_position_notional=D(3_000))
    msg = signal()
    plan = plan_for_signal(msg, "MKT", TimeInForce.DAY)
    exposure = Exposure(
        equity=CASH, daily_pnl=D(0), position=D(0), gross_exposure=D(0), engaged=frozenset(), mark=D(100)
    )
    approval = assess(plan, exposure, limits, TradingState.ACTIVE, "", at(1))
    assert isinstance(approval, Approval)
    (trade,) = run(bars(FLAT, FLAT, FLAT), [decision(msg)], limits=limits).trades
    assert trade.quantity == approval.quantity == D(30)


def test_simulation_costs_become_paper_costs() -> None:
    costs = SimulationCosts(slippage_bps=D(5), commission_rate=D("0.0001"), commission_minimum=D("0.5"))
    assert paper_costs(costs) == PaperCosts(slippage_bps=D(5), commission_rate=D("0.0001"), commission_minimum=D("0.5"))
