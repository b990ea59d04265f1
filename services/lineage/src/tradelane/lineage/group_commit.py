"""The steps that handlers running at once record go to PostgreSQL in one transaction (group commit).

The lineage's subscribers fetch their messages in batches and handle a batch's messages at once
(``Service.subscriber``'s ``batch``), each handler recording its own message and waiting for its
own answer. A transaction per message took six round trips (acquire, begin, two or three
statements, commit, and the pool's reset); here the records asked for while a transaction is
prepared or under way wait and go together in the next one.

A transaction that fails is written again record by record, each in a transaction of its own, so
that each message gets its own outcome: a step PostgreSQL refuses (``DataError``) fails alone, and
the delivery rules decide for its message as they would have for it alone; an outage fails each.
"""

from __future__ import annotations

import asyncio

from tradelane.store.lineage import LineageRepository, StepRecord

Waiting = tuple[StepRecord, asyncio.Future[bool]]


class StepWriter:
    """Records steps in groups: those asked for while the previous group is written go in the next."""

    def __init__(self, repository: LineageRepository) -> None:
        self._repository = repository
        self._waiting: list[Waiting] = []
        self._writing: asyncio.Task[None] | None = None

    async def record(self, record: StepRecord) -> bool:
        """Record one step; False when this message was recorded before (a redelivery)."""
        recorded: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((record, recorded))
        if self._writing is None:
            self._writing = asyncio.create_task(self._write_while_waiting(), name="lineage-group-commit")
        return await recorded

    async def _write_while_waiting(self) -> None:
        group: list[Waiting] = []
        try:
            while self._waiting:
                await self._let_running_handlers_ask()
                group, self._waiting = self._waiting, []
                await self._write(group)
        finally:
            self._writing = None
            for _, recorded in (*group, *self._waiting):  # only when cancelled: nobody may wait for ever
                recorded.cancel()

    async def _let_running_handlers_ask(self) -> None:
        """Yield to the event loop until a turn adds no record: the batch's other handlers are on their way."""
        asked = -1
        while asked != len(self._waiting):
            asked = len(self._waiting)
            await asyncio.sleep(0)

    async def _write(self, group: list[Waiting]) -> None:
        try:
            outcomes = await self._repository.record_many([record for record, _ in group])
        except Exception:  # each record's own outcome, by itself
            await self._write_one_by_one(group)
            return
        for (_, recorded), inserted in zip(group, outcomes, strict=True):
            if not recorded.done():
                recorded.set_result(inserted)

    async def _write_one_by_one(self, group: list[Waiting]) -> None:
        for record, recorded in group:
            if recorded.done():  # its handler has given up (cancelled): the message comes again
                continue
            try:
                inserted = await self._repository.record(record)
            except Exception as error:  # the handler's to raise, for the delivery rules
                if not recorded.done():
                    recorded.set_exception(error)
            else:
                if not recorded.done():
                    recorded.set_result(inserted)
