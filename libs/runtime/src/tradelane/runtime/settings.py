"""Settings every service shares, read from ``TRADELANE_*`` environment variables.

Only a service's ``app.py`` (or the CLI) instantiates settings; libraries take values as
arguments and never read the environment themselves.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tradelane.contracts.ceilings import TradingCeilings
from tradelane.contracts.llm_pricing import DEFAULT_PRICES, ModelPrice
from tradelane.runtime.logging import StreamLevel
from tradelane.runtime.retries import RetryRules

_DAY_SECONDS = 86400.0
HEARTBEATS_PER_ACK_WAIT = 3


class Settings(BaseSettings):
    """Connection, delivery and logging settings common to all services."""

    # a refused setting is named without echoing the input: that input holds every secret of the process
    model_config = SettingsConfigDict(
        env_prefix="TRADELANE_", extra="ignore", frozen=True, hide_input_in_errors=True, allow_inf_nan=False
    )

    nats_url: str = Field(default="nats://127.0.0.1:4222", description="NATS server(s), comma separated.")
    nats_user: str | None = Field(
        default=None,
        description="This process's NATS user (one per service); unset: anonymous or the credentials file.",
    )
    nats_password: SecretStr | None = Field(default=None, description="The password of nats_user.")
    nats_credentials_file: Path | None = Field(
        default=None,
        description="JSON file of every identity's NATS password (written by `tradelane up`); "
        "a process takes the entry of its own identity. nats_user wins over it.",
    )
    nats_layout_wait_seconds: float = Field(
        default=60, ge=0, description="How long a service without the provision identity waits for the streams."
    )
    database_url: SecretStr = Field(
        default=SecretStr("postgresql://postgres@127.0.0.1:5432/tradelane"),
        description="PostgreSQL DSN; may hold a password, so it is read only where a connection is made.",
    )
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="'auto' is JSON off a TTY and readable console on one."
    )
    log_stream_level: StreamLevel = Field(
        default="INFO",
        description="The least level of the log lines a service also publishes on the bus (logs.<service>, "
        "for the web UI's live log), whatever log_level is; 'off' publishes none.",
    )
    state_dir: Path = Field(default=Path(".state"), description="Where embedded servers keep data.")
    demo_strategy: bool = Field(
        default=True,
        description="tradelane up: create (and run once) the paper-trading demo strategy on a database with none.",
    )
    stream_max_age_days: float = Field(default=7, gt=0, description="Replay window of the streams.")
    lineage_detail_days: float | None = Field(
        default=None,
        gt=0,
        description="How long the lineage keeps each step's messages in full; older ones keep only a summary. "
        "Unset: as long as the streams keep them (stream_max_age_days); at least that, so a message that can "
        "still be replayed keeps its detail.",
    )
    duplicate_window_seconds: float = Field(default=120, ge=120, description="JetStream de-dup window.")
    max_deliver: int = Field(
        default=5,
        ge=1,
        description="Deliveries of a message whose handler fails with an unexpected error (a bug) before it is "
        "dead-lettered; a transient failure is retried for retry_horizon_seconds instead.",
    )
    retry_horizon_seconds: float = Field(
        default=3600,
        gt=0,
        description="How long a message that fails transiently (a dependency down) is retried, counted from its "
        "publication; at most the streams' replay window.",
    )
    retry_backoff_seconds: float = Field(
        default=1, gt=0, description="Delay before the first retry; it doubles on each retry."
    )
    retry_backoff_max_seconds: float = Field(default=60, gt=0, description="The longest delay between two retries.")
    ack_wait_seconds: float = Field(
        default=10,
        gt=0,
        description="Redeliver a message not acked within this; handlers send in-progress heartbeats every third "
        "of it, so it bounds how long a crashed process's messages wait, not how long a handler may run.",
    )
    handler_timeout_seconds: float = Field(
        default=300,
        gt=0,
        description="The longest a handler may run on one delivery: then its heartbeats stop and it is cancelled, "
        "and the delivery counts as failed (retried with backoff, dead-lettered after max_deliver deliveries).",
    )
    step_batch: int = Field(
        default=16,
        ge=1,
        le=256,
        description="Messages a pipeline step (and the backtester, of its answers) fetches in one pull request and "
        "handles at once, at most (each worker's pull; the llm-analyst still calls its model llm_max_concurrency at "
        "a time). A step takes what is waiting, so a single live execution is fetched alone; a backtest's decisions "
        "come in batches, which saves a pull per message. Messages fetched are this replica's until handled: with "
        "several replicas of a slow step (a vision model), a smaller batch shares a burst among them more evenly.",
    )
    shutdown_grace_seconds: float = Field(
        default=10,
        gt=0,
        description="On SIGTERM, how long in-flight handlers may finish (heartbeats keep their messages meanwhile); "
        "the supervisor waits this plus a margin before SIGKILL.",
    )
    stream_replicas: int = Field(default=1, ge=1, le=5, description="R3 on a production cluster.")
    service_version: str = "0.1.0"
    health_host: str = Field(default="127.0.0.1", description="Where /livez, /readyz, /metrics listen.")
    health_port: int | None = Field(
        default=8080, ge=0, le=65535, description="Port of the health endpoint; 0 picks a free one; unset: off."
    )
    trading_ceilings: TradingCeilings = Field(
        default_factory=TradingCeilings,
        description="Hard ceilings on the risk limits (JSON object, e.g. '{\"max_order_notional\": 50000}'); "
        "shared so the gateway refuses what the broker would never enforce.",
    )
    llm_daily_budget_usd: Decimal | None = Field(
        default=None,
        gt=0,
        description="Estimated LLM spend allowed per UTC day, in USD; unset, no budget. Crossing 50, 80 and 100 % "
        "publishes pipeline.llm.budget_crossed; at 100 % no model is asked until the next UTC day. Shared so the "
        "gateway shows the budget the llm-analyst enforces.",
    )
    consumer_lag_interval_seconds: float = Field(default=15, gt=0, description="How often lag metrics refresh.")

    @field_validator("log_stream_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _horizon_within_replay_window(self) -> Self:
        """A message retried past the replay window would age out of its stream mid-retry and be lost."""
        if self.retry_horizon_seconds > self.stream_max_age_days * _DAY_SECONDS:
            msg = (
                f"retry_horizon_seconds ({self.retry_horizon_seconds:g}) is longer than the streams' replay window "
                f"(stream_max_age_days {self.stream_max_age_days:g} = {self.stream_max_age_days * _DAY_SECONDS:g} s)"
            )
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _detail_outlives_replay_window(self) -> Self:
        """A replayable message whose lineage detail is gone could be replayed but never diffed against."""
        if self.lineage_detail_days is not None and self.lineage_detail_days < self.stream_max_age_days:
            msg = (
                f"lineage_detail_days ({self.lineage_detail_days:g}) is shorter than the streams' replay window "
                f"(stream_max_age_days {self.stream_max_age_days:g}): a message still replayable would lose its "
                "lineage detail; make lineage_detail_days at least stream_max_age_days"
            )
            raise ValueError(msg)
        return self

    @property
    def lineage_detail_window_days(self) -> float:
        """Days the lineage keeps step messages in full: ``lineage_detail_days``, else the streams' window."""
        return self.stream_max_age_days if self.lineage_detail_days is None else self.lineage_detail_days

    @property
    def retry_rules(self) -> RetryRules:
        """When a failed message is retried and when it is given up (``tradelane.runtime.retries``)."""
        return RetryRules(
            horizon_seconds=self.retry_horizon_seconds,
            backoff_initial_seconds=self.retry_backoff_seconds,
            backoff_max_seconds=self.retry_backoff_max_seconds,
            max_deliver=self.max_deliver,
        )

    @property
    def heartbeat_seconds(self) -> float:
        """How often a running handler tells JetStream its message is in progress: three times per ack_wait."""
        return self.ack_wait_seconds / HEARTBEATS_PER_ACK_WAIT


