"""``/api/executions/{id}/replay`` and ``/api/executions/{id}/diff/{other_id}``: replay an execution, compare runs."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

import nats.errors
from fastapi import APIRouter, HTTPException, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from tradelane.contracts.fields import Text, Version
from tradelane.contracts.replay import NotReplayableError, ReplayOverrides, check_overrides
from tradelane.contracts.subjects import Step
from tradelane.gateway.deps import Caller, State
from tradelane.gateway.errors import detail_pruned
from tradelane.gateway.outage import bus_unavailable
from tradelane.gateway.schemas import ErrorOut
from tradelane.gateway.security.access import require_scope
from tradelane.runtime.replay import MessageAgedOutError, ReplayError, replay_recorded
from tradelane.store.auth import Scope
from tradelane.store.diff import IGNORED_FIELDS, IGNORED_PATHS, ExecutionDiff, MessageDiff, diff_executions
from tradelane.store.lineage import StepStatus
from tradelane.store.lineage_retention import DetailPrunedError
from tradelane.store.replay import ReplayQueries, StepNotReachedError, UnknownExecutionError, message_to_replay

router = APIRouter(prefix="/api/executions", tags=["replay"])

IGNORED = sorted(IGNORED_FIELDS) + sorted(".".join(path).replace(".*", "[*]") for path in IGNORED_PATHS)
"""What the diff never compares, spelled as paths: ``message_id``, ``signal.expires_at``, ``llm_calls[*].cost``."""


def _error(code: int, description: str) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut, "description": description}}


class ReplayRequest(BaseModel):
    """How to replay: from which step, and what to change in the strategy's analysis settings."""

    from_step: Step = Field(
        default=Step.REQUESTED,
        description="First step to run again; 'requested' (the default) re-runs the whole execution.",
    )
    prompt_version: Version | None = Field(default=None, description="Analyse with this prompt template version.")
    model: Text | None = Field(default=None, min_length=1, max_length=200, description="Analyse with this model.")
    cache: bool | None = Field(default=None, description="Reuse cached LLM answers (true) or not (false).")
    place_orders: bool = Field(
        default=False,
        description="Let the replay's signal place orders (paper venue only, and only while its strategy still "
        "trades). Off by default: a replay only shows what would have happened.",
    )


class ReplayAccepted(BaseModel):
    """The replay started: a new execution, following the original from ``from_step``."""

    execution_id: UUID = Field(description="The new execution.")
    replay_of: UUID
    from_step: Step
    subject: str = Field(description="Subject the original message was republished on.")
    original_sequence: int = Field(description="Stream sequence of the original message.")
    sequence: int | None = Field(description="Stream sequence of the republished message.")
    status_url: str
    diff_url: str


@router.post(
    "/{execution_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Replay an execution",
    responses={
        **_error(status.HTTP_404_NOT_FOUND, "No such execution."),
        **_error(status.HTTP_409_CONFLICT, "The execution never reached that step."),
        **_error(status.HTTP_410_GONE, "The original message aged out of the stream (the reason names its max_age)."),
        **_error(status.HTTP_503_SERVICE_UNAVAILABLE, "The message bus is unavailable."),
    },
)
async def replay_execution(
    execution_id: UUID, state: State, caller: Caller, request: ReplayRequest | None = None
) -> ReplayAccepted:
    """Fetch the exact message the step consumed from JetStream and republish it as a new execution.

    The new execution carries ``replay_of``, the overrides are applied to ``strategy.analysis``,
    and the downstream services run as usual. Replays never place live orders, and paper orders only
    with ``place_orders``. Compare the two
    runs with ``GET /api/executions/{execution_id}/diff/{new execution_id}``.
    """
    asked = request or ReplayRequest()
    if asked.place_orders:
        require_scope(caller, Scope.TRADE, "a replay that may place orders")
    overrides = ReplayOverrides(
        prompt_version=asked.prompt_version, model=asked.model, cache=asked.cache, place_orders=asked.place_orders
    )
    try:
        check_overrides(asked.from_step, overrides)
    except NotReplayableError as error:
        problem = {"type": "value_error", "loc": ("body", "from_step"), "msg": str(error), "input": asked.from_step}
        raise RequestValidationError([problem]) from error
    try:
        messages = await ReplayQueries(state.pool).messages(execution_id)
        source = message_to_replay(execution_id, messages, asked.from_step)
        assert source.stream_sequence is not None
        replayed = await replay_recorded(
            state.broker.connection,
            subject=source.subject,
            sequence=source.stream_sequence,
            message_id=source.message_id,
            overrides=overrides,
        )
    except UnknownExecutionError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
    except MessageAgedOutError as error:
        raise HTTPException(status.HTTP_410_GONE, str(error)) from error
    except (StepNotReachedError, NotReplayableError, ReplayError) as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from error
    except nats.errors.Error as error:
        raise bus_unavailable("the replay was not accepted", error) from error
    new_id = replayed.execution_id
    return ReplayAccepted(
        execution_id=new_id,
        replay_of=execution_id,
        from_step=asked.from_step,
        subject=source.subject,
        original_sequence=source.stream_sequence,
        sequence=replayed.sequence,
        status_url=f"/api/executions/{new_id}",
        diff_url=f"/api/executions/{execution_id}/diff/{new_id}",
    )


