"""IB's order vocabulary: our tickets as ib_async orders, and what IB's statuses and codes mean."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tradelane.broker.ib_orders import status_event
from tradelane.broker.venue import Accepted, Cancelled, Rejected
from tradelane.contracts.strategy import AssetType
from tradelane.contracts.trading import OrderSide, OrderTicket, OrderType, TimeInForce
from tradelane.ib.orders import (
    Contract,
    IbOrderError,
    contract_of,
    error_of_log,
    instrument_of,
    is_paper_account,
    order_of,
)

from .support import AAPL, BTC

AT = datetime(2025, 3, 4, 15, tzinfo=UTC)
TICKET = OrderTicket(
    client_ref="tl-s-abc-sl", instrument=AAPL, side=OrderSide.SELL, order_type=OrderType.STOP_LIMIT,
    quantity=Decimal(10), limit_price=Decimal("94.5"), stop_price=Decimal(95), tif=TimeInForce.GTC,
)  # fmt: skip


def test_a_ticket_becomes_an_ib_order_with_our_reference_as_order_ref() -> None:
    order = order_of(TICKET, account="DU1", parent_id=7, transmit=True)
    assert (order.action, order.totalQuantity, order.orderType, order.tif) == ("SELL", 10.0, "STP LMT", "GTC")
    assert (order.lmtPrice, order.auxPrice) == (94.5, 95.0)
    assert (order.orderRef, order.account, order.parentId, order.transmit) == ("tl-s-abc-sl", "DU1", 7, True)


def test_an_instrument_becomes_a_contract_by_conid() -> None:
    contract = contract_of(BTC)
    assert (contract.conId, contract.secType, contract.exchange) == (BTC.conid, "CRYPTO", "PAXOS")


def test_working_statuses_mean_accepted() -> None:
    for status in ("PreSubmitted", "Submitted"):
        assert status_event("r", status, None, acknowledged=False, broker_order_id="4", at=AT) == Accepted("r", "4", AT)


def test_an_error_on_an_unacknowledged_order_is_a_rejection_with_ibs_code() -> None:
    event = status_event(
        "r", "Cancelled", IbOrderError(201, "no buying power"), acknowledged=False, broker_order_id="4", at=AT
    )
    assert event == Rejected("r", 201, "no buying power", AT)


def test_an_error_on_a_working_order_cancels_it_with_the_reason() -> None:
    event = status_event("r", "Cancelled", IbOrderError(201, "margin"), acknowledged=True, broker_order_id="4", at=AT)
    assert event == Cancelled("r", "IB 201: margin", AT)


def test_a_refused_cancel_changes_nothing() -> None:
    error = IbOrderError(10148, "cannot be cancelled, state: Filled")
    assert status_event("r", "Cancelled", error, acknowledged=True, broker_order_id="4", at=AT) is None


def test_fills_come_from_executions_not_from_the_filled_status() -> None:
    assert status_event("r", "Filled", None, acknowledged=True, broker_order_id="4", at=AT) is None


def test_an_inactive_order_is_rejected() -> None:
    event = status_event("r", "Inactive", None, acknowledged=False, broker_order_id="4", at=AT)
    assert isinstance(event, Rejected)


def test_ib_async_log_prefixes_are_stripped_from_error_texts() -> None:
    assert error_of_log(202, "Error 202, reqId 4: Order Canceled - reason:") == IbOrderError(
        202, "Order Canceled - reason:"
    )


def test_paper_accounts_start_with_d() -> None:
    assert is_paper_account("DU1234567")
    assert not is_paper_account("U1234567")


def test_an_ib_position_contract_becomes_an_instrument() -> None:
    instrument = instrument_of(Contract(conId=5, symbol="MSFT", secType="STK", exchange="NASDAQ", currency="USD"))
    assert instrument is not None
    assert (instrument.conid, instrument.asset_type) == (5, AssetType.STOCK)
    assert instrument_of(Contract(conId=6, symbol="SPY", secType="OPT")) is None
