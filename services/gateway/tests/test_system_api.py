"""GET /api/system/notifications: the notifier's settings, asked over NATS, with its secrets masked."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from nats.aio.client import Client as NatsClient
from pydantic import SecretStr

from services.gateway.tests.conftest import ClientOf
from tradelane.contracts import subjects
from tradelane.notifier.app import build
from tradelane.notifier.config import NotifierSettings
from tradelane.runtime.settings import Settings


@pytest.fixture
async def notifier(settings: Settings) -> AsyncIterator[None]:
    """A running notifier with a mail target whose password must never leave it."""
    service = build(
        NotifierSettings.model_validate(
            {
                **settings.model_dump(),
                "notify_urls": SecretStr("mailto://alerts:hunter22@example.org"),
                "notify_events": "halt,llm_budget,fill",
            }
        )
    )
    await service.start()
    yield
    await service.close()


@pytest.mark.usefixtures("notifier")
async def test_a_reader_sees_the_notifier_settings_with_secrets_masked(client_of: ClientOf) -> None:
    reader = await client_of("read")
    response = await reader.get("/api/system/notifications")
    assert response.status_code == 200, response.text
    shown = response.json()
    assert (shown["enabled"], shown["kinds"], shown["max_age_seconds"]) == (True, ["fill", "halt", "llm_budget"], 3600)
    [target] = shown["targets"]
    assert "alerts:****@example.org" in target
    assert "hunter22" not in response.text


async def test_without_a_notifier_it_is_a_503_saying_to_start_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/system/notifications")
    assert response.status_code == 503
    assert response.json()["detail"] == (
        "no notifier service is running to answer; start it (tradelane run notifier) and retry"
    )


async def test_a_notifier_that_does_not_answer_in_time_is_a_503_naming_it(
    client: httpx.AsyncClient, nats_client: NatsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A subscriber that never replies stands in for a notifier stuck in its work."""
    monkeypatch.setattr("tradelane.gateway.routes.system.NOTIFIER_SECONDS", 0.2)
    silent = await nats_client.subscribe(subjects.NOTIFIER_SETTINGS)
    try:
        response = await client.get("/api/system/notifications")
    finally:
        await silent.unsubscribe()
    assert response.status_code == 503
    assert response.json()["detail"].startswith("the notifier service did not answer within 0.2 s")
