"""Extra timeframes: which ones an execution analyses, and their bars resampled from the base bars.

The charts service renders one chart, at the strategy's bar size, and the snapshot carries the
last bars at that size (up to 60). An extra, coarser timeframe (``analysis.timeframes``, for
example weekly on a daily strategy) is analysed from those bars resampled to it: buckets start
at multiples of the bar size since the epoch for intraday sizes, at 00:00 UTC for days, on
Monday 00:00 UTC for weeks and on the 1st for months (as the market-data providers align bars);
a bucket takes the first open, the highest high, the lowest low, the last close and the summed
volume. The newest bucket may be incomplete (this week so far), as on any live chart.

A timeframe finer than the bar size cannot be derived, and one that leaves fewer than
:data:`MIN_DERIVED_BARS` bars says too little; both are refused with :class:`TimeframeError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from tradelane.contracts.market import Bar
from tradelane.contracts.strategy import BarSize

MIN_DERIVED_BARS = 3
_DAY = 86_400


class TimeframeError(ValueError):
    """An extra timeframe cannot be analysed from the execution's bars; the message says why."""


def extra_timeframes(base: BarSize, wanted: Sequence[BarSize]) -> tuple[BarSize, ...]:
    """The timeframes to analyse besides ``base``, in the order asked, without repeats or ``base`` itself."""
    extra: list[BarSize] = []
    for timeframe in wanted:
        if timeframe == base or timeframe in extra:
            continue
        if timeframe.seconds < base.seconds:
            msg = (
                f"analysis.timeframes asks for {timeframe.value!r}, finer than the strategy's bar size "
                f"{base.value!r}; extra timeframes are resampled from the bar size's bars, so they must be coarser"
            )
            raise TimeframeError(msg)
        extra.append(timeframe)
    return tuple(extra)


def resample(bars: Sequence[Bar], timeframe: BarSize) -> tuple[Bar, ...]:
    """``bars`` (oldest first) aggregated into ``timeframe`` bars, oldest first."""
    buckets: dict[datetime, list[Bar]] = {}
    for bar in bars:
        buckets.setdefault(bucket_start(bar.time, timeframe), []).append(bar)
    return tuple(
        Bar(
            time=start,
            open=members[0].open,
            high=max(member.high for member in members),
            low=min(member.low for member in members),
            close=members[-1].close,
            volume=sum(member.volume for member in members),
        )
        for start, members in sorted(buckets.items())
    )


def derived_bars(bars: Sequence[Bar], base: BarSize, timeframe: BarSize) -> tuple[Bar, ...]:
    """The ``timeframe`` bars of ``bars``; raises :class:`TimeframeError` when there are too few."""
    derived = resample(bars, timeframe)
    if len(derived) < MIN_DERIVED_BARS:
        msg = (
            f"the {timeframe.value!r} timeframe leaves {len(derived)} bar(s) from the {len(bars)} recent "
            f"{base.value!r} bars, fewer than {MIN_DERIVED_BARS}; choose a timeframe closer to the bar size"
        )
        raise TimeframeError(msg)
    return derived


def bucket_start(time: datetime, timeframe: BarSize) -> datetime:
    """Start of the ``timeframe`` bar that ``time`` falls in (UTC)."""
    moment = time.astimezone(UTC)
    if timeframe == BarSize.MONTH_1:
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if timeframe == BarSize.WEEK_1:
        return midnight - timedelta(days=midnight.weekday())
    if timeframe == BarSize.DAY_1:
        return midnight
    seconds = int(moment.timestamp())
    return datetime.fromtimestamp(seconds - seconds % timeframe.seconds, UTC)
