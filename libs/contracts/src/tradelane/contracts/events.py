"""The events of an execution, one per pipeline step, named in the past tense."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Final, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from tradelane.contracts.envelope import Contract, Envelope
from tradelane.contracts.fields import PlainDecimal
from tradelane.contracts.market import MarketSnapshot, ObjectRef, PatternHit, ResolvedSymbol
from tradelane.contracts.payloads import BarsWindow
from tradelane.contracts.strategy import BarSize, StrategyDefinition


class Trigger(StrEnum):
    """What started an execution."""

    SCHEDULE = "schedule"
    MANUAL = "manual"
    REPLAY = "replay"
    BACKTEST = "backtest"


class ExecutionRequested(Envelope):
    """A strategy is to run now (published by the scheduler or the gateway)."""

    strategy: StrategyDefinition = Field(description="The strategy as it was at request time.")
    trigger: Trigger
    as_of: AwareDatetime = Field(
        description="End of the market data this execution reads; bars after it are not used, "
        "which makes a run reproducible."
    )
    scheduled_for: AwareDatetime | None = Field(default=None, description="The cron due time, for scheduled runs.")


class TimeframeBars(Contract):
    """The bars of one extra analysis timeframe (``strategy.analysis.timeframes``)."""

    bar_size: BarSize
    bars: BarsWindow = Field(description="Its bars, by reference.")


class BarsFetched(Envelope):
    """Step 1 and 2: the symbol was resolved and its bars fetched, at the bar size and each extra timeframe."""

    strategy: StrategyDefinition
    symbol: ResolvedSymbol
    bars: BarsWindow = Field(description="Bars at the strategy's bar size, by reference.")
    timeframes: tuple[TimeframeBars, ...] = Field(
        default=(), description="Bars of each extra timeframe the strategy analyses, in the order it lists them."
    )
    provider: str = Field(description="Which market-data provider answered ('simulated', 'ib').")


class TimeframeIndicators(Contract):
    """Every indicator of the strategy over one timeframe's bars; ``snapshot.bar_size`` names the timeframe."""

    bars: BarsWindow = Field(description="The bars the series align with, by reference.")
    series: ObjectRef = Field(
        description="The series in the payload bucket: a JSON object with one array per output (e.g. 'sma_20', "
        "'macd_hist'), aligned with bars, null where the indicator has no value yet."
    )
    patterns: tuple[PatternHit, ...] = ()
    snapshot: MarketSnapshot


class IndicatorsComputed(TimeframeIndicators, Envelope):
    """Step 3: the indicators at the strategy's bar size (the inherited fields) and at each extra timeframe."""

    strategy: StrategyDefinition
    timeframes: tuple[TimeframeIndicators, ...] = Field(
        default=(), description="The same for each extra timeframe, in the order of BarsFetched.timeframes."
    )


class TimeframeChart(Contract):
    """One timeframe's chart, as Plotly figure JSON and (when asked) a PNG, in the Object Store."""

    snapshot: MarketSnapshot
    figure: ObjectRef = Field(description="Plotly figure JSON (interactive chart).")
    png: ObjectRef | None = Field(default=None, description="PNG for vision models.")


class ChartRendered(TimeframeChart, Envelope):
    """Step 4: the chart at the strategy's bar size (the inherited fields) and one per extra timeframe."""

    strategy: StrategyDefinition
    timeframes: tuple[TimeframeChart, ...] = Field(
        default=(), description="The chart of each extra timeframe, in the order of IndicatorsComputed.timeframes."
    )


Bias = Literal["bullish", "bearish", "neutral"]
Trend = Literal["uptrend", "downtrend", "sideways"]


class Analysis(Contract):
    """A reading of the chart and indicators: the same schema whether a model or rules wrote it."""

    bias: Bias = Field(description="Which way the analyst leans.")
    trend: Trend
    confidence: int = Field(ge=0, le=100, description="How sure, 0-100.")
    support: tuple[float, ...] = Field(default=(), description="Support levels, nearest first.")
    resistance: tuple[float, ...] = Field(default=(), description="Resistance, nearest first.")
    suggested_entry: float | None = Field(default=None, gt=0)
    suggested_stop: float | None = Field(default=None, gt=0)
    suggested_targets: tuple[float, ...] = Field(default=(), description="Targets, nearest first.")
    key_factors: tuple[str, ...] = Field(default=(), description="Short reasons, most weight first.")
    reasoning: str = Field(default="", description="The analyst's explanation.")
    model: str = Field(description="Who analysed: a model name, or 'offline-rules-v1'.")


