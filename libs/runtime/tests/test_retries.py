"""Which failures a retry can fix, and the schedule of retries (pure rules, no server)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import nats.errors
import nats.js.errors
import pytest
from pydantic import ValidationError

from tradelane.runtime.errors import MessageTooLargeError, PermanentStepError, TransientStepError, is_transient
from tradelane.runtime.retries import RetryRules, backoff_delay, deliveries_within
from tradelane.runtime.settings import Settings


@pytest.mark.parametrize(
    "error",
    [
        TransientStepError("IB disconnected"),
        ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"),
        ConnectionResetError(104, "Connection reset by peer"),
        BrokenPipeError(32, "Broken pipe"),
        OSError(113, "No route to host"),
        TimeoutError(),  # asyncio.TimeoutError and nats.errors.TimeoutError are TimeoutErrors too
        asyncpg.PostgresConnectionError("connection lost"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.CrashShutdownError("terminating connection because of crash of another server process"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.InternalClientError("cannot switch to state 15; another operation is in progress"),
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.SerializationError("could not serialize access"),
        asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed"),
        asyncpg.InterfaceError("pool is closing"),
        nats.errors.ConnectionClosedError(),
        nats.errors.ConnectionReconnectingError(),
        nats.errors.TimeoutError(),
        nats.errors.NoRespondersError(),
        nats.errors.NoServersError(),
        nats.js.errors.ServiceUnavailableError(),
        nats.js.errors.NoStreamResponseError(),
        ExceptionGroup("two", [ConnectionRefusedError(), TimeoutError()]),
    ],
    ids=lambda error: type(error).__name__,
)
def test_an_unreachable_dependency_is_transient(error: BaseException) -> None:
    assert is_transient(error)


def _validation_error() -> ValidationError:
    try:
        Settings(max_deliver=0)
    except ValidationError as error:
        return error
    raise AssertionError("max_deliver=0 was accepted")


@pytest.mark.parametrize(
    "error",
    [
        PermanentStepError("no such symbol"),
        MessageTooLargeError("too large"),
        ValueError("bad value"),
        KeyError("missing"),
        RuntimeError("a bug"),
        json.JSONDecodeError("Expecting value", "", 0),
        _validation_error(),
        asyncpg.UniqueViolationError("duplicate key"),
        asyncpg.UndefinedColumnError("column does not exist"),
        asyncpg.InterfaceError("the server expects 2 arguments for this query, 1 was passed"),
        nats.errors.MaxPayloadError(),
        nats.js.errors.BadRequestError(),
        ExceptionGroup("mixed", [ConnectionRefusedError(), RuntimeError("a bug")]),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_bug_or_bad_input_is_not_transient(error: BaseException) -> None:
    assert not is_transient(error)


def test_a_permanent_error_raised_from_a_timeout_stays_permanent() -> None:
    class TimedOutForGoodError(PermanentStepError, TimeoutError):
        pass

    assert not is_transient(TimedOutForGoodError("the provider says this will never answer"))


def test_the_backoff_doubles_from_the_first_delay_up_to_the_cap() -> None:
    no_jitter = [backoff_delay(n, initial=1, cap=60, rand=lambda: 0.0) for n in range(1, 10)]
    assert no_jitter == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert backoff_delay(10_000, initial=1, cap=60, rand=lambda: 0.0) == 60


def test_the_jitter_takes_at_most_a_fifth_off_a_delay() -> None:
    assert backoff_delay(3, initial=1, cap=60, rand=lambda: 1.0) == pytest.approx(3.2)
    delays = {backoff_delay(7, initial=1, cap=60) for _ in range(200)}
    assert all(48 <= delay <= 60 for delay in delays)
    assert len(delays) > 100


def test_a_servers_retry_after_wins_when_it_is_longer() -> None:
    rules = Settings().retry_rules
    assert rules.delay(1, retry_after=30) == 30
    assert rules.delay(1, retry_after=0.01) <= 1


_STORED = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_a_transient_failure_is_retried_until_the_horizon_is_spent() -> None:
    rules = RetryRules(horizon_seconds=3600, backoff_initial_seconds=1, backoff_max_seconds=60, max_deliver=5)
    assert not rules.horizon_spent(40, _STORED, _STORED + timedelta(seconds=3599))
    assert rules.horizon_spent(40, _STORED, _STORED + timedelta(seconds=3600))


def test_a_message_from_a_backlog_older_than_the_horizon_still_gets_max_deliver_deliveries() -> None:
    rules = RetryRules(horizon_seconds=3600, backoff_initial_seconds=1, backoff_max_seconds=60, max_deliver=5)
    two_hours_later = _STORED + timedelta(hours=2)
    assert not rules.horizon_spent(4, _STORED, two_hours_later)
    assert rules.horizon_spent(5, _STORED, two_hours_later)


def test_a_bug_gets_max_deliver_deliveries() -> None:
    rules = RetryRules(horizon_seconds=3600, backoff_initial_seconds=1, backoff_max_seconds=60, max_deliver=5)
    assert not rules.bug_retries_spent(4)
    assert rules.bug_retries_spent(5)


def test_jetstreams_bound_leaves_room_for_every_retry_of_the_horizon_twice() -> None:
    rules = Settings().retry_rules
    fitting = deliveries_within(3600, initial=1, cap=60)
    # 1 + 2 + ... + 32 (with the shortest jitter) then 48 s each until an hour has passed
    assert 70 <= fitting <= 80
    assert rules.consumer_max_deliver() == 2 * (fitting + 1)


def test_a_horizon_past_the_replay_window_is_refused() -> None:
    with pytest.raises(ValidationError, match="longer than the streams' replay window"):
        Settings(retry_horizon_seconds=3 * 86400, stream_max_age_days=2)
    assert Settings(retry_horizon_seconds=2 * 86400, stream_max_age_days=2).retry_horizon_seconds == 2 * 86400
