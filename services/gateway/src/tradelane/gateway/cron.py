"""A strategy's next run as the gateway shows it (pure; :mod:`tradelane.cron` holds the rule)."""

from __future__ import annotations

from datetime import datetime

from tradelane.contracts.strategy import StrategyDefinition
from tradelane.cron import CronError, next_fire


def next_run_at(definition: StrategyDefinition, now: datetime) -> datetime | None:
    """When the scheduler next runs ``definition`` after ``now`` (aware UTC).

    The cron is read in the strategy's time zone, so '0 16 * * 1-5' in America/New_York follows
    daylight saving time. None for an inactive strategy, or a cron that never fires.
    """
    if not definition.active:
        return None
    try:
        return next_fire(definition.schedule.cron, definition.schedule.timezone, now)
    except CronError:
        return None
