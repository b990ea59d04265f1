"""The envelope every message on the bus shares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Self, TypeVar
from uuid import UUID, uuid4, uuid5

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1

EventT = TypeVar("EventT", bound="Envelope")


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (the only kind contracts accept)."""
    return datetime.now(UTC)


class Contract(BaseModel):
    """Base of every contract model: immutable, tolerant of fields it does not know, and finite.

    Services deploy independently, so a newer producer may add fields an older consumer
    has never seen; those are ignored rather than refused.

    Every number is finite: a NaN or an infinity in a float (a bar's close, an analyst's
    entry, an indicator value) is refused with "Input should be a finite number" naming the
    field, a 422 at the HTTP edge and invalid input (dead-lettered) on the bus. JSON has no
    such numbers, a NaN passes every ``gt``/``le`` bound unnoticed, and pydantic would write
    either as ``null``. Decimals refuse NaN, sNaN and infinities by pydantic's own default;
    an indicator with no value yet is ``None``, never NaN.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)


class BacktestTag(Contract):
    """Marks an execution as one decision of a backtest; every message of the execution carries it."""

    backtest_id: UUID
    variant: str = Field(max_length=80, description="The variant the decision belongs to ('base', 'offline', ...).")
    seq: int = Field(ge=0, description="Index of the decision in time order, from 0.")
    decided_at: AwareDatetime = Field(
        description="The decision's point in time (its execution's as_of): every step reads this as 'now', so "
        "nothing after it (bars, the date in a prompt, a signal's expiry) reaches the decision."
    )


class Envelope(Contract):
    """Fields every message carries, whatever its step."""

    message_id: UUID = Field(
        default_factory=uuid4,
        description="Unique id of this message; also sent as the Nats-Msg-Id header so "
        "JetStream drops a duplicate publish inside the stream's duplicate window.",
    )
    execution_id: UUID = Field(
        description="Id of the execution (one run of one strategy); the same on every message that run produces.",
    )
    strategy_id: UUID = Field(description="Id of the strategy this execution runs.")
    occurred_at: AwareDatetime = Field(
        default_factory=utc_now,
        description="When the producer created this message (aware UTC).",
    )
    schema_version: int = Field(
        default=SCHEMA_VERSION,
        strict=True,
        description="Version of the contract the producer wrote: from 1 up to the version this code reads "
        "(a JSON integer: not a string, a boolean or a float).",
    )
    replay_of: UUID | None = Field(
        default=None,
        description="When this execution is a replay: the execution_id it replays.",
    )
    replay_places_orders: bool = Field(
        default=False,
        description="On a replayed execution: the operator asked that its signal may place (paper) orders. "
        "Without it a replay's signal places none.",
    )
    backtest: BacktestTag | None = Field(
        default=None,
        description="When this execution is a decision of a backtest: which one. Such executions run through the "
        "same services but never touch live or paper trading (the broker ignores them).",
    )
    causation_id: UUID | None = Field(
        default=None,
        description="message_id of the message whose handling produced this one "
        "(None for the message that starts an execution).",
    )
    handled_in_ms: float | None = Field(
        default=None,
        description="How long the producing step spent handling its input, in milliseconds.",
    )

    @field_validator("schema_version")
    @classmethod
    def _readable_version(cls, version: int) -> int:
        """Refuse a version this code cannot read, rather than read a newer message as if it were current.

        A newer producer may add fields (ignored) but a new version means the meaning changed; versions
        before 1 were never written. Older versions this code still reads are accepted as they are.
        """
        if version > SCHEMA_VERSION:
            msg = (
                f"schema_version {version} is newer than the {SCHEMA_VERSION} this service reads; "
                "upgrade this service before the producers that write it"
            )
            raise ValueError(msg)
        if version < 1:
            msg = f"schema_version {version} was never written; versions start at 1"
            raise ValueError(msg)
        return version

    def follow(self, event_type: type[EventT], **fields: object) -> EventT:
        """Build the next event of the same execution, caused by this message.

        Its message_id is derived from this message's id and the event type, so handling a
        redelivered message again yields the same id, which JetStream and the lineage drop.
        """
        return event_type.model_validate(
            {
                "message_id": uuid5(self.message_id, event_type.__name__),
                "execution_id": self.execution_id,
                "strategy_id": self.strategy_id,
                "replay_of": self.replay_of,
                "replay_places_orders": self.replay_places_orders,
                "backtest": self.backtest,
                "causation_id": self.message_id,
                **fields,
            }
        )

    def point_in_time(self, now: datetime) -> datetime:
        """What the execution's steps read as 'now': a backtest decision's own time, else ``now`` (the clock)."""
        return now if self.backtest is None else self.backtest.decided_at

    def timed(self, handled_in_ms: float) -> Self:
        """A copy of this message stamped with the time its step took."""
        return self.model_copy(update={"handled_in_ms": round(handled_in_ms, 3)})
