"""Thin handlers: an event in, a notice out to every target that has not taken it yet.

A target that fails makes the whole message a transient failure (``TransientStepError``): the
delivery rules nak it with a growing delay and JetStream redelivers it, while the pipeline goes
on (the notifier has consumers of its own). Targets that took the event are remembered, so a
redelivery goes only to those that failed. The memory is per process and bounded: after a
restart a redelivered event may reach a target a second time, which is better than never.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Final
from uuid import UUID

import structlog

from tradelane.contracts.envelope import Envelope, utc_now
from tradelane.contracts.llm_budget import LlmBudgetCrossed
from tradelane.contracts.notifications import NotificationKind, NotificationSettings
from tradelane.notifier.messages import notice_of
from tradelane.notifier.sending import Target
from tradelane.runtime.errors import TransientStepError

log = structlog.get_logger(__name__)

REMEMBERED_DELIVERIES: Final = 10_000
"""(event, target) pairs remembered as sent, newest kept: far more than are retried at once."""


class Notifier:
    """Turns events into notices and sends them to the configured targets."""

    def __init__(
        self,
        targets: Sequence[Target],
        kinds: Sequence[NotificationKind],
        *,
        max_age: timedelta,
        timeout_seconds: float,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._targets = tuple(targets)
        self._kinds = frozenset(kinds)
        self._max_age = max_age
        self._timeout_seconds = timeout_seconds
        self._clock = clock
        self._sent: OrderedDict[tuple[UUID, int], None] = OrderedDict()
        self.settings = NotificationSettings(
            enabled=bool(self._targets),
            targets=tuple(target.shown for target in self._targets),
            kinds=tuple(kind for kind in NotificationKind if kind in self._kinds),
            max_age_seconds=max_age.total_seconds(),
        )
        """What the notifier does, secrets masked: the answer to ``subjects.NOTIFIER_SETTINGS``."""

    async def on_event(self, event: Envelope) -> None:
        """Send the notice about ``event`` to each target that has not taken it; ack unsent what is no news.

        A backtest's signals, orders and failures are no news to a person: they are acked unsent. The day's LLM
        spend is, whichever execution's model call crossed the threshold (a backtest's calls cost money too).
        A backtest's signals have subjects of their own, which the notifier's consumer does not match; the check
        stays for one published on the live subject all the same (an older signals service, a hand-published
        message), so that nobody is told to act on a signal of the past.
        """
        if event.backtest is not None and not isinstance(event, LlmBudgetCrossed):
            return
        notice = notice_of(event)
        if notice is None or notice.kind not in self._kinds or not self._targets:
            return
        age = self._clock() - event.occurred_at
        if age > self._max_age:
            log.warning("notification_too_late", kind=notice.kind.value, age_seconds=round(age.total_seconds()))
            return
        failed = []
        for index, target in enumerate(self._targets):
            key = (event.message_id, index)
            if key in self._sent:
                continue
            if await target.send(notice, self._timeout_seconds):
                self._remember(key)
            else:
                failed.append(target.shown)
        if failed:
            msg = f"the {notice.kind.value} notification was not taken by {', '.join(failed)}"
            raise TransientStepError(msg)
        log.info("notification_sent", kind=notice.kind.value, title=notice.title)

    def _remember(self, key: tuple[UUID, int]) -> None:
        self._sent[key] = None
        while len(self._sent) > REMEMBERED_DELIVERIES:
            self._sent.popitem(last=False)
