"""Which scope each route needs: the whole access policy of the gateway, in one table.

Scopes are ordered and inclusive, ``read < operate < trade < admin``:

- ``operate`` includes ``read``: running and editing strategies means looking at them.
- ``trade`` includes ``operate``: whoever may place orders must be able to pull the kill
  switch (``halt`` is ``operate``) and look after the strategies that trade.
- ``admin`` includes ``trade``: an admin can create a ``trade`` token anyway, so keeping it
  out of trading would only be for show.

Each key is (method, route path as declared). The app refuses to start when one of its
routes has no entry (:class:`RoutePolicy`), and a test checks there is no stale entry, so
nothing is reachable without a decision recorded here. A path no route serves needs
``read``, so nothing but the public routes answers without a token, not even with a 404.

Two routes ask for more depending on their body, with :func:`strategy_write_scope`:
creating or replacing a strategy needs ``trade`` when it switches ``auto_trade`` on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from starlette.routing import compile_path

from tradelane.contracts.strategy import StrategyDefinition
from tradelane.store.auth import Scope

PUBLIC: Final = None
"""No token needed."""

READ, OPERATE, TRADE, ADMIN = Scope.READ, Scope.OPERATE, Scope.TRADE, Scope.ADMIN

POLICY: Final[Mapping[tuple[str, str], Scope | None]] = {
    # probes, the login page and the UI's static files, which hold no data
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("GET", "/static/{asset:path}"): PUBLIC,
    # the web UI's pages and actions need what the API routes they call need
    ("GET", "/"): READ,
    ("GET", "/dashboard/services"): READ,
    ("POST", "/risk/halt"): OPERATE,
    ("POST", "/risk/resume"): TRADE,
    ("GET", "/strategies"): READ,
    ("POST", "/strategies"): OPERATE,
    ("POST", "/strategies/check"): OPERATE,
    ("POST", "/strategies/form"): OPERATE,
    ("GET", "/strategies/symbols"): OPERATE,
    ("GET", "/strategies/{strategy_id}/edit"): OPERATE,
    ("PUT", "/strategies/{strategy_id}"): OPERATE,
    ("POST", "/strategies/{strategy_id}/form"): OPERATE,
    ("POST", "/strategies/{strategy_id}/run"): OPERATE,
    ("POST", "/strategies/{strategy_id}/active"): OPERATE,
    ("DELETE", "/strategies/{strategy_id}"): OPERATE,
    ("GET", "/signals"): READ,
    ("GET", "/executions"): READ,
    ("GET", "/executions/stream"): READ,
    ("GET", "/executions/{execution_id}"): READ,
    ("GET", "/executions/{execution_id}/stream"): READ,
    ("GET", "/executions/{execution_id}/steps/{message_id}"): READ,
    ("GET", "/orders"): READ,
    ("GET", "/orders/tables"): READ,
    ("GET", "/orders/stream"): READ,
    ("GET", "/orders/{order_id}/fills"): READ,
    ("POST", "/orders"): TRADE,
    ("POST", "/orders/{order_id}/cancel"): TRADE,
    ("GET", "/portfolio"): READ,
    ("GET", "/portfolio/book"): READ,
    ("GET", "/portfolio/stream"): READ,
    ("GET", "/risk"): READ,
    ("PUT", "/risk/limits"): TRADE,
    ("GET", "/prompts"): READ,
    ("GET", "/prompts/new"): OPERATE,
    ("POST", "/prompts"): OPERATE,
    ("GET", "/prompts/{template_id}"): READ,
    ("POST", "/prompts/validate"): OPERATE,
    ("POST", "/prompts/{template_id}/preview"): OPERATE,
    ("POST", "/prompts/{template_id}/versions"): OPERATE,
    ("GET", "/prompts/{template_id}/versions/{version}/diff"): READ,
    ("GET", "/symbols"): READ,
    ("GET", "/symbols/suggestions"): READ,
    ("GET", "/symbols/{conid}"): READ,
    ("POST", "/symbols/refresh"): OPERATE,
    ("GET", "/dead-letters"): READ,
    ("POST", "/dead-letters/{dead_letter_id}/redrive"): OPERATE,
    ("POST", "/dead-letters/redrive-all"): OPERATE,
    ("GET", "/backtests"): READ,
    ("POST", "/backtests/estimate"): OPERATE,
    ("POST", "/backtests"): OPERATE,
    ("GET", "/backtests/{backtest_id}"): READ,
    ("GET", "/backtests/{backtest_id}/progress"): READ,
    ("POST", "/backtests/{backtest_id}/stop"): OPERATE,
    ("POST", "/backtests/{backtest_id}/resume"): OPERATE,
    ("GET", "/system"): READ,
    ("GET", "/live-log"): READ,
    ("GET", "/live-log/stream"): READ,
    ("POST", "/executions/{execution_id}/replay"): OPERATE,
    ("GET", "/executions/{execution_id}/diff/{other_id}"): READ,
    # the web UI session: logging in proves a token in the body
    ("POST", "/api/session"): PUBLIC,
    ("GET", "/api/session"): READ,
    ("DELETE", "/api/session"): READ,
    ("GET", "/metrics"): READ,
    ("GET", "/openapi.json"): READ,
    # the AsyncAPI document of the bus, like the OpenAPI one
    ("GET", "/asyncapi.json"): READ,
    ("GET", "/asyncapi"): READ,
    # strategies (create and replace need trade when they switch auto_trade on)
    ("GET", "/api/strategies"): READ,
    ("GET", "/api/strategies/{strategy_id}"): READ,
    ("POST", "/api/strategies"): OPERATE,
    ("POST", "/api/strategies/check"): OPERATE,
    ("PUT", "/api/strategies/{strategy_id}"): OPERATE,
    ("DELETE", "/api/strategies/{strategy_id}"): OPERATE,
    ("POST", "/api/strategies/{strategy_id}/run"): OPERATE,
    # executions, replays, lineage, charts, model usage
    ("GET", "/api/signals"): READ,
    ("GET", "/api/signals/{signal_id}"): READ,
    # an outcome recorded by hand is a trade's result, entered by whoever may trade
    ("POST", "/api/signals/{signal_id}/outcome"): TRADE,
    ("GET", "/api/performance"): READ,
    ("GET", "/api/executions"): READ,
    ("GET", "/api/executions/{execution_id}"): READ,
    ("GET", "/api/executions/{execution_id}/diff/{other_id}"): READ,
    ("GET", "/api/executions/{execution_id}/export"): READ,
    ("GET", "/api/executions/{execution_id}/steps/{step}/input"): READ,
    ("GET", "/api/executions/{execution_id}/steps/{step}/output"): READ,
    ("POST", "/api/executions/{execution_id}/replay"): OPERATE,
    ("GET", "/api/lineage/steps/{step}/statistics"): READ,
    # backtests: starting, stopping and resuming one runs the pipeline (the model costs money), like a run
    ("GET", "/api/backtests"): READ,
    ("GET", "/api/backtests/{backtest_id}"): READ,
    ("GET", "/api/backtests/{backtest_id}/report"): READ,
    ("GET", "/api/backtests/{backtest_id}/report.json"): READ,
    ("POST", "/api/backtests"): OPERATE,
    ("POST", "/api/backtests/{backtest_id}/stop"): OPERATE,
    ("POST", "/api/backtests/{backtest_id}/resume"): OPERATE,
    ("GET", "/api/charts/{sha256}"): READ,
    ("GET", "/api/llm/usage"): READ,
    ("GET", "/api/llm/calls"): READ,
    # dead letters
    ("GET", "/api/dlq"): READ,
    ("GET", "/api/dlq/{dead_letter_id}"): READ,
    ("POST", "/api/dlq/{dead_letter_id}/redrive"): OPERATE,
    ("POST", "/api/dlq/redrive-all"): OPERATE,
    # services' health, streams and consumer lag (read-only questions to NATS)
    ("GET", "/api/system/services"): READ,
    ("GET", "/api/system/streams"): READ,
    # prompt templates; validating and rendering change nothing, but they run templates,
    # which is work only those who may edit them need
    ("GET", "/api/prompts"): READ,
    ("GET", "/api/prompts/variables"): READ,
    ("GET", "/api/prompts/defaults"): READ,
    ("GET", "/api/prompts/{template_id}"): READ,
    ("GET", "/api/prompts/{template_id}/versions"): READ,
    ("GET", "/api/prompts/{template_id}/versions/{version}"): READ,
    ("POST", "/api/prompts"): OPERATE,
    ("POST", "/api/prompts/validate"): OPERATE,
    ("POST", "/api/prompts/render"): OPERATE,
    ("PATCH", "/api/prompts/{template_id}"): OPERATE,
    ("DELETE", "/api/prompts/{template_id}"): OPERATE,
    # symbols and IB
    ("GET", "/api/symbols/search"): READ,
    ("GET", "/api/symbols/cache/stats"): READ,
    ("GET", "/api/symbols/{conid}"): READ,
    ("GET", "/api/ib/status"): READ,
    ("POST", "/api/symbols/batch-cache"): OPERATE,
    ("POST", "/api/symbols/refresh"): OPERATE,
    # trading: the kill switch is operate, everything that adds risk is trade
    ("GET", "/api/orders"): READ,
    ("GET", "/api/orders/{order_id}"): READ,
    ("GET", "/api/positions"): READ,
    ("GET", "/api/portfolio"): READ,
    ("GET", "/api/portfolio/snapshots"): READ,
    ("GET", "/api/risk"): READ,
    ("POST", "/api/risk/halt"): OPERATE,
    ("POST", "/api/orders"): TRADE,
    ("POST", "/api/orders/{order_id}/cancel"): TRADE,
    ("PUT", "/api/risk/limits"): TRADE,
    ("POST", "/api/risk/resume"): TRADE,
    # tokens and the audit trail
    ("GET", "/api/tokens"): ADMIN,
    ("POST", "/api/tokens"): ADMIN,
    ("DELETE", "/api/tokens/{token_id}"): ADMIN,
    ("GET", "/api/audit"): ADMIN,
    # how the system is set up, secrets masked
    ("GET", "/api/system/notifications"): READ,
}

UNKNOWN_PATH: Final = READ
_STRICTNESS: Final = (PUBLIC, READ, OPERATE, TRADE, ADMIN)


def required_scope(method: str, route_path: str) -> Scope | None:
    """The scope an operation needs (None: public), by its method and declared path; unlisted: ``admin``."""
    return POLICY.get(("GET" if method == "HEAD" else method, route_path), ADMIN)


class UnlistedRouteError(LookupError):
    """A route of the app has no entry in :data:`POLICY`."""


@dataclass(frozen=True)
class _Rule:
    method: str
    path: str
    pattern: re.Pattern[str]
    scope: Scope | None


class RoutePolicy:
    """:data:`POLICY` for the routes an app declares, matched against request paths.

    Matching works on the declared paths, as the router does, but on its own: it must decide
    before the router runs (see :mod:`.access`). Where several routes match a request (a
    literal ``/api/prompts/variables`` and ``/api/prompts/{template_id}``), the strictest
    scope among them applies, so an overlap can only ask for more, never for less.
    """

    def __init__(self, routes: Iterable[tuple[str, str]], table: Mapping[tuple[str, str], Scope | None] = POLICY):
        routes = sorted(set(routes))
        unlisted = [f"{method} {path}" for method, path in routes if (method, path) not in table]
        if unlisted:
            raise UnlistedRouteError(f"routes without an access rule in the policy: {', '.join(unlisted)}")
        self.routes: Final = tuple(routes)
        self._rules = tuple(_Rule(method, path, compile_path(path)[0], table[method, path]) for method, path in routes)

    def required(self, method: str, path: str) -> tuple[Scope | None, str | None]:
        """The scope a request needs (None: public), and the declared path of the route that serves it."""
        method = "GET" if method == "HEAD" else method
        matching = [rule for rule in self._rules if rule.method == method and rule.pattern.match(path)]
        if not matching:
            return UNKNOWN_PATH, None
        strictest = max(matching, key=lambda rule: _STRICTNESS.index(rule.scope))
        most_literal = min(matching, key=lambda rule: rule.path.count("{"))
        return strictest.scope, most_literal.path


def strategy_write_scope(new: StrategyDefinition, old: StrategyDefinition | None) -> tuple[Scope, str]:
    """The scope creating (``old`` None) or replacing a strategy needs, and why.

    Switching ``auto_trade`` on turns the strategy's signals into orders, so it is ``trade``;
    so is changing how an auto-trading strategy sizes its orders (its ``risk``). Anything else,
    including switching ``auto_trade`` off, is ``operate``.
    """
    if new.auto_trade and (old is None or not old.auto_trade):
        return TRADE, "switching auto_trade on"
    if new.auto_trade and old is not None and new.risk != old.risk:
        return TRADE, "changing the risk sizing of a strategy that auto-trades"
    return OPERATE, "writing a strategy"
