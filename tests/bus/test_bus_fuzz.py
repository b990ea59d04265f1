"""Bus fuzzing: bad messages on every subject a service consumes are given up on at once, and the service serves on.

Every consuming service runs once for the whole module, in this process, on an embedded NATS and
PostgreSQL: market-data (simulated provider), indicators, charts, llm-analyst (offline rules),
signals, the broker (paper venue) and the lineage. One real execution first gives a valid message
of each subject; hypothesis then makes bad messages from it (malformed, truncated, wrong schema,
wrong version, bad headers), sent byte for byte by a raw NATS client. For each one, every durable
consumer of the subject must decide on its first delivery:

- the service whose input it is (a pipeline step, the broker) terminates it (JetStream's
  ``MSG_TERMINATED`` advisory, after one delivery), dead-letters it as ``invalid_input`` with the
  reason, and, when the message names its execution and strategy, publishes a ``StepFailed`` that
  the lineage records as a failed step;
- the lineage records it, or terminates and dead-letters it (a dead letter is never dead-lettered
  again);

and no message is ever delivered twice (each consumer's delivery count equals the messages it
matches). After each subject's batch a valid message must still be handled. Messages close to and
over the server's ``max_payload`` are checked separately: their dead letter refers to the original
in its stream instead of failing to fit, and a redrive republishes the original whole.

``TRADELANE_BUS_FUZZ_EXAMPLES`` sets the examples per subject (default 30); the run is derandomized,
so a finding reproduces; ``TRADELANE_BUS_FUZZ_SEED=<n>`` draws other examples.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import nats
import pytest
from hypothesis import HealthCheck, Phase, given, note, seed, settings
from nats.aio.client import Client as NatsClient
from pydantic import SecretStr

from tests.bus.bodies import (
    Fuzzed,
    attributable,
    bad_messages,
    contract_refuses,
    encoded,
    valid_with_bad_headers,
)
from tests.bus.probe import BusProbe, consumers_of, deliveries_match_messages, lineage_steps
from tests.bus.raw_nats import PublishRefusedError, RawPublisher, Stored, header_block
from tests.support.waiting import eventually
from tradelane.broker.app import build as build_broker
from tradelane.broker.config import BrokerSettings
from tradelane.charts.app import build as build_charts
from tradelane.charts.config import ChartSettings
from tradelane.cli.demo import DEMO_STRATEGY
from tradelane.contracts import subjects
from tradelane.contracts.events import ExecutionRequested, StepFailed, Trigger
from tradelane.contracts.trading import SignalSkipped
from tradelane.indicators.app import build as build_indicators
from tradelane.lineage.app import build as build_lineage
from tradelane.llm_analyst.app import build as build_analyst
from tradelane.llm_analyst.config import AnalystSettings
from tradelane.market_data.app import build as build_market_data
from tradelane.market_data.config import MarketDataSettings
from tradelane.runtime.bus import MESSAGE_ID_HEADER
from tradelane.runtime.dead_letter_copy import (
    BODY_OMITTED_HEADER,
    DELIVERIES_HEADER,
    ERROR_HEADER,
    ERROR_KIND_HEADER,
    MAX_HEADERS,
    OMITTED_KEY,
    ORIGINAL_HEADER,
)
from tradelane.runtime.deadletters import RedriveTooLargeError, list_dead_letters, redrive
from tradelane.runtime.layout import provision_as_provisioner
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings
from tradelane.signals.app import build as build_signals
from tradelane.store.pool import create_pool

EXAMPLES = int(os.environ.get("TRADELANE_BUS_FUZZ_EXAMPLES", "30"))
SEED = os.environ.get("TRADELANE_BUS_FUZZ_SEED")
AS_OF = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
EXAMPLE_SECONDS = 60.0
HANDLING_SECONDS = 60.0
"""How long a valid message may take (a chart render on a busy two-core machine takes seconds)."""

PIPELINE_STEPS = (
    subjects.EXECUTION_REQUESTED,
    subjects.MARKET_DATA_FETCHED,
    subjects.INDICATORS_COMPUTED,
    subjects.CHART_RENDERED,
    subjects.ANALYSIS_COMPLETED,
)
FUZZED_SUBJECTS = (
    *PIPELINE_STEPS,
    subjects.SIGNAL_GENERATED,
    subjects.STEP_FAILED,
    subjects.SIGNAL_SKIPPED,
    subjects.dead_letter(subjects.EXECUTION_REQUESTED),
)
"""Each service's input, and one subject of each kind only the lineage reads (pipeline, trading, dead letters)."""


