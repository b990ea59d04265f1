"""The API on an execution whose step messages the lineage pruned: summaries stay, the messages answer 410."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import httpx

from tradelane.contracts import subjects
from tradelane.gateway.state import GatewayState
from tradelane.store.lineage import StepRecord
from tradelane.store.lineage_retention import prune_step_messages

LONG_AGO = datetime.now(UTC) - timedelta(days=30)
SIGNAL = {"signal": {"action": "SELL", "entry": "61000", "targets": ["59000"]}, "reasoning": "x" * 1000}


async def _pruned_signal_step(state: GatewayState) -> UUID:
    execution_id = uuid4()
    await state.lineage.record(
        StepRecord(
            execution_id=execution_id,
            strategy_id=uuid4(),
            step="signal",
            message_id=uuid4(),
            causation_id=uuid4(),
            subject=subjects.SIGNAL_GENERATED,
            stream_sequence=3,
            status="succeeded",
            payload=SIGNAL,
            occurred_at=LONG_AGO,
            execution_status="completed",
        )
    )
    await prune_step_messages(state.pool, LONG_AGO + timedelta(seconds=1))
    return execution_id


async def test_a_pruned_step_keeps_its_summary_in_the_execution_detail(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    execution_id = await _pruned_signal_step(state)
    response = await client.get(f"/api/executions/{execution_id}", params={"payloads": "true"})
    [step] = response.json()["steps"]
    assert step["summary"] == {
        "signal.action": "SELL",
        "signal.entry": "61000",
        "signal.targets": "59000",
        "reasoning": "x" * 199 + "…",
    }
    assert step["pruned_at"] is not None
    assert (step["output"], step["status"]) == (None, "succeeded")


async def test_a_pruned_steps_message_is_gone_and_says_so(client: httpx.AsyncClient, state: GatewayState) -> None:
    execution_id = await _pruned_signal_step(state)
    response = await client.get(f"/api/executions/{execution_id}/steps/signal/output")
    assert response.status_code == 410
    detail = response.json()["detail"]
    assert "was pruned" in detail and "in full for 7 days" in detail
    assert f"GET /api/executions/{execution_id}" in detail


async def test_a_pruned_execution_cannot_be_diffed(client: httpx.AsyncClient, state: GatewayState) -> None:
    execution_id = await _pruned_signal_step(state)
    response = await client.get(f"/api/executions/{execution_id}/diff/{execution_id}")
    assert response.status_code == 410
    assert "signal message" in response.json()["detail"]
