"""One service process: connect, provision or await the layout, register handlers, run until SIGTERM, stop.

The lifecycle is FastStream's application's: a :class:`Service` holds a ``FastStream`` app whose
start-up hooks connect and provision, then open what the handlers need (they leave it in
FastStream's context); the app then starts the broker. Stopping runs it backwards.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import TypeVar

import nats.errors
import structlog
from faststream import AckPolicy, FastStream
from faststream.context import ContextRepo
from faststream.nats import JStream, NatsBroker, PullSub

from tradelane.contracts import subjects
from tradelane.contracts.envelope import Envelope
from tradelane.contracts.health import HealthReport
from tradelane.contracts.subjects import Step
from tradelane.runtime.background import BackgroundTasks
from tradelane.runtime.batch_fetch import mend_batch_fetch
from tradelane.runtime.bus import RECOMMENDED_MAX_PAYLOAD, EventBus
from tradelane.runtime.bus_credentials import credentials_for
from tradelane.runtime.bus_flush import flush_queued
from tradelane.runtime.bus_permissions import identity_of, inbox_prefix
from tradelane.runtime.consumer_lag import ConsumerLagProbe
from tradelane.runtime.decisions import delivery_decisions
from tradelane.runtime.decoding import decode_body
from tradelane.runtime.flow import is_concrete, role_of
from tradelane.runtime.garbage_collection import settle_garbage_collection
from tradelane.runtime.health import HealthServer, HealthState
from tradelane.runtime.layout import ensure_layout
from tradelane.runtime.log_stream import LogStream, stream_logs
from tradelane.runtime.logging import configure_logging
from tradelane.runtime.metrics import ServiceStats
from tradelane.runtime.payloads import PayloadStore
from tradelane.runtime.redaction import register_settings_secrets
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import STEP_CONSUMERS, ConsumerSpec, consumer_config

log = structlog.get_logger(__name__)

InputT = TypeVar("InputT", bound=Envelope)
StepHandler = Callable[[InputT], Awaitable[Envelope]]
Hook = Callable[[], Awaitable[None]]

PULL_TIMEOUT_SECONDS = 1.0
CLOSE_MARGIN_SECONDS = 3.0
"""What closing may take beyond the handlers' graceful timeout (pools, HTTP clients, the health server)."""
EXIT_MARGIN_SECONDS = 5.0
"""How long after its bounded close a stopping process may still take to exit before it is ended."""


def graceful_timeout(settings: Settings) -> float:
    """How long a stopping service lets its in-flight handlers finish before it disconnects.

    ``TRADELANE_SHUTDOWN_GRACE_SECONDS``: their heartbeats keep their messages meanwhile; what is
    still unfinished then is left unacked, and JetStream redelivers it within ``ack_wait``. A
    supervisor waits longer than this before it kills a service that is stopping.
    """
    return settings.shutdown_grace_seconds


