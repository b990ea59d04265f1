"""Who may do what on the bus: one NATS user per service, and the subjects each may use.

This table is the only place the permissions are written. The embedded server's
configuration (``tradelane up`` and the tests) is rendered from it with real passwords; the
checked-in NATS configurations of Docker Compose and Kubernetes are rendered from it with
``$TRADELANE_NATS_PASSWORD_<IDENTITY>`` references (nats-server reads them from its
environment), and a test checks the checked-in files still match (regenerate them with
``python -m tradelane.runtime.bus_permissions deploy/k8s/base/nats/nats.conf docker-compose.yml``).

How the rules were derived, so the next change keeps them tight:

- A service publishes only the events it emits, ``pipeline.step.failed`` when its step gives
  up, and dead letters of what it consumes (``deadletter.<subject>``).
- It consumes only its own durable consumers: ``$JS.API.CONSUMER.INFO`` (FastStream binds to
  the consumer), ``$JS.API.CONSUMER.MSG.NEXT`` (pull) and ``$JS.ACK.<stream>.<durable>.>``
  (ack, nak, in-progress, term) of each. Creating, changing or deleting a consumer or a
  stream (``$JS.API.STREAM.CREATE|UPDATE|DELETE|PURGE``, ``$JS.API.CONSUMER.CREATE|DELETE``)
  is the ``provision`` identity's alone, with one exception each, both harmless: readers of a
  stream window or of an object store create *ephemeral* ordered consumers
  (``$JS.API.CONSUMER.CREATE.<stream>`` without a name: the server refuses a durable there),
  and a service that writes an object store bucket (charts: the charts; market-data and indicators:
  the payloads) may purge it (nats-py purges an object's old chunks when the same name is stored again).
- Replies go to each identity's own inbox prefix, ``_INBOX.<identity>.>`` (clients connect
  with ``inbox_prefix``), so one identity cannot read another's replies; a service that
  answers requests (health, symbols, broker commands) has ``allow_responses`` instead of a
  right to publish on every inbox.
- Every service process (the gateway too) publishes its structured log lines on its own
  ``logs.<identity>`` (core NATS, nothing stored; :mod:`tradelane.runtime.log_stream`), and
  only the gateway, whose live log shows them, subscribes to ``logs.>``.
- Only the broker subscribes to the broker's commands (order place and cancel); the gateway
  may send them as requests. Only the broker publishes ``trading.>``, apart from the
  operators' redrive and replay (gateway and CLI), which republish stored messages on their
  original subjects, and the gateway's ``trading.risk.state_changed`` after a halt or resume.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from tradelane.contracts import subjects
from tradelane.contracts.advisories import ADVISORY_STREAM
from tradelane.contracts.subjects import Step
from tradelane.runtime.flow import BACKTEST_REQUESTS, BROKER_COMMANDS, HISTORY_REQUESTS, SYMBOL_REQUESTS
from tradelane.runtime.streams import (
    ADVISORY_CONSUMER,
    BACKTESTER_CONSUMERS,
    BROKER_CONSUMER,
    LEDGER_CONSUMERS,
    LINEAGE_CONSUMERS,
    NOTIFIER_CONSUMERS,
    STEP_CONSUMERS,
    ConsumerSpec,
)

PROVISION: Final = "provision"
"""Creates, updates and deletes streams, consumers and the object store (``tradelane provision``)."""
OPERATOR: Final = "operator"
"""The ``tradelane`` CLI: tail, dlq, replay, strategies run, status."""

_JS_API: Final = "$JS.API"
_STREAMS: Final = (subjects.PIPELINE_STREAM, subjects.TRADING_STREAM, subjects.DEAD_LETTER_STREAM, ADVISORY_STREAM)
_DEAD_LETTERED_STREAMS: Final = frozenset({subjects.PIPELINE_STREAM, subjects.TRADING_STREAM})
"""Streams whose messages get a dead-letter copy when a consumer gives up on them."""


@dataclass(frozen=True)
class Permissions:
    """What one NATS user may publish and subscribe to; ``allow_responses``: it answers requests."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    allow_responses: bool = False