@dataclass
class FuzzSystem:
    settings: Settings
    client: NatsClient
    pool: asyncpg.Pool[Any]
    probe: BusProbe
    raw: RawPublisher
    templates: dict[str, dict[str, Any]]
    options: dict[str, Any]
    ids: itertools.count[int]

    def renewed(self, subject: str) -> dict[str, Any]:
        """The subject's valid message with new message and execution ids."""
        return {**self.templates[subject], "message_id": str(uuid4()), "execution_id": str(uuid4())}

    def freshened(self, subject: str, fuzzed: Fuzzed) -> Fuzzed:
        """``fuzzed`` with new message and execution ids wherever the template's stand (even cut or mangled around).

        Ids are the same length, so a truncation or a changed byte stays where hypothesis put it.
        """
        body = fuzzed.body
        for name in ("message_id", "execution_id"):
            body = body.replace(str(self.templates[subject][name]).encode(), str(uuid4()).encode())
        return replace(fuzzed, body=body)

    async def publish(self, subject: str, fuzzed: Fuzzed) -> Stored | None:
        """Publish byte for byte; None when the server refused it or dropped it as a duplicate."""
        try:
            stored = await self.raw.publish(subject, _unique(fuzzed.headers, next(self.ids)), fuzzed.body)
        except PublishRefusedError:
            return None
        return None if stored.duplicate else stored


def _unique(headers: list[tuple[bytes, bytes]] | None, number: int) -> bytes | None:
    """The header block, a generated ``Nats-Msg-Id`` made unique (a repeated one is a duplicate JetStream drops)."""
    if headers is None:
        return None
    return header_block(
        [(name, value + b"/" + str(number).encode() if name == b"Nats-Msg-Id" else value) for name, value in headers]
    )


def _services(settings: Settings) -> list[Service]:
    shared = settings.model_dump()
    return [
        build_market_data(MarketDataSettings.model_validate(shared)),
        build_indicators(settings),
        build_charts(ChartSettings.model_validate(shared)),
        build_analyst(AnalystSettings.model_validate(shared)),
        build_signals(settings),
        build_broker(BrokerSettings.model_validate(shared)),
        build_lineage(settings),
    ]


async def _templates(system: FuzzSystem) -> dict[str, dict[str, Any]]:
    """A valid message of each fuzzed subject: one real execution's, and a few built from it."""
    request = ExecutionRequested(
        execution_id=uuid4(), strategy_id=uuid4(), strategy=DEMO_STRATEGY, trigger=Trigger.MANUAL, as_of=AS_OF
    )
    body = request.model_dump(mode="json")
    await system.raw.publish(
        subjects.EXECUTION_REQUESTED, header_block([(MESSAGE_ID_HEADER.encode(), str(uuid4()).encode())]), encoded(body)
    )
    found = {subjects.EXECUTION_REQUESTED: body}
    cause = body["message_id"]
    for subject in (*PIPELINE_STEPS[1:], subjects.SIGNAL_GENERATED):
        produced = await eventually(
            partial(_output, system.probe, cause, subject),
            f"the demo execution's {subject}",
            timeout=60,
        )
        found[subject] = produced
        cause = produced["message_id"]
    failure = StepFailed(
        execution_id=request.execution_id,
        strategy_id=request.strategy_id,
        step="indicators",
        kind="permanent",
        error="sma_200 needs 200 bars",
        input_subject=subjects.MARKET_DATA_FETCHED,
        deliveries=1,
    )
    skipped = SignalSkipped(
        execution_id=request.execution_id,
        strategy_id=request.strategy_id,
        signal_id=UUID(found[subjects.SIGNAL_GENERATED]["message_id"]),
        rule="strategy_deleted",
        reason="the strategy is gone",
    )
    found[subjects.STEP_FAILED] = failure.model_dump(mode="json")
    found[subjects.SIGNAL_SKIPPED] = skipped.model_dump(mode="json")
    found[subjects.dead_letter(subjects.EXECUTION_REQUESTED)] = body
    return found


def _output(probe: BusProbe, cause: str, subject: str) -> dict[str, Any] | None:
    """The message on ``subject`` that the message ``cause`` caused, once the probe has seen it."""
    return next((body for seen, body in probe.outputs.get(cause, []) if seen == subject), None)


