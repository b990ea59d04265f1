"""What a fault cost: lost, duplicated and dead-lettered executions, read from PostgreSQL and the dead-letter stream.

- **duplicated**: an execution with more than one lineage row for one step and message, more
  than one message for one pipeline step (a step done twice: two signals, two analyses...),
  or more than one entry order for one signal (a bracket's stop-loss and take-profit children
  are parts of that one order).
- **dead-lettered**: an execution with a message in the ``DEADLETTER`` stream (as the gateway
  lists it) or a ``dead_letter`` step in its lineage.
"""

from __future__ import annotations

from uuid import UUID

from tests.faults.system import UpSystem
from tradelane.contracts.subjects import Step

PIPELINE_STEPS = [step.value for step in Step]
DEAD_LETTER_STEP = "dead_letter"

_SAME_STEP_AND_MESSAGE = """
    SELECT DISTINCT execution_id FROM lineage.steps WHERE execution_id = ANY($1::uuid[])
    GROUP BY execution_id, step, message_id HAVING count(*) > 1
"""
_STEP_DONE_TWICE = """
    SELECT DISTINCT execution_id FROM lineage.steps WHERE execution_id = ANY($1::uuid[]) AND step = ANY($2::text[])
    GROUP BY execution_id, step HAVING count(DISTINCT message_id) > 1
"""
_SECOND_ORDER = """
    SELECT DISTINCT execution_id FROM broker.orders WHERE execution_id = ANY($1::uuid[]) AND role = 'entry'
    GROUP BY execution_id, signal_id HAVING count(*) > 1
"""
_DEAD_LETTER_STEPS = (
    "SELECT DISTINCT execution_id FROM lineage.steps WHERE execution_id = ANY($1::uuid[]) AND step = $2"
)


async def duplicated(system: UpSystem, execution_ids: list[UUID]) -> set[UUID]:
    """The executions with a step, a signal or an order recorded more than once."""
    found: set[UUID] = set()
    async with system.database() as connection:
        for query, *arguments in (
            (_SAME_STEP_AND_MESSAGE,),
            (_STEP_DONE_TWICE, PIPELINE_STEPS),
            (_SECOND_ORDER,),
        ):
            found |= {row["execution_id"] for row in await connection.fetch(query, execution_ids, *arguments)}
    return found


async def dead_lettered(system: UpSystem, execution_ids: list[UUID]) -> set[UUID]:
    """The executions with a dead letter, in the stream or in their lineage."""
    wanted = {str(execution_id) for execution_id in execution_ids}
    async with system.client(timeout=30) as client:
        response = await client.get("/api/dlq", params={"limit": 1000})
    assert response.status_code == 200, response.text
    found = {UUID(letter["execution_id"]) for letter in response.json() if letter["execution_id"] in wanted}
    async with system.database() as connection:
        rows = await connection.fetch(_DEAD_LETTER_STEPS, execution_ids, DEAD_LETTER_STEP)
    return found | {row["execution_id"] for row in rows}
