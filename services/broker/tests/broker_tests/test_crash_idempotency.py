"""Killing the broker process in the middle of placing a signal's orders, then restarting it, places them once.

Real processes: ``python -m tradelane.broker`` against this test's NATS and Postgres. The test
holds a lock on ``broker.fills`` so the broker blocks after recording the bracket and having it
accepted, but before the entry's fill is written; then it SIGKILLs the process, releases the
lock and starts a new one. JetStream redelivers the unacknowledged signal (ack wait 2 s) and the
new process resumes the working orders.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import nats.errors
import pytest
from nats.aio.client import Client as NatsClient

from tests.support.waiting import eventually
from tradelane.contracts import subjects
from tradelane.contracts.envelope import utc_now
from tradelane.contracts.health import HealthReport
from tradelane.contracts.trading import OrderStatus, signal_order_ref
from tradelane.runtime.bus import event_headers
from tradelane.runtime.bus_credentials import credentials_for
from tradelane.runtime.settings import Settings
from tradelane.store.book.transactions import BookRepository
from tradelane.store.strategies import StrategyRepository

from .support import signal_generated, stored

BROKER_SOURCES = Path(__file__).parents[2] / "src"


def _own_identity(settings: Settings, identity: str) -> dict[str, str]:
    """The NATS user and password of one service, as ``tradelane up`` hands them to its process."""
    credentials = credentials_for(settings, identity)
    if credentials is None:
        return {}
    return {"TRADELANE_NATS_USER": credentials.user, "TRADELANE_NATS_PASSWORD": credentials.password.get_secret_value()}


class BrokerProcess:
    """``python -m tradelane.broker`` as a child process."""

    def __init__(self, settings: Settings) -> None:
        self._env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(BROKER_SOURCES), os.environ.get("PYTHONPATH")])),
            "TRADELANE_NATS_URL": settings.nats_url,
            "TRADELANE_DATABASE_URL": settings.database_url.get_secret_value(),
            "TRADELANE_ACK_WAIT_SECONDS": "2",
            "TRADELANE_HEALTH_PORT": "0",
            "TRADELANE_LOG_FORMAT": "json",
            "TRADELANE_LOG_LEVEL": "WARNING",
            **_own_identity(settings, "broker"),
        }
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, nats_client: NatsClient) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tradelane.broker", env=self._env, stdin=asyncio.subprocess.DEVNULL
        )
        await eventually(lambda: _ready(nats_client), "the broker process to be ready", timeout=30)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


async def _ready(nats_client: NatsClient) -> bool:
    try:
        reply = await nats_client.request(subjects.health_of("broker"), b"{}", timeout=0.5)
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
        return False
    return HealthReport.model_validate_json(reply.data).ready


@pytest.fixture
async def broker_process(settings: Settings) -> AsyncIterator[BrokerProcess]:
    process = BrokerProcess(settings)
    yield process
    await process.stop()


async def test_a_broker_killed_while_placing_a_signals_bracket_places_it_once_after_a_restart(
    settings: Settings,
    broker_process: BrokerProcess,
    nats_client: NatsClient,
    repository: BookRepository,
    strategies: StrategyRepository,
    nats_broker: object,  # provisions the streams: the broker process holds only its own identity
) -> None:
    await broker_process.start(nats_client)
    signal_message = await stored(signal_generated(at=utc_now()), repository, strategies)
    group_ref = signal_order_ref(signal_message.message_id)
    blocker = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE broker.fills IN ACCESS EXCLUSIVE MODE")
        await nats_client.jetstream().publish(
            subjects.SIGNAL_GENERATED,
            signal_message.model_dump_json().encode(),
            headers=event_headers(signal_message),
            stream=subjects.PIPELINE_STREAM,
        )

        async def entry_accepted() -> bool:
            order = await repository.order_by_ref(group_ref)
            return order is not None and order.status is OrderStatus.ACCEPTED

        await eventually(entry_accepted, "the entry to be accepted (its fill then waits for the lock)")
        await broker_process.kill()
        await transaction.rollback()
    finally:
        await blocker.close()
    assert len(await repository.fills(group_ref)) == 0

    await broker_process.start(nats_client)

    async def entry_filled() -> bool:
        order = await repository.order_by_ref(group_ref)
        return order is not None and order.status is OrderStatus.FILLED

    await eventually(entry_filled, "the restarted broker to fill the entry")
    await eventually(lambda: _signal_acknowledged(nats_client), "the redelivered signal to be acknowledged")
    orders = await repository.orders()
    assert sorted(order.client_ref for order in orders) == sorted([group_ref, f"{group_ref}-tp", f"{group_ref}-sl"])
    assert [order.status for order in await repository.group(group_ref)] == [
        OrderStatus.FILLED,
        OrderStatus.ACCEPTED,
        OrderStatus.ACCEPTED,
    ]
    assert len(await repository.fills(group_ref)) == 1
    [position] = await repository.positions()
    assert position.quantity == orders[0].ticket.quantity
    resent = {record.client_ref for record in await repository.reconciliations() if record.kind == "resent"}
    assert resent == {f"{group_ref}-tp", f"{group_ref}-sl"}


async def _signal_acknowledged(nats_client: NatsClient) -> bool:
    info = await nats_client.jetstream().consumer_info(subjects.PIPELINE_STREAM, "broker")
    return bool(info.num_ack_pending == 0 and info.num_pending == 0)
