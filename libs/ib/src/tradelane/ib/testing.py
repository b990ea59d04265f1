"""A fake TWS / IB Gateway on loopback that speaks the real TWS API socket protocol.

The real ``ib_async`` client connects to it as it would to IB Gateway: the ``API\\0``
handshake with a client version range, then length-prefixed messages whose fields are
NUL-terminated strings. The fake answers ``startApi`` (managed accounts, next valid id and
the data-farm notices TWS sends), every request ``IB.connect`` makes while synchronising
(positions, open and completed orders, account updates, per-account updates, executions,
auto-open-orders), and contract details, matching symbols and historical bars from the
fixtures it is given. Nothing in the client is patched.

Tests script IB's behaviour through it: answer a request with an error code, drop the
connection when a request arrives, refuse a client id that is in use (326), send
connectivity codes (1100 / 1102), delay answers. It records every request with its arrival
time, so pacing can be checked from the server's side.

It depends on the standard library only, and is public so that every test suite (market-data's,
the broker's, the end-to-end and fault tests) uses the same one:

    from tradelane.ib.testing import FakeContract, FakeTws

    async with FakeTws([FakeContract(265598, "AAPL")]) as tws:
        await IB().connectAsync(tws.host, tws.port, clientId=1)

Extend it (orders, as the broker's tests do) by overriding :meth:`FakeTws.handle` for more message ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum

SERVER_VERSION = 178
"""The newest version ib_async 2.0 speaks; the fake formats every message for it."""


class In(IntEnum):
    """Message ids a client sends (the requests the fake understands)."""

    REQ_OPEN_ORDERS = 5
    REQ_ACCOUNT_UPDATES = 6
    REQ_EXECUTIONS = 7
    REQ_IDS = 8
    REQ_CONTRACT_DETAILS = 9
    REQ_AUTO_OPEN_ORDERS = 15
    REQ_MANAGED_ACCOUNTS = 17
    REQ_HISTORICAL_DATA = 20
    CANCEL_HISTORICAL_DATA = 25
    REQ_CURRENT_TIME = 49
    REQ_POSITIONS = 61
    REQ_ACCOUNT_SUMMARY = 62
    START_API = 71
    REQ_ACCOUNT_UPDATES_MULTI = 76
    REQ_MATCHING_SYMBOLS = 81
    REQ_COMPLETED_ORDERS = 99


class Out(IntEnum):
    """Message ids the fake sends."""

    ERROR = 4
    ACCOUNT_UPDATE_TIME = 8
    NEXT_VALID_ID = 9
    CONTRACT_DATA = 10
    MANAGED_ACCOUNTS = 15
    HISTORICAL_DATA = 17
    CURRENT_TIME = 49
    CONTRACT_DATA_END = 52
    OPEN_ORDER_END = 53
    ACCOUNT_DOWNLOAD_END = 54
    EXECUTION_DATA_END = 55
    POSITION_END = 62
    ACCOUNT_SUMMARY_END = 64
    ACCOUNT_UPDATE_MULTI_END = 74
    SYMBOL_SAMPLES = 79
    COMPLETED_ORDERS_END = 102


NO_SECURITY_DEFINITION = (200, "No security definition has been found for the request")
CLIENT_ID_IN_USE = (326, "Unable to connect as the client id is already in use. Retry with a unique client id.")
NO_DATA = (162, "Historical Market Data Service error message:HMDS query returned no data")
PACING_VIOLATION = (
    162,
    "Historical Market Data Service error message:API historical data query cancelled: pacing violation",
)
FARM_NOTICES = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefnj"),
)
MAX_MATCHING_SYMBOLS = 16
"""IB answers a symbol search with at most 16 contracts."""

_DAILY_OR_LONGER = frozenset({"1 day", "1 week", "1 month"})
_DURATION = re.compile(r"^(\d+) ([SDWMY])$")
_UNIT_SECONDS = {"S": 1, "D": 86_400, "W": 7 * 86_400, "M": 30 * 86_400, "Y": 365 * 86_400}


@dataclass(frozen=True)
class FakeContract:
    """One contract the fake knows, with the details it answers for it."""

    conid: int
    symbol: str
    sec_type: str = "STK"
    exchange: str = "SMART"
    primary_exchange: str = "NASDAQ"
    currency: str = "USD"
    long_name: str = ""
    min_tick: float = 0.01
    local_symbol: str = ""
    trading_class: str = ""
    multiplier: str = ""
    last_trade_date: str = ""
    stock_type: str = "COMMON"
    industry: str = ""
    category: str = ""
    subcategory: str = ""
    time_zone: str = "US/Eastern"
    valid_exchanges: str = "SMART,NASDAQ"
    derivative_sec_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class FakeBar:
    """One historical bar; ``time`` is its start (aware)."""

    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    wap: float = 0.0
    count: int = 0


@dataclass(frozen=True)
class ReceivedRequest:
    """A message a client sent, when it arrived (``time.monotonic()``) and from which client id."""

    at: float
    client_id: int | None
    fields: tuple[str, ...]

    @property
    def message_id(self) -> int:
        return int(self.fields[0])


@dataclass
class Session:
    """One client connected to the fake (what a subclass's :meth:`FakeTws.handle` answers to)."""

    writer: asyncio.StreamWriter
    client_id: int | None = None


@dataclass
class _Script:
    """What the fake does instead of answering the next request(s) of one kind."""

    errors: deque[tuple[int, str]] = field(default_factory=deque)
    drops: int = 0


def frame(fields: Iterable[object]) -> bytes:
    """One API message: a 4-byte big-endian length, then each field followed by NUL."""
    payload = "".join(f"{_text(value)}\0" for value in fields).encode()
    return struct.pack(">I", len(payload)) + payload


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(int(value))
    return str(value)


def duration_seconds(duration: str) -> int:
    """Seconds an IB duration such as ``"30 D"`` covers."""
    match = _DURATION.match(duration.strip())
    if match is None:
        msg = f"bad duration {duration!r}"
        raise ValueError(msg)
    return int(match[1]) * _UNIT_SECONDS[match[2]]


def parse_end(text: str) -> datetime:
    """The ``endDateTime`` of a historical request (``yyyymmdd hh:mm:ss UTC``, ``yyyymmdd-hh:mm:ss``; empty: now)."""
    text = text.strip()
    if not text:
        return datetime.now(UTC)
    if text.endswith(" UTC"):
        text = text.removesuffix(" UTC")
    return datetime.strptime(text.replace("-", " "), "%Y%m%d %H:%M:%S").replace(tzinfo=UTC)


class FakeTws:
    """The fake server; ``async with FakeTws(...) as tws`` starts it on a free loopback port."""

    def __init__(
        self,
        contracts: Sequence[FakeContract] = (),
        bars: Mapping[int, Sequence[FakeBar]] | None = None,
        *,
        accounts: Sequence[str] = ("DU1234567",),
        host: str = "127.0.0.1",
        port: int = 0,
        server_version: int = SERVER_VERSION,
    ) -> None:
        self.contracts = list(contracts)
        self.bars: dict[int, list[FakeBar]] = {conid: list(series) for conid, series in (bars or {}).items()}
        self.accounts = list(accounts)
        self.host = host
        self.port = port
        self.server_version = server_version
        self.requests: list[ReceivedRequest] = []
        self.sessions_started = 0
        """Sessions that passed startApi (refused ones are not counted)."""
        self.reserved_client_ids: set[int] = set()
        """Client ids another (imaginary) application holds: a session asking for one gets 326."""
        self.answer_delay: dict[int, float] = {}
        """Seconds to wait before answering a request, by incoming message id."""
        self._scripts: dict[int, _Script] = defaultdict(_Script)
        self._sessions: list[Session] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> FakeTws:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen (on ``port``, or a free one when it is 0); ``port`` then holds the bound port."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and drop every session.

        Sessions are dropped before waiting for the server to close: on Python versions where
        ``Server.wait_closed`` waits for every connection, waiting first could wait for ever.
        """
        server, self._server = self._server, None
        if server is not None:
            server.close()
        await self.drop_all()
        if server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), timeout=5)

    async def drop_all(self) -> None:
        """Close every open session, as a TWS restart or a network cut would."""
        for session in list(self._sessions):
            session.writer.close()
        if self._tasks:
            # A closed transport ends each session's read with EOF; cancel only what still hangs.
            _, hanging = await asyncio.wait(self._tasks, timeout=1.0)
            for task in hanging:
                task.cancel()

    def fail_next(self, message_id: int, code: int, text: str) -> None:
        """Answer the next request of ``message_id`` with IB error ``code`` instead of data."""
        self._scripts[message_id].errors.append((code, text))

    def drop_on_next(self, message_id: int) -> None:
        """Close the connection when the next request of ``message_id`` arrives, without answering it."""
        self._scripts[message_id].drops += 1

    async def send_error(self, code: int, text: str, req_id: int = -1) -> None:
        """Send an error / notice to every session (e.g. 1100 connectivity lost, 1102 restored)."""
        for session in list(self._sessions):
            if session.client_id is not None:
                await self._send(session, self._error(req_id, code, text))

    def requests_of(self, message_id: int) -> list[ReceivedRequest]:
        """The requests received with ``message_id``, in arrival order."""
        return [request for request in self.requests if request.message_id == message_id]

    @property
    def client_ids(self) -> list[int]:
        """Client ids of the sessions open now."""
        return [session.client_id for session in self._sessions if session.client_id is not None]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        session = Session(writer)
        self._sessions.append(session)
        try:
            await self._handshake(reader, session)
            while True:
                fields = await _read_fields(reader)
                self.requests.append(ReceivedRequest(time.monotonic(), session.client_id, tuple(fields)))
                if not await self.handle(session, fields):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)
            if session in self._sessions:
                self._sessions.remove(session)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _handshake(self, reader: asyncio.StreamReader, session: Session) -> None:
        prefix = await reader.readexactly(4)
        if prefix != b"API\0":
            msg = f"expected the API\\0 prefix, got {prefix!r}"
            raise ConnectionError(msg)
        versions = (await _read_message(reader)).rstrip("\0")  # "v157..178", not NUL-terminated
        low, _, high = versions.split()[0].removeprefix("v").partition("..")
        if not int(low) <= self.server_version <= int(high):
            msg = f"client speaks {versions}, the fake speaks {self.server_version}"
            raise ConnectionError(msg)
        connection_time = datetime.now(UTC).strftime("%Y%m%d %H:%M:%S UTC")
        session.writer.write(frame([self.server_version, connection_time]))
        await session.writer.drain()

    async def handle(self, session: Session, fields: list[str]) -> bool:
        """Answer one request; False when the session must end (override to answer more message ids)."""
        message_id = int(fields[0])
        if message_id == In.START_API:
            return await self._start_api(session, int(fields[2]))
        script = self._scripts.get(message_id)
        if script is not None and script.drops:
            script.drops -= 1
            return False
        delay = self.answer_delay.get(message_id, 0.0)
        if delay:
            await asyncio.sleep(delay)
        if script is not None and script.errors and message_id in _REQUEST_ID_FIELD:
            code, text = script.errors.popleft()
            await self._send(session, self._error(int(fields[_REQUEST_ID_FIELD[message_id]]), code, text))
            return True
        for reply in self._answer(message_id, fields):
            await self._send(session, reply)
        return True

    async def _start_api(self, session: Session, client_id: int) -> bool:
        if client_id in self.reserved_client_ids or client_id in self.client_ids:
            await self._send(session, self._error(-1, *CLIENT_ID_IN_USE))
            return False
        session.client_id = client_id
        self.sessions_started += 1
        await self._send(session, frame([Out.MANAGED_ACCOUNTS, 1, ",".join(self.accounts)]))
        await self._send(session, frame([Out.NEXT_VALID_ID, 1, 1]))
        for code, text in FARM_NOTICES:
            await self._send(session, self._error(-1, code, text))
        return True

    def _answer(self, message_id: int, fields: list[str]) -> list[bytes]:
        """The replies to one request; cancels and requests the fake does not model get none (many get none at TWS)."""
        simple: dict[int, list[object]] = {
            In.REQ_POSITIONS: [Out.POSITION_END, 1],
            In.REQ_OPEN_ORDERS: [Out.OPEN_ORDER_END, 1],
            In.REQ_COMPLETED_ORDERS: [Out.COMPLETED_ORDERS_END],
            In.REQ_MANAGED_ACCOUNTS: [Out.MANAGED_ACCOUNTS, 1, ",".join(self.accounts)],
            In.REQ_IDS: [Out.NEXT_VALID_ID, 1, 1],
            In.REQ_CURRENT_TIME: [Out.CURRENT_TIME, 1, int(time.time())],
        }
        if message_id in simple:
            return [frame(simple[message_id])]
        ends_with_request_id: dict[int, Out] = {  # msgId, version, reqId, ...
            In.REQ_ACCOUNT_UPDATES_MULTI: Out.ACCOUNT_UPDATE_MULTI_END,
            In.REQ_EXECUTIONS: Out.EXECUTION_DATA_END,
            In.REQ_ACCOUNT_SUMMARY: Out.ACCOUNT_SUMMARY_END,
        }
        if message_id in ends_with_request_id:
            return [frame([ends_with_request_id[message_id], 1, fields[2]])]
        answers: dict[int, Callable[[list[str]], list[bytes]]] = {
            In.REQ_ACCOUNT_UPDATES: self._account_updates,
            In.REQ_CONTRACT_DETAILS: self._contract_details,
            In.REQ_MATCHING_SYMBOLS: self._matching_symbols,
            In.REQ_HISTORICAL_DATA: self._historical_data,
        }
        answer = answers.get(message_id)
        return answer(fields) if answer is not None else []

    def _account_updates(self, fields: list[str]) -> list[bytes]:
        """reqAccountUpdates: msgId, version, subscribe, account; the download ends at once (no values)."""
        if fields[2] != "1":
            return []
        account = fields[3] or (self.accounts[0] if self.accounts else "")
        return [
            frame([Out.ACCOUNT_UPDATE_TIME, 1, datetime.now(UTC).strftime("%H:%M")]),
            frame([Out.ACCOUNT_DOWNLOAD_END, 1, account]),
        ]

    def _contract_details(self, fields: list[str]) -> list[bytes]:
        """reqContractDetails: msgId, version, reqId, then the contract's twelve fields."""
        req_id = int(fields[2])
        query = _Query.from_fields(fields[3:15])
        found = [contract for contract in self.contracts if query.matches(contract)]
        if not found:
            return [self._error(req_id, *NO_SECURITY_DEFINITION)]
        return [
            *(self._details(req_id, contract, query.exchange) for contract in found),
            frame([Out.CONTRACT_DATA_END, 1, req_id]),
        ]

    def _details(self, req_id: int, contract: FakeContract, asked_exchange: str) -> bytes:
        exchange = asked_exchange or contract.exchange
        return frame(
            [
                Out.CONTRACT_DATA, req_id, contract.symbol, contract.sec_type, contract.last_trade_date, 0, "",
                exchange, contract.currency, contract.local_symbol or contract.symbol,
                contract.trading_class or contract.symbol, contract.trading_class or contract.symbol,
                contract.conid, contract.min_tick, contract.multiplier, "ACTVTIM,LMT,MKT,STP",
                contract.valid_exchanges, 1, 0, contract.long_name, contract.primary_exchange, "",
                contract.industry, contract.category, contract.subcategory, contract.time_zone,
                "", "", "", "", 0,  # trading hours, liquid hours, evRule, evMultiplier, no secIds
                1, "", "", "26", contract.last_trade_date, contract.stock_type, 1, 1, 100,
            ]
        )  # fmt: skip

    def _matching_symbols(self, fields: list[str]) -> list[bytes]:
        """reqMatchingSymbols: msgId, reqId, pattern."""
        req_id, needle = int(fields[1]), fields[2].strip().upper()
        ranked = sorted(
            (rank, position, contract)
            for position, contract in enumerate(self.contracts)
            if (rank := _search_rank(contract, needle)) is not None
        )
        found = [contract for _, _, contract in ranked][:MAX_MATCHING_SYMBOLS]
        reply: list[object] = [Out.SYMBOL_SAMPLES, req_id, len(found)]
        for contract in found:
            reply += [contract.conid, contract.symbol, contract.sec_type, contract.primary_exchange]
            reply += [contract.currency, len(contract.derivative_sec_types), *contract.derivative_sec_types]
            reply += [contract.long_name, ""]  # description, issuerId
        return [frame(reply)]

    def _historical_data(self, fields: list[str]) -> list[bytes]:
        """reqHistoricalData: msgId, reqId, the contract's twelve fields, includeExpired, end, bar size, duration,
        useRTH, whatToShow, formatDate, keepUpToDate, chartOptions."""
        req_id = int(fields[1])
        query = _Query.from_fields(fields[2:14])
        end_text, bar_size, duration, format_date = fields[15], fields[16], fields[17], fields[20]
        contract = next((contract for contract in self.contracts if query.matches(contract)), None)
        if contract is None:
            return [self._error(req_id, *NO_SECURITY_DEFINITION)]
        end = parse_end(end_text)
        start = end - timedelta(seconds=duration_seconds(duration))
        series = [bar for bar in self.bars.get(contract.conid, []) if start <= bar.time < end]
        if not series:
            return [self._error(req_id, *NO_DATA)]
        reply: list[object] = [Out.HISTORICAL_DATA, req_id, _ib_time(start), _ib_time(end), len(series)]
        for bar in series:
            reply += [_bar_time(bar.time, bar_size, format_date), bar.open, bar.high, bar.low, bar.close]
            reply += [bar.volume, bar.wap, bar.count]
        return [frame(reply)]

    def _error(self, req_id: int, code: int, text: str) -> bytes:
        return frame([Out.ERROR, 2, req_id, code, text, ""])

    async def _send(self, session: Session, message: bytes) -> None:
        with contextlib.suppress(ConnectionError):
            session.writer.write(message)
            await session.writer.drain()


_REQUEST_ID_FIELD: dict[int, int] = {
    In.REQ_CONTRACT_DETAILS: 2,
    In.REQ_HISTORICAL_DATA: 1,
    In.REQ_MATCHING_SYMBOLS: 1,
    In.REQ_EXECUTIONS: 2,
}
"""Where each scriptable request carries its request id (errors answer it)."""


@dataclass(frozen=True)
class _Query:
    """The contract fields a request names (ib_async sends twelve, in this order)."""

    conid: int
    symbol: str
    sec_type: str
    last_trade_date: str
    exchange: str
    primary_exchange: str
    currency: str
    local_symbol: str

    @classmethod
    def from_fields(cls, fields: list[str]) -> _Query:
        conid, symbol, sec_type, last_trade, _strike, _right, _mult, exchange, primary, currency, local, _tc = fields
        return cls(int(conid or 0), symbol.upper(), sec_type, last_trade, exchange, primary, currency, local)

    def matches(self, contract: FakeContract) -> bool:
        if self.conid:
            return contract.conid == self.conid
        exchanges = {contract.exchange, contract.primary_exchange, *contract.valid_exchanges.split(",")}
        return (
            contract.symbol.upper() == self.symbol
            and (not self.sec_type or contract.sec_type == self.sec_type)
            and (not self.currency or contract.currency == self.currency)
            and (not self.exchange or self.exchange in exchanges)
            and (not self.primary_exchange or contract.primary_exchange == self.primary_exchange)
            and contract.last_trade_date.startswith(self.last_trade_date)
            and (not self.local_symbol or (contract.local_symbol or contract.symbol) == self.local_symbol)
        )


def _search_rank(contract: FakeContract, needle: str) -> int | None:
    symbol = contract.symbol.upper()
    if symbol == needle:
        return 0
    if symbol.startswith(needle):
        return 1
    if needle and needle in contract.long_name.upper():
        return 2
    return None


def _ib_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d %H:%M:%S UTC")


def _bar_time(moment: datetime, bar_size: str, format_date: str) -> str:
    """Daily and longer bars travel as a date; shorter ones as epoch seconds (formatDate 2) or text."""
    if bar_size in _DAILY_OR_LONGER:
        return moment.strftime("%Y%m%d")
    if format_date == "2":
        return str(int(moment.timestamp()))
    return _ib_time(moment)


async def _read_message(reader: asyncio.StreamReader) -> str:
    (size,) = struct.unpack(">I", await reader.readexactly(4))
    return (await reader.readexactly(size)).decode()


async def _read_fields(reader: asyncio.StreamReader) -> list[str]:
    return (await _read_message(reader)).split("\0")[:-1]


# Sample data every suite shares ---------------------------------------------------------

AAPL = FakeContract(
    265598, "AAPL", long_name="APPLE INC", industry="Technology", category="Computers", valid_exchanges="SMART,NASDAQ"
)
"""Apple on SMART, the instrument most tests trade."""


def daily_bars(first: datetime, count: int, base: float) -> list[FakeBar]:
    """Weekday bars at midnight UTC with prices that wander deterministically."""
    bars: list[FakeBar] = []
    day = first
    price = base
    while len(bars) < count:
        if day.weekday() < 5:
            step = ((len(bars) * 37) % 11 - 5) / 100 * base / 10
            close = round(price + step, 2)
            high = round(max(price, close) + base / 200, 2)
            low = round(min(price, close) - base / 200, 2)
            bars.append(FakeBar(day, price, high, low, close, 1_000_000 + len(bars) * 1_000, (high + low) / 2, 5_000))
            price = close
        day += timedelta(days=1)
    return bars


def hourly_bars(first: datetime, count: int, base: float) -> list[FakeBar]:
    """Round-the-clock hourly midpoint bars (volume -1, as IB sends for MIDPOINT)."""
    return [
        FakeBar(first + timedelta(hours=i), base + i / 1e4, base + i / 1e4 + 5e-4, base + i / 1e4 - 5e-4,
                base + (i + 1) / 1e4, -1)
        for i in range(count)
    ]  # fmt: skip
