"""The limits one render runs under, and the budget that enforces them while it runs.

:class:`RenderLimits` are set by the service that renders (from its settings; this library
never reads the environment). While a template renders, a :class:`Budget` holds its deadline
and its output count; the sandbox (:mod:`tradelane.prompts.environment`) asks it before
every call, every intercepted operator and every step of a loop, so the attacks that
are cheap to write (``10 ** (10 ** 10)``, ``'x' * 10 ** 10``, nested ``range`` loops) end at
once or at the deadline with a message naming the limit. These checks give clear errors;
the hard bound is the separate process each render runs in
(:mod:`tradelane.prompts.isolation`), killed at the deadline and capped in memory.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, overload

from tradelane.prompts.errors import TemplateLimitError

DEFAULT_TIMEOUT_SECONDS = 2.0
DEFAULT_MAX_OUTPUT_CHARS = 256 * 1024
DEFAULT_MAX_MEMORY_BYTES = 256 * 1024 * 1024
KILL_GRACE_SECONDS = 1.0
"""How long past its deadline a render process may take to report its own limit error before it is stopped."""
MAX_INT_BITS = 4096
"""The largest integer a template may compute (about 1,233 decimal digits): prices never need more."""
MAX_RANGE = 100_000
"""Items of one ``range`` (Jinja2's own sandbox limit)."""
MAX_FORMAT_WIDTH = 1000
"""The largest width or precision a ``%`` format may ask for."""


@dataclass(frozen=True)
class RenderLimits:
    """How long one render may take, how much it may print and how much memory it may use."""

    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS
    max_memory_bytes: int = DEFAULT_MAX_MEMORY_BYTES

    def __post_init__(self) -> None:
        if self.timeout_seconds <= 0 or self.max_output_chars <= 0 or self.max_memory_bytes <= 0:
            msg = f"render limits must be positive, got {self}"
            raise ValueError(msg)

    def timeout_text(self) -> str:
        return f"{self.timeout_seconds:g} s"

    def too_slow(self) -> TemplateLimitError:
        """The error of a render that ran past ``timeout_seconds``."""
        return TemplateLimitError(
            f"rendering took longer than {self.timeout_text()} (the render time limit); make the loops shorter"
        )


DEFAULT_LIMITS = RenderLimits()


class Budget:
    """One render's deadline and output count; raises :class:`TemplateLimitError` once either is spent."""

    def __init__(self, limits: RenderLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._deadline = clock() + limits.timeout_seconds
        self.output_chars = 0

    def check_time(self) -> None:
        if self._clock() > self._deadline:
            raise self.limits.too_slow()

    def count_output(self, chars: int) -> None:
        self.output_chars += chars
        if self.output_chars > self.limits.max_output_chars:
            msg = (
                f"the rendered prompt is longer than {self.limits.max_output_chars} characters "
                "(the output limit); print less"
            )
            raise TemplateLimitError(msg)
        self.check_time()

    def check_size(self, size: int, what: str) -> None:
        """Refuse to build a string or list of ``size`` items, larger than the output limit."""
        if size > self.limits.max_output_chars:
            msg = f"{what} would have {size} items or characters; at most {self.limits.max_output_chars}"
            raise TemplateLimitError(msg)


_CURRENT: ContextVar[Budget | None] = ContextVar("tradelane_prompts_budget", default=None)


def current_budget() -> Budget:
    """The budget of the render in progress (a fresh default one outside a render, e.g. while parsing)."""
    budget = _CURRENT.get()
    return budget if budget is not None else Budget(RenderLimits())


def activate(budget: Budget) -> object:
    """Make ``budget`` the current one; pass the result to :func:`deactivate`."""
    return _CURRENT.set(budget)


def deactivate(token: object) -> None:
    _CURRENT.reset(token)  # type: ignore[arg-type]


def check_power(base: Any, exponent: Any) -> None:
    """Refuse an integer power whose result would be larger than :data:`MAX_INT_BITS` (checked before computing)."""
    if not (_is_int(base) and _is_int(exponent) and exponent > 0 and abs(base) > 1):
        return
    if exponent * math.log2(abs(base)) > MAX_INT_BITS:
        msg = f"{base} ** {exponent} is too large a number (over {MAX_INT_BITS} bits); use a smaller exponent"
        raise TemplateLimitError(msg)


def check_product(left: Any, right: Any, budget: Budget) -> None:
    """Refuse ``*`` that would build a huge integer, string or list (checked before computing)."""
    if _is_int(left) and _is_int(right):
        if abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
            msg = f"the product is too large a number (over {MAX_INT_BITS} bits)"
            raise TemplateLimitError(msg)
        return
    for sequence, times in ((left, right), (right, left)):
        if isinstance(sequence, str | list | tuple) and _is_int(times):
            budget.check_size(len(sequence) * max(times, 0), "the repeated string or list")


def check_sum(left: Any, right: Any, budget: Budget) -> None:
    """Refuse ``+`` joining strings or lists into one larger than the output limit."""
    if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
        budget.check_size(len(left) + len(right), "the joined string or list")


def check_format(template: Any) -> None:
    """Refuse ``'%9999999d' % x``: a ``%`` format whose width or precision would print a huge string."""
    if not isinstance(template, str):
        return
    for spec in _PERCENT_SPEC.finditer(template):
        for size in spec.groups():
            if size == "*":
                msg = "'%*d'-style formats are not allowed in templates; write the width in the format"
                raise TemplateLimitError(msg)
            if size is not None and int(size) > MAX_FORMAT_WIDTH:
                msg = f"a % format width or precision of {size} is too large; at most {MAX_FORMAT_WIDTH}"
                raise TemplateLimitError(msg)


_PERCENT_SPEC = re.compile(r"%%|%(?:\([^)]*\))?[-+ #0]*(\*|\d+)?(?:\.(\*|\d+))?")
"""A ``%`` conversion's width and precision (``%%`` is matched whole so that it is skipped)."""


def checked_loop(values: Iterable[Any]) -> Iterator[Any]:
    """``values`` one by one, checking the deadline before each: what every ``{% for %}`` iterates."""
    budget = current_budget()
    for value in values:
        budget.check_time()
        yield value


class CheckedRange:
    """``range`` for templates: at most :data:`MAX_RANGE` items, and every step checks the deadline."""

    def __init__(self, *args: int) -> None:
        self._range = range(*args)
        if len(self._range) > MAX_RANGE:
            msg = f"range({', '.join(map(str, args))}) has {len(self._range)} items; at most {MAX_RANGE}"
            raise TemplateLimitError(msg)

    @classmethod
    def _of(cls, values: range) -> CheckedRange:
        checked = cls.__new__(cls)
        checked._range = values
        return checked

    def __iter__(self) -> Iterator[int]:
        budget = current_budget()
        for value in self._range:
            budget.check_time()
            yield value

    def __reversed__(self) -> Iterator[int]:
        budget = current_budget()
        for value in reversed(self._range):
            budget.check_time()
            yield value

    def __len__(self) -> int:
        return len(self._range)

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> CheckedRange: ...
    def __getitem__(self, index: int | slice) -> int | CheckedRange:
        if isinstance(index, slice):
            return CheckedRange._of(self._range[index])
        return self._range[index]

    def __contains__(self, value: object) -> bool:
        return value in self._range

    def __repr__(self) -> str:
        return repr(self._range)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
