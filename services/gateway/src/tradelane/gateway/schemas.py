"""Request examples and response models of the REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from tradelane.contracts.strategy import StrategyDefinition
from tradelane.contracts.strategy_warnings import StrategyWarning
from tradelane.contracts.subjects import Step
from tradelane.store.lineage import (
    ExecutionDetail,
    ExecutionStatus,
    ExecutionSummary,
    StepStatistics,
    StepStatus,
    StepView,
)
from tradelane.store.step_summary import SUMMARY_FIELDS, Scalar, summarize
from tradelane.store.strategies import StoredStrategy

STRATEGY_EXAMPLES: dict[str, Any] = {
    "minimal": {
        "summary": "Only what is required",
        "description": "Daily bars of AAPL, the default indicator set and risk limits, every 5 minutes.",
        "value": {"name": "AAPL daily", "symbol": {"symbol": "AAPL"}},
    },
    "after_the_close": {
        "summary": "Hourly bars, run after the New York close on weekdays",
        "value": {
            "name": "MSFT swing",
            "description": "Trend following on hourly bars.",
            "symbol": {"symbol": "MSFT", "exchange": "SMART", "currency": "USD", "asset_type": "STK"},
            "bar_size": "1 hour",
            "duration": "60 D",
            "indicators": [
                {"kind": "ma", "period": 50, "ma_type": "EMA"},
                {"kind": "rsi", "period": 14, "overbought": 70, "oversold": 30},
                {"kind": "macd", "fast_period": 12, "slow_period": 26, "signal_period": 9},
                {"kind": "atr", "period": 14},
            ],
            "risk": {"account_size": "50000", "risk_per_trade": "0.01", "min_risk_reward": "2"},
            "schedule": {"cron": "5 16 * * 1-5", "timezone": "America/New_York"},
            "active": True,
        },
    },
}


class ErrorOut(BaseModel):
    """A 4xx answer: what was wrong and what to change."""

    detail: str = Field(examples=["no strategy with id 7f0c...; list them with GET /api/strategies"])


class StrategyOut(BaseModel):
    """A stored strategy with its next scheduled run."""

    id: UUID
    version: int = Field(description="Starts at 1; every update adds one.")
    created_at: datetime
    updated_at: datetime
    next_run_at: datetime | None = Field(
        description="When the scheduler runs it next (UTC); null while the strategy is inactive."
    )
    definition: StrategyDefinition

    @classmethod
    def of(cls, stored: StoredStrategy, next_run_at: datetime | None) -> StrategyOut:
        return cls(
            id=stored.id,
            version=stored.version,
            created_at=stored.created_at,
            updated_at=stored.updated_at,
            next_run_at=next_run_at,
            definition=stored.definition,
        )


class StrategyCheckOut(BaseModel):
    """A strategy the API would accept, checked before saving: its risky values and its coming runs."""

    warnings: list[StrategyWarning] = Field(
        description="Allowed but risky values (see tradelane.contracts.strategy_warnings); empty when none."
    )
    timezone: str = Field(description="The strategy's time zone, in which next_runs are written.")
    next_runs: list[datetime] = Field(
        description="The next five times the cron matches, in the strategy's time zone, whether or not it is active."
    )


class RunAccepted(BaseModel):
    """A manual run was requested; follow it at ``status_url``."""

    execution_id: UUID
    status_url: str = Field(examples=["/api/executions/3b8e6c1e-0f4e-4d0b-9d55-5d6f3c1a2b7e"])


class ExecutionOut(BaseModel):
    """One execution: one run of one strategy through the pipeline."""

    execution_id: UUID
    strategy_id: UUID
    status: ExecutionStatus
    trigger: str | None = Field(
        description="What started it: 'schedule', 'manual', 'replay' (a pipeline run; a replay from any step) or "
        "'backtest' (a decision of a backtest), 'manual_order' or 'trading_state' (the lineage's own executions of "
        "a manual order and of a trading state "
        "change); null when the lineage never saw what started it."
    )
    replay_of: UUID | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, summary: ExecutionSummary) -> ExecutionOut:
        return cls.model_validate(summary, from_attributes=True)


class StepOut(BaseModel):
    """One step of an execution: a summary of the message it produced, and on request both messages in full."""

    step: str
    status: StepStatus
    subject: str = Field(description="Subject the step's output was published on.")
    message_id: UUID
    stream_sequence: int | None = Field(description="JetStream sequence of the output message (for replays).")
    summary: dict[str, Scalar] = Field(
        description=f"The output's fields in brief (nested objects one level down, lists as their length; "
        f"at most {SUMMARY_FIELDS} besides the signal's action, confidence and prices)."
    )
    input: dict[str, Any] | None = Field(
        default=None,
        description="The message the step consumed, if recorded and not pruned; only with ?payloads=true.",
    )
    output: dict[str, Any] | None = Field(
        default=None, description="The message the step published, unless pruned; only with ?payloads=true."
    )
    pruned_at: datetime | None = Field(
        default=None,
        description="When the lineage pruned the step's output message (older than TRADELANE_LINEAGE_DETAIL_DAYS): "
        "only the summary is left. Null while it is kept in full.",
    )
    error: str | None
    duration_ms: float | None
    occurred_at: datetime

    @classmethod
    def of(cls, view: StepView, *, payloads: bool) -> StepOut:
        return cls(
            step=view.step,
            status=view.status,
            subject=view.subject,
            message_id=view.message_id,
            stream_sequence=view.stream_sequence,
            summary=view.output if view.pruned_at is not None else summarize(view.output),
            input=view.input if payloads and view.input_pruned_at is None else None,
            output=view.output if payloads and view.pruned_at is None else None,
            pruned_at=view.pruned_at,
            error=view.error,
            duration_ms=view.duration_ms,
            occurred_at=view.occurred_at,
        )


class ExecutionDetailOut(ExecutionOut):
    """An execution with every step, in the order they happened."""

    steps: list[StepOut]

    @classmethod
    def of_detail(cls, detail: ExecutionDetail, *, payloads: bool = False) -> ExecutionDetailOut:
        return cls(
            **ExecutionOut.of(detail.execution).model_dump(),
            steps=[StepOut.of(view, payloads=payloads) for view in detail.steps],
        )


class StepMessageOut(BaseModel):
    """One step's input or output message as the lineage recorded it, with the payloads it refers to resolved."""

    execution_id: UUID
    step: str
    message_id: UUID = Field(description="The step's own message id (its output's), as in the execution's steps.")
    subject: str = Field(description="Subject the step's output was published on.")
    message: dict[str, Any] = Field(
        description="The message exactly as recorded: bars and indicator series by reference (claim check), "
        "or inline in a message recorded before references."
    )
    payloads: dict[str, Any] = Field(
        description="What the message's references hold: each bars window's bars (oldest first) under its "
        "sha256, each indicator series reference's series under its name; "
        '{"missing": reason} for content the payload store no longer keeps. Empty without references.'
    )


