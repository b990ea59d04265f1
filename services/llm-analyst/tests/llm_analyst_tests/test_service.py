"""The analyst service on a real NATS: events in and out, redelivery after a 429, HOLD on the last delivery."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import nats.js.errors
import pytest
from nats.aio.client import Client as NatsClient
from structlog.testing import capture_logs

from llm_analyst_tests.fake_llm import FakeLlmServer, answer, failure
from llm_analyst_tests.support import MakeChart, MakeStrategy, Reply
from tests.support.waiting import eventually
from tradelane.contracts import subjects
from tradelane.contracts.events import AnalysisCompleted, StepFailed
from tradelane.contracts.llm_budget import BUDGET_THRESHOLDS
from tradelane.llm_analyst import offline
from tradelane.llm_analyst.app import build
from tradelane.llm_analyst.config import AnalystSettings
from tradelane.runtime.bus import EventBus
from tradelane.runtime.decisions import ERROR_HEADER
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings
from tradelane.store.prompts import PromptFields, PromptRepository

StartService = Callable[..., Awaitable[Service]]


@pytest.fixture
async def start_service(settings: Settings, fake_llm: FakeLlmServer) -> AsyncIterator[StartService]:
    """Start the analyst service (pointed at the fake model unless ``llm=False``); transient retries end after
    two deliveries (a retry horizon of 0.1 s, spent before the second: the first retry waits at least 0.16 s)."""
    services: list[Service] = []

    async def start(*, llm: bool = True, **more: Any) -> Service:
        overrides: dict[str, Any] = {
            "max_deliver": 2,
            "retry_horizon_seconds": 0.1,
            "health_port": None,
            "llm_retry_budget": 0,
            **more,
        }
        if llm:
            overrides |= {"llm_base_url": fake_llm.base_url, "llm_api_key": "test-key", "llm_model": "vision-test"}
        service = build(AnalystSettings.model_validate(settings.model_dump() | overrides))
        await service.start()
        services.append(service)
        return service

    yield start
    for service in services:
        await service.close()


async def _last(client: NatsClient, subject: str, timeout: float = 20) -> dict[str, Any]:
    """The last message on ``subject`` in the pipeline stream, waiting for one to arrive."""
    js = client.jetstream()

    async def last() -> dict[str, Any] | None:
        try:
            message = await js.get_last_msg(subjects.PIPELINE_STREAM, subject)
        except nats.js.errors.NotFoundError:
            return None
        body: dict[str, Any] = json.loads(message.data or b"{}")
        return body

    return await eventually(last, f"a message on {subject}", timeout=timeout)


async def test_the_service_publishes_the_models_analysis_with_its_calls(
    start_service: StartService,
    make_chart: MakeChart,
    bus: EventBus,
    nats_client: NatsClient,
    fake_llm: FakeLlmServer,
    valid_reply: Reply,
) -> None:
    fake_llm.script(answer(valid_reply()))
    await start_service()
    chart = await make_chart()
    await bus.publish(chart)
    completed = AnalysisCompleted.model_validate(await _last(nats_client, subjects.ANALYSIS_COMPLETED))
    assert completed.execution_id == chart.execution_id
    assert completed.analysis.model == "vision-test"
    assert completed.llm_calls[0].replies == (valid_reply(),)


async def test_a_rate_limited_call_is_redelivered_after_the_retry_after(
    start_service: StartService,
    make_chart: MakeChart,
    bus: EventBus,
    nats_client: NatsClient,
    fake_llm: FakeLlmServer,
    valid_reply: Reply,
) -> None:
    fake_llm.script(failure(429, "rate limited", {"Retry-After": "1"}), answer(valid_reply()))
    await start_service()
    started = time.monotonic()
    await bus.publish(await make_chart())
    completed = AnalysisCompleted.model_validate(await _last(nats_client, subjects.ANALYSIS_COMPLETED))
    assert time.monotonic() - started >= 1.0
    assert len(fake_llm.requests) == 2
    assert completed.analysis.bias == "bullish"


async def test_an_unavailable_model_holds_on_the_last_delivery_when_the_strategy_asks(
    start_service: StartService,
    make_chart: MakeChart,
    make_strategy: MakeStrategy,
    bus: EventBus,
    nats_client: NatsClient,
    fake_llm: FakeLlmServer,
) -> None:
    fake_llm.script(failure(500, "down"), failure(500, "still down"))
    await start_service()
    await bus.publish(await make_chart(make_strategy(on_failure="hold")))
    completed = AnalysisCompleted.model_validate(await _last(nats_client, subjects.ANALYSIS_COMPLETED))
    assert (completed.analysis.bias, completed.analysis.confidence) == ("neutral", 0)
    assert completed.analysis.key_factors[0] == "analysis_unavailable"
    assert len(fake_llm.requests) == 2


async def test_an_answer_invalid_after_the_repair_fails_the_step_with_the_reply(
    start_service: StartService, make_chart: MakeChart, bus: EventBus, nats_client: NatsClient, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script(answer("I would buy."), answer("Really, buy."))
    await start_service()
    await bus.publish(await make_chart())
    failed = StepFailed.model_validate(await _last(nats_client, subjects.STEP_FAILED))
    assert (failed.step, failed.kind, failed.deliveries) == ("analysis", "permanent", 1)
    assert "last reply: Really, buy." in failed.error


async def test_without_an_endpoint_the_service_says_it_uses_the_offline_rules(
    start_service: StartService, make_chart: MakeChart, bus: EventBus, nats_client: NatsClient
) -> None:
    with capture_logs() as logs:
        await start_service(llm=False)
    [selected] = [line for line in logs if line["event"] == "analyst_selected"]
    assert selected["analyst"] == offline.MODEL
    assert "TRADELANE_LLM_BASE_URL" in selected["reason"]
    await bus.publish(await make_chart())
    completed = AnalysisCompleted.model_validate(await _last(nats_client, subjects.ANALYSIS_COMPLETED))
    assert completed.analysis.model == offline.MODEL


async def test_with_an_endpoint_the_service_says_it_uses_the_model(start_service: StartService) -> None:
    with capture_logs() as logs:
        await start_service()
    [selected] = [line for line in logs if line["event"] == "analyst_selected"]
    assert (selected["analyst"], selected["model"]) == ("llm", "vision-test")


async def test_a_call_slower_than_the_ack_wait_is_kept_in_progress_not_redelivered(
    start_service: StartService,
    make_chart: MakeChart,
    bus: EventBus,
    nats_client: NatsClient,
    fake_llm: FakeLlmServer,
    valid_reply: Reply,
    settings: Settings,
) -> None:
    """Two replicas, an ack wait of 5 s and a slower model: the other replica never gets the message."""
    assert settings.ack_wait_seconds < 6.5
    fake_llm.script(answer(valid_reply(), delay=6.5))
    await start_service()
    await start_service()
    await bus.publish(await make_chart())
    completed = AnalysisCompleted.model_validate(await _last(nats_client, subjects.ANALYSIS_COMPLETED))
    assert completed.analysis.bias == "bullish"
    assert len(fake_llm.requests) == 1


async def test_a_template_beyond_the_render_limits_fails_the_step_and_is_dead_lettered(
    prompts: PromptRepository,
    start_service: StartService,
    make_chart: MakeChart,
    make_strategy: MakeStrategy,
    bus: EventBus,
    nats_client: NatsClient,
    fake_llm: FakeLlmServer,
) -> None:
    """Nested loops in a stored template stop at the render time limit; the step fails permanently with the reason."""
    loops = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"
    created = await prompts.create(PromptFields(name="runaway", type="analysis"), loops)
    await start_service()
    chart = await make_chart(make_strategy(prompt_template_id=created.id))
    await bus.publish(chart)
    failed = StepFailed.model_validate(await _last(nats_client, subjects.STEP_FAILED))
    assert (failed.step, failed.kind, failed.deliveries) == ("analysis", "permanent", 1)
    assert "'runaway'" in failed.error
    assert "took longer than 2 s (the render time limit)" in failed.error
    dead = await nats_client.jetstream().get_last_msg(
        subjects.DEAD_LETTER_STREAM, subjects.dead_letter(subjects.CHART_RENDERED)
    )
    assert json.loads(dead.data or b"{}")["execution_id"] == str(chart.execution_id)
    assert "the render time limit" in (dead.headers or {})[ERROR_HEADER]
    assert fake_llm.requests == []


async def _budget_crossings(client: NatsClient) -> list[dict[str, Any]]:
    js = client.jetstream()
    info = await js.stream_info(subjects.PIPELINE_STREAM)
    found = []
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        message = await js.get_msg(subjects.PIPELINE_STREAM, sequence)
        if message.subject == subjects.LLM_BUDGET_CROSSED:
            found.append(json.loads(message.data or b"{}"))
    return found


async def test_the_service_tells_each_budget_threshold_and_then_uses_the_offline_rules(
    start_service: StartService,
    make_chart: MakeChart,
    bus: EventBus,
    nats_client: NatsClient,
    fake_llm: FakeLlmServer,
    valid_reply: Reply,
) -> None:
    """Three calls at 0.0048 each against a budget of 0.01: 50 and 80 % on the second, 100 % on the third."""
    fake_llm.script(*(answer(valid_reply()) for _ in range(3)))
    await start_service(
        llm_daily_budget_usd="0.01",
        llm_prices={"vision-test": {"input_per_million": "2", "output_per_million": "8"}},
    )
    for _ in range(3):
        await bus.publish(await make_chart())
    crossings = await eventually(lambda: _crossings_of_three(nats_client), "the 50, 80 and 100 % crossings on the bus")
    assert [crossing["threshold_percent"] for crossing in crossings] == [50, 80, 100]
    last = await make_chart()
    await bus.publish(last)

    async def offline_analysis() -> dict[str, Any] | None:
        completed = await _last(nats_client, subjects.ANALYSIS_COMPLETED)
        return completed if completed["execution_id"] == str(last.execution_id) else None

    completed = await eventually(offline_analysis, "the analysis after the budget is spent")
    assert completed["analysis"]["model"] == offline.MODEL
    assert len(fake_llm.requests) == 3


async def _crossings_of_three(client: NatsClient) -> list[dict[str, Any]] | None:
    crossings = await _budget_crossings(client)
    return crossings if len(crossings) == len(BUDGET_THRESHOLDS) else None