@dataclass
class _Grant:
    """A permission set under construction (order kept, duplicates dropped)."""

    publish: list[str] = field(default_factory=list)
    subscribe: list[str] = field(default_factory=list)
    allow_responses: bool = False

    def pub(self, *found: str) -> _Grant:
        self.publish.extend(subject for subject in found if subject not in self.publish)
        return self

    def sub(self, *found: str) -> _Grant:
        self.subscribe.extend(subject for subject in found if subject not in self.subscribe)
        return self

    def consume(self, *specs: ConsumerSpec) -> _Grant:
        """Bind to, pull from and acknowledge its own durable consumers; dead-letter what they hold."""
        for spec in specs:
            self.pub(
                f"{_JS_API}.CONSUMER.INFO.{spec.stream}.{spec.durable}",
                f"{_JS_API}.CONSUMER.MSG.NEXT.{spec.stream}.{spec.durable}",
                f"$JS.ACK.{spec.stream}.{spec.durable}.>",
            )
            self.dead_letters(*spec.filter_subjects)
        return self

    def dead_letters(self, *consumed: str) -> _Grant:
        """Copies of messages it gives up on, for subjects a stream stores (the others have no dead-letter home)."""
        stored = [subject for subject in consumed if subjects.stream_of(subject) in _DEAD_LETTERED_STREAMS]
        return self.pub(*(subjects.dead_letter(subject) for subject in stored))

    def answer(self, *requests: str) -> _Grant:
        """Subscribe to request subjects and reply to whoever asked."""
        self.allow_responses = True
        return self.sub(*requests).dead_letters(*requests)

    def read(self, *streams: str) -> _Grant:
        """Stream state and single stored messages (replays, dead letters, advisories)."""
        for stream in streams:
            self.pub(f"{_JS_API}.STREAM.INFO.{stream}", f"{_JS_API}.STREAM.MSG.GET.{stream}")
        return self

    def read_ordered(self, *streams: str) -> _Grant:
        """Read a stream through an ephemeral ordered consumer (it answers the server's flow control)."""
        for stream in streams:
            self.read(stream).pub(
                f"{_JS_API}.CONSUMER.CREATE.{stream}",
                f"{_JS_API}.CONSUMER.INFO.{stream}.*",
                f"$JS.FC.{stream}.>",
            )
        return self

    def read_objects(self, bucket: str) -> _Grant:
        """Fetch artefacts from an object store bucket: their info, then their chunks, by direct gets
        (:mod:`tradelane.runtime.objects`); nats-py looks the stream up by subject."""
        stream = subjects.object_stream(bucket)
        return (
            self.read(stream).look_objects_up(bucket).pub(f"{_JS_API}.DIRECT.GET.{stream}", f"{_JS_API}.STREAM.NAMES")
        )

    def write_objects(self, bucket: str) -> _Grant:
        """Store artefacts in an object store bucket: look a name up first, purge the chunks a name replaces
        (or a failed write left)."""
        stream = subjects.object_stream(bucket)
        return self.read(stream).look_objects_up(bucket).pub(f"$O.{bucket}.>", f"{_JS_API}.STREAM.PURGE.{stream}")

    def look_objects_up(self, bucket: str) -> _Grant:
        """Read an object's info: a direct get of the last message on its meta subject."""
        return self.pub(f"{_JS_API}.DIRECT.GET.{subjects.object_stream(bucket)}.$O.{bucket}.M.>")

    def logs(self, identity: str) -> _Grant:
        """Publish its structured log lines, on its own log subject only."""
        return self.pub(subjects.logs_of(identity))

    def build(self) -> Permissions:
        return Permissions(tuple(self.publish), tuple(self.subscribe), self.allow_responses)


