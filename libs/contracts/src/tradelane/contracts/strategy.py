"""What a strategy is: the symbol it watches, how it reads the market, and its risk limits.

The gateway accepts these models as request bodies (so a bad value is a 422 naming the
field), stores them, and every execution carries the strategy as it was when it started.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from tradelane.contracts.envelope import Contract
from tradelane.contracts.fields import MAX_RATIO, Conid, Fraction, Money, PlainDecimal, Ratio, Text, Version


class BarSize(StrEnum):
    """Bar sizes, spelled as Interactive Brokers spells them."""

    MIN_1 = "1 min"
    MIN_5 = "5 mins"
    MIN_15 = "15 mins"
    MIN_30 = "30 mins"
    HOUR_1 = "1 hour"
    HOUR_4 = "4 hours"
    DAY_1 = "1 day"
    WEEK_1 = "1 week"
    MONTH_1 = "1 month"

    @property
    def seconds(self) -> int:
        """Nominal length of one bar in seconds (a month counts as 30 days)."""
        return _BAR_SECONDS[self]


_BAR_SECONDS = {
    BarSize.MIN_1: 60,
    BarSize.MIN_5: 300,
    BarSize.MIN_15: 900,
    BarSize.MIN_30: 1800,
    BarSize.HOUR_1: 3600,
    BarSize.HOUR_4: 14400,
    BarSize.DAY_1: 86400,
    BarSize.WEEK_1: 7 * 86400,
    BarSize.MONTH_1: 30 * 86400,
}

TIMEFRAME_HISTORY = {
    BarSize.MIN_1: "1 D",
    BarSize.MIN_5: "1 W",
    BarSize.MIN_15: "2 W",
    BarSize.MIN_30: "1 M",
    BarSize.HOUR_1: "2 M",
    BarSize.HOUR_4: "6 M",
    BarSize.DAY_1: "1 Y",
    BarSize.WEEK_1: "5 Y",
    BarSize.MONTH_1: "20 Y",
}
"""History fetched for an extra analysis timeframe (``analysis.timeframes``): about 250-400 bars
of regular trading hours, enough for a 200-bar moving average, and at most 2016 bars round the clock."""

_DURATION = re.compile(r"^(?P<count>[1-9]\d{0,4}) (?P<unit>[SDWMY])$")
_UNIT_SECONDS = {"S": 1, "D": 86400, "W": 7 * 86400, "M": 30 * 86400, "Y": 365 * 86400}
MAX_BARS = 5000
"""Most bars one execution may fetch; bar sets travel inline on the bus."""
CHART_BARS = 200
"""Bars a chart shows by default: at the default 1280 px, about five pixels per candle."""
MIN_CHART_BARS = 20
MAX_CHART_BARS = 2000
"""Bounds of ``chart_bars``: fewer than 20 candles show no shape, more than 2000 are under a pixel each."""


def duration_seconds(duration: str) -> int:
    """Calendar seconds covered by an IB duration string such as ``"6 M"``."""
    match = _DURATION.match(duration)
    if match is None:
        msg = f"duration {duration!r} is not '<count> <S|D|W|M|Y>', for example '1 Y' or '30 D'"
        raise ValueError(msg)
    return int(match["count"]) * _UNIT_SECONDS[match["unit"]]


def duration_covering(seconds: float) -> str:
    """The shortest IB duration string that covers ``seconds``: seconds up to a day (IB's limit for them), days up
    to a year, years beyond (IB refuses more than 365 days: longer durations must be given in years)."""
    if seconds <= _UNIT_SECONDS["D"]:
        return f"{max(1, math.ceil(seconds))} S"
    if seconds <= _UNIT_SECONDS["Y"]:
        return f"{math.ceil(seconds / _UNIT_SECONDS['D'])} D"
    return f"{math.ceil(seconds / _UNIT_SECONDS['Y'])} Y"


def bar_end(bar_size: BarSize, start: datetime) -> datetime:
    """When the bar of ``bar_size`` that starts at ``start`` closes: the first moment its values are final.

    Intraday and daily bars last their length in seconds. Weekly and monthly bars follow the calendar: a weekly
    bar ends at 00:00 of the first Monday after its start's day (whether the bar is dated by its Monday or by
    another day of its week), a monthly bar at 00:00 of the 1st of the next month, both in ``start``'s time zone.
    A decision at time t may see a bar only when ``bar_end(bar_size, bar.time) <= t``.
    """
    if bar_size is BarSize.WEEK_1:
        monday = start.date() + timedelta(days=7 - start.weekday())
        return datetime.combine(monday, time(), tzinfo=start.tzinfo)
    if bar_size is BarSize.MONTH_1:
        year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        return datetime(year, month, 1, tzinfo=start.tzinfo)
    return start + timedelta(seconds=bar_size.seconds)


class AssetType(StrEnum):
    """Kinds of instrument, as IB's secType."""

    STOCK = "STK"
    ETF = "ETF"
    FOREX = "CASH"
    FUTURE = "FUT"
    INDEX = "IND"
    CRYPTO = "CRYPTO"


