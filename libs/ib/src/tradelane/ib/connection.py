"""One ``ib_async`` client kept connected to TWS / IB Gateway, and what IB says about the link.

The one connection supervisor of tradelane: market-data's provider and the broker's IB venue
each keep their client through it, so both reconnect the same way. It connects at start,
reconnects with exponential backoff (with jitter, so that several clients do not knock on
TWS at the same instant) after a drop or a refused attempt, refuses a client id already in
use (326) with the setting to change, and sorts every code IB reports into a decision
(:mod:`tradelane.ib.codes`): servers lost and restored (1100/1101/1102), farm status.
Callers ask for the client with :meth:`IbConnection.client`, which raises
:class:`ProviderUnavailableError` (with the seconds until the next attempt) while the link is
down, so a pipeline step is nak'ed with a delay rather than failed for good; a caller that
must act on a reconnection (the broker reconciles) passes ``on_reconnected``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from ib_async import IB, Contract, RequestError
from ib_async.ib import StartupFetchALL, StartupFetchNONE

from tradelane.contracts.symbols import IbError, IbStatus, PacingStatus
from tradelane.ib.codes import DATA_LOST_ON_RESTORE_CODES, Decision, decide, farm_name, farm_state
from tradelane.ib.errors import ProviderUnavailableError
from tradelane.runtime.retrying import Backoff, retry

log = structlog.get_logger(__name__)

SERVERS_LOST_RETRY_SECONDS = 5.0
"""How soon a step retries while TWS / IB Gateway waits for IB's servers to come back."""
RECONNECT_JITTER = 0.25
"""Each wait before a new attempt is shortened by up to this share of the backoff, at random."""


@dataclass(frozen=True)
class IbEndpoint:
    """Where TWS / IB Gateway listens, who we are to it, and how patiently we reconnect."""

    host: str
    port: int
    client_id: int
    account: str | None = None
    timeout: float = 10.0
    reconnect_initial: float = 1.0
    reconnect_max: float = 60.0
    trading: bool = False
    """A trading session (the broker's) may place orders and fetches the account's orders,
    executions and values at connect; a data session (market-data's) is read-only and fetches none."""
    client_id_setting: str = "TRADELANE_IB_CLIENT_ID"
    """The setting that chooses ``client_id``, named when TWS refuses it (326)."""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def reconnect_backoff(self) -> Backoff:
        """The wait before each new attempt: from ``reconnect_initial`` doubling up to ``reconnect_max``, jittered."""
        return Backoff(initial=self.reconnect_initial, cap=self.reconnect_max, jitter_below=RECONNECT_JITTER)


class ClientIdInUseError(ConnectionError):
    """TWS refused the session: another one already uses our client id (IB code 326)."""


