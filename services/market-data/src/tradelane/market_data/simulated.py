"""A deterministic market for development and tests: a dozen made-up instruments with believable bars.

Prices are a pure function of the instrument and the time, so the bar that starts at a given
time has the same OHLCV whichever window it is fetched in, and a replay reads exactly the bars
the original run read. Per instrument, the log price at time ``t`` is

* the base price, plus a slow drift;
* three sinusoidal cycles with instrument-specific periods (weeks to a year and a half),
  phases and amplitudes, which give a daily strategy clear up- and down-trends within a year;
* smooth value noise in ten octaves (one minute to half a year, amplitude growing with the
  square root of the octave's length, like a random walk) whose lattice values are hashed
  from the instrument and the lattice index, which gives realistic bar-to-bar moves.

An intraday or daily bar opens at the price at its start and closes at the price at its end;
high and low widen the open-close range by a hash-seeded wick, and volume is lognormal around
the instrument's daily volume, larger on big moves. Weekly and monthly bars group the daily
bars, so they agree with them. All seeds come from ``hashlib`` (never the salted ``hash()``).

Trading calendar (UTC): stocks, ETFs and indices trade 14:30-21:00 on weekdays, forex and
futures around the clock on weekdays, crypto always. Intraday bars start on multiples of the
bar size (hourly bars at 14:00, 15:00, ...) and exist when they overlap the session; daily
bars start at 00:00 of each trading day, weekly bars on Monday 00:00, monthly bars on the 1st.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import numpy as np
import numpy.typing as npt

from tradelane.contracts.market import Bar, ResolvedSymbol, price_decimals
from tradelane.contracts.strategy import MAX_BARS, AssetType, BarSize, SymbolRef, WhatToShow, duration_seconds
from tradelane.contracts.symbols import IbStatus, SymbolDetails, SymbolSummary
from tradelane.market_data.provider import SymbolNotFoundError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
UintArray = npt.NDArray[np.uint64]

_DAY = 86_400
_WEEK = 7 * _DAY
_FIRST_MONDAY = 4 * _DAY
"""1970-01-05, the first Monday after the epoch (a Thursday)."""
_ANCHOR = 1_704_067_200
"""2024-01-01 00:00 UTC: each instrument trades near its base price around this time."""
_US_SESSION = (14 * 3600 + 30 * 60, 21 * 3600)
"""Regular US trading hours in seconds after midnight UTC."""
_SESSION_ASSETS = frozenset({AssetType.STOCK, AssetType.ETF, AssetType.INDEX})
_WEEKDAY_ASSETS = frozenset({AssetType.FOREX, AssetType.FUTURE})

_OCTAVES = tuple(60 * 4**k for k in range(10))
"""Value-noise lattice spacings in seconds: one minute to about half a year."""
_NOISE_SCALE = 0.5
"""Makes the noise's daily log moves about as large as the instrument's daily volatility."""
_CYCLES = ((30.0, 60.0, 0.25), (100.0, 170.0, 0.6), (250.0, 520.0, 0.3))
"""Per cycle: shortest and longest period in days, and amplitude per daily volatility x sqrt(period).

