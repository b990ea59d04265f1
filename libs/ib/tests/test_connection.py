"""The supervisor's backoff: jittered so that clients do not retry in step, never longer than the backoff."""

from __future__ import annotations

from tradelane.ib.connection import RECONNECT_JITTER, IbEndpoint


def test_a_jittered_wait_stays_within_the_backoff_and_varies() -> None:
    backoff = IbEndpoint(host="127.0.0.1", port=7497, client_id=1, reconnect_initial=2.0).reconnect_backoff
    waits = [backoff.delay(1) for _ in range(200)]
    assert all(2.0 * (1 - RECONNECT_JITTER) <= wait <= 2.0 for wait in waits)
    assert len(set(waits)) > 1
