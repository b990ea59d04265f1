"""Synthetic market data for the chart tests: weekday bars and simple indicator series."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import AssetType

MakeBars = Callable[..., list[Bar]]


def _bars(
    count: int = 300,
    *,
    start: datetime = datetime(2023, 1, 2, tzinfo=UTC),
    step: timedelta = timedelta(days=1),
    weekdays_only: bool = True,
    volume: bool = True,
) -> list[Bar]:
    """A seeded random walk of ``count`` bars from ``start``, skipping weekends when asked."""
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, count)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    wick = np.abs(rng.normal(0, 0.6, count))
    volumes = rng.integers(100_000, 1_000_000, count) if volume else np.zeros(count)
    times: list[datetime] = []
    time = start
    while len(times) < count:
        if not weekdays_only or time.weekday() < 5:
            times.append(time)
        time += step
    return [
        Bar(time=t, open=o, high=max(o, c) + w, low=min(o, c) - w, close=c, volume=float(v))
        for t, o, c, w, v in zip(times, open_, close, wick, volumes, strict=True)
    ]


def _moving_average(values: np.ndarray, period: int) -> list[float | None]:
    averaged = np.convolve(values, np.ones(period) / period, mode="valid")
    return [None] * (period - 1) + [float(value) for value in averaged]


@pytest.fixture
def make_bars() -> MakeBars:
    """Build bars with other counts, steps or start times than the ``bars`` fixture."""
    return _bars


@pytest.fixture(scope="session")
def bars() -> list[Bar]:
    """300 daily bars on weekdays from Monday 2 January 2023."""
    return _bars()


@pytest.fixture(scope="session")
def weekly_bars() -> list[Bar]:
    """60 weekly bars from Monday 2 January 2023."""
    return _bars(60, step=timedelta(weeks=1), weekdays_only=False)


@pytest.fixture(scope="session")
def symbol() -> ResolvedSymbol:
    return ResolvedSymbol(conid=265598, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK)


@pytest.fixture(scope="session")
def full_series(bars: list[Bar]) -> dict[str, list[float | None]]:
    """Every series the indicators service writes, as simple synthetic shapes aligned with ``bars``."""
    close = np.array([bar.close for bar in bars])
    steps = np.arange(len(bars))
    middle = _moving_average(close, 20)
    wave = np.sin(steps / 10)
    signal = np.sin(steps / 10 - 0.3)
    return {
        "sma_20": middle,
        "sma_50": _moving_average(close, 50),
        "sma_200": _moving_average(close, 200),
        "ema_9": _moving_average(close, 9),
        "bb_middle": middle,
        "bb_upper": [None if value is None else value + 2 for value in middle],
        "bb_lower": [None if value is None else value - 2 for value in middle],
        "supertrend": [float(value) for value in close - 1.5],
        "supertrend_direction": [1.0 if step % 40 < 20 else -1.0 for step in steps],
        "volume_ma_20": _moving_average(np.array([bar.volume for bar in bars]), 20),
        "macd": [float(value) for value in wave],
        "macd_signal": [float(value) for value in signal],
        "macd_hist": [float(value) for value in wave - signal],
        "rsi_14": [float(value) for value in 50 + 30 * np.sin(steps / 7)],
        "obv": [float(value) for value in np.cumsum(np.where(steps % 3 == 0, -1.0, 1.0))],
        "atr_14": [float(value) for value in 1 + 0.2 * np.cos(steps / 5)],
    }