class SymbolRef(Contract):
    """How a strategy names its instrument: by symbol (and venue), or by IB contract id."""

    symbol: Text = Field(min_length=1, max_length=32, description="Ticker, e.g. 'AAPL'.")
    exchange: Text = Field(default="SMART", min_length=1, max_length=32, description="Exchange or 'SMART'.")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$", description="ISO currency.")
    asset_type: AssetType = Field(default=AssetType.STOCK, description="IB secType.")
    conid: Conid | None = Field(default=None, description="IB contract id, if known.")

    @field_validator("symbol")
    @classmethod
    def _symbol_is_not_blank(cls, value: str) -> str:
        stripped = value.strip().upper()
        if not stripped:
            msg = "symbol must not be blank"
            raise ValueError(msg)
        return stripped


MAX_PATTERNS = 100
"""Most candlestick patterns one scan may name (TA-Lib has 61)."""
MAX_INDICATORS = 40
"""Most indicators one strategy may compute."""

PriceSource = Literal["close", "open", "high", "low", "hl2", "hlc3", "ohlc4"]
Period = Annotated[int, Field(ge=2, le=500)]


class MovingAverageSpec(Contract):
    """A simple, exponential or weighted moving average of a price source."""

    kind: Literal["ma"] = "ma"
    period: Period = 20
    ma_type: Literal["SMA", "EMA", "WMA"] = "SMA"
    source: PriceSource = "close"

    @property
    def key(self) -> str:
        suffix = "" if self.source == "close" else f"_{self.source}"
        return f"{self.ma_type.lower()}_{self.period}{suffix}"


class RsiSpec(Contract):
    """Relative Strength Index with its overbought and oversold levels."""

    kind: Literal["rsi"] = "rsi"
    period: Period = 14
    overbought: float = Field(default=70, gt=0, lt=100)
    oversold: float = Field(default=30, gt=0, lt=100)

    @model_validator(mode="after")
    def _levels_are_ordered(self) -> RsiSpec:
        if self.oversold >= self.overbought:
            msg = f"oversold ({self.oversold}) must be below overbought ({self.overbought})"
            raise ValueError(msg)
        return self

    @property
    def key(self) -> str:
        return f"rsi_{self.period}"


class MacdSpec(Contract):
    """MACD line, signal line and histogram."""

    kind: Literal["macd"] = "macd"
    fast_period: Period = 12
    slow_period: Period = 26
    signal_period: Annotated[int, Field(ge=1, le=200)] = 9

    @model_validator(mode="after")
    def _fast_is_faster(self) -> MacdSpec:
        if self.fast_period >= self.slow_period:
            msg = f"fast_period ({self.fast_period}) must be below slow_period ({self.slow_period})"
            raise ValueError(msg)
        return self

    @property
    def key(self) -> str:
        return "macd"


class BollingerSpec(Contract):
    """Bollinger Bands: a simple moving average and bands ``std_dev`` deviations away."""

    kind: Literal["bbands"] = "bbands"
    period: Period = 20
    std_dev: float = Field(default=2.0, gt=0, le=5)

    @property
    def key(self) -> str:
        return "bb"


class SuperTrendSpec(Contract):
    """SuperTrend: an ATR trailing band that flips with the trend."""

    kind: Literal["supertrend"] = "supertrend"
    period: Period = 10
    multiplier: float = Field(default=3.0, gt=0, le=10)

    @property
    def key(self) -> str:
        return "supertrend"


class AtrSpec(Contract):
    """Average True Range (Wilder)."""

    kind: Literal["atr"] = "atr"
    period: Annotated[int, Field(ge=1, le=500)] = 14

    @property
    def key(self) -> str:
        return f"atr_{self.period}"


