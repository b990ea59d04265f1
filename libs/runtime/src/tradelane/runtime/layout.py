"""At start-up: provision the JetStream layout when allowed to, else wait until it is there.

Only the ``provision`` identity may create streams and consumers. A process that holds it
(``tradelane provision``, ``tradelane up`` before it starts the services, the tests, or any
process on a server without users) provisions; every other service checks that the streams
and its own durable consumers exist, waiting ``nats_layout_wait_seconds`` for the
provisioning Job or ``tradelane provision`` before it fails with what to run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import structlog
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from tradelane.runtime.bus_credentials import CredentialsError, authenticates, connected, provision_credentials
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import ConsumerSpec, provision, stream_configs

log = structlog.get_logger(__name__)

_POLL_SECONDS = 0.5


class LayoutMissingError(RuntimeError):
    """A stream or consumer this service needs was not provisioned in time."""


async def ensure_layout(js: JetStreamContext, settings: Settings, consumers: Iterable[ConsumerSpec]) -> None:
    """Provision with the provision identity (or anonymously), else wait for the layout."""
    if not authenticates(settings):
        await provision(js, settings)
        return
    if provision_credentials(settings) is not None:
        await provision_as_provisioner(settings)
        return
    await wait_for_layout(js, settings, tuple(consumers))


async def provision_as_provisioner(settings: Settings) -> None:
    """Provision over a connection of its own as the ``provision`` identity (anonymous on a server without users).

    Raises :class:`CredentialsError` when the server has users but this process lacks that identity.
    """
    credentials = provision_credentials(settings)
    if authenticates(settings) and credentials is None:
        msg = "provisioning the streams needs the provision identity's NATS credentials"
        raise CredentialsError(msg)
    async with connected(settings, credentials, "provision") as client:
        await provision(client.jetstream(), settings)


async def wait_for_layout(js: JetStreamContext, settings: Settings, consumers: tuple[ConsumerSpec, ...]) -> None:
    """Return once every stream and each of ``consumers`` exists; :class:`LayoutMissingError` after the wait."""
    deadline = time.monotonic() + settings.nats_layout_wait_seconds
    logged = False
    while True:
        missing = await _missing(js, settings, consumers)
        if missing is None:
            return
        if time.monotonic() >= deadline:
            msg = (
                f"{missing} does not exist after {settings.nats_layout_wait_seconds:g} s, and this process "
                f"(NATS user {settings.nats_user or 'from the credentials file'}) may not create it: run "
                "`tradelane provision` with the provision identity (TRADELANE_NATS_USER=provision), or the "
                "Kubernetes provisioning Job, then start this service again"
            )
            raise LayoutMissingError(msg)
        if not logged:
            log.warning("waiting_for_provisioning", missing=missing)
            logged = True
        await asyncio.sleep(_POLL_SECONDS)


async def _missing(js: JetStreamContext, settings: Settings, consumers: tuple[ConsumerSpec, ...]) -> str | None:
    for config in stream_configs(settings):
        assert config.name is not None
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            return f"stream {config.name}"
    for spec in consumers:
        try:
            await js.consumer_info(spec.stream, spec.durable)
        except NotFoundError:
            return f"consumer {spec.durable} of stream {spec.stream}"
    return None
