"""The order state machine: every legal move, terminal statuses, and reports out of order or repeated."""

from __future__ import annotations

from decimal import Decimal
from itertools import product
from uuid import uuid4

import pytest
from structlog.testing import capture_logs

from tradelane.broker.order_states import TRANSITIONS, next_status, status_after_report
from tradelane.contracts.book import OrderRecord
from tradelane.contracts.trading import OrderSide, OrderStatus, OrderTicket, OrderType, Venue

from .support import BTC

S = OrderStatus
TERMINAL = [status for status in S if status.terminal]
INVALID = [pair for pair in product(S, S) if pair not in TRANSITIONS]


def _name(value: object) -> str:
    """A test id: ``accepted->filled`` for a move, the status itself otherwise."""
    if isinstance(value, tuple):
        return "->".join(str(status) for status in value)
    return str(value)


def _order(status: OrderStatus) -> OrderRecord:
    ticket = OrderTicket(
        client_ref="tl-fsm",
        instrument=BTC,
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal(1),
        limit_price=Decimal(1),
    )
    return OrderRecord(
        id=uuid4(),
        ticket=ticket,
        group_ref="tl-fsm",
        source="manual",
        venue=Venue.PAPER,
        execution_id=uuid4(),
        strategy_id=uuid4(),
        signal_id=None,
        causation_id=None,
        status=status,
    )


@pytest.mark.parametrize(("move", "after"), TRANSITIONS.items(), ids=_name)
def test_every_move_in_the_table_takes_the_order_where_the_table_says(
    move: tuple[OrderStatus, OrderStatus], after: OrderStatus
) -> None:
    assert next_status(*move) is after
    with capture_logs() as logs:
        assert status_after_report(_order(move[0]), move[1]) is after
    assert logs == []


@pytest.mark.parametrize("move", INVALID, ids=_name)
def test_a_move_missing_from_the_table_is_refused_with_a_warning_and_changes_nothing(
    move: tuple[OrderStatus, OrderStatus],
) -> None:
    order = _order(move[0])
    assert next_status(*move) is None
    with capture_logs() as logs:
        assert status_after_report(order, move[1]) is move[0]
    assert logs == [
        {
            "event": "order_transition_refused",
            "log_level": "warning",
            "order_id": str(order.id),
            "client_ref": "tl-fsm",
            "from_status": move[0].value,
            "to_status": move[1].value,
        }
    ]


@pytest.mark.parametrize(("terminal", "reported"), list(product(TERMINAL, S)))
def test_a_terminal_status_never_moves_back_to_a_working_one(terminal: OrderStatus, reported: OrderStatus) -> None:
    assert status_after_report(_order(terminal), reported).terminal


def test_the_only_move_out_of_filled_or_rejected_is_a_repeat() -> None:
    assert {move for move in TRANSITIONS if move[0] in {S.FILLED, S.REJECTED}} == {(S.REJECTED, S.REJECTED)}


def test_a_fill_that_raced_a_cancel_fills_the_order_when_it_completes_it() -> None:
    assert next_status(S.CANCELLED, S.FILLED) is S.FILLED


def test_a_partial_fill_after_a_cancel_leaves_the_order_cancelled() -> None:
    """The venue works nothing of it any more: it must not become a working order again."""
    assert next_status(S.CANCELLED, S.PARTIALLY_FILLED) is S.CANCELLED


def test_a_partial_fill_after_a_full_fill_does_not_lower_the_status() -> None:
    assert next_status(S.FILLED, S.PARTIALLY_FILLED) is None
    assert status_after_report(_order(S.FILLED), S.PARTIALLY_FILLED) is S.FILLED


@pytest.mark.parametrize("passed", [S.PARTIALLY_FILLED, S.PENDING_CANCEL])
def test_a_stale_acknowledgement_keeps_the_status_the_order_reached(passed: OrderStatus) -> None:
    assert next_status(passed, S.ACCEPTED) is passed


@pytest.mark.parametrize("working", [S.PENDING_SUBMIT, S.ACCEPTED, S.PARTIALLY_FILLED, S.PENDING_CANCEL])
def test_a_working_order_can_still_fill_be_cancelled_or_be_rejected(working: OrderStatus) -> None:
    assert next_status(working, S.FILLED) is S.FILLED
    assert next_status(working, S.CANCELLED) is S.CANCELLED
    assert next_status(working, S.REJECTED) is S.REJECTED


def test_an_order_is_never_reported_back_to_pending_submit() -> None:
    assert all(reported is not S.PENDING_SUBMIT for _, reported in TRANSITIONS)
