"""Declarative JetStream layout: streams, durable consumers and the chart object store.

``provision`` is idempotent: it creates what is missing and updates editable settings in
place. Only the ``provision`` NATS identity may run it (``tradelane provision``, ``tradelane
up``); other services wait for the layout (see ``tradelane.runtime.layout``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import structlog
from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError, NotFoundError

from tradelane.contracts import subjects
from tradelane.contracts.advisories import ADVISORY_STREAM, MAX_DELIVERIES_ADVISORIES
from tradelane.contracts.subjects import Step
from tradelane.runtime.settings import Settings

log = structlog.get_logger(__name__)

_DAY = 86400.0

ATOMIC_BATCH_STREAMS: Final = frozenset({subjects.PIPELINE_STREAM})
"""Streams that take atomic batch publishes (``allow_atomic``, nats-server 2.12+): a batch is stored
all at once, flushed to disk once where each message alone is flushed on its own. The scheduler
sends the runs due in one minute to the pipeline's stream that way
(:meth:`~tradelane.runtime.bus.EventBus.publish_many`)."""


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer: which stream, which subjects, and its name."""

    durable: str
    stream: str
    filter_subjects: tuple[str, ...]
    """The subjects (or wildcards) it takes messages of: one, or several (a step's live and backtests' input)."""

    @property
    def filter_subject(self) -> str | None:
        """Its one filter, None when it has several: JetStream keeps one in ``filter_subject`` and several in
        ``filter_subjects`` (nats-server 2.10+), and a client bound to it names the one as its subject."""
        return self.filter_subjects[0] if len(self.filter_subjects) == 1 else None


STEP_CONSUMERS: dict[Step, ConsumerSpec] = {
    step: ConsumerSpec(durable=durable, stream=subjects.PIPELINE_STREAM, filter_subjects=subjects.consumed_by(step))
    for step, durable in (
        (Step.MARKET_DATA, "market-data"),
        (Step.INDICATORS, "indicators"),
        (Step.CHART, "charts"),
        (Step.ANALYSIS, "llm-analyst"),
        (Step.SIGNAL, "signals"),
    )
}
"""Each pipeline step's consumer of the previous step's output. Where a backtest's output has a subject of its own
(:func:`~tradelane.contracts.subjects.of_backtests`: the bars), the step takes both subjects (``indicators``:
``pipeline.market_data.fetched`` and ``pipeline.market_data.fetched.backtest``), as JetStream's ``filter_subjects``:
those two exactly, where a wildcard (``pipeline.market_data.>``) would take whatever is published under it one day.
A step consumer provisioned by an older version with the one filter gets both from :func:`provision`."""

LINEAGE_CONSUMERS: tuple[ConsumerSpec, ...] = (
    ConsumerSpec("lineage", subjects.PIPELINE_STREAM, (subjects.PIPELINE_ALL,)),
    ConsumerSpec("lineage-trading", subjects.TRADING_STREAM, (subjects.TRADING_ALL,)),
    ConsumerSpec("lineage-deadletter", subjects.DEAD_LETTER_STREAM, (subjects.DEAD_LETTER_ALL,)),
)

BROKER_CONSUMER = ConsumerSpec("broker", subjects.PIPELINE_STREAM, (subjects.SIGNAL_GENERATED,))
"""The broker turns accepted signals of auto-trading strategies into orders (a backtest's signals have a subject of
their own, which this does not match)."""

ADVISORY_CONSUMER = ConsumerSpec("lineage-advisories", ADVISORY_STREAM, (MAX_DELIVERIES_ADVISORIES,))
"""The lineage dead-letters the messages JetStream's max-deliveries advisories name."""

NOTIFIER_CONSUMERS: tuple[ConsumerSpec, ...] = (
    ConsumerSpec("notifier-signals", subjects.PIPELINE_STREAM, (subjects.SIGNAL_GENERATED,)),
    ConsumerSpec("notifier-failures", subjects.PIPELINE_STREAM, (subjects.STEP_FAILED,)),
    ConsumerSpec("notifier-orders", subjects.TRADING_STREAM, (subjects.ORDER_ALL,)),
    ConsumerSpec("notifier-trading-state", subjects.TRADING_STREAM, (subjects.TRADING_STATE_CHANGED,)),
    ConsumerSpec("notifier-llm-budget", subjects.PIPELINE_STREAM, (subjects.LLM_BUDGET_CROSSED,)),
)
"""The notifier tells a person about signals, failed executions, orders and fills, halts and resumes, and LLM
budget crossings (one consumer per subject; ``pipeline.>`` would bring it every bar set too)."""

LEDGER_CONSUMERS: tuple[ConsumerSpec, ...] = (
    ConsumerSpec("ledger-signals", subjects.PIPELINE_STREAM, (subjects.SIGNAL_ALL,)),
    ConsumerSpec("ledger-orders", subjects.TRADING_STREAM, (subjects.ORDER_ALL,)),
    ConsumerSpec("ledger-outcomes", subjects.PIPELINE_STREAM, (subjects.OUTCOME_RECORDED,)),
)
"""The signals ledger records every signal the signal step publishes (generated or rejected) for executions that are
no backtest's (a backtest's signals have subjects of their own, which ``pipeline.signal.*`` does not match), the
orders and fills placed from them (a traded signal's outcome comes from its fills), and every outcome published."""

