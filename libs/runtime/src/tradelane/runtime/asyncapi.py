"""The AsyncAPI document of the whole flow, built by FastStream from the table in :mod:`tradelane.runtime.flow`.

Each service's broker declares only its own subscribers and publishers, and the gateway may
not import a service; so the document of the whole bus is generated from the flow table: one
broker, never connected, on which every participant's subscriptions and publications are
declared with the contract each subject carries. Channels are titled by participant, verb and
subject (``indicators receives pipeline.market_data.fetched``), so that the participants of one
subject stay apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI, Specification

from tradelane.contracts import subjects
from tradelane.contracts.advisories import MAX_DELIVERIES_ADVISORIES, MaxDeliveriesAdvisory
from tradelane.runtime.bus import declare_publisher
from tradelane.runtime.flow import FLOW

DESCRIPTION = """\
The tradelane bus: every subject, who publishes it and who consumes it, and the contract it carries.

Pipeline and trading events travel on JetStream (streams PIPELINE and TRADING) with their
`message_id` as the `Nats-Msg-Id` de-duplication header; dead letters go to the DEADLETTER stream;
`tradelane.*` subjects are core NATS request/reply.
"""


def _body_of(subject: str) -> type[Any]:
    """The contract a subject carries, as far as the subjects table knows it (else any JSON object)."""
    if subject == MAX_DELIVERIES_ADVISORIES:
        return MaxDeliveriesAdvisory
    return subjects.event_type_for(subject) or dict[str, Any]


def _documented_handler(participant: str, subject: str) -> Callable[..., Awaitable[None]]:
    """A handler that is never called: its signature tells FastStream the message a subscription receives."""

    async def receive(message: Any) -> None:  # only its annotations are read
        return None

    receive.__annotations__ = {"message": _body_of(subject), "return": None}
    receive.__name__ = f"{participant}_{subject}"
    return receive


def without_credentials(url: str) -> str:
    """``url`` without a user or password, fit to be shown in a document."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host))


def flow_broker(servers: Sequence[str]) -> NatsBroker:
    """A broker (never connected) on ``servers``, declaring every participant's subscriptions and publications."""
    broker = NatsBroker(servers, specification_url=[without_credentials(server) for server in servers])
    for participant, role in FLOW.items():
        for verb, received in (("receives", role.consumes), ("answers", role.answers)):
            for subject in received:
                title = f"{participant} {verb} {subject}"
                broker.subscriber(subject, title=title)(_documented_handler(participant, subject))
        for verb, sent in (("publishes", role.publishes), ("requests", role.requests)):
            for subject in sent:
                declare_publisher(broker, subject, title=f"{participant} {verb} {subject}")
    return broker


def flow_specification(version: str, servers: Sequence[str]) -> Specification:
    """The AsyncAPI (3.0) document of the flow for the release ``version``, on the NATS ``servers``."""
    broker = flow_broker(servers)
    return AsyncAPI(broker, title="tradelane bus", version=version, description=DESCRIPTION).to_specification()