class ObvSpec(Contract):
    """On-Balance Volume."""

    kind: Literal["obv"] = "obv"

    @property
    def key(self) -> str:
        return "obv"


class VolumeAverageSpec(Contract):
    """Simple moving average of volume."""

    kind: Literal["volume_ma"] = "volume_ma"
    period: Period = 20

    @property
    def key(self) -> str:
        return f"volume_ma_{self.period}"


class CandlePatternSpec(Contract):
    """A scan of the last bars for TA-Lib candlestick patterns.

    ``patterns`` names TA-Lib functions (``"CDLENGULFING"``); empty means every one TA-Lib has.
    The indicators service refuses names TA-Lib does not know.
    """

    kind: Literal["patterns"] = "patterns"
    patterns: tuple[Annotated[Text, Field(max_length=40)], ...] = Field(default=(), max_length=MAX_PATTERNS)
    lookback: Annotated[int, Field(ge=1, le=50)] = 5

    @field_validator("patterns")
    @classmethod
    def _pattern_names_look_right(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        upper = tuple(name.strip().upper() for name in names)
        wrong = [name for name in upper if not name.startswith("CDL")]
        if wrong:
            msg = f"pattern names are TA-Lib CDL* functions; not: {', '.join(wrong)}"
            raise ValueError(msg)
        return upper

    @property
    def key(self) -> str:
        return "patterns"


IndicatorSpec = Annotated[
    MovingAverageSpec
    | RsiSpec
    | MacdSpec
    | BollingerSpec
    | SuperTrendSpec
    | AtrSpec
    | ObvSpec
    | VolumeAverageSpec
    | CandlePatternSpec,
    Field(discriminator="kind"),
]


def default_indicators() -> tuple[IndicatorSpec, ...]:
    """The indicator set the original system charted: SMA 20/50/200, BB, SuperTrend, and more."""
    return (
        MovingAverageSpec(period=20),
        MovingAverageSpec(period=50),
        MovingAverageSpec(period=200),
        BollingerSpec(),
        SuperTrendSpec(),
        MacdSpec(),
        RsiSpec(),
        AtrSpec(),
        ObvSpec(),
        VolumeAverageSpec(),
        CandlePatternSpec(),
    )


class RiskLimits(Contract):
    """Per-strategy limits the signal step enforces in code (not only in a prompt)."""

    account_size: Money = Field(default=Decimal(100_000), description="Equity in currency.")
    risk_per_trade: Fraction = Field(default=Decimal("0.01"), description="Fraction of equity risked per trade.")
    min_risk_reward: PlainDecimal = Field(
        default=Decimal("1.5"),
        gt=0,
        le=MAX_RATIO,
        decimal_places=6,
        description="Smallest reward/risk a signal may have.",
    )
    min_profit_margin: PlainDecimal = Field(
        default=Decimal("0.01"),
        ge=0,
        le=1,
        decimal_places=6,
        description="Smallest distance from entry to the first target, as a fraction of entry.",
    )
    min_confidence: int = Field(
        default=55, ge=0, le=100, description="Below this analysis confidence, the action is HOLD."
    )
    stop_atr_multiple: PlainDecimal = Field(
        default=Decimal(2), gt=0, le=20, decimal_places=6, description="Stop distance from entry in ATRs."
    )
    target_r_multiples: tuple[Ratio, ...] = Field(
        default=(Decimal("1.5"), Decimal(3)),
        min_length=1,
        max_length=5,
        description="Targets as multiples of the risk (conservative first) when the analysis suggests none.",
    )
    signal_ttl_hours: int = Field(default=24, ge=1, le=24 * 30, description="Signal expiry.")

    @field_validator("target_r_multiples")
    @classmethod
    def _targets_are_positive_and_ascending(cls, values: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
        if any(value <= 0 for value in values) or list(values) != sorted(values):
            msg = "target_r_multiples must be positive and in ascending order"
            raise ValueError(msg)
        return values


class Schedule(Contract):
    """When a strategy runs: a five-field cron expression in a time zone."""

    cron: Text = Field(default="*/5 * * * *", min_length=9, max_length=120, description="Cron, e.g. '0 16 * * 1-5'.")
    timezone: Text = Field(default="UTC", max_length=64, description="IANA time zone the cron is read in.")

    @field_validator("timezone")
    @classmethod
    def _timezone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            msg = f"unknown time zone {value!r}; use an IANA name such as 'America/New_York'"
            raise ValueError(msg) from error
        return value

    @field_validator("cron")
    @classmethod
    def _cron_has_five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            msg = f"cron {value!r} must have five fields: minute hour day-of-month month weekday"
            raise ValueError(msg)
        return value


class AnalysisSettings(Contract):
    """How step 5 analyses an execution: which analyst, model, prompt and timeframes."""

    analyst: Literal["auto", "offline", "llm"] = Field(
        default="auto",
        description="'auto' uses the configured LLM endpoint when there is one, else the offline analyst.",
    )
    model: Text | None = Field(default=None, max_length=200, description="Model name; None uses the service's default.")
    temperature: float = Field(default=0.2, ge=0, le=2)
    max_tokens: int = Field(default=2000, ge=1, le=32000)
    language: Literal["en", "zh"] = Field(default="en", description="Language of the analysis.")
    prompt_template_id: UUID | None = Field(default=None, description="Prompt template; None uses the default.")
    prompt_version: Version | None = Field(default=None, description="Pinned version; None follows the latest.")
    timeframes: tuple[BarSize, ...] = Field(
        default=(),
        max_length=3,
        description="Extra timeframes analysed besides the strategy's bar size: each is fetched with its own "
        "history (TIMEFRAME_HISTORY), computed, charted and analysed, then a consolidation combines the readings.",
    )
    cache: bool = Field(default=False, description="Reuse a cached LLM answer for identical requests.")
    on_failure: Literal["fail", "hold"] = Field(
        default="fail",
        description="When the analyst fails: fail the execution, or signal HOLD (analysis_unavailable).",
    )


WhatToShow = Literal["TRADES", "MIDPOINT", "BID", "ASK", "BID_ASK", "ADJUSTED_LAST"]


class StrategyDefinition(Contract):
    """Everything a user sets on a strategy."""

    name: Text = Field(min_length=1, max_length=120, description="Unique name.")
    description: Text = Field(default="", max_length=2000)
    symbol: SymbolRef
    bar_size: BarSize = BarSize.DAY_1
    duration: Text = Field(default="1 Y", max_length=16, description="History to fetch, IB style: '1 Y', '30 D'.")
    indicators: tuple[IndicatorSpec, ...] = Field(
        default_factory=default_indicators, min_length=1, max_length=MAX_INDICATORS
    )
    risk: RiskLimits = Field(default_factory=RiskLimits)
    schedule: Schedule = Field(default_factory=Schedule)
    active: bool = Field(default=True, description="Whether the scheduler runs it.")
    render_png: bool = Field(default=True, description="Render the chart to PNG (needed by vision models).")
    chart_bars: int = Field(
        default=CHART_BARS,
        ge=MIN_CHART_BARS,
        le=MAX_CHART_BARS,
        description="Bars each timeframe's chart shows, the latest ones; the indicators are still computed "
        "over the whole history, so a 200-bar average is drawn from the chart's first candle.",
    )
    use_rth: bool = Field(default=True, description="Regular trading hours only (IB useRTH).")
    what_to_show: WhatToShow = Field(default="TRADES", description="IB whatToShow for historical bars.")
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    auto_trade: bool = Field(default=False, description="Turn accepted signals into (paper) orders.")

    @field_validator("duration")
    @classmethod
    def _duration_is_ib_style(cls, value: str) -> str:
        duration_seconds(value)
        return value

    @model_validator(mode="after")
    def _history_fits_one_message(self) -> StrategyDefinition:
        bars = self.expected_bars
        if bars > MAX_BARS:
            msg = (
                f"duration {self.duration!r} at bar size {self.bar_size.value!r} is about "
                f"{bars} bars; at most {MAX_BARS}: shorten the duration or use a larger bar size"
            )
            raise ValueError(msg)
        keys = [spec.key for spec in self.indicators]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            msg = f"indicators repeat {', '.join(repeated)}; each may appear once"
            raise ValueError(msg)
        return self

    @property
    def extra_timeframes(self) -> tuple[BarSize, ...]:
        """``analysis.timeframes`` in the order asked, without the bar size itself or repeats."""
        return tuple(dict.fromkeys(frame for frame in self.analysis.timeframes if frame != self.bar_size))

    @property
    def expected_bars(self) -> int:
        """Upper bound of the bars the duration covers at this bar size (calendar time)."""
        return max(1, duration_seconds(self.duration) // self.bar_size.seconds)