class TemplateRef(Contract):
    """The prompt template a model call rendered: a stored one (id and version) or a built-in one."""

    type: Literal["analysis", "consolidation", "system"]
    name: str = Field(description="The template's name; built-in ones are 'builtin-<type>-<language>'.")
    template_id: UUID | None = Field(default=None, description="Stored template id; None for a built-in one.")
    version: int | None = Field(default=None, ge=1, description="The version rendered; None for a built-in one.")


class LlmCall(Contract):
    """One question to the vision model and its answer, recorded in full for the lineage."""

    purpose: Literal["analysis", "consolidation"] = Field(
        description="'analysis' reads one timeframe; 'consolidation' combines the timeframes' readings."
    )
    timeframe: BarSize = Field(description="The timeframe analysed (the strategy's bar size for a consolidation).")
    provider: str = Field(description="Host of the OpenAI-compatible endpoint, e.g. 'api.openai.com'.")
    model: str
    templates: tuple[TemplateRef, ...] = Field(description="The system and the user template rendered.")
    system_prompt: str = Field(description="The rendered system message.")
    prompt: str = Field(description="The rendered user prompt.")
    images: tuple[str, ...] = Field(default=(), description="sha256 of each chart image sent, in order.")
    temperature: float
    max_tokens: int
    response_format: Literal["json_schema", "json_object", "text"] | None = Field(
        default=None, description="How the answer was asked for; None when it came from the cache."
    )
    replies: tuple[str, ...] = Field(default=(), description="Raw text of every reply, a repaired one last.")
    validation_errors: tuple[str, ...] = Field(
        default=(), description="Why a reply was not a valid answer, one per invalid reply."
    )
    parsed: Analysis | None = Field(default=None, description="The valid answer; None when there was none.")
    tokens_in: int = Field(default=0, ge=0, description="Prompt tokens, all requests of this call together.")
    tokens_out: int = Field(default=0, ge=0, description="Completion tokens, all requests of this call together.")
    latency_ms: float = Field(default=0, ge=0, description="Time spent waiting for the model.")
    cost: PlainDecimal | None = Field(
        default=None, description="Estimated cost from the price table; None if unpriced."
    )
    cached: bool = Field(default=False, description="The answer came from the response cache (no request made).")
    cache_key: str = Field(description="sha256 of (model, prompts, image hashes, parameters).")


class AnalysisCompleted(Envelope):
    """Step 5: the analyst's reading of the execution's chart(s)."""

    strategy: StrategyDefinition
    snapshot: MarketSnapshot
    analysis: Analysis
    charts: tuple[ObjectRef, ...] = Field(default=(), description="Charts the analyst was shown.")
    llm_calls: tuple[LlmCall, ...] = Field(
        default=(),
        description="Every model call behind the analysis, in order: one per timeframe, then the consolidation "
        "(empty for the offline analyst).",
    )


class Action(StrEnum):
    """What a signal says to do."""

    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"


class Signal(Contract):
    """A trade idea with its prices, checked against the strategy's risk limits."""

    action: Action
    confidence: int = Field(ge=0, le=100)
    symbol: ResolvedSymbol
    entry: PlainDecimal | None = Field(default=None, description="Entry price (None for HOLD).")
    stop: PlainDecimal | None = Field(default=None, description="Stop-loss price.")
    targets: tuple[PlainDecimal, ...] = Field(default=(), description="Take-profit prices, nearest first.")
    risk_reward: PlainDecimal | None = Field(default=None, description="Reward to the first target / risk.")
    target_r_multiples: tuple[PlainDecimal, ...] = Field(default=(), description="R of each target.")
    suggested_quantity: int | None = Field(
        default=None, ge=0, description="floor(account * risk per trade / |entry - stop|)."
    )
    expires_at: AwareDatetime
    reasons: tuple[str, ...] = Field(default=(), description="Why this action.")
    model: str = Field(description="The analyst that informed it.")