class ErrorCount(BaseModel):
    error: str
    count: int


class StepStatisticsOut(BaseModel):
    """How one step fared since a moment: counts, success rate, durations, common errors."""

    step: Step
    since: datetime
    count: int
    succeeded: int
    failed: int
    success_rate: float | None = Field(description="succeeded / count; null when there were none.")
    duration_ms_min: float | None
    duration_ms_avg: float | None
    duration_ms_p95: float | None
    duration_ms_max: float | None
    top_errors: list[ErrorCount] = Field(description="The most common errors, most frequent first (up to 5).")

    @classmethod
    def of(cls, step: Step, since: datetime, stats: StepStatistics) -> StepStatisticsOut:
        return cls(
            step=step,
            since=since,
            count=stats.count,
            succeeded=stats.succeeded,
            failed=stats.failed,
            success_rate=stats.success_rate,
            duration_ms_min=stats.duration_ms_min,
            duration_ms_avg=stats.duration_ms_avg,
            duration_ms_p95=stats.duration_ms_p95,
            duration_ms_max=stats.duration_ms_max,
            top_errors=[ErrorCount(error=error, count=count) for error, count in stats.top_errors],
        )


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """Whether each dependency answers; a failing one names what is wrong."""

    status: Literal["ready", "unavailable"]
    postgres: str = Field(examples=["ok", "ConnectionRefusedError: [Errno 111] Connection refused"])
    nats: str = Field(examples=["ok", "reconnecting to NATS"])