class ServiceBroker(NatsBroker):
    """FastStream's NATS broker that stops even when the server is gone.

    Draining needs the server; stopping while it is gone (killed, restarting) would raise
    from ``drain`` and turn a stop into a traceback, and skip what comes after the stop.
    Nothing unacked is lost by closing instead: JetStream redelivers it.
    """

    async def stop(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> None:
        try:
            await super().stop(exc_type, exc_val, exc_tb)
        except (nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError) as error:
            log.warning("nats_unreachable_at_stop", error=type(error).__name__)
            await self.connection.close()


def create_broker(settings: Settings, name: str) -> ServiceBroker:
    """A FastStream NATS broker that reconnects forever, names itself on the server, and refuses unreadable bodies.

    It connects as the NATS identity ``name`` (see :func:`~tradelane.runtime.bus_credentials.credentials_for`).
    """
    credentials = credentials_for(settings, identity_of(name))
    return ServiceBroker(
        settings.nats_url.split(","),
        **(credentials.broker_options() if credentials is not None else {}),
        name=f"tradelane-{name}",
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        graceful_timeout=graceful_timeout(settings),
        # The standard library's logger (rendered as ours, see configure_logging) drops a line below its level
        # in a level check; structlog's ran its processors first, twice per message handled.
        logger=logging.getLogger("faststream"),
        decoder=decode_body,
        # FastStream logs every message it handles; at INFO that costs more than the hop itself.
        log_level=logging.DEBUG,
    )


class Service:
    """A tradelane service: its broker, its bus, its subscribers, and the FastStream app that runs them."""

    def __init__(self, name: str, settings: Settings, *, report_failures: bool = True) -> None:
        self.name = name
        self.settings = settings
        self.broker = create_broker(settings, name)
        self.app = FastStream(
            self.broker,
            logger=None,  # start and stop are logged here, as service_started and service_stopped
            on_startup=[self._connect],
            after_startup=[self._consume],
            on_shutdown=[self._stop_consuming],
        )
        credentials = credentials_for(settings, identity_of(name))
        self._inbox_prefix = inbox_prefix(credentials.user if credentials is not None else identity_of(name))
        self.bus = EventBus(self.broker, filter(is_concrete, role_of(identity_of(name)).publishes))
        self.payloads = PayloadStore(self.bus)
        """Bars and series by reference (claim check): the steps that store or read them share this cache."""
        self._report_failures = report_failures
        self._failing_step = name
        self._consumers: list[ConsumerSpec] = []
        self._ready = False
        self.stats = ServiceStats(name)
        self.health = HealthState(name, settings.service_version, self.stats, self.is_ready)
        self._health_server: HealthServer | None = None
        self._log_stream: LogStream | None = None
        self.background = BackgroundTasks()
        """The service's chores (its own and those a service adds in a start hook): stopped first when it stops,
        before the broker closes, so that no chore publishes or queries into a closing connection."""
        self._answer_health_requests()
        self._stopping = asyncio.Event()
        self.resources = AsyncExitStack()

    @property
    def context(self) -> ContextRepo:
        """FastStream's context of this service's broker: what start hooks open for the handlers.

        A start hook puts a dependency there (``service.context.set_global("recorder", recorder)``)
        and a handler receives it as a parameter (``recorder: Annotated[LineageRecorder, Context("recorder")]``),
        with :class:`tradelane.runtime.injection.Context`: FastStream's own would look it up in a worker
        thread for every message.
        """
        return self.broker.context

    def subscriber(
        self, spec: ConsumerSpec, *, workers: int = 1, batch: int = 1
    ) -> Callable[[Callable[..., Awaitable[None]]], object]:
        """A durable pull subscriber bound to a consumer that :func:`provision` declared.

        ``workers`` pull subscriptions share the consumer, each fetching one message when it is
        free: at most ``workers`` messages are handled at once and none waits fetched but not
        handled. (FastStream's ``max_workers`` fetches ahead, and a message waiting in its memory
        gets no in-progress heartbeat, so it can be redelivered meanwhile: faststream#2563.)

        With ``batch``, each pull subscription fetches up to ``batch`` messages in one pull request
        and handles all of them at once, each as a message of its own (its heartbeats from the
        moment it is fetched, its delivery decision, its ack); it fetches again once all are done.
        That saves a pull request per message and lets handlers that are cheap next to a round trip
        share their work: the lineage writes the steps of a batch in one transaction. A batch takes
        as long as its slowest message: the next one is fetched once it is done.
        """
        if workers < 1 or batch < 1:
            msg = f"a subscriber needs at least one worker fetching at least one message, not {workers} x {batch}"
            raise ValueError(msg)
        self._consumers.append(spec)
        subscribers: list[Callable[[Callable[..., Awaitable[None]]], object]] = [
            self.broker.subscriber(
                # a consumer of several subjects names them in its config's filter_subjects, and none here
                spec.filter_subject or "",
                stream=JStream(spec.stream, declare=False),
                durable=spec.durable,
                config=consumer_config(spec, self.settings),
                pull_sub=PullSub(batch_size=batch, timeout=PULL_TIMEOUT_SECONDS),
                # FastStream gives each pull subscription an inbox of its own, outside the broker's prefix
                inbox_prefix=f"{self._inbox_prefix}.".encode(),
                ack_policy=AckPolicy.REJECT_ON_ERROR,
            )
            for _ in range(workers)
        ]

        if batch > 1:
            for subscriber in subscribers:
                mend_batch_fetch(subscriber)

        def register(handler: Callable[..., Awaitable[None]]) -> object:
            for subscriber in subscribers:
                subscriber(handler)
            return handler

        return register

    def step(self, step: Step, *, workers: int = 1) -> Callable[[StepHandler[InputT]], StepHandler[InputT]]:
        """Register a pipeline step: consume its subject, publish what the handler returns.

        The handler stays a plain typed coroutine (``async def on_bars(msg: BarsFetched) ->
        IndicatorsComputed``) that tests call directly; FastStream validates its input from the
        annotation, and the returned event is stamped with the handling time and published.

        The step's output subjects get declared FastStream publishers (they document the flow in
        AsyncAPI), called explicitly by :meth:`EventBus.publish` rather than by FastStream from
        the return value: the event must carry its ``Nats-Msg-Id`` de-duplication header and its
        handling time, and its publish must complete before the input is acked, failing into the
        delivery rules when NATS is unreachable. So the subscriber itself returns nothing.
        ``workers`` pull subscriptions each fetch up to ``step_batch`` messages (the setting) and handle them at
        once (see :meth:`subscriber`): a pull request per message was the largest cost a backtest's decisions
        paid in every step, and a step takes only what is waiting, so a live execution is not held back.
        """
        subscriber = self.subscriber(STEP_CONSUMERS[step], workers=workers, batch=self.settings.step_batch)
        self._failing_step = step.value
        self.bus.declare(*subjects.produced_by(step))

        def register(handler: StepHandler[InputT]) -> StepHandler[InputT]:
            async def consume(msg: InputT) -> None:
                started = time.perf_counter()
                event = await handler(msg)
                await self.bus.publish(event.timed((time.perf_counter() - started) * 1000))

            signature = inspect.signature(handler, eval_str=True)
            consume.__signature__ = signature.replace(return_annotation=None)  # type: ignore[attr-defined]
            consume.__name__ = getattr(handler, "__name__", step.value)
            consume.__doc__ = handler.__doc__
            subscriber(consume)
            return handler

        return register

    def is_ready(self) -> bool:
        """Connected to NATS, streams provisioned, consuming."""
        return self._ready and self.broker.connection.is_connected

    def _answer_health_requests(self) -> None:
        async def report() -> HealthReport:
            return self.health.report()

        for subject in (subjects.HEALTH, subjects.health_of(self.name)):
            self.broker.subscriber(subject, include_in_schema=False)(report)

    def on_start(self, hook: Hook) -> Hook:
        """Run ``hook`` after connecting and provisioning, before consuming (FastStream's ``on_startup``)."""
        self.app.on_startup(hook)
        return hook

    def on_stop(self, hook: Hook) -> Hook:
        """Run ``hook`` after consuming has stopped and the broker is closed (FastStream's ``after_shutdown``).

        Hooks run in the order they were added; what must be released last goes in :attr:`resources`.
        """
        self.app.after_shutdown(hook)
        return hook

    def stop(self) -> None:
        """Ask :meth:`run` to stop (what SIGTERM and SIGINT do)."""
        self._stopping.set()

    async def stop_requested(self) -> None:
        """Return once :meth:`stop` has been called."""
        await self._stopping.wait()

    async def start(self) -> None:
        """Connect, provision streams and consumers, run start hooks, start consuming (the app's start)."""
        self.broker.add_middleware(
            delivery_decisions(
                step=self._failing_step,
                bus=self.bus,
                settings=self.settings,
                stats=self.stats,
                report_failures=self._report_failures,
            )
        )
        if self.settings.health_port is not None:
            self._health_server = HealthServer(self.health, self.settings.health_host, self.settings.health_port)
            await self._health_server.start()
        await self.app.start()

    async def _connect(self) -> None:
        """The first start-up hook: connect, stream the log lines, and see the streams and consumers provisioned."""
        await self.broker.connect()
        self._log_stream = stream_logs(
            identity_of(self.name), self.broker.connection, self.settings.log_stream_level, self.background
        )
        if self.broker.connection.max_payload < RECOMMENDED_MAX_PAYLOAD:
            log.warning(
                "nats_max_payload_small",
                max_payload=self.broker.connection.max_payload,
                recommended=RECOMMENDED_MAX_PAYLOAD,
                effect="executions with long histories or several analysis timeframes will fail with a clear error; "
                "set max_payload: 8MB in the NATS server config",
            )
        await ensure_layout(self.broker.connection.jetstream(), self.settings, self._consumers)

    async def _consume(self) -> None:
        """After the broker has started: ready, and watching the consumers' lag.

        Once :func:`flush_queued` returns, the server has read every subscription the broker sent, so a
        health request made as soon as the service says it is ready finds its responder (without it, a
        request from another connection could overtake the SUB and get "no responders").
        """
        await flush_queued(self.broker.connection)
        self._ready = True
        lag_probe = ConsumerLagProbe(self.broker.connection.jetstream(), self._consumers)
        self.background.every(
            self.settings.consumer_lag_interval_seconds, lag_probe.refresh, "consumer-lag", at_once=True
        )
        log.info("service_started", service=self.name, version=self.settings.service_version)

    async def close(self) -> None:
        """Stop fetching, let in-flight handlers finish (up to the graceful timeout), disconnect.

        A message still unfinished when the grace period ends is not acked, so JetStream
        redelivers it (to another replica, or to this one after a restart): nothing is lost.
        """
        await self.app.stop()
        await self.resources.aclose()
        if self._health_server is not None:
            await self._health_server.close()
        log.info("service_stopped", service=self.name, handled=self.stats.handled, failed=self.stats.failed)

    async def _stop_consuming(self) -> None:
        """The first shutdown hook, before the broker stops: not ready, no background chores, no log lines on the bus.

        What is logged from here on goes to stderr only.
        """
        self._ready = False
        if self._log_stream is not None:
            self._log_stream.detach()
        await self.background.stop()

    async def run(self) -> None:
        """Run until SIGTERM or SIGINT, then stop within the grace period.

        A stop asked for while the service is still starting (waiting for a NATS or
        PostgreSQL that is down) ends the start: there is nothing to drain yet. Closing is
        bounded by :func:`graceful_timeout` plus a margin, so a dependency that is gone
        cannot keep a stopping process alive.
        """
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)
        starting = asyncio.create_task(self.start(), name="start")
        stop_requested = asyncio.create_task(self._stopping.wait(), name="stop-requested")
        await asyncio.wait({starting, stop_requested}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            stop_requested.cancel()
            log.info("service_stopped_while_starting", service=self.name)
            return
        if starting.exception() is not None:
            stop_requested.cancel()
        starting.result()
        try:
            await stop_requested
        finally:
            stop_requested.cancel()
            try:
                async with asyncio.timeout(graceful_timeout(self.settings) + CLOSE_MARGIN_SECONDS):
                    await self.close()
            except TimeoutError:
                log.error("service_stop_timed_out", service=self.name, seconds=graceful_timeout(self.settings))


def run_service(build: Callable[[], Service]) -> None:
    """Entry point of ``python -m tradelane.<service>``."""

    async def main() -> None:
        service = build()
        settle_garbage_collection()  # everything imported and built is here for the process's life
        register_settings_secrets(service.settings)
        configure_logging(service.settings.log_level, service.settings.log_format, service.settings.log_stream_level)
        watchdog = asyncio.create_task(_exit_if_stopping_hangs(service), name="stop-watchdog")
        try:
            await service.run()
        finally:
            watchdog.cancel()

    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(main())


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's event loop where it installs (every platform but Windows), else asyncio's own.

    A service's CPU goes mostly into the plumbing of its messages (reading, parsing, writing to
    sockets, waking tasks), which uvloop does in C: about a tenth less CPU per backtest decision
    over the whole pipeline, measured with ``bench.backtest``.
    """
    try:
        import uvloop  # an optional dependency: Windows has none
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


async def _exit_if_stopping_hangs(service: Service) -> None:
    """Once a stop is asked for, end the process outright should it still run well past its grace period.

    :meth:`Service.run` bounds its own close, but what runs after it (asyncio cancelling tasks
    a library keeps alive, a worker thread) is not bounded by anything; a process that does not
    exit is one a supervisor has to kill. Its unacked messages are redelivered after ``ack_wait``.
    """
    await service.stop_requested()
    seconds = graceful_timeout(service.settings) + CLOSE_MARGIN_SECONDS + EXIT_MARGIN_SECONDS
    timer = threading.Timer(seconds, _exit_now, args=(service.name, seconds))
    timer.daemon = True  # a process that exits in time is not held back by it
    timer.start()


def _exit_now(service: str, seconds: float) -> None:
    log.error("service_exit_forced", service=service, seconds=seconds)
    os._exit(1)