HOLD_NOTE: Final = "HOLD: "
"""How the signal rules begin the note they add to a HOLD's ``reasons`` to say why it holds."""


def hold_note(why: str) -> str:
    """The note the signal rules add to a HOLD's reasons: ``HOLD: the analysis is neutral``."""
    return f"{HOLD_NOTE}{why}"


def held_because(reasons: Sequence[str]) -> str | None:
    """Why a HOLD holds, read from its ``reasons``: the signal rules' note without ``HOLD: ``
    (``confidence 40 is below the minimum 60``); None when the rules added none.

    The note comes after the analysis's key factors, so the last reason that starts ``HOLD: `` is the rules' own
    even when a key factor happens to start so too.
    """
    notes = [reason for reason in reasons if reason.startswith(HOLD_NOTE)]
    return notes[-1].removeprefix(HOLD_NOTE) if notes else None


Analyst = Literal["llm", "offline"]


class SignalProvenance(Contract):
    """Where a signal came from, in a few fields: who analysed which chart with which prompt, at what cost,
    and the market it was made in (what the signals ledger needs to judge it later).

    The signal step copies it from the analysis it read, so a consumer of signals needs no other message.
    """

    analyst: Analyst = Field(description="'llm' when a model was asked (or its cached answer used), else 'offline'.")
    model: str = Field(description="The model that analysed, or the offline analyst's name.")
    llm_provider: str | None = Field(default=None, description="Host of the model's endpoint; None offline.")
    prompt_template_id: UUID | None = Field(
        default=None, description="The stored analysis prompt template rendered; None for a built-in one or offline."
    )
    prompt_name: str | None = Field(
        default=None, description="The analysis template's name ('builtin-analysis-en' for a built-in one)."
    )
    prompt_version: int | None = Field(default=None, ge=1, description="Its version; None for a built-in one.")
    chart_sha256: str | None = Field(default=None, description="sha256 of the first chart the analyst was shown.")
    tokens_in: int = Field(default=0, ge=0, description="Prompt tokens of every model call behind the analysis.")
    tokens_out: int = Field(default=0, ge=0, description="Completion tokens of every model call behind it.")
    cost: PlainDecimal | None = Field(default=None, description="Estimated cost of those calls; None if unpriced.")
    reference_price: PlainDecimal = Field(description="The last close the signal was made at.")
    reference_bar_time: AwareDatetime = Field(description="Start of the last bar the signal saw.")
    bar_size: BarSize = Field(description="The strategy's bar size: outcomes are judged on bars of this size.")
    atr: PlainDecimal | None = Field(default=None, description="The ATR the signal rules used; None if there was none.")


class SignalGenerated(Envelope):
    """Step 6: a signal passed every rule (a HOLD is a valid signal: do nothing)."""

    strategy: StrategyDefinition
    signal: Signal
    analysis: Analysis
    provenance: SignalProvenance | None = Field(
        default=None, description="Where the signal came from; None from a signal step older than the ledger."
    )


class SignalRejected(Envelope):
    """Step 6: the candidate signal broke a rule, named in ``rule``."""

    strategy: StrategyDefinition
    rule: str = Field(description="The rule broken, e.g. 'min_risk_reward'.")
    reason: str = Field(description="What was wrong, with the numbers.")
    candidate: Signal
    analysis: Analysis
    provenance: SignalProvenance | None = Field(
        default=None, description="Where the candidate came from; None from a signal step older than the ledger."
    )


FailureKind = Literal["invalid_input", "permanent", "retries_exhausted"]


class StepFailed(Envelope):
    """A step gave up on a message: its input was bad, or its retries were spent."""

    step: str = Field(description="The step that failed, e.g. 'indicators'.")
    kind: FailureKind
    error: str = Field(description="What went wrong, in words a user can act on.")
    input_subject: str = Field(description="Subject of the message that failed.")
    input_message_id: str | None = Field(default=None, description="Its message_id, if readable.")
    deliveries: int = Field(ge=1, description="How many times it was delivered.")