@pytest.fixture(scope="module")
async def system(module_servers: Any) -> AsyncIterator[FuzzSystem]:
    """Every consuming service, once for the module (``module_servers`` is the root conftest's ``ModuleServers``)."""
    url, dsn, options = module_servers.nats_url, module_servers.database_url, module_servers.nats_options
    settings = Settings(
        nats_url=url,
        nats_credentials_file=module_servers.nats_credentials_file,
        database_url=SecretStr(dsn),
        retry_backoff_seconds=0.2,
        retry_backoff_max_seconds=1.0,
        log_format="console",
        log_level="WARNING",
        health_port=None,
    )
    await provision_as_provisioner(settings)
    client = await nats.connect(url, **options)
    pool = await create_pool(dsn)
    probe = BusProbe(client, pool)
    await probe.start()
    services = _services(settings)
    raw = await RawPublisher.connect(url, options)
    try:
        for service in services:
            await service.start()
        running = FuzzSystem(settings, client, pool, probe, raw, {}, options, itertools.count())
        running.templates = await _templates(running)
        yield running
    finally:
        await raw.close()
        for service in reversed(services):
            await service.close()
        await pool.close()
        await client.close()


def _on_the_loop(loop: asyncio.AbstractEventLoop, check: Coroutine[Any, Any, None]) -> None:
    asyncio.run_coroutine_threadsafe(check, loop).result(EXAMPLE_SECONDS)


def _fuzz(strategy: Any, check: Any) -> None:
    """Run ``check`` on each example of ``strategy`` (in this worker thread; ``check`` goes to the test's loop)."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=SEED is None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(fuzzed: Fuzzed) -> None:
        note(f"{fuzzed.kind} body={fuzzed.body[:300]!r} ({len(fuzzed.body)} bytes) headers={fuzzed.headers!r:.600}")
        check(fuzzed)

    (run if SEED is None else seed(int(SEED))(run))()


async def _given_up_on_at_once(system: FuzzSystem, subject: str, fuzzed: Fuzzed) -> None:
    """Every consumer decided on its first delivery; the owner terminated, dead-lettered and reported it."""
    fuzzed = system.freshened(subject, fuzzed)
    stored = await system.publish(subject, fuzzed)
    if stored is None:
        return
    probe = system.probe
    await probe.settled(subject, stored.stream, stored.sequence)
    terminations = probe.terminated.get((stored.stream, stored.sequence), [])
    for consumer in consumers_of(subject):
        ended = [t for t in terminations if t.consumer == consumer.durable]
        assert all(t.deliveries == 1 for t in ended), f"{consumer.durable} terminated it after {ended} deliveries"
        if consumer.owner:
            assert ended, f"{consumer.durable} acknowledged a {fuzzed.kind} message its contract refuses"
        if not ended or subject.startswith(subjects.dead_letter("")):
            continue
        letter = await eventually(
            partial(probe.dead_letters.get, (subject, stored.sequence, consumer.step)),
            f"the dead letter of {consumer.durable}",
        )
        headers = letter.headers or {}
        assert headers[DELIVERIES_HEADER] == "1"
        assert headers[ERROR_HEADER]
        if BODY_OMITTED_HEADER not in headers:
            assert letter.data == fuzzed.body
        if consumer.owner:
            assert headers[ERROR_KIND_HEADER] == "invalid_input"
            await _reported(system, subject, fuzzed, consumer.step, headers[ERROR_HEADER])


async def _reported(system: FuzzSystem, subject: str, fuzzed: Fuzzed, step: str, error: str) -> None:
    """A message naming its execution and strategy has a StepFailed with the reason, recorded by the lineage."""
    named = attributable(fuzzed)
    if named is None:
        return
    execution_id, _ = named

    async def failure() -> StepFailed | None:
        return next(
            (
                f
                for f in system.probe.failures
                if f.execution_id == execution_id and f.step == step and f.input_subject == subject
            ),
            None,
        )

    reported: StepFailed = await eventually(failure, f"the StepFailed of {step}")
    assert reported.kind == "invalid_input"
    assert reported.error.startswith(error[:200])
    names_a_version = isinstance(fuzzed.version, int) and not isinstance(fuzzed.version, bool)
    if fuzzed.kind == "wrong_version" and names_a_version and fuzzed.content_type() is None:
        assert f"schema_version {fuzzed.version}" in reported.error, reported.error

    async def recorded() -> bool:
        rows = await lineage_steps(system.pool, execution_id)
        return any(row["step"] == step and row["status"] == "failed" for row in rows)

    await eventually(recorded, f"the lineage's failed {step} step")


async def _serves(system: FuzzSystem, subject: str) -> None:
    """A valid message on ``subject`` is handled: acknowledged by every consumer, and its step's output published."""
    body = system.renewed(subject)
    stored = await system.publish(
        subject, Fuzzed("valid", encoded(body), [(MESSAGE_ID_HEADER.encode(), body["message_id"].encode())])
    )
    assert stored is not None
    await system.probe.settled(subject, stored.stream, stored.sequence, timeout=HANDLING_SECONDS)
    assert (stored.stream, stored.sequence) not in system.probe.terminated
    if subject in PIPELINE_STEPS:
        await eventually(
            lambda: system.probe.outputs.get(body["message_id"]),
            f"the output of a valid {subject}",
            timeout=HANDLING_SECONDS,
        )

    async def recorded() -> bool:
        rows = await lineage_steps(system.pool, UUID(body["execution_id"]))
        return any(str(row["message_id"]) == body["message_id"] for row in rows)

    await eventually(recorded, f"the lineage's record of a valid {subject}", timeout=15)