BACKTESTER_CONSUMERS: tuple[ConsumerSpec, ...] = (
    ConsumerSpec("backtester-analyses", subjects.PIPELINE_STREAM, (subjects.ANALYSIS_COMPLETED,)),
    ConsumerSpec("backtester-signals", subjects.PIPELINE_STREAM, (subjects.BACKTEST_SIGNAL_ALL,)),
    ConsumerSpec("backtester-failures", subjects.PIPELINE_STREAM, (subjects.STEP_FAILED,)),
)
"""The backtester follows its decisions' executions: the analysis (model cost, cache hits and misses), the signal
step's answer (generated or rejected), and failed steps. A backtest's signals have subjects of their own
(:func:`~tradelane.contracts.subjects.of_backtests`), so ``backtester-signals`` gets those only, and the broker's,
the ledger's and the notifier's signal consumers never get one; analyses and failures of executions that are no
backtest's are acked unread.

A consumer provisioned by an older version with other filters (``backtester-signals`` had ``pipeline.signal.*``)
gets the new ones from :func:`provision`: nats-server 2.10 and later edit a consumer's filters in place, keeping its
position in the stream."""

ALL_CONSUMERS: tuple[ConsumerSpec, ...] = (
    *STEP_CONSUMERS.values(),
    *LINEAGE_CONSUMERS,
    BROKER_CONSUMER,
    ADVISORY_CONSUMER,
    *NOTIFIER_CONSUMERS,
    *LEDGER_CONSUMERS,
    *BACKTESTER_CONSUMERS,
)


def stream_configs(settings: Settings) -> list[api.StreamConfig]:
    """The four streams: the pipeline, trading events, dead letters, and max-deliveries advisories."""
    return [
        api.StreamConfig(
            name=name,
            subjects=[pattern],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            max_age=settings.stream_max_age_days * _DAY,
            duplicate_window=settings.duplicate_window_seconds,
            num_replicas=settings.stream_replicas,
            allow_atomic=name in ATOMIC_BATCH_STREAMS,
        )
        for name, pattern in (
            (subjects.PIPELINE_STREAM, subjects.PIPELINE_ALL),
            (subjects.TRADING_STREAM, subjects.TRADING_ALL),
            (subjects.DEAD_LETTER_STREAM, subjects.DEAD_LETTER_ALL),
            (ADVISORY_STREAM, MAX_DELIVERIES_ADVISORIES),
        )
    ]


def consumer_config(spec: ConsumerSpec, settings: Settings) -> api.ConsumerConfig:
    """Durable pull consumer with explicit acks, a short ack wait, and a crash-loop bound on deliveries.

    The delivery middleware decides retries (nak with a delay) and when to give up; the
    consumer's ``max_deliver`` only stops a message whose handler never returns (see
    :meth:`~tradelane.runtime.retries.RetryRules.consumer_max_deliver`). No ``BackOff`` list:
    it would stretch the ack wait of redeliveries, and a crashed process's messages must come
    back within one short ``ack_wait``.
    """
    return api.ConsumerConfig(
        durable_name=spec.durable,
        name=spec.durable,
        filter_subject=spec.filter_subject,
        filter_subjects=None if spec.filter_subject is not None else list(spec.filter_subjects),
        deliver_policy=api.DeliverPolicy.ALL,
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait_seconds,
        max_deliver=settings.retry_rules.consumer_max_deliver(),
        max_ack_pending=1000,
        num_replicas=settings.stream_replicas,
    )


async def provision(js: JetStreamContext, settings: Settings) -> None:
    """Create or update every stream and durable consumer, and create the object stores."""
    for config in stream_configs(settings):
        await _ensure_stream(js, config)
    for spec in ALL_CONSUMERS:
        await _ensure_consumer(js, spec, settings)
    await _ensure_object_stores(js, settings)


async def _ensure_stream(js: JetStreamContext, config: api.StreamConfig) -> None:
    assert config.name is not None
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        await js.add_stream(config)
        log.info("stream_created", stream=config.name)
        return
    await js.update_stream(config)


async def _ensure_consumer(js: JetStreamContext, spec: ConsumerSpec, settings: Settings) -> None:
    config = consumer_config(spec, settings)
    try:
        # creates it, or edits an existing one in place: ack_wait, max_deliver, the filters (nats-server 2.10+)
        await js.add_consumer(spec.stream, config=config)
    except BadRequestError as error:
        # An existing consumer whose immutable settings changed: say so rather than guess.
        log.warning("consumer_not_updated", consumer=spec.durable, stream=spec.stream, error=str(error))


OBJECT_STORES: Final = {
    subjects.CHART_BUCKET: "Chart PNGs and Plotly figures, named by sha256",
    subjects.PAYLOAD_BUCKET: "Bars chunks and indicator series, named by sha256 (what messages carry by reference)",
    subjects.KEPT_CHART_BUCKET: "Chart PNGs signals were made from, named by sha256, copied by the ledger; "
    "never expired, so a signal's chart outlives the charts bucket",
}
"""The Object Store buckets, each kept for the streams' replay window (a message still in its stream can be replayed
with every payload it refers to), but those in :data:`NEVER_EXPIRED`."""
NEVER_EXPIRED: Final = frozenset({subjects.KEPT_CHART_BUCKET})
"""Buckets whose objects are kept for good: the ledger keeps its signals for good, and each signal its chart."""


async def _ensure_object_stores(js: JetStreamContext, settings: Settings) -> None:
    for bucket, description in OBJECT_STORES.items():
        try:
            await js.object_store(bucket)
        except NotFoundError:
            await js.create_object_store(
                bucket,
                config=api.ObjectStoreConfig(
                    storage=api.StorageType.FILE,
                    ttl=None if bucket in NEVER_EXPIRED else settings.stream_max_age_days * _DAY,
                    replicas=settings.stream_replicas,
                    description=description,
                ),
            )
            log.info("object_store_created", bucket=bucket)
