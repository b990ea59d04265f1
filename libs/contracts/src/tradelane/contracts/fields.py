"""Field types shared by every contract: text PostgreSQL can store, bounded integers, and Decimals in plain notation.

Everything a user sends ends up in PostgreSQL (a column, or a jsonb document), so the limits
of PostgreSQL are the limits of the contracts: a text may not hold NUL (``\\x00``), which neither
``text`` nor ``jsonb`` accepts, and an integer stored in an ``integer`` column must fit 32 bits.
Checking at the edge turns what would be a server error into a 422 naming the field.

Decimals are money, prices and quantities. They are written to JSON as plain strings
(``"30000"``, never ``"3E+4"``), and each kind has bounds: finite, positive where a price or a
quantity, below a sane maximum, and with a bounded number of decimal places, so that no value
is too large to store, to compute with, or to print.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Final

from pydantic import AfterValidator, AwareDatetime, Field, PlainSerializer

PG_INT_MAX: Final = 2**31 - 1
"""The largest value of a PostgreSQL ``integer`` column."""


def refuse_nul(value: str) -> str:
    """``value`` unchanged, or a ValueError when it holds a NUL character (PostgreSQL stores none)."""
    if "\x00" in value:
        msg = "must not contain NUL characters (\\x00)"
        raise ValueError(msg)
    return value


Text = Annotated[str, AfterValidator(refuse_nul)]
"""A string from a user that goes to PostgreSQL; give it a ``max_length`` where it is used."""

Version = Annotated[int, Field(ge=1, le=PG_INT_MAX)]
"""A version number (of a prompt template or a strategy): 1 and up, within an ``integer`` column."""

Conid = Annotated[int, Field(gt=0, le=PG_INT_MAX)]
"""An IB contract id: positive, and a 32-bit integer in IB's API."""

EARLIEST: Final = datetime(1900, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(9000, 1, 1, tzinfo=UTC)


def _storable(moment: datetime) -> datetime:
    if not EARLIEST <= moment <= LATEST:
        msg = f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)"
        raise ValueError(msg)
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_storable)]
"""An aware datetime a user sends (a filter's bound): far enough from year 1 and 9999 that a window
around it, or its conversion to UTC, stays a valid date."""


def plain(value: Decimal) -> str:
    """``value`` in plain notation without trailing zeros: ``3E+4`` -> ``"30000"``, ``1.50`` -> ``"1.5"``."""
    if value.is_zero():
        return "0"
    return format(value.normalize(), "f")


PlainDecimal = Annotated[Decimal, PlainSerializer(plain, return_type=str, when_used="json")]
"""A Decimal written to JSON in plain notation. Values read from storage or computed use it as is;
values a user sends use one of the bounded kinds below. A field that needs tighter bounds than a
kind gives declares them on ``PlainDecimal`` itself: pydantic keeps a kind's own bound when a
field's ``Field()`` names the same one again."""

MAX_PRICE: Final = Decimal(1_000_000_000)
MAX_QUANTITY: Final = Decimal(10_000_000_000)
MAX_MONEY: Final = Decimal(1_000_000_000_000)
MAX_RATIO: Final = Decimal(1000)

Price = Annotated[PlainDecimal, Field(gt=0, le=MAX_PRICE, decimal_places=10)]
"""A price: above 0, at most a billion, at most 10 decimal places (sub-cent coins need them)."""

Quantity = Annotated[PlainDecimal, Field(gt=0, le=MAX_QUANTITY, decimal_places=8)]
"""Units to trade: above 0, at most ten billion (currency pairs trade in large units), 8 decimal places."""

Money = Annotated[PlainDecimal, Field(gt=0, le=MAX_MONEY, decimal_places=6)]
"""An amount of currency a user sets (an account size, a limit): above 0, at most a trillion."""

Fraction = Annotated[PlainDecimal, Field(gt=0, le=1, decimal_places=6)]
"""A share of something, above 0 and at most 1 (0.01 is one percent)."""

Ratio = Annotated[PlainDecimal, Field(ge=0, le=MAX_RATIO, decimal_places=6)]
"""A non-negative multiple or ratio (reward/risk, ATR multiples), at most 1000."""
