"""A finished backtest: each variant traded by the shared rules on the same bars, measured, compared, reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from tradelane.backtester.results import decisions_of, directions_of, finish
from tradelane.contracts.backtest import (
    BacktestDecisionRecord,
    BacktestEstimate,
    BacktestProgress,
    BacktestRequest,
    BacktestSummary,
    SimulationCosts,
    VariantOverrides,
)
from tradelane.contracts.events import (
    Action,
    Analysis,
    Bias,
    Signal,
    SignalGenerated,
    SignalProvenance,
    SignalRejected,
)
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import AssetType, BarSize, RiskLimits, StrategyDefinition, SymbolRef
from tradelane.contracts.trading import TradingLimits
from tradelane.store.backtests import DecisionOutcome
from tradelane.trading.risk import Guardrails

T0 = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
BTC = ResolvedSymbol(
    conid=910_012, symbol="BTC", exchange="PAXOS", currency="USD", asset_type=AssetType.CRYPTO, min_tick=0.01
)
FREE = SimulationCosts(slippage_bps=Decimal(0), commission_rate=Decimal(0), commission_minimum=Decimal(0))
STRATEGY = StrategyDefinition(
    name="btc hourly",
    symbol=SymbolRef(symbol="BTC", exchange="PAXOS", asset_type=AssetType.CRYPTO),
    bar_size=BarSize.HOUR_1,
    duration="30 D",
    risk=RiskLimits(account_size=Decimal(10_000), risk_per_trade=Decimal("0.01")),
)
CHART = "ab" * 32


def hourly(*closes: float) -> list[Bar]:
    """Hourly bars from T0, each opening at the previous close."""
    opens = (closes[0], *closes[:-1])
    return [
        Bar(time=T0 + index * HOUR, open=o, high=max(o, c) + 0.5, low=min(o, c) - 0.5, close=c, volume=10)
        for index, (o, c) in enumerate(zip(opens, closes, strict=True))
    ]


def buy(decided_at: datetime, bias: Bias = "bullish") -> dict[str, Any]:
    """A BUY limit at 100, stop 98, target 104, as the signal step publishes it (JSON)."""
    msg = SignalGenerated(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=STRATEGY,
        signal=Signal(
            action=Action.BUY,
            confidence=70,
            symbol=BTC,
            entry=Decimal(100),
            stop=Decimal(98),
            targets=(Decimal(104),),
            expires_at=decided_at + timedelta(days=1),
            model="vision-test",
        ),
        analysis=Analysis(
            bias=bias, trend="uptrend", confidence=70, model="vision-test", reasoning="<script>x</script> breakout"
        ),
        provenance=SignalProvenance(
            analyst="llm",
            model="vision-test",
            chart_sha256=CHART,
            reference_price=Decimal(100),
            reference_bar_time=decided_at - HOUR,
            bar_size=BarSize.HOUR_1,
        ),
    )
    return msg.model_dump(mode="json")


def refused(decided_at: datetime) -> dict[str, Any]:
    """The BUY of :func:`buy` as a candidate the min_risk_reward rule refused (JSON)."""
    generated = SignalGenerated.model_validate(buy(decided_at))
    msg = SignalRejected(
        execution_id=generated.execution_id,
        strategy_id=generated.strategy_id,
        strategy=generated.strategy,
        rule="min_risk_reward",
        reason="risk/reward 1.5 is below 2.0",
        candidate=generated.signal,
        analysis=generated.analysis,
        provenance=generated.provenance,
    )
    return msg.model_dump(mode="json")


def decided(variant: str, seq: int, at: datetime, signal: dict[str, Any] | None, bias: str) -> tuple[Any, Any]:
    execution_id = uuid4()
    outcome = DecisionOutcome(variant, seq, at, execution_id, "done", signal, rejected_rule=None)
    record = BacktestDecisionRecord(
        variant=variant,
        seq=seq,
        decided_at=at,
        execution_id=execution_id,
        status="done",
        action="BUY" if signal else "HOLD",
        bias=bias,
        confidence=70,
        cost_usd=Decimal("0.01") if variant != "offline" else None,
    )
    return outcome, record


def summary(end: datetime, variants: tuple[VariantOverrides, ...] = ()) -> BacktestSummary:
    request = BacktestRequest(strategy_id=uuid4(), start=T0, end=end, cadence="bar", costs=FREE, variants=variants)
    return BacktestSummary(
        id=UUID(int=1),
        name="btc",
        strategy_id=request.strategy_id,
        strategy_name="btc hourly",
        request=request,
        status="running",
        estimate=BacktestEstimate(
            decisions=2, variants=("base", "offline"), model_calls=2, cached_decisions=0, cost_usd=None
        ),
        progress=BacktestProgress(
            decisions_total=4, decisions_done=4, decisions_failed=0, cache_hits=0, cache_misses=2, cost_usd=Decimal(0)
        ),
        created_at=T0,
    )


async def test_each_variant_trades_on_the_same_bars_beside_buy_and_hold() -> None:
    bars = hourly(100, 100, 101, 103, 105, 104)
    end = T0 + 6 * HOUR
    first_at, second_at = T0 + 2 * HOUR, T0 + 4 * HOUR
    base = [decided("base", 0, first_at, buy(first_at), "bullish"), decided("base", 1, second_at, None, "neutral")]
    offline = [decided("offline", 0, first_at, None, "neutral"), decided("offline", 1, second_at, None, "neutral")]
    outcomes = [outcome for outcome, _ in base + offline]
    records = [record for _, record in base + offline]
    charts: list[str] = []

    async def chart(sha: str) -> bytes | None:
        charts.append(sha)
        return b"\x89PNG not really"

    finished = await finish(
        summary(end),
        {"base": STRATEGY, "offline": STRATEGY},
        outcomes,
        records,
        instrument=BTC,
        bars=bars,
        limits=TradingLimits(),
        guards=Guardrails(),
        chart=chart,
    )
    by_variant = {variant.variant: variant for variant in finished.result.variants}
    [trade] = by_variant["base"].trades
    assert (trade.entry_price, trade.exit_price, trade.exit_reason) == (Decimal(100), Decimal(104), "target")
    assert trade.quantity == Decimal(50)  # 10,000 x 1 % / |100 - 98|
    assert by_variant["base"].metrics.model_cost == Decimal("0.02")
    assert by_variant["offline"].trades == ()
    assert by_variant["offline"].metrics.total_return == 0
    assert finished.result.buy_and_hold.trades == 1
    assert finished.result.comparison == ()
    assert charts == [CHART]
    assert "<script>x</script>" not in finished.report_html
    assert "&lt;script&gt;x&lt;/script&gt; breakout" in finished.report_html


def read_as(signal: dict[str, Any], chart_sha256: str, reasoning: str) -> dict[str, Any]:
    """``signal`` (JSON) read from another chart, with another answer."""
    signal["provenance"]["chart_sha256"] = chart_sha256
    signal["analysis"]["reasoning"] = reasoning
    return signal


async def test_the_report_shows_each_compared_variants_trades_and_highlighted_decision() -> None:
    """Both prompt versions trade; each one's decision is highlighted, with its own chart and answer, in the order
    asked (whatever the order of the stored strategies); the offline baseline's is not."""
    bars = hourly(100, 100, 101, 103, 105, 104)
    at = T0 + 2 * HOUR
    first_chart, second_chart = "01" * 32, "02" * 32
    first = decided("prompt_version=1", 0, at, read_as(buy(at), first_chart, "version one reads a breakout"), "bullish")
    second = decided("prompt_version=2", 0, at, read_as(buy(at), second_chart, "version two reads a base"), "bullish")
    offline = decided("offline", 0, at, buy(at), "bullish")
    asked = (VariantOverrides(prompt_version=1), VariantOverrides(prompt_version=2))
    charts: list[str] = []

    async def chart(sha: str) -> bytes | None:
        charts.append(sha)
        return None

    finished = await finish(
        summary(T0 + 6 * HOUR, asked),
        {"offline": STRATEGY, "prompt_version=2": STRATEGY, "prompt_version=1": STRATEGY},
        [outcome for outcome, _ in (first, second, offline)],
        [record for _, record in (first, second, offline)],
        instrument=BTC,
        bars=bars,
        limits=TradingLimits(),
        guards=Guardrails(),
        chart=chart,
    )
    assert [len(variant.trades) for variant in finished.result.variants] == [1, 1, 1]
    assert charts == [first_chart, second_chart]
    html = finished.report_html
    assert html.index("Price, with the trades of prompt_version=1") < html.index(
        "Price, with the trades of prompt_version=2"
    )
    first_section = html.index("Best and worst decisions of prompt_version=1")
    second_section = html.index("Best and worst decisions of prompt_version=2")
    assert first_section < html.index("version one reads a breakout") < second_section
    assert second_section < html.index("version two reads a base")
    assert "decision of offline" not in html
    assert "decision of offline rules analyst" not in html


