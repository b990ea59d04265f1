"""Two scheduler replicas against real PostgreSQL and NATS: a new strategy is noticed at once
and each due time starts exactly one execution.

Their clock is real time moved forward, so that a minute starts a few seconds after the strategy
is created instead of up to a minute later: the replicas still sleep until it in real seconds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from nats.aio.client import Client as NatsClient

from tests.support.messages import collect
from tradelane.contracts import subjects
from tradelane.contracts.strategy import Schedule, StrategyDefinition, SymbolRef
from tradelane.runtime.settings import Settings
from tradelane.scheduler.app import SchedulerSettings, build
from tradelane.store.pool import create_pool
from tradelane.store.strategies import StrategyRepository

pytestmark = pytest.mark.e2e


MINUTE_STARTS_IN = timedelta(seconds=5)
"""How long after the strategy is created the shifted clock reaches the start of a minute: time for both replicas
to hear the NOTIFY and load the strategy first (when one does not, the runs are a minute later)."""


class ShiftedClock:
    """Real time plus an offset (the scheduler's clock), which :meth:`minute_starts_in` chooses."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def minute_starts_in(self, wait: timedelta) -> None:
        """Move the offset so that this clock reaches the start of a minute ``wait`` from now."""
        now = datetime.now(UTC)
        self.offset = now.replace(second=0, microsecond=0) + timedelta(minutes=1) - wait - now


async def test_two_replicas_start_each_due_run_once(settings: Settings, nats_client: NatsClient) -> None:
    replica_settings = SchedulerSettings(**settings.model_dump(), scheduler_reload_seconds=300)
    clock = ShiftedClock()
    replicas = [build(replica_settings, clock=clock), build(replica_settings, clock=clock)]
    for replica in replicas:
        await replica.start()
    heard = await collect(nats_client, subjects.EXECUTION_REQUESTED)
    pool = await create_pool(settings.database_url)
    try:
        # created after both replicas loaded their (empty) schedule: only NOTIFY can tell them
        clock.minute_starts_in(MINUTE_STARTS_IN)
        stored = await StrategyRepository(pool).create(
            StrategyDefinition(
                name="every-minute", symbol=SymbolRef(symbol="AAPL"), schedule=Schedule(cron="* * * * *")
            )
        )
        # the next minute starts within 5 s by the replicas' clock (within 65 s if one was late); both fire at it
        both = [json.loads(msg.data) for msg in await heard.take(2, timeout=76.5)]
        info = await nats_client.jetstream().stream_info(subjects.PIPELINE_STREAM)
        stored_message = await nats_client.jetstream().get_msg(subjects.PIPELINE_STREAM, 1)
    finally:
        await pool.close()
        for replica in replicas:
            await replica.close()
    # both replicas published (a core subscriber hears both); the stream kept one
    assert len(heard.messages) == 2
    assert both[0]["message_id"] == both[1]["message_id"]
    assert info.state.messages == 1
    body = json.loads(stored_message.data or b"{}")
    assert (body["strategy_id"], body["trigger"]) == (str(stored.id), "schedule")