class PromptRenderSettings(Settings):
    """The limits of one prompt template render, for the services that render prompts (gateway, llm-analyst).

    ``TRADELANE_PROMPT_RENDER_TIMEOUT_SECONDS``, ``TRADELANE_PROMPT_MAX_OUTPUT_CHARS`` and
    ``TRADELANE_PROMPT_RENDER_MEMORY_MB``; a template that exceeds one is refused naming it.
    """

    prompt_render_timeout_seconds: float = Field(
        default=2.0, gt=0, le=60, description="Longest time one template render may take."
    )
    prompt_max_output_chars: int = Field(
        default=256 * 1024, ge=1024, le=16 * 1024 * 1024, description="Longest rendered prompt, in characters."
    )
    prompt_render_memory_mb: int = Field(
        default=256, ge=32, le=8192, description="Memory one render process may allocate, in MiB."
    )

    @property
    def prompt_render_memory_bytes(self) -> int:
        return self.prompt_render_memory_mb * 1024 * 1024


class LlmModelSettings(Settings):
    """Which model the analyst asks by default and what its calls cost, for the services that need to know.

    The llm-analyst asks the model and prices each call; the backtester picks a backtest's model and
    estimates its cost before it runs. Both read the same ``TRADELANE_LLM_BASE_URL``,
    ``TRADELANE_LLM_MODEL`` and ``TRADELANE_LLM_PRICES``, so they agree on which strategies use a model
    and at what price.
    """

    llm_base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible endpoint, e.g. 'https://api.openai.com/v1' or 'http://127.0.0.1:11434/v1'.",
    )
    llm_model: str | None = Field(default=None, description="Default model; a strategy's analysis.model overrides it.")
    llm_prices: dict[str, ModelPrice] = Field(
        default_factory=lambda: dict(DEFAULT_PRICES),
        description="Price table by model name (longest prefix wins), JSON: "
        '{"gpt-4o": {"input_per_million": "2.50", "output_per_million": "10.00"}}.',
    )

    @property
    def llm_configured(self) -> bool:
        """Whether an LLM endpoint is configured: strategies with analyst 'auto' then use the model."""
        return self.llm_base_url is not None
