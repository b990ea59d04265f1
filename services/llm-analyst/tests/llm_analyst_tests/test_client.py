"""The chat client against the fake OpenAI-compatible server: request shape, formats, retries, limits."""

from __future__ import annotations

import asyncio
import base64
import secrets
from datetime import UTC, datetime

import openai
import pytest
from pydantic import SecretStr

from llm_analyst_tests.fake_llm import FakeLlmServer, answer, failure
from tradelane.llm_analyst.client import (
    ChatRequest,
    LlmClient,
    LlmRequestError,
    LlmUnavailableError,
    RetryBudget,
    retry_after_seconds,
)
from tradelane.prompts.answer import ANSWER_SCHEMA_NAME, answer_json_schema
from tradelane.runtime.redaction import register_secret

REQUEST = ChatRequest(model="vision-test", system="You analyse charts.", prompt="Analyse AAPL.", max_tokens=900)


class RecordedSleeps:
    """Stands in for asyncio.sleep: remembers each delay instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


@pytest.fixture
def client(openai_client: openai.AsyncOpenAI, sleeps: RecordedSleeps) -> LlmClient:
    return LlmClient(openai_client, max_concurrency=4, max_attempts=3, sleep=sleeps)


def budget(seconds: float = 30.0) -> RetryBudget:
    return RetryBudget(seconds)


async def test_each_chart_goes_as_a_base64_image_part_after_the_prompt(
    client: LlmClient, fake_llm: FakeLlmServer, png: bytes
) -> None:
    fake_llm.script(answer({"ok": True}))
    await client.complete(ChatRequest(model="m", system="sys", prompt="Analyse.", images=(png, png)), budget())
    system, user = fake_llm.requests[0]["messages"]
    assert system == {"role": "system", "content": "sys"}
    assert user["role"] == "user"
    text, *images = user["content"]
    assert text == {"type": "text", "text": "Analyse."}
    assert len(images) == 2
    assert images[0]["type"] == "image_url"
    assert images[0]["image_url"]["url"] == f"data:image/png;base64,{base64.b64encode(png).decode()}"


async def test_a_prompt_without_charts_is_sent_as_plain_text(client: LlmClient, fake_llm: FakeLlmServer) -> None:
    fake_llm.script(answer({}))
    await client.complete(REQUEST, budget())
    assert fake_llm.requests[0]["messages"][1] == {"role": "user", "content": "Analyse AAPL."}


async def test_the_model_and_sampling_parameters_are_sent(client: LlmClient, fake_llm: FakeLlmServer) -> None:
    fake_llm.script(answer({}))
    await client.complete(REQUEST, budget())
    request = fake_llm.requests[0]
    assert (request["model"], request["temperature"], request["max_tokens"]) == ("vision-test", 0.2, 900)


async def test_the_answer_is_asked_for_with_the_strict_json_schema(client: LlmClient, fake_llm: FakeLlmServer) -> None:
    fake_llm.script(answer({}))
    reply = await client.complete(REQUEST, budget())
    response_format = fake_llm.requests[0]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"] == {
        "name": ANSWER_SCHEMA_NAME,
        "strict": True,
        "schema": answer_json_schema(),
    }
    assert reply.response_format == "json_schema"


async def test_the_reply_text_and_token_counts_come_back(client: LlmClient, fake_llm: FakeLlmServer) -> None:
    fake_llm.script(answer('{"bias": "neutral"}', tokens_in=1500, tokens_out=250))
    reply = await client.complete(REQUEST, budget())
    assert (reply.text, reply.tokens_in, reply.tokens_out, reply.attempts) == ('{"bias": "neutral"}', 1500, 250, 1)
    assert reply.latency_ms > 0


async def test_a_server_without_json_schema_is_asked_in_json_mode(client: LlmClient, fake_llm: FakeLlmServer) -> None:
    fake_llm.supports_json_schema = False
    fake_llm.script(answer({}))
    reply = await client.complete(REQUEST, budget())
    assert [request["response_format"]["type"] for request in fake_llm.requests] == ["json_schema", "json_object"]
    assert reply.response_format == "json_object"


async def test_the_format_a_model_accepted_is_used_from_then_on(client: LlmClient, fake_llm: FakeLlmServer) -> None:
    fake_llm.supports_json_schema = False
    fake_llm.script(answer({}), answer({}))
    await client.complete(REQUEST, budget())
    await client.complete(REQUEST, budget())
    assert [request["response_format"]["type"] for request in fake_llm.requests] == [
        "json_schema",
        "json_object",
        "json_object",
    ]


async def test_a_server_without_json_modes_is_asked_without_a_response_format(
    client: LlmClient, fake_llm: FakeLlmServer
) -> None:
    fake_llm.supports_json_schema = fake_llm.supports_json_object = False
    fake_llm.script(answer({}))
    reply = await client.complete(REQUEST, budget())
    assert "response_format" not in fake_llm.requests[-1]
    assert reply.response_format == "text"


async def test_a_429_is_retried_after_its_retry_after(
    client: LlmClient, fake_llm: FakeLlmServer, sleeps: RecordedSleeps
) -> None:
    fake_llm.script(failure(429, "slow down", {"Retry-After": "1.5"}), answer({}))
    reply = await client.complete(REQUEST, budget())
    assert sleeps.delays == [1.5]
    assert reply.attempts == 2


async def test_a_server_error_is_retried_with_backoff(
    client: LlmClient, fake_llm: FakeLlmServer, sleeps: RecordedSleeps
) -> None:
    fake_llm.script(failure(503), failure(500), answer({}))
    await client.complete(REQUEST, budget())
    assert len(sleeps.delays) == 2
    assert 0.4 <= sleeps.delays[0] <= 0.6
    assert 0.8 <= sleeps.delays[1] <= 1.2


async def test_a_retry_after_beyond_the_budget_gives_up_with_the_servers_delay(
    client: LlmClient, fake_llm: FakeLlmServer, sleeps: RecordedSleeps
) -> None:
    fake_llm.script(failure(429, "quota", {"Retry-After": "60"}))
    with pytest.raises(LlmUnavailableError, match="HTTP 429") as caught:
        await client.complete(REQUEST, budget(5))
    assert caught.value.retry_after == 60
    assert sleeps.delays == []


async def test_the_attempts_run_out(client: LlmClient, fake_llm: FakeLlmServer) -> None:
    fake_llm.script(failure(500), failure(502), failure(500))
    with pytest.raises(LlmUnavailableError, match="after 3 attempt") as caught:
        await client.complete(REQUEST, budget())
    assert caught.value.retry_after is None
    assert len(fake_llm.requests) == 3


async def test_a_timeout_is_retried_then_reported_as_unavailable(
    fake_llm: FakeLlmServer, sleeps: RecordedSleeps
) -> None:
    fake_llm.script(answer({}, delay=1.0), answer({}, delay=1.0))
    impatient = openai.AsyncOpenAI(base_url=fake_llm.base_url, api_key="k", timeout=0.2, max_retries=0)
    client = LlmClient(impatient, max_concurrency=1, max_attempts=2, sleep=sleeps)
    try:
        with pytest.raises(LlmUnavailableError, match="APITimeoutError"):
            await client.complete(REQUEST, budget())
    finally:
        await client.close()
    assert len(sleeps.delays) == 1


async def test_a_refused_key_is_a_request_error_naming_the_setting(client: LlmClient, fake_llm: FakeLlmServer) -> None:
    fake_llm.script(failure(401, "invalid api key"))
    with pytest.raises(LlmRequestError, match="TRADELANE_LLM_API_KEY"):
        await client.complete(REQUEST, budget())
    assert len(fake_llm.requests) == 1


async def test_a_key_the_server_quotes_back_is_masked_in_the_error(client: LlmClient, fake_llm: FakeLlmServer) -> None:
    """Servers quote the refused key ("Incorrect API key provided: ..."); the error the lineage keeps must not."""
    key = f"sk-{secrets.token_hex(12)}"
    register_secret(SecretStr(key))
    fake_llm.script(failure(401, f"Incorrect API key provided: {key}. You can find your API key at ..."))
    with pytest.raises(LlmRequestError) as refused:
        await client.complete(REQUEST, budget())
    assert "Incorrect API key provided: ***" in str(refused.value)
    assert key not in str(refused.value)


async def test_an_unknown_model_is_a_request_error_naming_the_model_setting(
    client: LlmClient, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script(failure(404, "model not found"))
    with pytest.raises(LlmRequestError, match=r"analysis\.model"):
        await client.complete(REQUEST, budget())


async def test_a_bad_request_in_every_format_is_a_request_error(client: LlmClient, fake_llm: FakeLlmServer) -> None:
    fake_llm.supports_json_schema = fake_llm.supports_json_object = False
    fake_llm.script(failure(400, "image input is not supported"))
    with pytest.raises(LlmRequestError, match="image input is not supported"):
        await client.complete(REQUEST, budget())


@pytest.fixture
def capped(openai_client: openai.AsyncOpenAI) -> LlmClient:
    return LlmClient(openai_client, max_concurrency=1, max_attempts=1)


async def test_the_concurrency_cap_holds_requests_back(capped: LlmClient, fake_llm: FakeLlmServer) -> None:
    fake_llm.script(*(answer({}, delay=0.1) for _ in range(3)))
    await asyncio.gather(*(capped.complete(REQUEST, budget()) for _ in range(3)))
    assert fake_llm.max_in_flight == 1


def test_retry_after_reads_seconds() -> None:
    assert retry_after_seconds({"Retry-After": "7"}) == 7.0


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "7"}) == 0.25


def test_retry_after_reads_an_http_date() -> None:
    now = datetime(2025, 3, 14, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds({"Retry-After": "Fri, 14 Mar 2025 12:00:30 GMT"}, now) == 30.0


def test_no_retry_after_is_none() -> None:
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None