async def _nothing_delivered_twice(system: FuzzSystem) -> None:
    assert not await deliveries_match_messages(system.client)
    assert not system.probe.exhausted, system.probe.exhausted


@pytest.mark.timeout(600)
@pytest.mark.parametrize("subject", FUZZED_SUBJECTS)
async def test_a_bad_message_is_given_up_on_at_once_and_the_next_valid_one_is_handled(
    system: FuzzSystem, subject: str
) -> None:
    template = system.templates[subject]
    strategy = bad_messages(template)
    if subjects.event_type_for(subject) is not None and consumers_of(subject)[0].owner:
        strategy = strategy.filter(lambda fuzzed: contract_refuses(subject, fuzzed))
    loop = asyncio.get_running_loop()
    await asyncio.to_thread(
        _fuzz, strategy, lambda fuzzed: _on_the_loop(loop, _given_up_on_at_once(system, subject, fuzzed))
    )
    await _serves(system, subject)
    await _nothing_delivered_twice(system)


async def _decided_once(system: FuzzSystem, subject: str, fuzzed: Fuzzed) -> None:
    """A valid message with bad headers: handled (its output published) or given up on, on its first delivery."""
    stored = await system.publish(subject, fuzzed)
    if stored is None:
        return
    await system.probe.settled(subject, stored.stream, stored.sequence, timeout=HANDLING_SECONDS)
    terminations = system.probe.terminated.get((stored.stream, stored.sequence), [])
    assert all(t.deliveries == 1 for t in terminations), terminations
    owner = consumers_of(subject)[0]
    if any(t.consumer == owner.durable for t in terminations):
        await eventually(
            lambda: system.probe.dead_letters.get((subject, stored.sequence, owner.step)), "the dead letter"
        )
    elif subject in PIPELINE_STEPS:
        message_id = json.loads(fuzzed.body)["message_id"]
        await eventually(
            lambda: system.probe.outputs.get(message_id), f"the output of {subject}", timeout=HANDLING_SECONDS
        )


@pytest.mark.timeout(600)
@pytest.mark.parametrize("subject", [subjects.ANALYSIS_COMPLETED, subjects.SIGNAL_GENERATED])
async def test_a_valid_message_with_bad_headers_is_decided_on_its_first_delivery(
    system: FuzzSystem, subject: str
) -> None:
    loop = asyncio.get_running_loop()

    def check(fuzzed: Fuzzed) -> None:
        renewed = Fuzzed(fuzzed.kind, encoded(system.renewed(subject)), fuzzed.headers)
        _on_the_loop(loop, _decided_once(system, subject, renewed))

    await asyncio.to_thread(_fuzz, valid_with_bad_headers(system.templates[subject]), check)
    await _serves(system, subject)
    await _nothing_delivered_twice(system)


def _padded(body: dict[str, Any], size: int) -> bytes:
    """``body`` without its ``strategy`` (so no contract takes it) and padded to ``size`` bytes."""
    bare = encoded({key: value for key, value in body.items() if key != "strategy"} | {"padding": ""})
    return bare[:-2] + b"x" * (size - len(bare)) + b'"}'


async def _dead_letter_of(system: FuzzSystem, subject: str, stored: Stored, step: str) -> Any:
    await system.probe.settled(subject, stored.stream, stored.sequence)
    return await eventually(
        lambda: system.probe.dead_letters.get((subject, stored.sequence, step)), "the dead letter", timeout=15
    )