def inbox_prefix(identity: str) -> str:
    """Where ``identity``'s replies arrive: its own branch of ``_INBOX``."""
    return f"_INBOX.{identity}"


def _base(identity: str) -> _Grant:
    """What every identity needs: its inbox, and to check that the streams it relies on exist."""
    return _Grant().sub(f"{inbox_prefix(identity)}.>").pub(*(f"{_JS_API}.STREAM.INFO.{name}" for name in _STREAMS))


def _service(name: str) -> _Grant:
    """A bus service: answers health requests, reports failed steps, streams its log lines."""
    return _base(name).answer(subjects.HEALTH, subjects.health_of(name)).pub(subjects.STEP_FAILED).logs(name)


def _step(name: str, step: Step) -> _Grant:
    """A pipeline step: consumes its subject, publishes its output."""
    return _service(name).consume(STEP_CONSUMERS[step]).pub(*subjects.produced_by(step))


def _operator(identity: str) -> _Grant:
    """Runs, replays and redrives (republish stored messages on their subjects) and dead-letter management."""
    return (
        _base(identity)
        .pub(subjects.PIPELINE_ALL, subjects.TRADING_ALL, f"{_JS_API}.STREAM.NAMES")
        .read(*_STREAMS)
        .pub(f"{_JS_API}.STREAM.MSG.DELETE.{subjects.DEAD_LETTER_STREAM}")
    )