class IbConnection:
    """Keeps one ``IB`` client connected; see the module docstring."""

    def __init__(
        self, endpoint: IbEndpoint, *, ib: IB | None = None, on_reconnected: Callable[[], None] | None = None
    ) -> None:
        self.endpoint = endpoint
        self._on_reconnected = on_reconnected
        self._sessions = 0
        self.ib = ib or IB()
        self.ib.RaiseRequestErrors = True
        self.ib.errorEvent += self._on_error
        self.ib.disconnectedEvent += self._on_disconnected
        self._closing = asyncio.Event()
        self._dropped = asyncio.Event()
        self._first_attempt_done = asyncio.Event()
        self._up = asyncio.Event()
        self._refusal: asyncio.Future[str] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._servers_connected: bool | None = None
        self._farms: dict[str, str] = {}
        self._last_error: IbError | None = None
        self._connected_since: datetime | None = None
        self._next_attempt_at: datetime | None = None

    @property
    def connected(self) -> bool:
        """The API session is up (handshake done, accounts and first order id received)."""
        return self.ib.isConnected()

    async def start(self) -> None:
        """Make the first connection attempt (and wait for its outcome), then keep the link up in the background.

        A failed first attempt does not fail the service: it goes on reconnecting, and steps
        are nak'ed until it succeeds.
        """
        self._supervisor = asyncio.create_task(self._keep_connected(), name="ib-connection")
        await self._first_attempt_done.wait()

    async def close(self) -> None:
        """Stop reconnecting (abandoning an attempt under way) and disconnect."""
        self._closing.set()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        self.ib.disconnect()

    async def wait_connected(self) -> None:
        """Return once the session is up (wrap it in ``asyncio.timeout`` to bound the wait)."""
        await self._up.wait()

    def client(self) -> IB:
        """The connected client; ``ProviderUnavailableError`` says why there is none and when to retry."""
        if not self.connected:
            raise ProviderUnavailableError(self._down_reason(), retry_after=self._retry_after())
        if self._servers_connected is False:
            msg = (
                f"TWS / IB Gateway at {self.endpoint.address} has lost its connection to IB's servers (1100); "
                "waiting for it to restore the link (1101/1102)"
            )
            raise ProviderUnavailableError(msg, retry_after=SERVERS_LOST_RETRY_SECONDS)
        return self.ib

    def status(self, pacing: PacingStatus | None = None) -> IbStatus:
        """What a person (``GET /api/ib/status``) needs to know about the link."""
        connected = self.connected
        return IbStatus(
            provider="ib",
            connected=connected,
            detail=self._detail(connected),
            host=self.endpoint.host,
            port=self.endpoint.port,
            client_id=self.endpoint.client_id,
            account=self.endpoint.account,
            accounts=tuple(self.ib.managedAccounts()) if connected else (),
            server_version=self.ib.client.serverVersion() if connected else None,
            servers_connected=self._servers_connected if connected else None,
            farms=dict(self._farms) if connected else {},
            connected_since=self._connected_since if connected else None,
            next_attempt_at=None if connected else self._next_attempt_at,
            last_error=self._last_error,
            pacing=pacing,
        )

    def _detail(self, connected: bool) -> str:
        if not connected:
            return self._down_reason()
        if self._servers_connected is False:
            return f"connected to {self.endpoint.address}, which has lost IB's servers (1100)"
        return f"connected to {self.endpoint.address} as client {self.endpoint.client_id}"

    def _down_reason(self) -> str:
        reason = f"not connected to TWS / IB Gateway at {self.endpoint.address}"
        if self._last_error is not None:
            code = f" ({self._last_error.code})" if self._last_error.code is not None else ""
            reason += f"; last error{code}: {self._last_error.message}"
        if self._next_attempt_at is not None:
            reason += f"; next attempt at {self._next_attempt_at.isoformat(timespec='seconds')}"
        return reason

    def _retry_after(self) -> float:
        if self._next_attempt_at is None:
            return self.endpoint.reconnect_initial
        return max((self._next_attempt_at - datetime.now(UTC)).total_seconds(), 0.0) + self.endpoint.timeout

    async def _keep_connected(self) -> None:
        backoff = self.endpoint.reconnect_backoff
        while await retry(
            self._connect_unless_closing, wait=backoff, on_retry=self._note_failed_attempt, sleep=self._sleep
        ):
            self._first_attempt_done.set()
            self._sessions += 1
            if self._sessions > 1 and self._on_reconnected is not None:
                self._on_reconnected()
            await self._until_dropped_or_closing()
            if self._closing.is_set():
                return
            wait = backoff.delay(1)
            self._note_drop(wait)
            if await self._closing_within(wait):
                return

    async def _connect_unless_closing(self, attempt: int) -> bool:
        """One connection attempt of the retry loop (every failure is retried); False once closing."""
        if self._closing.is_set():
            return False
        await self._connect_once()
        return True

    async def _sleep(self, seconds: float) -> None:
        """The wait between attempts, cut short by :meth:`close`."""
        await self._closing_within(seconds)

    async def _connect_once(self) -> None:
        endpoint = self.endpoint
        self._next_attempt_at = None
        self._dropped.clear()
        refusal: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._refusal = refusal
        connecting = asyncio.ensure_future(
            self.ib.connectAsync(
                endpoint.host,
                endpoint.port,
                clientId=endpoint.client_id,
                timeout=endpoint.timeout,
                readonly=not endpoint.trading,
                account=endpoint.account or "",
                fetchFields=StartupFetchALL if endpoint.trading else StartupFetchNONE,
            )
        )
        try:
            await asyncio.wait({connecting, refusal}, return_when=asyncio.FIRST_COMPLETED)
            if refusal.done():
                msg = (
                    f"client id {endpoint.client_id} is already in use at {endpoint.address} "
                    f"(326: {refusal.result()}); another session holds it: "
                    f"set {endpoint.client_id_setting} to an unused id"
                )
                raise ClientIdInUseError(msg)
            await connecting
        finally:
            self._refusal = None
            refusal.cancel()
            if not connecting.done():
                connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
        if self.ib.isConnected():  # a drop in the meantime is already on _dropped for the supervisor
            self._up.set()
        self._servers_connected = True
        self._connected_since = datetime.now(UTC)
        accounts = self.ib.managedAccounts()
        log.info(
            "ib_connected",
            address=endpoint.address,
            client_id=endpoint.client_id,
            server_version=self.ib.client.serverVersion(),
            accounts=accounts,
        )
        if endpoint.account and endpoint.account not in accounts:
            log.warning("ib_account_not_managed", account=endpoint.account, accounts=accounts)

    def _note_failed_attempt(self, failures: int, error: BaseException, delay: float) -> None:
        """Say why the attempt failed and when the next one is; :meth:`start` waits for the first outcome."""
        self._first_attempt_done.set()
        self._next_attempt_at = datetime.now(UTC) + timedelta(seconds=delay)
        if isinstance(error, ClientIdInUseError):
            self._last_error = IbError(
                code=326, message=str(error), decision=Decision.CHANGE_CLIENT_ID.value, at=datetime.now(UTC)
            )
            log.warning("ib_client_id_in_use", error=str(error), retry_in_seconds=delay)
            return
        message = f"could not connect to {self.endpoint.address}: {type(error).__name__}: {error}".rstrip(": ")
        self._last_error = IbError(code=None, message=message, decision=Decision.RECONNECT.value, at=datetime.now(UTC))
        expected = isinstance(error, OSError | TimeoutError)
        log.warning("ib_connect_failed", error=message, retry_in_seconds=delay, exc_info=False if expected else error)

    def _note_drop(self, delay: float) -> None:
        self._connected_since = None
        self._next_attempt_at = datetime.now(UTC) + timedelta(seconds=delay)
        message = f"the connection to {self.endpoint.address} dropped"
        self._last_error = IbError(code=None, message=message, decision=Decision.RECONNECT.value, at=datetime.now(UTC))
        log.warning("ib_connection_lost", address=self.endpoint.address, reconnect_in_seconds=delay)

    async def _closing_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)
        return self._closing.is_set()

    async def _until_dropped_or_closing(self) -> None:
        waits = [asyncio.ensure_future(self._dropped.wait()), asyncio.ensure_future(self._closing.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    def _on_disconnected(self) -> None:
        self._up.clear()
        self._dropped.set()

    def _on_error(self, req_id: int, code: int, text: str, contract: Contract | None) -> None:
        decision = decide(code, text)
        if decision == Decision.NOTE_FARM:
            state = farm_state(code) or "unknown"
            self._farms[farm_name(text)] = state
            log.info("ib_farm_status", farm=farm_name(text), state=state, code=code)
            return
        if decision == Decision.INFORM:
            log.info("ib_notice", code=code, text=text, req_id=req_id)
            return
        if decision == Decision.RESUME:
            self._servers_connected = True
            log.info("ib_connectivity_restored", code=code, data_lost=code in DATA_LOST_ON_RESTORE_CODES)
            return
        self._last_error = IbError(code=code, message=text, decision=decision.value, at=datetime.now(UTC))
        if decision == Decision.CHANGE_CLIENT_ID and self._refusal is not None and not self._refusal.done():
            self._refusal.set_result(text)
        elif decision == Decision.WAIT_FOR_SERVERS:
            self._servers_connected = False
            log.warning("ib_servers_unreachable", code=code, text=text)
        elif decision == Decision.RECONNECT:
            log.warning("ib_not_connected", code=code, text=text)
        elif req_id == -1:
            log.warning("ib_error", code=code, text=text, decision=decision.value)
        elif decision == Decision.REJECT:
            self._fail_request(req_id, code, text)

    def _fail_request(self, req_id: int, code: int, text: str) -> None:
        """End a pending request IB has refused, even when ib_async counts the code as a warning.

        ib_async treats 321 ("error validating request") as a warning because an order it
        follows may still be live; for a data request (e.g. an invalid bar size or duration)
        it is final, and without this the request would wait for its timeout. ib_async has no
        public call for it, so this uses the wrapper's own request bookkeeping.
        """
        wrapper = self.ib.wrapper
        if req_id in wrapper._futures:
            wrapper._endReq(req_id, RequestError(req_id, code, text), success=False)  # type: ignore[no-untyped-call]
