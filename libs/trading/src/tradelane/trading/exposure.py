"""The book as the risk engine sees it when an order group arrives: an :class:`~tradelane.trading.risk.Exposure`.

The broker reads its book from Postgres, a backtest keeps its simulated book in memory; both turn
it into an exposure here, so the gross exposure, the instruments engaged, the duplicate check and
the working quantity on the order's side are counted one way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from tradelane.contracts.book import OrderRecord
from tradelane.contracts.portfolio import Portfolio, PositionRecord
from tradelane.contracts.trading import OrderRole, OrderSide
from tradelane.trading.orders import GroupPlan
from tradelane.trading.risk import Exposure


def working_on_side(working: Sequence[OrderRecord], conid: int, side: OrderSide) -> Decimal:
    """The quantity the working orders on ``side`` for ``conid`` would still move the position by.

    Entries count whatever their state; a bracket's children only once their entry has filled
    (``working_since`` set), as until then they close a position that does not exist yet; the members
    of one OCA group count once, by the largest, since one filling cancels the others.
    """
    by_group: dict[str, Decimal] = {}
    for order in working:
        ticket = order.ticket
        if ticket.instrument.conid != conid or ticket.side is not side:
            continue
        if ticket.role is not OrderRole.ENTRY and order.working_since is None:
            continue
        group = ticket.oca_group or ticket.client_ref
        by_group[group] = max(by_group.get(group, Decimal(0)), order.remaining)
    return sum(by_group.values(), Decimal(0))


def duplicate_of(plan: GroupPlan, working: Sequence[OrderRecord]) -> str | None:
    """The group of a working order from the same strategy, instrument and direction as a signal's ``plan``.

    None for a manual order, and when there is none. A bracket child counts in its entry's direction.
    """
    if plan.source != "signal":
        return None
    for order in working:
        same_strategy = order.source == "signal" and order.strategy_id == plan.strategy_id
        if not same_strategy or order.ticket.instrument.conid != plan.instrument.conid:
            continue
        entry_side = order.ticket.side if order.ticket.role is OrderRole.ENTRY else order.ticket.side.opposite
        if entry_side is plan.side:
            return order.group_ref
    return None


def marks_needed(plan: GroupPlan, working: Sequence[OrderRecord]) -> set[int]:
    """The instruments whose last price :func:`exposure_of` needs: the plan's, and those of working market entries."""
    needed = {plan.instrument.conid}
    for order in working:
        ticket = order.ticket
        if ticket.role is OrderRole.ENTRY and ticket.limit_price is None and ticket.stop_price is None:
            needed.add(ticket.instrument.conid)
    return needed


def exposure_of(
    plan: GroupPlan,
    portfolio: Portfolio,
    positions: Sequence[PositionRecord],
    working: Sequence[OrderRecord],
    marks: Mapping[int, Decimal | None],
) -> Exposure:
    """What the risk engine sees of the book when ``plan`` arrives.

    ``portfolio`` is the account valued at the marks (with the day's starting equity), ``positions`` every
    position, ``working`` every working order, ``marks`` the last price of each instrument in
    :func:`marks_needed` (None when none is known). Gross exposure counts the working entries too, each at its
    limit or stop price, a market entry at its instrument's mark.
    """
    entries = [order for order in working if order.ticket.role is OrderRole.ENTRY]
    entry_value = Decimal(0)
    for order in entries:
        price = order.ticket.limit_price or order.ticket.stop_price or marks.get(order.ticket.instrument.conid)
        entry_value += order.remaining * (price or Decimal(0))
    conid = plan.instrument.conid
    held = next((position.quantity for position in positions if position.instrument.conid == conid), Decimal(0))
    engaged = {position.instrument.conid for position in positions if position.quantity != 0}
    engaged |= {order.ticket.instrument.conid for order in entries}
    return Exposure(
        equity=portfolio.equity,
        daily_pnl=portfolio.daily_pnl,
        position=held,
        gross_exposure=portfolio.gross_exposure + entry_value,
        engaged=frozenset(engaged),
        duplicate_of=duplicate_of(plan, working),
        mark=marks.get(conid),
        pending=plan.side.sign * working_on_side(working, conid, plan.side),
    )
