"""Contract round trips, subjects, and the validation rules the gateway relies on for 422s."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from pydantic import ValidationError

from tradelane.contracts import subjects
from tradelane.contracts.envelope import SCHEMA_VERSION, BacktestTag, Envelope
from tradelane.contracts.events import (
    Action,
    Analysis,
    BarsFetched,
    ExecutionRequested,
    Signal,
    SignalGenerated,
    SignalRejected,
    StepFailed,
    Trigger,
)
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.payloads import BarsWindow
from tradelane.contracts.strategy import (
    CHART_BARS,
    MAX_BARS,
    MAX_CHART_BARS,
    MIN_CHART_BARS,
    TIMEFRAME_HISTORY,
    AssetType,
    BarSize,
    MacdSpec,
    RsiSpec,
    StrategyDefinition,
    SymbolRef,
    duration_seconds,
)
from tradelane.contracts.subjects import Step

AS_OF = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
BACKTEST = BacktestTag(backtest_id=uuid4(), variant="base", seq=0, decided_at=AS_OF)
SIGNAL = Signal(
    action=Action.BUY,
    confidence=70,
    symbol=ResolvedSymbol(conid=1, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK),
    entry=Decimal("101.23"),
    stop=Decimal("99.10"),
    targets=(Decimal("105.50"),),
    expires_at=datetime(2026, 11, 21, tzinfo=UTC),
    model="offline-rules-v1",
)
ANALYSIS = Analysis(bias="bullish", trend="uptrend", confidence=70, model="offline-rules-v1")
LIVE_SIGNAL_FILTERS = (subjects.SIGNAL_GENERATED, subjects.SIGNAL_ALL)
"""What the broker, the notifier (``pipeline.signal.generated``) and the ledger (``pipeline.signal.*``) consume."""


def _strategy(**overrides: object) -> StrategyDefinition:
    return StrategyDefinition.model_validate({"name": "s", "symbol": {"symbol": "AAPL"}, **overrides})


def _request(backtest: BacktestTag | None = None) -> ExecutionRequested:
    return ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=_strategy(),
        trigger=Trigger.MANUAL if backtest is None else Trigger.BACKTEST,
        as_of=AS_OF,
        backtest=backtest,
    )


def _generated(backtest: BacktestTag | None = None) -> SignalGenerated:
    request = _request(backtest)
    return request.follow(SignalGenerated, strategy=request.strategy, signal=SIGNAL, analysis=ANALYSIS)


def _bars(backtest: BacktestTag | None = None) -> BarsFetched:
    request = _request(backtest)
    return request.follow(
        BarsFetched,
        strategy=request.strategy,
        symbol=SIGNAL.symbol,
        bars=BarsWindow(
            conid=1,
            bar_size=BarSize.DAY_1,
            count=1,
            first_bar_time=AS_OF,
            last_bar=Bar(time=AS_OF, open=1, high=2, low=0.5, close=1.5, volume=10),
            sha256="0" * 64,
            chunks=("1" * 64,),
        ),
        provider="test",
    )


def _rejected(backtest: BacktestTag | None = None) -> SignalRejected:
    request = _request(backtest)
    return request.follow(
        SignalRejected,
        strategy=request.strategy,
        rule="min_risk_reward",
        reason="x",
        candidate=SIGNAL,
        analysis=ANALYSIS,
    )


def test_execution_requested_round_trips_through_json() -> None:
    request = _request()
    assert ExecutionRequested.model_validate_json(request.model_dump_json()) == request


def test_signal_prices_stay_decimal_through_json() -> None:
    decoded = SignalGenerated.model_validate_json(_generated().model_dump_json())
    assert decoded.signal.entry == Decimal("101.23")
    assert isinstance(decoded.signal.targets[0], Decimal)


def test_follow_carries_the_execution_and_points_at_its_cause() -> None:
    request = _request()
    failure = request.follow(
        StepFailed, step="market_data", kind="permanent", error="x", input_subject="s", deliveries=1
    )
    assert failure.execution_id == request.execution_id
    assert failure.strategy_id == request.strategy_id
    assert failure.causation_id == request.message_id


def test_follow_derives_the_same_message_id_each_time() -> None:
    """Handling a redelivered message again must produce a message JetStream de-duplicates."""
    request = _request()
    first = request.follow(StepFailed, step="a", kind="permanent", error="x", input_subject="s", deliveries=1)
    second = request.follow(StepFailed, step="a", kind="permanent", error="x", input_subject="s", deliveries=2)
    assert first.message_id == second.message_id


def test_messages_are_frozen() -> None:
    request = _request()
    with pytest.raises(ValidationError):
        request.trigger = Trigger.SCHEDULE  # type: ignore[misc]


def test_unknown_fields_are_ignored_for_independent_deploys() -> None:
    body = _request().model_dump(mode="json") | {"added_by_a_newer_producer": 1}
    assert ExecutionRequested.model_validate(body).trigger is Trigger.MANUAL


def test_naive_datetimes_are_refused() -> None:
    body = _request().model_dump(mode="json") | {"as_of": "2026-11-20T21:00:00"}
    with pytest.raises(ValidationError, match="as_of"):
        ExecutionRequested.model_validate(body)


def test_a_newer_schema_version_is_refused_naming_it() -> None:
    body = _request().model_dump(mode="json") | {"schema_version": SCHEMA_VERSION + 1}
    with pytest.raises(
        ValidationError, match=f"schema_version {SCHEMA_VERSION + 1} is newer than the {SCHEMA_VERSION}"
    ):
        ExecutionRequested.model_validate(body)


@pytest.mark.parametrize("version", [0, -1, "1", True, 1.0, None])
def test_a_schema_version_never_written_is_refused(version: object) -> None:
    body = _request().model_dump(mode="json") | {"schema_version": version}
    with pytest.raises(ValidationError, match="schema_version"):
        ExecutionRequested.model_validate(body)


def test_every_event_has_a_subject_and_back() -> None:
    for subject in (
        subjects.EXECUTION_REQUESTED,
        subjects.MARKET_DATA_FETCHED,
        subjects.INDICATORS_COMPUTED,
        subjects.CHART_RENDERED,
        subjects.ANALYSIS_COMPLETED,
        subjects.SIGNAL_GENERATED,
        subjects.SIGNAL_REJECTED,
        subjects.STEP_FAILED,
    ):
        event_type = subjects.event_type_for(subject)
        assert event_type is not None
        assert subject.startswith("pipeline.")


@pytest.mark.parametrize(
    ("subject", "stream"),
    [
        (subjects.SIGNAL_GENERATED, subjects.PIPELINE_STREAM),
        (subjects.PIPELINE_ALL, subjects.PIPELINE_STREAM),
        (subjects.ORDER_FILLED, subjects.TRADING_STREAM),
        (subjects.TRADING_ALL, subjects.TRADING_STREAM),
        (subjects.dead_letter(subjects.ORDER_FILLED), subjects.DEAD_LETTER_STREAM),
        (subjects.BROKER_PLACE_ORDER, None),
        (subjects.health_of("broker"), None),
        (subjects.DEBUG_ALL, None),
    ],
)
def test_a_subject_belongs_to_the_stream_of_its_first_token(subject: str, stream: str | None) -> None:
    assert subjects.stream_of(subject) == stream


@pytest.mark.parametrize(
    "subject",
    [
        subjects.dead_letter(subjects.SIGNAL_GENERATED),
        subjects.dead_letter(subjects.ORDER_FILLED),
        subjects.DEAD_LETTER_ALL,
    ],
)
def test_a_dead_letter_subject_is_known_as_one_and_gives_back_its_original(subject: str) -> None:
    assert subjects.is_dead_letter(subject)
    assert subjects.dead_letter(subjects.original_of(subject)) == subject


@pytest.mark.parametrize(
    "subject",
    [
        subjects.SIGNAL_GENERATED,
        subjects.ORDER_FILLED,
        subjects.health_of("broker"),
        "debug.deadletter.x",
        "deadletters.x",
    ],
)
def test_any_other_subject_is_no_dead_letter_and_its_own_original(subject: str) -> None:
    assert not subjects.is_dead_letter(subject)
    assert subjects.original_of(subject) == subject


def test_each_step_consumes_the_previous_steps_subjects() -> None:
    order = list(subjects.Step)
    for previous, step in itertools.pairwise(order):
        assert {subjects.step_of(subject) for subject in subjects.consumed_by(step)} == {previous}


def test_the_indicators_consume_the_bars_of_executions_that_are_no_backtests_and_of_backtests() -> None:
    """Exactly those two subjects: nothing else published under ``pipeline.market_data`` one day."""
    assert subjects.consumed_by(Step.INDICATORS) == (
        "pipeline.market_data.fetched",
        "pipeline.market_data.fetched.backtest",
    )
    assert subjects.produced_by(Step.MARKET_DATA) == subjects.consumed_by(Step.INDICATORS)


@pytest.mark.parametrize("step", [Step.MARKET_DATA, Step.CHART, Step.ANALYSIS, Step.SIGNAL])
def test_the_other_steps_consume_one_subject_for_every_execution(step: Step) -> None:
    assert len(subjects.consumed_by(step)) == 1


@pytest.mark.parametrize(
    ("event", "subject"),
    [
        (_generated(BACKTEST), "pipeline.signal.generated.backtest"),
        (_rejected(BACKTEST), "pipeline.signal.rejected.backtest"),
        (_bars(BACKTEST), "pipeline.market_data.fetched.backtest"),
        (_generated(None), "pipeline.signal.generated"),
        (_rejected(None), "pipeline.signal.rejected"),
        (_bars(None), "pipeline.market_data.fetched"),
    ],
)
def test_bars_and_signals_go_on_their_backtest_subject_exactly_when_their_execution_is_a_backtests(
    event: Envelope, subject: str
) -> None:
    assert subjects.subject_for(event) == subject


def test_a_backtests_other_events_keep_their_subjects() -> None:
    """Only the bars and the signal step's events are kept apart: requests and failures of all executions share their
    subjects."""
    request = _request(BACKTEST)
    failure = request.follow(
        StepFailed, step="indicators", kind="permanent", error="x", input_subject="s", deliveries=1
    )
    assert subjects.subject_for(request) == subjects.EXECUTION_REQUESTED
    assert subjects.subject_for(failure) == subjects.STEP_FAILED


@pytest.mark.parametrize("subject", [subjects.SIGNAL_GENERATED_BACKTEST, subjects.SIGNAL_REJECTED_BACKTEST])
def test_a_backtests_signal_subject_matches_no_live_consumers_filter_but_the_backtesters_and_the_lineages(
    subject: str,
) -> None:
    assert [live for live in LIVE_SIGNAL_FILTERS if subjects.matches(live, subject)] == []
    assert subjects.matches(subjects.BACKTEST_SIGNAL_ALL, subject)
    assert subjects.matches(subjects.PIPELINE_ALL, subject)
    assert subjects.stream_of(subject) == subjects.PIPELINE_STREAM


@pytest.mark.parametrize("subject", [subjects.SIGNAL_GENERATED, subjects.SIGNAL_REJECTED])
def test_a_live_signal_subject_does_not_match_the_backtesters_filter(subject: str) -> None:
    assert not subjects.matches(subjects.BACKTEST_SIGNAL_ALL, subject)
    assert subjects.matches(subjects.SIGNAL_ALL, subject)


def test_a_backtests_bars_subject_matches_not_the_live_one_but_the_lineages() -> None:
    """The broker subscribes to ``pipeline.market_data.fetched`` for its marks and paper fills."""
    subject = subjects.MARKET_DATA_FETCHED_BACKTEST
    assert not subjects.matches(subjects.MARKET_DATA_FETCHED, subject)
    assert subjects.matches(subjects.PIPELINE_ALL, subject)
    assert subjects.stream_of(subject) == subjects.PIPELINE_STREAM


@pytest.mark.parametrize(
    ("subject", "contract", "step"),
    [
        (subjects.SIGNAL_GENERATED_BACKTEST, SignalGenerated, Step.SIGNAL),
        (subjects.SIGNAL_REJECTED_BACKTEST, SignalRejected, Step.SIGNAL),
        (subjects.MARKET_DATA_FETCHED_BACKTEST, BarsFetched, Step.MARKET_DATA),
    ],
)
def test_a_backtests_subject_is_read_as_the_step_output_it_carries(
    subject: str, contract: type[Envelope], step: Step
) -> None:
    """The lineage, replays, redrives and ``tail`` find the contract and the step from the subject."""
    assert subjects.event_type_for(subject) is contract
    assert subjects.step_of(subject) is step
    assert subject in subjects.produced_by(step)
    assert subjects.original_of(subjects.dead_letter(subject)) == subject


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"symbol": {"symbol": "  "}}, "symbol"),
        ({"bar_size": "2 days"}, "bar_size"),
        ({"duration": "1 year"}, "duration"),
        ({"indicators": [{"kind": "ichimoku"}]}, "indicators"),
        ({"indicators": [{"kind": "rsi", "period": 1}]}, "period"),
        ({"schedule": {"cron": "* * *"}}, "cron"),
        ({"schedule": {"timezone": "Mars/Olympus"}}, "timezone"),
        ({"risk": {"risk_per_trade": "1.5"}}, "risk_per_trade"),
        ({"risk": {"account_size": "0"}}, "account_size"),
        ({"chart_bars": MIN_CHART_BARS - 1}, "chart_bars"),
        ({"chart_bars": MAX_CHART_BARS + 1}, "chart_bars"),
    ],
)
def test_bad_strategy_values_are_refused_naming_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        _strategy(**overrides)
    assert any(field in ".".join(str(part) for part in error["loc"]) for error in raised.value.errors())


def test_rsi_levels_must_be_ordered() -> None:
    with pytest.raises(ValidationError, match="oversold"):
        RsiSpec(overbought=30, oversold=70)


def test_macd_fast_must_be_faster() -> None:
    with pytest.raises(ValidationError, match="fast_period"):
        MacdSpec(fast_period=26, slow_period=12)


def test_a_strategy_stored_before_chart_bars_existed_charts_the_default_window() -> None:
    stored = _strategy().model_dump(mode="json")
    del stored["chart_bars"]
    assert StrategyDefinition.model_validate(stored).chart_bars == CHART_BARS


def test_history_larger_than_one_message_is_refused() -> None:
    with pytest.raises(ValidationError, match=f"at most {MAX_BARS}"):
        _strategy(bar_size=BarSize.MIN_1.value, duration="1 Y")


def test_extra_timeframes_skip_the_bar_size_and_repeats_in_the_order_asked() -> None:
    assert _strategy(analysis={"timeframes": ["1 week", "1 day", "1 week"]}).extra_timeframes == (BarSize.WEEK_1,)
    assert _strategy(analysis={"timeframes": ["1 week", "1 hour"]}).extra_timeframes == (BarSize.WEEK_1, BarSize.HOUR_1)


@pytest.mark.parametrize("bar_size", list(BarSize))
def test_every_timeframe_history_has_room_for_a_200_bar_average_and_fits_one_message(bar_size: BarSize) -> None:
    around_the_clock = duration_seconds(TIMEFRAME_HISTORY[bar_size]) // bar_size.seconds
    assert 200 <= around_the_clock <= MAX_BARS


def test_repeated_indicators_are_refused() -> None:
    with pytest.raises(ValidationError, match="sma_20"):
        _strategy(indicators=[{"kind": "ma", "period": 20}, {"kind": "ma", "period": 20}])


def test_duration_seconds_reads_ib_durations() -> None:
    assert duration_seconds("30 D") == 30 * 86400
    assert duration_seconds("2 W") == timedelta(weeks=2).total_seconds()


def test_symbol_is_upper_cased() -> None:
    assert SymbolRef(symbol=" msft ").symbol == "MSFT"