The middle cycle dominates: it turns within every year, so a daily strategy sees both trends.
"""
_WICK_SCALE = 0.35
_VOLUME_SPREAD = 0.35
_CANDIDATE_SPAN = 8
"""Calendar time scanned for MAX_BARS bars, in bar lengths per bar (covers the sparsest session)."""


@dataclass(frozen=True)
class SimulatedInstrument:
    """One instrument of the simulated universe and the parameters of its price path.

    ``base_price`` is roughly where it trades around 2024; ``daily_volatility`` is the standard
    deviation of its daily log returns; ``daily_volume`` is a typical day's volume (0 for an index).
    """

    conid: int
    symbol: str
    asset_type: AssetType
    exchange: str
    currency: str
    description: str
    min_tick: float
    base_price: float
    daily_volatility: float
    daily_volume: float

    @property
    def label(self) -> str:
        """How messages name the instrument, e.g. ``AAPL (STK on NASDAQ in USD)``."""
        return f"{self.symbol} ({self.asset_type.value} on {self.exchange} in {self.currency})"

    def resolved(self) -> ResolvedSymbol:
        """The instrument as a contract."""
        return self.details().resolved()

    def details(self) -> SymbolDetails:
        """The instrument as the symbol cache keeps it."""
        return SymbolDetails(
            conid=self.conid,
            symbol=self.symbol,
            asset_type=self.asset_type,
            exchange=self.exchange,
            primary_exchange=self.exchange,
            currency=self.currency,
            description=self.description,
            min_tick=self.min_tick,
            local_symbol=f"{self.symbol}.{self.currency}" if self.asset_type == AssetType.FOREX else self.symbol,
            time_zone="UTC",
            valid_exchanges=(self.exchange,),
        )


UNIVERSE: tuple[SimulatedInstrument, ...] = (
    SimulatedInstrument(
        910_001, "AAPL", AssetType.STOCK, "NASDAQ", "USD", "APPLE INC", 0.01, 190.0, 0.016, 55e6
    ),
    SimulatedInstrument(
        910_002, "MSFT", AssetType.STOCK, "NASDAQ", "USD", "MICROSOFT CORP", 0.01, 400.0, 0.015, 22e6
    ),
    SimulatedInstrument(
        910_003, "NVDA", AssetType.STOCK, "NASDAQ", "USD", "NVIDIA CORP", 0.01, 120.0, 0.030, 300e6
    ),
    SimulatedInstrument(
        910_004, "AMZN", AssetType.STOCK, "NASDAQ", "USD", "AMAZON.COM INC", 0.01, 180.0, 0.019, 45e6
    ),
    SimulatedInstrument(
        910_005, "TSLA", AssetType.STOCK, "NASDAQ", "USD", "TESLA INC", 0.01, 220.0, 0.035, 95e6
    ),
    SimulatedInstrument(
        910_006, "JPM", AssetType.STOCK, "NYSE", "USD", "JPMORGAN CHASE & CO", 0.01, 200.0, 0.013, 9e6
    ),
    SimulatedInstrument(
        910_007, "SPY", AssetType.ETF, "ARCA", "USD", "SPDR S&P 500 ETF TRUST", 0.01, 520.0, 0.010, 60e6
    ),
    SimulatedInstrument(
        910_008, "QQQ", AssetType.ETF, "NASDAQ", "USD", "INVESCO QQQ TRUST SERIES 1", 0.01, 440.0, 0.013, 40e6
    ),
    SimulatedInstrument(
        910_009, "EUR", AssetType.FOREX, "IDEALPRO", "USD", "EUROPEAN MONETARY UNION EURO", 0.00005, 1.09,
        0.0045, 1.5e9,
    ),
    SimulatedInstrument(
        910_010, "ES", AssetType.FUTURE, "CME", "USD", "E-MINI S&P 500", 0.25, 5200.0, 0.010, 1.6e6
    ),
    SimulatedInstrument(
        910_011, "SPX", AssetType.INDEX, "CBOE", "USD", "S&P 500 STOCK INDEX", 0.01, 5200.0, 0.010, 0.0
    ),
    SimulatedInstrument(
        910_012, "BTC", AssetType.CRYPTO, "PAXOS", "USD", "BITCOIN", 0.01, 60_000.0, 0.032, 25_000.0
    ),
)  # fmt: skip


class SimulatedProvider:
    """A market-data provider over ``UNIVERSE`` whose bars depend only on instrument and time."""

    name = "simulated"

    def __init__(self, universe: tuple[SimulatedInstrument, ...] = UNIVERSE) -> None:
        self._universe = universe

    async def resolve(self, ref: SymbolRef) -> ResolvedSymbol:
        """The instrument with ``ref.conid``, or with its symbol, type and currency.

        Exchange ``SMART`` matches any exchange; a ``STK`` reference also finds an ETF (IB
        lists ETFs as stocks); ``EUR.USD`` is read as symbol ``EUR`` in currency ``USD``.
        """
        return self.instrument(ref).resolved()

    async def bars(
        self,
        symbol: ResolvedSymbol,
        bar_size: BarSize,
        duration: str,
        end: datetime,
        *,
        use_rth: bool = True,
        what_to_show: WhatToShow = "TRADES",
    ) -> tuple[Bar, ...]:
        """Bars starting after ``end - duration`` and before ``end``, oldest first, at most ``MAX_BARS``.

        The bar in progress at ``end`` is included, as IB includes it, with its complete values.
        The simulated sessions are regular hours only and one price path serves every
        ``what_to_show``, so both options are accepted and change nothing.
        """
        instrument = self._by_conid(symbol.conid)
        if end.tzinfo is None:
            msg = f"end must be an aware datetime, got naive {end.isoformat()}"
            raise ValueError(msg)
        stop = math.ceil(end.timestamp())
        start = math.floor(end.timestamp()) - duration_seconds(duration)
        return simulate_bars(instrument, bar_size, start, stop)

    async def search(self, text: str, limit: int = 10) -> tuple[SymbolSummary, ...]:
        """Instruments whose symbol or description contains ``text`` (any case).

        Exact symbol first, then symbol prefix, symbol substring, description substring.
        """
        needle = text.strip().upper()
        ranked = sorted(
            (rank, position, instrument)
            for position, instrument in enumerate(self._universe)
            if (rank := _match_rank(instrument, needle)) is not None
        )
        return tuple(instrument.details().summary() for _, _, instrument in ranked[: max(limit, 0)])

    async def details(self, conid: int) -> SymbolDetails:
        """The instrument with ``conid``; ``SymbolNotFoundError`` lists the ones there are."""
        return self._by_conid(conid).details()

    def status(self) -> IbStatus:
        """The simulated provider does not talk to IB, and says so."""
        return IbStatus(
            provider=self.name,
            connected=False,
            detail="market data comes from the simulated provider; set TRADELANE_MARKET_DATA_PROVIDER=ib "
            "and TRADELANE_IB_HOST/_PORT to use IB",
        )

    def instrument(self, ref: SymbolRef) -> SimulatedInstrument:
        """The simulated instrument ``ref`` names; ``SymbolNotFoundError`` says what is known instead."""
        if ref.conid is not None:
            return self._by_conid(ref.conid)
        symbol, currency = ref.symbol, ref.currency
        if "." in symbol:
            symbol, _, currency = symbol.partition(".")
        same_symbol = [instrument for instrument in self._universe if instrument.symbol == symbol]
        for instrument in same_symbol:
            if _matches(instrument, ref.asset_type, ref.exchange.upper(), currency):
                return instrument
        asked = f"{symbol} ({ref.asset_type.value} on {ref.exchange} in {currency})"
        if same_symbol:
            known_as = ", ".join(instrument.label for instrument in same_symbol)
            msg = f"the simulated provider has no {asked}; {symbol} is known as {known_as}"
        else:
            msg = f"the simulated provider has no {asked}; it knows {self._known()}"
        raise SymbolNotFoundError(msg)

    def _by_conid(self, conid: int) -> SimulatedInstrument:
        for instrument in self._universe:
            if instrument.conid == conid:
                return instrument
        msg = f"the simulated provider has no instrument with conid {conid}; it knows {self._known()}"
        raise SymbolNotFoundError(msg)

    def _known(self) -> str:
        return ", ".join(f"{instrument.label} conid {instrument.conid}" for instrument in self._universe)


def _matches(instrument: SimulatedInstrument, asset_type: AssetType, exchange: str, currency: str) -> bool:
    type_matches = asset_type == instrument.asset_type or (
        asset_type == AssetType.STOCK and instrument.asset_type == AssetType.ETF
    )
    return type_matches and exchange in {"SMART", instrument.exchange} and currency == instrument.currency


def _match_rank(instrument: SimulatedInstrument, needle: str) -> int | None:
    symbols = (instrument.symbol, f"{instrument.symbol}.{instrument.currency}")
    if needle in symbols:
        return 0
    if instrument.symbol.startswith(needle):
        return 1
    if needle in instrument.symbol:
        return 2
    if needle in instrument.description.upper():
        return 3
    return None


def simulate_bars(instrument: SimulatedInstrument, bar_size: BarSize, start: int, stop: int) -> tuple[Bar, ...]:
    """The instrument's bars whose start lies strictly between ``start`` and ``stop`` (epoch seconds).

    Only the last ``MAX_BARS`` are returned. Weekly and monthly bars are the daily bars grouped by
    week or month (first open, highest high, lowest low, last close, summed volume), so every
    timeframe of an instrument tells the same story, as a real market's do.
    """
    earliest = max(start, stop - MAX_BARS * bar_size.seconds * _CANDIDATE_SPAN)
    starts = _bar_starts(instrument.asset_type, bar_size, earliest, stop)[-MAX_BARS:]
    if starts.size == 0:
        return ()
    if bar_size in (BarSize.WEEK_1, BarSize.MONTH_1):
        starts, columns = _grouped_daily(instrument, starts, stop)
    else:
        columns = _bar_columns(instrument, bar_size, starts)
    return tuple(
        Bar(time=datetime.fromtimestamp(int(t), UTC), open=o, high=h, low=lo, close=c, volume=v)
        for t, o, h, lo, c, v in zip(starts.tolist(), *(column.tolist() for column in columns), strict=True)
    )


_Columns = tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]
"""Open, high, low, close (on the tick grid) and volume of a run of bars."""


def _bar_columns(instrument: SimulatedInstrument, bar_size: BarSize, starts: IntArray) -> _Columns:
    """The OHLCV of the intraday or daily bars starting at ``starts``."""
    opens_at, closes_at = _bar_spans(instrument.asset_type, bar_size, starts)
    model = _path_model(instrument)
    open_ = np.exp(model.log_price(opens_at))
    close = np.exp(model.log_price(closes_at))
    bar_volatility = instrument.daily_volatility * np.sqrt(_trading_days(instrument.asset_type, closes_at - opens_at))
    wick_up, wick_down, volume_noise = (
        _gaussian(model.seed(purpose), starts.astype(np.uint64)) for purpose in ("wick_up", "wick_down", "volume")
    )
    high = np.maximum(open_, close) * np.exp(_WICK_SCALE * bar_volatility * np.abs(wick_up))
    low = np.minimum(open_, close) * np.exp(-_WICK_SCALE * bar_volatility * np.abs(wick_down))
    move = np.abs(np.log(close / open_)) / bar_volatility
    volume = np.round(
        instrument.daily_volume
        * _trading_days(instrument.asset_type, closes_at - opens_at)
        * np.exp(_VOLUME_SPREAD * volume_noise - _VOLUME_SPREAD**2 / 2)
        * (0.7 + 0.4 * move)
    )
    tick = instrument.min_tick
    return (_to_tick(open_, tick), _to_tick(high, tick), _to_tick(low, tick), _to_tick(close, tick), volume)


def _grouped_daily(instrument: SimulatedInstrument, periods: IntArray, stop: int) -> tuple[IntArray, _Columns]:
    """The daily bars from ``periods[0]`` to ``stop`` grouped by period (each period's start in ``periods``).

    A period without a trading day has no bar; the period in progress at ``stop`` holds the days so far.
    """
    days = _bar_starts(instrument.asset_type, BarSize.DAY_1, int(periods[0]) - 1, stop)
    if days.size == 0:
        none = np.empty(0)
        return periods[:0], (none, none, none, none, none)
    open_, high, low, close, volume = _bar_columns(instrument, BarSize.DAY_1, days)
    period_of_day = np.searchsorted(periods, days, side="right") - 1
    traded = np.unique(period_of_day)
    first = np.searchsorted(period_of_day, traded, side="left")
    last = np.searchsorted(period_of_day, traded, side="right") - 1
    columns = (
        open_[first],
        np.maximum.reduceat(high, first),
        np.minimum.reduceat(low, first),
        close[last],
        np.add.reduceat(volume, first),
    )
    return periods[traded], columns


def _bar_starts(asset_type: AssetType, bar_size: BarSize, start: int, stop: int) -> IntArray:
    """Start times of the bars that exist (trading calendar) strictly between start and stop."""
    if bar_size == BarSize.MONTH_1:
        months = np.arange(
            np.datetime64(start, "s").astype("datetime64[M]"),
            np.datetime64(stop, "s").astype("datetime64[M]") + 1,
        )
        starts = months.astype("datetime64[s]").astype(np.int64)
    elif bar_size == BarSize.WEEK_1:
        first = (start - _FIRST_MONDAY) // _WEEK
        starts = _FIRST_MONDAY + np.arange(first, (stop - _FIRST_MONDAY) // _WEEK + 1, dtype=np.int64) * _WEEK
    else:
        size = bar_size.seconds
        starts = np.arange(start // size, stop // size + 1, dtype=np.int64) * size
        starts = starts[_trades(asset_type, starts, size)]
    return starts[(starts > start) & (starts < stop)]


def _trades(asset_type: AssetType, starts: IntArray, size: int) -> npt.NDArray[np.bool_]:
    if asset_type == AssetType.CRYPTO:
        return np.ones(starts.shape, dtype=np.bool_)
    weekday = (starts // _DAY + 3) % 7
    is_weekday = weekday < 5
    if asset_type in _WEEKDAY_ASSETS or size >= _DAY:
        return is_weekday
    second_of_day = starts % _DAY
    session_open, session_close = _US_SESSION
    return is_weekday & (second_of_day + size > session_open) & (second_of_day < session_close)


def _bar_spans(asset_type: AssetType, bar_size: BarSize, starts: IntArray) -> tuple[IntArray, IntArray]:
    """When each intraday or daily bar opens and closes: its own interval, clipped to the session for stocks."""
    size = bar_size.seconds
    if asset_type not in _SESSION_ASSETS:
        return starts, starts + size
    midnight = starts - starts % _DAY
    session_open, session_close = _US_SESSION
    return np.maximum(starts, midnight + session_open), np.minimum(starts + size, midnight + session_close)


def _trading_days(asset_type: AssetType, seconds: IntArray) -> FloatArray:
    """An intraday or daily bar's length in trading days, which scales its volatility and volume."""
    session_open, session_close = _US_SESSION
    trading_day = session_close - session_open if asset_type in _SESSION_ASSETS else _DAY
    return seconds / trading_day


def _to_tick(prices: FloatArray, tick: float) -> FloatArray:
    """Prices on whole ticks (one tick at least), rounded to the tick's decimals: 150.23, never 150.23000000000002."""
    return np.maximum(np.round(np.round(prices / tick) * tick, price_decimals(tick)), tick)


@dataclass(frozen=True)
class _PathModel:
    """The parameters of one instrument's log-price path, all derived from hashed seeds."""

    symbol: str
    log_base: float
    drift_per_day: float
    cycle_periods: tuple[float, ...]
    cycle_phases: tuple[float, ...]
    cycle_amplitudes: tuple[float, ...]
    octave_seeds: tuple[int, ...]
    octave_offsets: tuple[float, ...]
    octave_amplitudes: tuple[float, ...]

    def seed(self, purpose: str) -> int:
        return _seed(self.symbol, purpose)

    def log_price(self, times: IntArray) -> FloatArray:
        days = (times - _ANCHOR) / _DAY
        result = self.log_base + self.drift_per_day * days
        for period, phase, amplitude in zip(self.cycle_periods, self.cycle_phases, self.cycle_amplitudes, strict=True):
            result = result + amplitude * np.sin(2 * np.pi * days / period + phase)
        for spacing, seed, offset, amplitude in zip(
            _OCTAVES, self.octave_seeds, self.octave_offsets, self.octave_amplitudes, strict=True
        ):
            result = result + amplitude * _value_noise(seed, (times - _ANCHOR) / spacing + offset)
        return result


@cache
def _path_model(instrument: SimulatedInstrument) -> _PathModel:
    symbol = instrument.symbol
    volatility = instrument.daily_volatility
    periods = tuple(
        low + (high - low) * _unit(_seed(symbol, f"cycle_period_{index}"))
        for index, (low, high, _) in enumerate(_CYCLES)
    )
    return _PathModel(
        symbol=symbol,
        log_base=math.log(instrument.base_price),
        drift_per_day=(-0.02 + 0.10 * _unit(_seed(symbol, "drift"))) / 365,
        cycle_periods=periods,
        cycle_phases=tuple(2 * math.pi * _unit(_seed(symbol, f"cycle_phase_{i}")) for i in range(len(periods))),
        cycle_amplitudes=tuple(
            scale * volatility * math.sqrt(period) * (0.8 + 0.4 * _unit(_seed(symbol, f"cycle_size_{i}")))
            for i, (period, (_, _, scale)) in enumerate(zip(periods, _CYCLES, strict=True))
        ),
        octave_seeds=tuple(_seed(symbol, f"octave_{spacing}") for spacing in _OCTAVES),
        octave_offsets=tuple(_unit(_seed(symbol, f"octave_offset_{spacing}")) for spacing in _OCTAVES),
        octave_amplitudes=tuple(_NOISE_SCALE * volatility * math.sqrt(spacing / _DAY) for spacing in _OCTAVES),
    )


def _seed(symbol: str, purpose: str) -> int:
    digest = hashlib.sha256(f"tradelane-simulated:{symbol}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _unit(seed: int) -> float:
    """A float in [0, 1) from a seed."""
    return (seed >> 11) / 2**53


def _value_noise(seed: int, position: FloatArray) -> FloatArray:
    """Hashed values at integer positions, joined by smoothstep: a smooth, deterministic wiggle.

    The lattice values are uniform with unit variance; summed over octaves they are close to normal.
    """
    lattice = np.floor(position)
    fraction = position - lattice
    index = lattice.astype(np.int64).astype(np.uint64)
    left = _symmetric_unit(index ^ np.uint64(seed))
    right = _symmetric_unit((index + np.uint64(1)) ^ np.uint64(seed))
    weight = fraction * fraction * (3 - 2 * fraction)
    return left + (right - left) * weight


def _symmetric_unit(index: UintArray) -> FloatArray:
    """A value per index, uniform on [-sqrt(3), sqrt(3)) (mean 0, variance 1)."""
    result: FloatArray = (_splitmix64(index) >> np.uint64(11)).astype(np.float64) * (2 * math.sqrt(3) / 2**53)
    return result - math.sqrt(3)


def _gaussian(seed: int, index: UintArray) -> FloatArray:
    """A standard normal value per index (Box-Muller over two splitmix64 hashes)."""
    first = _splitmix64(index ^ np.uint64(seed))
    second = _splitmix64(first)
    uniform_1 = (first >> np.uint64(11)).astype(np.float64) / 2**53
    uniform_2 = (second >> np.uint64(11)).astype(np.float64) / 2**53
    result: FloatArray = np.sqrt(-2 * np.log1p(-uniform_1)) * np.cos(2 * np.pi * uniform_2)
    return result


def _splitmix64(values: UintArray) -> UintArray:
    """Steele, Lea and Flood's splitmix64 finaliser: a fast, well-mixed 64-bit integer hash."""
    z = values + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    result: UintArray = z ^ (z >> np.uint64(31))
    return result