async def _near_max_payload(system: FuzzSystem, spare: int) -> tuple[dict[str, Any], bytes, Stored, Any]:
    """A bad (but attributable) request ``spare`` bytes short of max_payload, and its dead letter."""
    subject = subjects.EXECUTION_REQUESTED
    body = system.renewed(subject)
    headers = header_block([(MESSAGE_ID_HEADER.encode(), body["message_id"].encode())])
    data = _padded(body, system.raw.max_payload - len(headers) - spare)
    stored = await system.raw.publish(subject, headers, data)
    letter = await _dead_letter_of(system, subject, stored, "market_data")
    return body, data, stored, letter


async def _dead_letter_id(system: FuzzSystem, stored: Stored) -> int:
    [listed] = [
        found
        for found in await list_dead_letters(system.client.jetstream())
        if found.original_sequence == stored.sequence and found.step == "market_data"
    ]
    return listed.id


@pytest.mark.timeout(300)
async def test_a_bad_message_near_max_payload_is_dead_lettered_as_a_reference_that_redrives_the_original(
    system: FuzzSystem,
) -> None:
    subject = subjects.EXECUTION_REQUESTED
    # 240 spare bytes: too few for the dead-letter headers (about 370), enough for a redrive's (about 230)
    body, data, stored, letter = await _near_max_payload(system, spare=240)
    assert letter.headers[ORIGINAL_HEADER] == f"{subjects.PIPELINE_STREAM}:{stored.sequence}"
    assert "max_payload" in letter.headers[BODY_OMITTED_HEADER]
    reference = json.loads(letter.data)
    assert reference["execution_id"] == body["execution_id"]
    assert reference[OMITTED_KEY]["sequence"] == stored.sequence
    assert reference[OMITTED_KEY]["size"] >= len(data)
    await _reported(system, subject, Fuzzed("oversized", data, None), "market_data", letter.headers[ERROR_HEADER])

    async def recorded_dead_letter() -> bool:
        rows = await lineage_steps(system.pool, UUID(body["execution_id"]))
        return any(row["step"] == "dead_letter" for row in rows)

    await eventually(recorded_dead_letter, "the lineage's dead_letter step")
    js = system.client.jetstream()
    redriven = await redrive(js, await _dead_letter_id(system, stored), max_payload=system.raw.max_payload)
    again = await js.get_msg(redriven.stream, seq=redriven.sequence)
    assert again.data == data
    await _serves(system, subject)


@pytest.mark.timeout(300)
async def test_a_redrive_that_would_exceed_max_payload_is_refused_before_it_is_sent(system: FuzzSystem) -> None:
    _, _, stored, letter = await _near_max_payload(system, spare=16)
    assert BODY_OMITTED_HEADER in letter.headers
    dead_letter_id = await _dead_letter_id(system, stored)
    with pytest.raises(RedriveTooLargeError, match="max_payload"):
        await redrive(system.client.jetstream(), dead_letter_id, max_payload=system.raw.max_payload)
    assert system.client.is_connected
    await _serves(system, subjects.EXECUTION_REQUESTED)


@pytest.mark.timeout(300)
async def test_a_bad_message_with_headers_too_large_to_copy_is_dead_lettered_as_a_reference(
    system: FuzzSystem,
) -> None:
    subject = subjects.MARKET_DATA_FETCHED
    data = encoded({**system.renewed(subject), "bars": "not bars"})
    # JetStream stores it (under 64 KiB of headers); with the dead-letter headers it would not fit
    headers = header_block([(b"X-Huge", b"h" * (MAX_HEADERS - 200))])
    stored = await system.raw.publish(subject, headers, data)
    letter = await _dead_letter_of(system, subject, stored, "indicators")
    assert letter.headers[ORIGINAL_HEADER] == f"{subjects.PIPELINE_STREAM}:{stored.sequence}"
    assert "X-Huge" not in letter.headers
    await _serves(system, subject)


@pytest.mark.timeout(300)
async def test_a_message_over_max_payload_is_refused_by_the_server_and_nothing_stops(system: FuzzSystem) -> None:
    subject = subjects.ANALYSIS_COMPLETED
    before = await system.client.jetstream().stream_info(subjects.PIPELINE_STREAM)
    oversized = await RawPublisher.connect(system.settings.nats_url, system.options)
    oversized.max_payload += 1024  # send it anyway, as a client that ignores the server's limit would
    try:
        with pytest.raises(PublishRefusedError, match=r"(?i)payload"):
            await oversized.publish(subject, None, _padded(system.renewed(subject), system.raw.max_payload + 1))
    finally:
        await oversized.close()
    after = await system.client.jetstream().stream_info(subjects.PIPELINE_STREAM)
    assert after.state.last_seq == before.state.last_seq
    await _serves(system, subject)
    await _nothing_delivered_twice(system)
