"""The contracts and bars the fake TWS serves in market-data's tests, and how to reach it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tradelane.ib.connection import IbEndpoint
from tradelane.ib.pacing import PacingRules
from tradelane.ib.testing import AAPL, FakeContract, FakeTws, daily_bars, hourly_bars

FAST_RULES = PacingRules(identical_gap=0.0, violation_pause=0.2, max_wait=5.0)
"""IB's limits, except that identical requests may repeat at once and a violation pauses briefly."""


def endpoint_for(tws: FakeTws, client_id: int = 11) -> IbEndpoint:
    """Where the fake listens, with short timeouts and reconnect delays."""
    return IbEndpoint(
        host=tws.host, port=tws.port, client_id=client_id, timeout=2.0, reconnect_initial=0.1, reconnect_max=0.5
    )


SPY = FakeContract(
    756733, "SPY", primary_exchange="ARCA", long_name="SPDR S&P 500 ETF TRUST", stock_type="ETF",
    valid_exchanges="SMART,ARCA",
)  # fmt: skip
EURUSD = FakeContract(
    12087792, "EUR", sec_type="CASH", exchange="IDEALPRO", primary_exchange="",
    long_name="European Monetary Union Euro", min_tick=0.00005, local_symbol="EUR.USD", trading_class="EUR.USD",
    valid_exchanges="IDEALPRO",
)  # fmt: skip
SPX = FakeContract(
    416904, "SPX", sec_type="IND", exchange="CBOE", primary_exchange="CBOE", long_name="S&P 500 Stock Index",
    valid_exchanges="CBOE",
)  # fmt: skip
ES_EXPIRED = FakeContract(
    495512551, "ES", sec_type="FUT", exchange="CME", primary_exchange="CME", long_name="E-mini S&P 500",
    min_tick=0.25, local_symbol="ESZ4", trading_class="ES", multiplier="50", last_trade_date="20241220",
    valid_exchanges="CME",
)  # fmt: skip
ES_SEPTEMBER = FakeContract(
    495512572, "ES", sec_type="FUT", exchange="CME", primary_exchange="CME", long_name="E-mini S&P 500",
    min_tick=0.25, local_symbol="ESU6", trading_class="ES", multiplier="50", last_trade_date="20260918",
    valid_exchanges="CME",
)  # fmt: skip
ES_JUNE = FakeContract(
    495512563, "ES", sec_type="FUT", exchange="CME", primary_exchange="CME", long_name="E-mini S&P 500",
    min_tick=0.25, local_symbol="ESM6", trading_class="ES", multiplier="50", last_trade_date="20260618",
    valid_exchanges="CME",
)  # fmt: skip
ACME_NYSE = FakeContract(1001, "ACME", primary_exchange="NYSE", long_name="ACME CORP", valid_exchanges="SMART,NYSE")
ACME_ARCA = FakeContract(1002, "ACME", primary_exchange="ARCA", long_name="ACME TRUST", valid_exchanges="SMART,ARCA")
OPTION = FakeContract(9001, "AAPLX", sec_type="OPT", long_name="AAPL OPTION", valid_exchanges="SMART")

CONTRACTS = (AAPL, SPY, EURUSD, SPX, ES_EXPIRED, ES_SEPTEMBER, ES_JUNE, ACME_NYSE, ACME_ARCA, OPTION)

AS_OF = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)
"""The runs' as_of: a Monday evening after the US close."""


AAPL_BARS = daily_bars(datetime(2025, 3, 3, tzinfo=UTC), 260, 200.0)
SPY_BARS = daily_bars(datetime(2025, 3, 3, tzinfo=UTC), 260, 560.0)
EURUSD_BARS = hourly_bars(AS_OF - timedelta(days=20), 20 * 24, 1.08)
ACME_BARS = daily_bars(datetime(2025, 3, 3, tzinfo=UTC), 260, 40.0)

BARS = {AAPL.conid: AAPL_BARS, SPY.conid: SPY_BARS, EURUSD.conid: EURUSD_BARS, ACME_NYSE.conid: ACME_BARS}