def _identities() -> dict[str, Permissions]:
    grants = {
        "scheduler": _service("scheduler").pub(subjects.EXECUTION_REQUESTED),
        # Bars and indicator series travel by reference: market-data and indicators store them in the
        # payload bucket, the steps after them (and the broker's paper fills) read them back.
        "market-data": _step("market-data", Step.MARKET_DATA)
        .answer(*SYMBOL_REQUESTS, *HISTORY_REQUESTS)
        .write_objects(subjects.PAYLOAD_BUCKET),
        "indicators": _step("indicators", Step.INDICATORS)
        .read_objects(subjects.PAYLOAD_BUCKET)
        .write_objects(subjects.PAYLOAD_BUCKET),
        "charts": _step("charts", Step.CHART)
        .read_objects(subjects.PAYLOAD_BUCKET)
        .write_objects(subjects.CHART_BUCKET),
        "llm-analyst": _step("llm-analyst", Step.ANALYSIS)
        .pub(subjects.LLM_BUDGET_CROSSED)
        .read_objects(subjects.CHART_BUCKET),
        "signals": _step("signals", Step.SIGNAL),
        # The broker's marks and paper fills follow the bars of executions that are no backtest's: it may not
        # subscribe to a backtest's (pipeline.market_data.fetched.backtest).
        "broker": _service("broker")
        .consume(BROKER_CONSUMER)
        .answer(subjects.MARKET_DATA_FETCHED, *BROKER_COMMANDS)
        .pub(subjects.TRADING_ALL)
        .read_objects(subjects.PAYLOAD_BUCKET),
        # Lineage reads everything for the audit trail; it writes only dead letters (and the
        # StepFailed) of messages that ran out of deliveries, which it reads back from their stream.
        "lineage": _service("lineage")
        .consume(*LINEAGE_CONSUMERS, ADVISORY_CONSUMER)
        .read(subjects.PIPELINE_STREAM, subjects.TRADING_STREAM)
        .dead_letters(subjects.PIPELINE_ALL, subjects.TRADING_ALL),
        # The notifier only reads: it sends to people, not to the bus (a StepFailed of its own would be no
        # failed execution); it dead-letters what it gives up on, and tells the gateway its settings.
        "notifier": _base("notifier")
        .answer(subjects.HEALTH, subjects.health_of("notifier"), subjects.NOTIFIER_SETTINGS)
        .consume(*NOTIFIER_CONSUMERS)
        .logs("notifier"),
        # The ledger records signals, their orders and outcomes, publishes the outcomes it judges and asks
        # market-data for the bars that followed a signal; like the notifier it reports no StepFailed. It
        # copies each signal's chart into the bucket that keeps it for good.
        "ledger": _base("ledger")
        .answer(subjects.HEALTH, subjects.health_of("ledger"))
        .consume(*LEDGER_CONSUMERS)
        .pub(subjects.OUTCOME_RECORDED, *HISTORY_REQUESTS)
        .read_objects(subjects.CHART_BUCKET)
        .write_objects(subjects.KEPT_CHART_BUCKET)
        .logs("ledger"),
        # The backtester publishes each decision of a backtest as an execution request, follows the executions'
        # analyses, signals and failures, asks market-data for the instrument and the bars of a period, answers
        # the gateway's and the CLI's backtest requests, and reads the charts its report shows; like the ledger it
        # reports no StepFailed.
        "backtester": _base("backtester")
        .answer(subjects.HEALTH, subjects.health_of("backtester"), *BACKTEST_REQUESTS)
        .consume(*BACKTESTER_CONSUMERS)
        .pub(subjects.EXECUTION_REQUESTED, *HISTORY_REQUESTS)
        .read_objects(subjects.CHART_BUCKET)
        .read_objects(subjects.KEPT_CHART_BUCKET)
        .logs("backtester"),
        # The gateway's system page asks for health and consumer lag; its live log listens (read-only)
        # to the bus events and to every service's log lines.
        "gateway": _operator("gateway")
        .pub(*SYMBOL_REQUESTS, *BROKER_COMMANDS, *BACKTEST_REQUESTS, subjects.NOTIFIER_SETTINGS)
        .read_objects(subjects.CHART_BUCKET)
        .read_objects(subjects.KEPT_CHART_BUCKET)
        .read_objects(subjects.PAYLOAD_BUCKET)
        .pub(subjects.HEALTH, *(f"{_JS_API}.CONSUMER.LIST.{name}" for name in _STREAMS))
        .logs("gateway")
        .sub(subjects.PIPELINE_ALL, subjects.TRADING_ALL, subjects.DEAD_LETTER_ALL, subjects.LOGS_ALL),
        # The CLI starts, stops and resumes backtests (`tradelane backtest`) by asking the backtester, like the gateway.
        OPERATOR: _operator(OPERATOR)
        .read_ordered(subjects.PIPELINE_STREAM, subjects.TRADING_STREAM)
        .pub(subjects.HEALTH, subjects.DEBUG_ALL, *BACKTEST_REQUESTS)
        .pub(*(f"{_JS_API}.CONSUMER.LIST.{name}" for name in _STREAMS))
        .sub(subjects.PIPELINE_ALL, subjects.TRADING_ALL, subjects.DEAD_LETTER_ALL, subjects.DEBUG_ALL),
        PROVISION: _base(PROVISION).pub(f"{_JS_API}.>"),
    }
    return {name: grant.build() for name, grant in grants.items()}


IDENTITIES: Final[Mapping[str, Permissions]] = _identities()
"""Every NATS user of tradelane (services by their ``tradelane run`` name) and its permissions."""


def log_publishers(identities: Mapping[str, Permissions] = IDENTITIES) -> tuple[str, ...]:
    """The identities that stream their log lines, each on its own ``logs.<identity>`` (the live log's services)."""
    return tuple(name for name, permissions in identities.items() if subjects.logs_of(name) in permissions.publish)


def identity_of(service: str) -> str:
    """The NATS identity of a service as ``tradelane up`` names it (``market_data`` -> ``market-data``)."""
    return service.replace("_", "-")


def password_variable(identity: str) -> str:
    """The environment variable that holds ``identity``'s password in the checked-in server configs."""
    return f"TRADELANE_NATS_PASSWORD_{identity.upper().replace('-', '_')}"


