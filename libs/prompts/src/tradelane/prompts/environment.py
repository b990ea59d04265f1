"""The sandboxed Jinja2 environment every template renders in, and its formatting filters.

The environment is Jinja2's ``ImmutableSandboxedEnvironment``: a template cannot reach Python
internals (``__class__``, ``__globals__``...) or modify the values it is given. Undefined
variables and attributes are errors (``StrictUndefined``), so a typo fails at save rather than
printing nothing. ``trim_blocks`` and ``lstrip_blocks`` are on: a line holding only a
``{% ... %}`` tag leaves no blank line behind.

:class:`BoundedSandbox` adds the render limits of :mod:`tradelane.prompts.limits`: ``**``,
``*``, ``+`` and ``%`` refuse (before computing) results too large to be a prompt, ``range``
is capped, and every call and every step of every ``{% for %}`` loop checks the deadline.

Filters, on top of Jinja2's own (``round``, ``join``, ``default``, ``upper``...); each prints
``n/a`` for a missing (None) value:

- ``price`` - a price with the decimals of the symbol's tick (``min_tick``): ``{{ latest_price | price }}``;
- ``number(digits=2)`` - thousands separators: ``{{ bar_summary.average_volume | number(0) }}``;
- ``percent(digits=2)`` - a fraction as a percentage: ``{{ 0.0123 | percent }}`` is ``1.23%``;
- ``signed(digits=2)`` - with its sign: ``{{ -1.5 | signed }}`` is ``-1.50``;
- ``currency(digits=2)`` - a number followed by the symbol's currency: ``1,234.50 USD``;
- ``date(format="%Y-%m-%d")`` - a datetime (or ISO string) formatted with strftime.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import StrictUndefined, nodes, pass_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tradelane.contracts.market import price_decimals
from tradelane.prompts.limits import (
    MAX_FORMAT_WIDTH,
    CheckedRange,
    check_format,
    check_power,
    check_product,
    check_sum,
    checked_loop,
    current_budget,
)

MISSING = "n/a"


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _places(digits: int) -> int:
    """``digits`` as a number of decimals, refusing one that would print a huge string."""
    if not 0 <= digits <= MAX_FORMAT_WIDTH:
        msg = f"{digits} decimals is out of range; use 0 to {MAX_FORMAT_WIDTH}"
        raise ValueError(msg)
    return digits


@pass_context
def price_filter(context: Context, value: Any, decimals: int | None = None) -> str:
    """A price with the symbol tick's decimals (or ``decimals``)."""
    number = _number(value)
    if number is None:
        return MISSING
    places = _places(decimals) if decimals is not None else price_decimals(context.get("min_tick", 0.01))
    return f"{number:.{places}f}"


def number_filter(value: Any, digits: int = 2) -> str:
    """A number with thousands separators and ``digits`` decimals."""
    number = _number(value)
    return MISSING if number is None else f"{number:,.{_places(digits)}f}"


def percent_filter(value: Any, digits: int = 2) -> str:
    """A fraction as a percentage: 0.0123 is ``1.23%``."""
    number = _number(value)
    return MISSING if number is None else f"{number * 100:.{_places(digits)}f}%"


def signed_filter(value: Any, digits: int = 2) -> str:
    """A number with an explicit sign."""
    number = _number(value)
    return MISSING if number is None else f"{number:+.{_places(digits)}f}"


@pass_context
def currency_filter(context: Context, value: Any, digits: int = 2) -> str:
    """A number followed by the symbol's currency code."""
    number = _number(value)
    if number is None:
        return MISSING
    return f"{number:,.{_places(digits)}f} {context.get('currency', '')}".rstrip()


def date_filter(value: Any, format: str = "%Y-%m-%d") -> str:  # noqa: A002 - the name templates use
    """A datetime (or an ISO 8601 string) formatted with ``format``."""
    if value is None:
        return MISSING
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.strftime(format)


FILTERS = {
    "price": price_filter,
    "number": number_filter,
    "percent": percent_filter,
    "signed": signed_filter,
    "currency": currency_filter,
    "date": date_filter,
}


CHECKED_LOOP_FILTER = "_checked_loop"


class _CheckedLoopsGenerator(CodeGenerator):
    """Compiles ``{% for x in items %}`` as ``{% for x in items | _checked_loop %}``.

    A loop over a list runs no sandbox hook of its own, so without this, loops nested over
    ``bars`` with nothing inside would only be stopped by the render process's CPU limit.
    The rewrite happens before code generation, which collects the filters a template uses.
    """

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:  # noqa: N802 - Jinja2's visitor name
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, CHECKED_LOOP_FILTER, [], [], None, None, lineno=loop.iter.lineno)
        super().visit_Template(node, frame)


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with the render limits of :mod:`tradelane.prompts.limits` (see the module docstring).

    Intercepted operators are never folded into constants at compile time, so the checks
    also cover ``{{ 10 ** 10 ** 10 }}`` written with literals.
    """

    intercepted_binops = frozenset({"**", "*", "+", "%"})
    code_generator_class = _CheckedLoopsGenerator

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = current_budget()
        budget.check_time()
        if operator == "**":
            check_power(left, right)
        elif operator == "*":
            check_product(left, right, budget)
        elif operator == "+":
            check_sum(left, right, budget)
        elif operator == "%":
            check_format(left)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja2's signature
        current_budget().check_time()
        return super().call(__context, __obj, *args, **kwargs)


def make_environment() -> BoundedSandbox:
    """A fresh sandboxed environment with tradelane's filters and a bounded ``range``."""
    environment = BoundedSandbox(
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    environment.filters.update(FILTERS)
    environment.filters[CHECKED_LOOP_FILTER] = checked_loop
    environment.globals["range"] = CheckedRange
    return environment


ENVIRONMENT = make_environment()
"""The shared environment (Jinja2 environments are safe to share once configured)."""
