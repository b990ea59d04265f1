"""The supervisor's backoff: jittered so that clients do not retry in step, never longer than the backoff."""

from __future__ import annotations

from tradelane.ib.connection import RECONNECT_JITTER, jittered_wait


def test_a_jittered_wait_stays_within_the_backoff_and_varies() -> None:
    waits = [jittered_wait(2.0) for _ in range(200)]
    assert all(2.0 * (1 - RECONNECT_JITTER) <= wait <= 2.0 for wait in waits)
    assert len(set(waits)) > 1