def test_directions_pair_each_bias_with_the_next_decisions_price() -> None:
    bars = hourly(100, 102, 101, 99)
    records = [
        decided("base", seq, T0 + (seq + 1) * HOUR, None, bias)[1] for seq, bias in enumerate(("bullish", "bearish"))
    ]
    directions = directions_of(records, bars, BarSize.HOUR_1, T0 + 4 * HOUR)
    assert [(d.bias, d.price_at_decision, d.price_at_next_decision) for d in directions] == [
        ("bullish", Decimal(100), Decimal(102)),
        ("bearish", Decimal(102), Decimal(99)),
    ]


def test_a_generated_signal_trades_and_a_refused_candidate_or_a_failed_step_places_nothing() -> None:
    at = T0 + HOUR
    generated = DecisionOutcome("base", 0, at, uuid4(), "done", buy(at), rejected_rule=None)
    later = at + HOUR
    rejected = DecisionOutcome("base", 1, later, uuid4(), "done", refused(later), rejected_rule="min_risk_reward")
    failed = DecisionOutcome("base", 2, at + 2 * HOUR, uuid4(), "failed", None, rejected_rule=None)
    decisions = decisions_of([generated, rejected, failed])
    assert [decision.seq for decision in decisions] == [0, 1, 2]
    assert decisions[0].signal == SignalGenerated.model_validate(generated.signal)
    assert decisions[1].signal is None and decisions[2].signal is None