def _quoted(values: Iterable[str]) -> str:
    return "[" + ", ".join(json.dumps(value) for value in values) + "]"


def _user_entry(identity: str, permissions: Permissions, password: str) -> str:
    lines = [
        "    {",
        f"      user: {json.dumps(identity)}",
        f"      password: {password}",
        "      permissions: {",
        f"        publish: {{ allow: {_quoted(permissions.publish)} }}",
        f"        subscribe: {{ allow: {_quoted(permissions.subscribe)} }}",
    ]
    if permissions.allow_responses:
        lines.append("        allow_responses: true")
    lines += ["      }", "    }"]
    return "\n".join(lines)


def authorization_block(passwords: Mapping[str, str], identities: Mapping[str, Permissions] = IDENTITIES) -> str:
    """The ``authorization { users = [...] }`` block of a nats-server config.

    ``passwords`` maps each identity to the literal password (quoted here) or, when it starts
    with ``$``, to a variable reference nats-server resolves from its environment. With users
    configured, the server refuses anonymous connections.
    """
    missing = sorted(set(identities) - set(passwords))
    if missing:
        msg = f"no password for NATS identities {', '.join(missing)}"
        raise ValueError(msg)
    entries = [
        _user_entry(
            identity,
            permissions,
            passwords[identity] if passwords[identity].startswith("$") else json.dumps(passwords[identity]),
        )
        for identity, permissions in identities.items()
    ]
    return "authorization {\n  users = [\n" + "\n".join(entries) + "\n  ]\n}\n"


GENERATED_MARK: Final = "# --- generated by tradelane.runtime.bus_permissions; do not edit below ---"


def checked_in_authorization() -> str:
    """The authorization block the checked-in configs carry: passwords from the server's environment."""
    return authorization_block({identity: f"${password_variable(identity)}" for identity in IDENTITIES})


def with_authorization(config: str) -> str:
    """``config`` with everything after :data:`GENERATED_MARK` replaced by the current table."""
    head, mark, _ = config.partition(GENERATED_MARK)
    if not mark:
        msg = f"the config has no line {GENERATED_MARK!r} to put the generated authorization after"
        raise ValueError(msg)
    return f"{head}{GENERATED_MARK}\n{checked_in_authorization()}"


_COMPOSE_INDENT: Final = " " * 6


def with_authorization_in_compose(compose: str) -> str:
    """A docker-compose.yml whose inline ``nats.conf`` (indented, ``$`` escaped as ``$$``) carries the current table."""
    mark = f"{_COMPOSE_INDENT}{GENERATED_MARK}\n"
    start = compose.find(mark)
    if start < 0:
        msg = f"docker-compose.yml has no line {mark.strip()!r} in its nats.conf"
        raise ValueError(msg)
    end = start + len(mark)
    while end < len(compose) and (compose.startswith(_COMPOSE_INDENT, end) or compose.startswith("\n", end)):
        end = compose.index("\n", end) + 1
    block = "".join(
        (_COMPOSE_INDENT + line if line else "") + "\n"
        for line in checked_in_authorization().replace("$", "$$").splitlines()
    )
    trailing = compose[start + len(mark) : end]
    blank_lines = trailing[len(trailing.rstrip("\n")) :].count("\n") - 1
    return compose[:start] + mark + block + "\n" * max(blank_lines, 0) + compose[end:]


def main(paths: list[str]) -> int:
    """``python -m tradelane.runtime.bus_permissions FILE...``: regenerate the checked-in configs in place.

    Each FILE is a NATS config (deploy/k8s/base/nats/nats.conf) or docker-compose.yml.
    """
    from pathlib import Path

    for path in map(Path, paths):
        text = path.read_text(encoding="utf-8")
        regenerated = with_authorization_in_compose(text) if path.suffix == ".yml" else with_authorization(text)
        path.write_text(regenerated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
