"""The bus refuses anonymous clients, and each identity may do only what the permission table says."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError

from tradelane.contracts import subjects
from tradelane.contracts.events import AnalysisCompleted, SignalGenerated
from tradelane.contracts.subjects import Step
from tradelane.runtime.bus_credentials import credentials_for
from tradelane.runtime.bus_permissions import IDENTITIES, OPERATOR, PROVISION, Permissions, log_publishers
from tradelane.runtime.flow import FLOW
from tradelane.runtime.layout import LayoutMissingError
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import ALL_CONSUMERS, provision

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TRADELANE_TEST_NATS_URL")), reason="an external test server has no users"
)


def _may_publish(permissions: Permissions, subject: str) -> bool:
    return any(subjects.matches(pattern, subject) for pattern in permissions.publish)


def _may_subscribe(permissions: Permissions, subject: str) -> bool:
    return any(subjects.matches(pattern, subject) for pattern in permissions.subscribe)


@contextlib.asynccontextmanager
async def _connected_as(nats_url: str, credentials_file: Path | None, identity: str) -> AsyncIterator[NatsClient]:
    credentials = credentials_for(Settings(nats_credentials_file=credentials_file), identity)
    assert credentials is not None
    client = await nats.connect(nats_url, error_cb=_ignore, **credentials.connect_options())
    try:
        yield client
    finally:
        await client.close()


async def _ignore(error: Exception) -> None:
    """nats-py logs refusals with a traceback by default; the tests assert on their effect instead."""


def _identity_settings(settings: Settings, identity: str) -> Settings:
    """Settings of a process holding only ``identity`` (as ``tradelane up`` starts each service)."""
    credentials = credentials_for(settings, identity)
    assert credentials is not None
    return settings.model_copy(
        update={"nats_user": credentials.user, "nats_password": credentials.password, "nats_credentials_file": None}
    )


async def _refused(nats_url: str, **options: str) -> None:
    client = NatsClient()
    try:
        with pytest.raises(nats.errors.Error, match=r"[Aa]uthorization"):
            await client.connect(nats_url, allow_reconnect=False, connect_timeout=2, **options)  # type: ignore[arg-type]
    finally:
        await client.close()


async def test_an_anonymous_client_is_refused(nats_url: str) -> None:
    await _refused(nats_url)


async def test_a_wrong_password_is_refused(nats_url: str) -> None:
    await _refused(nats_url, user="signals", password="guess")


async def test_the_signals_identity_cannot_publish_trading_events(
    nats_url: str, nats_credentials_file: Path | None, nats_broker: object, nats_client: NatsClient
) -> None:
    js = nats_client.jetstream()
    async with _connected_as(nats_url, nats_credentials_file, "signals") as signals:
        with pytest.raises((nats.errors.TimeoutError, nats.errors.Error)):
            await signals.jetstream().publish(subjects.ORDER_FILLED, b"{}", timeout=1)
        await signals.publish(subjects.ORDER_SUBMITTED, b"{}")  # core NATS: the server drops it
        await signals.flush()
        # what it emits, it may publish
        await signals.jetstream().publish(subjects.SIGNAL_GENERATED, b"{}", timeout=2)
    assert (await js.stream_info(subjects.TRADING_STREAM)).state.messages == 0
    assert (await js.stream_info(subjects.PIPELINE_STREAM)).state.messages == 1


async def test_the_signals_identity_cannot_delete_a_stream_or_consumer(
    nats_url: str, nats_credentials_file: Path | None, nats_broker: object, nats_client: NatsClient
) -> None:
    js = nats_client.jetstream()
    async with _connected_as(nats_url, nats_credentials_file, "signals") as signals:
        refused = signals.jetstream(timeout=0.5)
        with pytest.raises((nats.errors.TimeoutError, nats.errors.Error)):
            await refused.delete_stream(subjects.TRADING_STREAM)
        with pytest.raises((nats.errors.TimeoutError, nats.errors.Error)):
            await refused.purge_stream(subjects.PIPELINE_STREAM)
        with pytest.raises((nats.errors.TimeoutError, nats.errors.Error)):
            await refused.delete_consumer(subjects.PIPELINE_STREAM, "lineage")
    assert (await js.stream_info(subjects.TRADING_STREAM)).config.name == subjects.TRADING_STREAM
    assert (await js.consumer_info(subjects.PIPELINE_STREAM, "lineage")).name == "lineage"


async def test_the_signals_identity_cannot_take_another_services_messages(
    nats_url: str, nats_credentials_file: Path | None, nats_broker: object
) -> None:
    async with _connected_as(nats_url, nats_credentials_file, "signals") as signals:
        with pytest.raises((nats.errors.TimeoutError, nats.errors.Error)):
            await signals.request(f"$JS.API.CONSUMER.MSG.NEXT.{subjects.PIPELINE_STREAM}.broker", b"1", timeout=1)
        refused = asyncio.get_running_loop().create_future()
        signals._error_cb = _resolve_on_error(refused)  # the client reports refusals only there
        await signals.subscribe(subjects.BROKER_PLACE_ORDER)
        error = await asyncio.wait_for(refused, 5)
        assert "permissions violation for subscription" in str(error).lower()


def _resolve_on_error(future: asyncio.Future[Exception]) -> Callable[[Exception], Awaitable[None]]:
    async def report(error: Exception) -> None:
        if not future.done():
            future.set_result(error)

    return report


async def test_the_provision_identity_creates_and_deletes_streams(
    nats_url: str, nats_credentials_file: Path | None, settings: Settings
) -> None:
    async with _connected_as(nats_url, nats_credentials_file, PROVISION) as provisioner:
        js = provisioner.jetstream()
        await provision(js, settings)
        assert (await js.stream_info(subjects.TRADING_STREAM)).config.name == subjects.TRADING_STREAM
        assert await js.delete_stream(subjects.TRADING_STREAM)
        with pytest.raises(NotFoundError):
            await js.stream_info(subjects.TRADING_STREAM)


async def test_a_service_without_the_provision_identity_waits_then_says_what_to_run(settings: Settings) -> None:
    signals_only = _identity_settings(settings, "signals").model_copy(update={"nats_layout_wait_seconds": 0.3})
    service = Service("signals", signals_only)
    service.step(Step.SIGNAL)(_never_called)
    with pytest.raises(LayoutMissingError, match="tradelane provision"):
        await service.start()
    await service.close()


async def test_a_service_with_its_own_identity_consumes_once_provisioned(settings: Settings) -> None:
    async with _connected_as(settings.nats_url, settings.nats_credentials_file, PROVISION) as provisioner:
        await provision(provisioner.jetstream(), settings)
    service = Service("signals", _identity_settings(settings, "signals"))
    service.step(Step.SIGNAL)(_never_called)
    await service.start()
    try:
        assert service.is_ready()
    finally:
        await service.close()


async def _never_called(msg: AnalysisCompleted) -> SignalGenerated:
    raise AssertionError("no message was published")


def test_only_provision_manages_streams_and_consumers() -> None:
    admin = [
        f"$JS.API.STREAM.{verb}.{subjects.PIPELINE_STREAM}" for verb in ("CREATE", "UPDATE", "DELETE", "PURGE")
    ] + [f"$JS.API.CONSUMER.{verb}.{subjects.PIPELINE_STREAM}.lineage" for verb in ("CREATE", "DELETE")]
    allowed = {name for name, permissions in IDENTITIES.items() if any(_may_publish(permissions, s) for s in admin)}
    assert allowed == {PROVISION}


def test_only_the_broker_takes_order_requests() -> None:
    for command in (subjects.BROKER_PLACE_ORDER, subjects.BROKER_CANCEL_ORDER):
        assert {name for name, p in IDENTITIES.items() if _may_subscribe(p, command)} == {"broker"}
        assert {name for name, p in IDENTITIES.items() if _may_publish(p, command)} == {"gateway"}


def _owner(durable: str) -> str:
    """The service a durable consumer belongs to: the one it is named after (``lineage-trading``: lineage)."""
    if durable in IDENTITIES:
        return durable
    [owner] = [name for name in IDENTITIES if durable.startswith(f"{name}-")]
    return owner


def test_each_durable_consumer_is_pulled_by_one_service() -> None:
    for spec in ALL_CONSUMERS:
        next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{spec.stream}.{spec.durable}"
        pullers = {name for name, p in IDENTITIES.items() if _may_publish(p, next_subject)} - {PROVISION}
        assert pullers == {_owner(spec.durable)}, spec


def test_signals_publish_only_signals_and_their_failures() -> None:
    signals = IDENTITIES["signals"]
    assert _may_publish(signals, subjects.SIGNAL_GENERATED)
    assert not _may_publish(signals, subjects.ORDER_FILLED)
    assert not _may_publish(signals, subjects.EXECUTION_REQUESTED)
    assert not _may_publish(signals, f"$JS.API.STREAM.DELETE.{subjects.TRADING_STREAM}")
    assert not _may_subscribe(signals, "_INBOX.broker.abc")


def test_the_operator_cannot_place_orders_or_manage_streams() -> None:
    operator = IDENTITIES[OPERATOR]
    assert not _may_publish(operator, subjects.BROKER_PLACE_ORDER)
    assert not _may_publish(operator, f"$JS.API.STREAM.DELETE.{subjects.PIPELINE_STREAM}")
    assert _may_publish(operator, subjects.EXECUTION_REQUESTED)


@pytest.mark.parametrize("participant", sorted(FLOW))
def test_the_flow_table_asks_only_for_what_the_permissions_allow(participant: str) -> None:
    """What the AsyncAPI document says a participant publishes, requests and answers, its NATS user may do."""
    role, permissions = FLOW[participant], IDENTITIES[participant]
    sent = (*role.publishes, *role.requests)
    assert [
        subject for subject in sent if not any(subjects.matches(allowed, subject) for allowed in permissions.publish)
    ] == []
    answered = role.answers
    assert [s for s in answered if not any(subjects.matches(allowed, s) for allowed in permissions.subscribe)] == []


def test_each_service_streams_only_its_own_log_lines_and_only_the_gateway_reads_them() -> None:
    services = log_publishers()
    assert {"signals", "broker", "lineage", "notifier", "gateway"} <= set(services)
    for service in services:
        assert {name for name, p in IDENTITIES.items() if _may_publish(p, subjects.logs_of(service))} == {service}
    assert {name for name, p in IDENTITIES.items() if _may_subscribe(p, subjects.logs_of("signals"))} == {"gateway"}
    assert not _may_publish(IDENTITIES[OPERATOR], subjects.logs_of(OPERATOR))
