"""Settings of the backtester: the shared ones, the LLM's model and prices, and how it paces a backtest."""

from __future__ import annotations

from pydantic import Field

from tradelane.runtime.settings import LlmModelSettings


class BacktesterSettings(LlmModelSettings):
    """``TRADELANE_BACKTEST_*`` on top of the shared settings and the LLM's (``TRADELANE_LLM_BASE_URL``, ``_MODEL``,
    ``_PRICES``), which it reads as the llm-analyst does: which variants ask a model, which one, at what price."""

    backtest_max_in_flight: int = Field(
        default=32,
        ge=1,
        le=10_000,
        description="Decisions of one backtest published and not yet answered, at most. More keeps more replicas "
        "of the pipeline's services busy; fewer leaves room for live executions.",
    )
    backtest_budgeted_max_in_flight: int = Field(
        default=16,
        ge=1,
        le=10_000,
        description="The same for a backtest with a budget (at most backtest_max_in_flight): the decisions in "
        "flight when the budget is reached still run and pay their model calls, so this bounds how far past its "
        "budget a backtest can spend.",
    )
    backtest_market_data_timeout_seconds: float = Field(
        default=60,
        gt=0,
        le=600,
        description="How long one request to market-data (an instrument, or up to 2000 bars) may take; IB's "
        "pacing can hold a request back.",
    )
    backtest_poll_seconds: float = Field(
        default=2,
        gt=0,
        le=60,
        description="How often the backtester looks at its running backtests without news of them (it looks at "
        "once when a decision is answered or a backtest is created, stopped or resumed).",
    )