class FieldChangeOut(BaseModel):
    path: str = Field(examples=["strategy.analysis.prompt_version", "analysis.confidence"])
    kind: Literal["changed", "added", "removed"]
    before: Any = None
    after: Any = None


class MessageDiffOut(BaseModel):
    changes: list[FieldChangeOut]
    omitted: int = Field(description="Further differences not listed (at most 50 are).")

    @classmethod
    def of(cls, diff: MessageDiff) -> MessageDiffOut:
        changes = [FieldChangeOut(path=c.path, kind=c.kind, before=c.before, after=c.after) for c in diff.changes]
        return cls(changes=changes, omitted=diff.omitted)


class StepDiffOut(BaseModel):
    step: str
    presence: Literal["both", "only_first", "only_second"] = Field(
        description="A replay from a later step has no earlier steps of its own."
    )
    changed: bool
    status_before: StepStatus | None
    status_after: StepStatus | None
    input: MessageDiffOut = Field(description="The message the step consumed (compared when both recorded one).")
    output: MessageDiffOut = Field(description="The message the step published.")


class ExecutionDiffOut(BaseModel):
    """Step by step, what changed from ``first`` to ``second``."""

    first: UUID
    second: UUID
    identical: bool = Field(description="No step both executions ran differs.")
    ignored_fields: list[str] = Field(description="Fields never compared: they differ on every run by construction.")
    steps: list[StepDiffOut]

    @classmethod
    def of(cls, diff: ExecutionDiff) -> ExecutionDiffOut:
        return cls(
            first=diff.first,
            second=diff.second,
            identical=diff.identical,
            ignored_fields=IGNORED,
            steps=[
                StepDiffOut(
                    step=step.step,
                    presence=step.presence,
                    changed=step.changed,
                    status_before=step.status_before,
                    status_after=step.status_after,
                    input=MessageDiffOut.of(step.input),
                    output=MessageDiffOut.of(step.output),
                )
                for step in diff.steps
            ],
        )


@router.get(
    "/{execution_id}/diff/{other_id}",
    summary="Compare two executions step by step",
    responses={
        **_error(status.HTTP_404_NOT_FOUND, "No such execution."),
        **_error(status.HTTP_410_GONE, "The lineage pruned the messages of one of them (only summaries are left)."),
    },
)
async def diff(execution_id: UUID, other_id: UUID, state: State) -> ExecutionDiffOut:
    """What changed in each step's input and output (and so in the signal) from one execution to another.

    Ignored, because they differ on every run: ``message_id``, ``execution_id``,
    ``causation_id``, ``replay_of``, ``occurred_at``, ``handled_in_ms``, a failure's
    ``input_message_id``, the request's ``trigger``, a signal's ``expires_at``, and how each LLM
    answer was obtained (``llm_calls[*]``: ``cached``, ``latency_ms``, ``tokens_in``,
    ``tokens_out``, ``cost``, ``response_format``). The answer itself is compared.

    410 when the lineage pruned either's messages (older than ``TRADELANE_LINEAGE_DETAIL_DAYS``).
    """
    queries = ReplayQueries(state.pool)
    try:
        first, second = await queries.messages(execution_id), await queries.messages(other_id)
        return ExecutionDiffOut.of(diff_executions(execution_id, first, other_id, second))
    except UnknownExecutionError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
    except DetailPrunedError as error:
        raise detail_pruned(error, state.lineage_detail_days) from error
