"""JetStream's own advisories that tradelane listens to, and where it keeps them.

When a message is delivered ``max_deliver`` times without being acknowledged (its process
crashed, or its handler hung without heartbeats, every time, so the delivery middleware never
saw it fail),
the server publishes a max-deliveries advisory naming the stream, the consumer and the
message's stream sequence. The lineage service keeps these in their own stream and turns each
into a dead letter, so such a message is as visible and re-drivable as one a handler gave up on.
"""

from __future__ import annotations

from typing import Final

from pydantic import AwareDatetime, Field

from tradelane.contracts.envelope import Contract

ADVISORY_STREAM: Final = "ADVISORIES"
MAX_DELIVERIES_ADVISORIES: Final = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.*.*"
"""Subject pattern of max-deliveries advisories: ``...MAX_DELIVERIES.<stream>.<consumer>``."""


class MaxDeliveriesAdvisory(Contract):
    """``io.nats.jetstream.advisory.v1.max_deliver``: a message ran out of deliveries on a consumer."""

    id: str = Field(description="Unique id of the advisory.")
    timestamp: AwareDatetime
    stream: str = Field(description="Stream holding the message.")
    consumer: str = Field(description="Durable consumer that gave up delivering it.")
    stream_seq: int = Field(ge=1, description="The message's sequence in the stream.")
    deliveries: int = Field(ge=1, description="How often it was delivered.")
