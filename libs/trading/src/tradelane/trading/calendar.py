"""When each exchange trades: a small, documented table of regular sessions (no holidays).

============================  =====================  ==============================================
calendar                      time zone              sessions (local time)
============================  =====================  ==============================================
US equities                   America/New_York       Mon-Fri 09:30-16:00
US futures (CME Globex)       America/Chicago        Sun 17:00 - Fri 16:00, daily break 16:00-17:00
Forex (IDEALPRO)              America/New_York       Sun 17:15 - Fri 17:00, daily break 17:00-17:15
Crypto (PAXOS, ZEROHASH)      UTC                    always
London (LSE)                  Europe/London          Mon-Fri 08:00-16:30
Xetra (IBIS)                  Europe/Berlin          Mon-Fri 09:00-17:30
Toronto (TSE)                 America/Toronto        Mon-Fri 09:30-16:00
Tokyo (TSEJ)                  Asia/Tokyo             Mon-Fri 09:00-11:30, 12:30-15:00
Hong Kong (SEHK)              Asia/Hong_Kong         Mon-Fri 09:30-12:00, 13:00-16:00
============================  =====================  ==============================================

A DAY order expires at the end of the trading day it was placed in (crypto: midnight UTC).
An instrument finds its calendar by exchange; ``SMART`` routing finds it by asset type and
currency (US dollar stocks and ETFs: US equities; forex; crypto). Exchange holidays and
early closes are not modelled: on a holiday the risk engine lets an order through that the
exchange would then hold until it opens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import AssetType

_MIDNIGHT = time(0)
_END_OF_DAY = time(23, 59, 59, 999_999)
"""A window or trading day that runs to midnight."""
Window = tuple[time, time]
_WEEKDAYS = range(5)
_SEARCH_DAYS = 8


@dataclass(frozen=True)
class TradingCalendar:
    """Weekly sessions of one market: for each weekday (0 = Monday) the windows it trades, local time.

    ``day_end`` is when its trading day ends (a DAY order expires then), local time.
    """

    name: str
    zone: str
    windows: dict[int, tuple[Window, ...]]
    day_end: time

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` (aware) falls in a session."""
        local = at.astimezone(ZoneInfo(self.zone))
        return any(start <= local.time() < end for start, end in self.windows.get(local.weekday(), ()))

    def session_end(self, at: datetime) -> datetime:
        """When the trading day that ``at`` belongs to ends (the next one's, outside trading days)."""
        zone = ZoneInfo(self.zone)
        local = at.astimezone(zone)
        for offset in range(_SEARCH_DAYS):
            day = local.date() + timedelta(days=offset)
            if not any(end == self.day_end for _, end in self.windows.get(day.weekday(), ())):
                continue
            ends = _moment(day, self.day_end, zone)
            if ends > local:
                return ends
        msg = f"the {self.name} calendar has no trading day ending at {self.day_end} within a week"
        raise ValueError(msg)


def _moment(day: date, at: time, zone: ZoneInfo) -> datetime:
    if at == _END_OF_DAY:
        return datetime.combine(day + timedelta(days=1), _MIDNIGHT, zone)
    return datetime.combine(day, at, zone)


def _weekdays(*windows: Window) -> dict[int, tuple[Window, ...]]:
    return dict.fromkeys(_WEEKDAYS, windows)


def _around_the_clock(sunday_open: time, daily_close: time, daily_open: time) -> dict[int, tuple[Window, ...]]:
    """Sunday evening to Friday's close, with a short break each day between close and reopen."""
    weekdays = ((_MIDNIGHT, daily_close), (daily_open, _END_OF_DAY))
    return {6: ((sunday_open, _END_OF_DAY),), **dict.fromkeys(range(4), weekdays), 4: ((_MIDNIGHT, daily_close),)}


US_EQUITIES = TradingCalendar("US equities", "America/New_York", _weekdays((time(9, 30), time(16))), time(16))
US_FUTURES = TradingCalendar(
    "US futures (CME Globex)", "America/Chicago", _around_the_clock(time(17), time(16), time(17)), time(16)
)
FOREX = TradingCalendar(
    "Forex (IDEALPRO)", "America/New_York", _around_the_clock(time(17, 15), time(17), time(17, 15)), time(17)
)
CRYPTO = TradingCalendar("Crypto", "UTC", dict.fromkeys(range(7), ((_MIDNIGHT, _END_OF_DAY),)), _END_OF_DAY)
LONDON = TradingCalendar("London (LSE)", "Europe/London", _weekdays((time(8), time(16, 30))), time(16, 30))
XETRA = TradingCalendar("Xetra (IBIS)", "Europe/Berlin", _weekdays((time(9), time(17, 30))), time(17, 30))
TORONTO = TradingCalendar("Toronto (TSE)", "America/Toronto", _weekdays((time(9, 30), time(16))), time(16))
TOKYO = TradingCalendar(
    "Tokyo (TSEJ)", "Asia/Tokyo", _weekdays((time(9), time(11, 30)), (time(12, 30), time(15))), time(15)
)
HONG_KONG = TradingCalendar(
    "Hong Kong (SEHK)", "Asia/Hong_Kong", _weekdays((time(9, 30), time(12)), (time(13), time(16))), time(16)
)

CALENDAR_OF_EXCHANGE: dict[str, TradingCalendar] = {
    **dict.fromkeys(("NASDAQ", "NYSE", "ARCA", "AMEX", "BATS", "IEX", "ISLAND", "CBOE", "NYSEARCA"), US_EQUITIES),
    **dict.fromkeys(("CME", "GLOBEX", "CBOT", "NYMEX", "COMEX"), US_FUTURES),
    "IDEALPRO": FOREX,
    **dict.fromkeys(("PAXOS", "ZEROHASH"), CRYPTO),
    "LSE": LONDON,
    **dict.fromkeys(("IBIS", "XETRA"), XETRA),
    "TSE": TORONTO,
    "TSEJ": TOKYO,
    "SEHK": HONG_KONG,
}


def calendar_for(instrument: ResolvedSymbol) -> TradingCalendar | None:
    """The calendar an instrument trades on; None when the table has none for it."""
    found = CALENDAR_OF_EXCHANGE.get(instrument.exchange.upper())
    if found is not None:
        return found
    if instrument.asset_type == AssetType.CRYPTO:
        return CRYPTO
    if instrument.asset_type == AssetType.FOREX:
        return FOREX
    if instrument.asset_type in {AssetType.STOCK, AssetType.ETF} and instrument.currency == "USD":
        return US_EQUITIES
    return None
