"""The provisioned Object Store buckets: each expires with the replay window, but the one that keeps signals' charts."""

from __future__ import annotations

import pytest

from tradelane.contracts import subjects
from tradelane.runtime.bus import EventBus
from tradelane.runtime.settings import Settings


async def _max_age_days(bus: EventBus, bucket: str) -> float:
    """How long the bucket keeps an object, in days; 0 for ever."""
    info = await bus.jetstream.stream_info(f"OBJ_{bucket}")
    return (info.config.max_age or 0) / 86400


async def test_charts_and_payloads_expire_with_the_replay_window_and_kept_charts_never(
    bus: EventBus, settings: Settings
) -> None:
    window = settings.stream_max_age_days
    assert await _max_age_days(bus, subjects.CHART_BUCKET) == pytest.approx(window)
    assert await _max_age_days(bus, subjects.PAYLOAD_BUCKET) == pytest.approx(window)
    assert await _max_age_days(bus, subjects.KEPT_CHART_BUCKET) == 0
