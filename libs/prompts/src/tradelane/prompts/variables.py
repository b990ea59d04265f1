"""Every variable a template can use: its name, its type and what it holds.

All template types see all variables; ``analyses`` is empty outside consolidation templates.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variable:
    """One template variable as documented to users (``GET /api/prompts/variables``)."""

    name: str
    type: str
    description: str
    example: str


VARIABLES: tuple[Variable, ...] = (
    Variable("symbol", "str", "Ticker of the instrument.", "{{ symbol }} -> AAPL"),
    Variable("symbol_description", "str", "Long name of the instrument ('' when unknown).", "{{ symbol_description }}"),
    Variable("exchange", "str", "Exchange the bars come from.", "{{ exchange }} -> NASDAQ"),
    Variable("currency", "str", "ISO currency of the prices.", "{{ currency }} -> USD"),
    Variable("asset_type", "str", "IB secType: STK, ETF, CASH, FUT, IND or CRYPTO.", "{{ asset_type }}"),
    Variable("min_tick", "float", "Smallest price increment; the price filter rounds to it.", "{{ min_tick }}"),
    Variable(
        "timeframe",
        "str",
        "Bar size this prompt is about; in a consolidation, the strategy's bar size.",
        "{{ timeframe }} -> 1 day",
    ),
    Variable("base_timeframe", "str", "The strategy's bar size.", "{{ base_timeframe }} -> 1 day"),
    Variable(
        "is_base_timeframe",
        "bool",
        "False when this prompt is about an extra timeframe of analysis.timeframes.",
        "{% if not is_base_timeframe %}higher/lower timeframe{% endif %}",
    ),
    Variable(
        "timeframes",
        "list[str]",
        "Every timeframe analysed in this execution, base first.",
        "{{ timeframes | join(', ') }}",
    ),
    Variable("latest_price", "float", "Close of the last bar.", "{{ latest_price | price }}"),
    Variable(
        "last_bar_time", "datetime", "Start of the last bar (UTC).", "{{ last_bar_time | date('%Y-%m-%d %H:%M') }}"
    ),
    Variable(
        "bars",
        "list[dict]",
        "The last bars of this timeframe, oldest first (up to 60); each has time, open, high, low, close, volume.",
        "{% for bar in bars[-10:] %}{{ bar.close | price }} {% endfor %}",
    ),
    Variable(
        "bar_summary",
        "dict",
        "Summary of bars: count, first_time, last_time, open (first open), high, low, close (last close), "
        "change (close - open), change_ratio (change / open), average_volume, last_volume.",
        "{{ bar_summary.change_ratio | percent }}",
    ),
    Variable(
        "indicators",
        "dict[str, float | None]",
        "Latest value of every indicator output, by key: sma_20, ema_50, rsi_14, macd, macd_signal, macd_hist, "
        "bb_upper, bb_middle, bb_lower, supertrend, supertrend_direction (+1 up, -1 down), atr_14, obv, "
        "volume_ma_20... A key the strategy does not compute reads as none.",
        "{{ indicators.rsi_14 | number(1) }}",
    ),
    Variable(
        "previous_indicators",
        "dict[str, float | None]",
        "The same keys one bar earlier.",
        "{{ previous_indicators.macd_hist | number(3) }}",
    ),
    Variable(
        "patterns",
        "list[dict]",
        "Candlestick patterns TA-Lib found on the last bars: pattern, time, strength (+100 bullish, -100 "
        "bearish, 200 confirmed), bullish.",
        "{% for hit in patterns %}{{ hit.pattern }} {{ hit.strength }}{% endfor %}",
    ),
    Variable("chart_attached", "bool", "Whether a chart image is sent with this prompt.", "{% if chart_attached %}"),
    Variable(
        "strategy",
        "dict",
        "The strategy's parameters: name, description, bar_size, duration, indicators (list of specs), risk "
        "(account_size, risk_per_trade, min_risk_reward, min_profit_margin, min_confidence, stop_atr_multiple, "
        "target_r_multiples, signal_ttl_hours), analysis (model, temperature, max_tokens, language, timeframes).",
        "{{ strategy.risk.min_risk_reward }}",
    ),
    Variable("language", "str", "Language of the analysis: en or zh.", "{% if language == 'zh' %}"),
    Variable(
        "analyses",
        "list[dict]",
        "Consolidation only: each timeframe's reading, base first: timeframe, bias, trend, confidence, support, "
        "resistance, suggested_entry, suggested_stop, suggested_targets, key_factors, reasoning.",
        "{% for item in analyses %}{{ item.timeframe }}: {{ item.bias }}{% endfor %}",
    ),
    Variable(
        "answer_schema", "str", "JSON schema the answer must follow (for the system message).", "{{ answer_schema }}"
    ),
    Variable(
        "now",
        "datetime",
        "When the prompt was rendered (UTC). A prompt that prints it differs on every run, so its answers "
        "are never served from the response cache; prefer last_bar_time.",
        "{{ now | date('%Y-%m-%d %H:%M') }}",
    ),
    Variable("today", "str", "The date of now, YYYY-MM-DD (same caching caveat).", "{{ today }}"),
)

VARIABLE_NAMES: frozenset[str] = frozenset(variable.name for variable in VARIABLES)
