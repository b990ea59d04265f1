"""`tradelane up`'s preparation under NATS users: provision as provision, each service only its own identity."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient

from tradelane.cli.services import SERVICES
from tradelane.cli.up import prepare, service_credentials
from tradelane.contracts import subjects
from tradelane.runtime.bus_credentials import CredentialsError, credentials_for
from tradelane.runtime.bus_permissions import identity_of
from tradelane.runtime.settings import Settings

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TRADELANE_TEST_NATS_URL")), reason="an external test server has no users"
)


async def test_prepare_provisions_the_streams_and_publishes_the_demo_run(
    settings: Settings, nats_client: NatsClient, tmp_path: Path
) -> None:
    prepared = await prepare(settings, tmp_path)
    assert prepared.first_run is not None
    js = nats_client.jetstream()
    assert (await js.stream_info(subjects.PIPELINE_STREAM)).state.messages == 1
    assert (await js.consumer_info(subjects.PIPELINE_STREAM, "signals")).name == "signals"


async def test_prepare_creates_no_demo_strategy_when_told_not_to(
    settings: Settings, nats_client: NatsClient, tmp_path: Path
) -> None:
    prepared = await prepare(settings.model_copy(update={"demo_strategy": False}), tmp_path)
    assert prepared.first_run is None
    assert (await nats_client.jetstream().stream_info(subjects.PIPELINE_STREAM)).state.messages == 0


async def test_prepare_refuses_without_the_provision_identity(settings: Settings, tmp_path: Path) -> None:
    credentials = credentials_for(settings, "signals")
    assert credentials is not None
    signals_only = settings.model_copy(
        update={"nats_user": "signals", "nats_password": credentials.password, "nats_credentials_file": None}
    )
    with pytest.raises(CredentialsError, match="provision identity"):
        await prepare(signals_only, tmp_path)


def test_each_service_process_gets_its_own_identity_only(settings: Settings) -> None:
    environments = service_credentials(settings)
    assert set(environments) == set(SERVICES)
    passwords = set()
    for service, environment in environments.items():
        assert set(environment) == {"TRADELANE_NATS_USER", "TRADELANE_NATS_PASSWORD"}
        assert environment["TRADELANE_NATS_USER"] == identity_of(service)
        passwords.add(environment["TRADELANE_NATS_PASSWORD"])
    assert len(passwords) == len(SERVICES)
