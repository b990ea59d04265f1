"""Starting a backtest (``tradelane.backtest.create``): check the request, plan its decisions, estimate, store.

Everything that can be refused is refused here, before anything runs, with a reason a user can act
on (reply ``invalid``): an unknown prompt version, a model without a price, a variant that would ask
no model for a model it names, a period with no bars, a cadence finer than the bar size, a budget
below the estimate. An unknown strategy is ``not_found``; market-data or PostgreSQL out of reach is
``unavailable`` (try again). An estimate-only request stores nothing; any other is stored with all its
decisions pending and answered ``created`` at once: the runner publishes the decisions from there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import structlog
from pydantic import ValidationError

from tradelane.backtester.estimate import estimate
from tradelane.backtester.planner import PlanError, decision_times
from tradelane.backtester.variants import (
    MAX_VARIANT_NAME,
    Variant,
    analyst_of,
    asks_model,
    execution_id,
    requested_overrides,
    variant_definition,
)
from tradelane.contracts.backtest import BacktestEstimate, BacktestReply, BacktestRequest, VariantOverrides
from tradelane.contracts.llm_pricing import ModelPrice, price_of
from tradelane.contracts.strategy import AnalysisSettings, StrategyDefinition
from tradelane.runtime.market_data import MarketData, MarketDataRefusedError, MarketDataUnavailableError
from tradelane.store.backtests import BacktestRepository, NewRun, PlannedDecision
from tradelane.store.prompts import PromptRepository
from tradelane.store.strategies import StrategyRepository

log = structlog.get_logger(__name__)

STORAGE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


@dataclass(frozen=True)
class ModelChoice:
    """What the backtester knows of the LLM, read from the settings the llm-analyst reads."""

    configured: bool
    """An LLM endpoint is configured: analyst 'auto' asks the model."""
    default_model: str | None
    prices: Mapping[str, ModelPrice]


class Creator:
    """Answers create requests: plans, estimates and stores a backtest (see the module docstring)."""

    def __init__(
        self,
        *,
        backtests: BacktestRepository,
        strategies: StrategyRepository,
        prompts: PromptRepository,
        market: MarketData,
        models: ModelChoice,
        created: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._backtests = backtests
        self._strategies = strategies
        self._prompts = prompts
        self._market = market
        self._models = models
        self._created = created
        self._clock = clock

    async def create(self, body: Mapping[str, Any]) -> BacktestReply:
        """The reply to one create request (a :class:`BacktestRequest` as JSON); never raises for bad input."""
        try:
            request = BacktestRequest.model_validate(body)
        except ValidationError as error:
            return BacktestReply(outcome="invalid", reason=_described(error))
        try:
            return await self._create(request)
        except PlanError as error:
            return BacktestReply(outcome="invalid", reason=str(error))
        except MarketDataRefusedError as error:
            return BacktestReply(outcome="invalid", reason=f"market-data cannot give the period's bars: {error}")
        except MarketDataUnavailableError as error:
            return BacktestReply(outcome="unavailable", reason=f"market-data is unavailable ({error}); try again")
        except STORAGE_ERRORS as error:
            log.warning("backtest_not_created", error=f"{type(error).__name__}: {error}")
            return BacktestReply(outcome="unavailable", reason="the database is unavailable; nothing was created")

    async def _create(self, request: BacktestRequest) -> BacktestReply:
        stored = await self._strategies.get(request.strategy_id)
        if stored is None:
            return BacktestReply(outcome="not_found", reason=f"there is no strategy {request.strategy_id}")
        strategy = stored.definition
        variants = [
            await self._variant(name, overrides, stored.id, strategy)
            for name, overrides in requested_overrides(request, strategy, llm_configured=self._models.configured)
        ]
        end = min(request.end, self._clock())
        if end <= request.start:
            msg = f"the period starts at {request.start.isoformat()}, in the future: a backtest looks at the past"
            raise PlanError(msg)
        times = await self._decision_times(request, strategy, end)
        fingerprints = {variant.name: variant.fingerprints(times) for variant in variants}
        asked = [one for variant in variants if variant.asks_model for one in fingerprints[variant.name]]
        answered = await self._backtests.answered(asked) if asked else set()
        planned = estimate(variants, times, fingerprints, answered, self._models.prices)
        _refuse_over_budget(request, planned)
        if request.estimate_only:
            return BacktestReply(outcome="estimated", estimate=planned)
        backtest_id = uuid4()
        run = NewRun(
            id=backtest_id,
            name=request.name or f"{strategy.name} {request.start:%Y-%m-%d} to {end:%Y-%m-%d}",
            strategy_id=stored.id,
            strategy_name=strategy.name,
            request=request,
            strategies={variant.name: variant.strategy.model_dump(mode="json") for variant in variants},
            estimate=planned,
        )
        decisions = [
            PlannedDecision(
                variant.name,
                seq,
                decided_at,
                execution_id(backtest_id, variant.name, seq),
                fingerprints[variant.name][seq],
            )
            for variant in variants
            for seq, decided_at in enumerate(times)
        ]
        await self._backtests.create(run, decisions)
        log.info(
            "backtest_created",
            backtest_id=str(backtest_id),
            strategy=strategy.name,
            decisions=planned.decisions,
            variants=list(planned.variants),
            model_calls=planned.model_calls,
        )
        self._created()
        return BacktestReply(outcome="created", backtest_id=backtest_id, estimate=planned)

    async def _decision_times(
        self, request: BacktestRequest, strategy: StrategyDefinition, end: datetime
    ) -> list[datetime]:
        """The decision times from the bars that closed in the period, asked of market-data."""
        symbol = await self._market.resolve(strategy.symbol)
        bar = timedelta(seconds=strategy.bar_size.seconds)
        bars = await self._market.between(
            symbol,
            strategy.bar_size,
            request.start - bar,
            end,
            use_rth=strategy.use_rth,
            what_to_show=strategy.what_to_show,
        )
        return decision_times(bars, strategy.bar_size, request.cadence, strategy.schedule, request.start, end)

    async def _variant(
        self, name: str, overrides: VariantOverrides, strategy_id: UUID, strategy: StrategyDefinition
    ) -> Variant:
        """One variant as its decisions will run it; :class:`PlanError` when it cannot run as asked."""
        if len(name) > MAX_VARIANT_NAME:
            msg = f"variant {name!r} has a name longer than {MAX_VARIANT_NAME} characters: use a shorter model name"
            raise PlanError(msg)
        analyst = analyst_of(overrides, strategy)
        if not asks_model(analyst, llm_configured=self._models.configured):
            if overrides.model is not None or overrides.prompt_version is not None:
                msg = (
                    f"variant {name!r} names a model or a prompt version, but its analyst {analyst!r} asks no model"
                    + (" (no LLM endpoint is configured: TRADELANE_LLM_BASE_URL)" if analyst == "auto" else "")
                )
                raise PlanError(msg)
            return Variant(
                name,
                variant_definition(strategy, overrides, model=None, template=None, asks_model=False),
                asks_model=False,
            )
        if not self._models.configured:
            msg = (
                f"variant {name!r} uses analyst 'llm', but no LLM endpoint is configured (TRADELANE_LLM_BASE_URL): "
                "every analysis would fail"
            )
            raise PlanError(msg)
        model = overrides.model or strategy.analysis.model or self._models.default_model
        if not model:
            msg = f"variant {name!r} asks a model but names none, and no default model is set (TRADELANE_LLM_MODEL)"
            raise PlanError(msg)
        if price_of(self._models.prices, model) is None:
            known = ", ".join(sorted(self._models.prices)) or "none"
            msg = (
                f"model {model!r} of variant {name!r} has no price, so its cost cannot be estimated: add it to "
                f"TRADELANE_LLM_PRICES (priced now: {known})"
            )
            raise PlanError(msg)
        template = await self._pinned_template(name, strategy_id, strategy.analysis, overrides.prompt_version)
        return Variant(
            name,
            variant_definition(strategy, overrides, model=model, template=template, asks_model=True),
            asks_model=True,
        )

    async def _pinned_template(
        self, name: str, strategy_id: UUID, analysis: AnalysisSettings, version: int | None
    ) -> tuple[UUID, int] | None:
        """The stored analysis template (id, version) a variant renders, as the llm-analyst would pick it now.

        None for the built-in prompt, which has no versions. A variant's ``prompt_version`` picks that version of
        the strategy's template (the one it names, else the default one).
        """
        template_id = analysis.prompt_template_id
        if template_id is None:
            default = await self._prompts.default_for("analysis", analysis.language, strategy_id)
            if default is None:
                if version is not None:
                    msg = (
                        f"variant {name!r} asks for prompt version {version}, but the strategy uses the built-in "
                        "analysis prompt, which has no versions: give it a stored one (analysis.prompt_template_id)"
                    )
                    raise PlanError(msg)
                return None
            template_id = default.id
        elif version is None:
            version = analysis.prompt_version
        found = await self._prompts.get(template_id, version)
        if found is None:
            latest = await self._prompts.get(template_id)
            if latest is None:
                msg = f"prompt template {template_id} (analysis.prompt_template_id) does not exist"
            else:
                msg = (
                    f"prompt template {latest.fields.name!r} has no version {version} (variant {name!r}); "
                    f"its versions are 1 to {latest.latest_version}"
                )
            raise PlanError(msg)
        if found.fields.type != "analysis":
            msg = f"prompt template {found.fields.name!r} is a {found.fields.type!r} template, not an 'analysis' one"
            raise PlanError(msg)
        return found.id, found.version


def _refuse_over_budget(request: BacktestRequest, planned: BacktestEstimate) -> None:
    budget = request.budget_usd
    if budget is None or planned.cost_usd is None or planned.cost_usd <= budget:
        return
    msg = (
        f"the estimated model cost is ${planned.cost_usd} ({planned.model_calls} calls), above the budget of "
        f"${budget}: raise the budget, shorten the period or decide less often"
    )
    raise PlanError(msg)


def _described(error: ValidationError) -> str:
    """A request's validation errors on one line: where, and what is wrong."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'request'}: {problem['msg']}" for problem in error.errors()
    )
