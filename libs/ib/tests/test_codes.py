"""IB's codes sorted into named sets, each with one decision."""

from __future__ import annotations

import pytest

from tradelane.ib.codes import Decision, decide, farm_name, farm_state, is_no_data, is_pacing_violation


@pytest.mark.parametrize(
    ("code", "decision"),
    [
        (326, Decision.CHANGE_CLIENT_ID),
        (1100, Decision.WAIT_FOR_SERVERS),
        (2110, Decision.WAIT_FOR_SERVERS),
        (1101, Decision.RESUME),
        (1102, Decision.RESUME),
        (2103, Decision.NOTE_FARM),
        (2104, Decision.NOTE_FARM),
        (2105, Decision.NOTE_FARM),
        (2106, Decision.NOTE_FARM),
        (2107, Decision.NOTE_FARM),
        (2108, Decision.NOTE_FARM),
        (2158, Decision.NOTE_FARM),
        (502, Decision.RECONNECT),
        (504, Decision.RECONNECT),
        (1300, Decision.RECONNECT),
        (200, Decision.REJECT),
        (321, Decision.REJECT),
        (354, Decision.REJECT),
        (2109, Decision.INFORM),
        (2176, Decision.INFORM),
        (10167, Decision.INFORM),
    ],
)
def test_each_code_has_its_decision(code: int, decision: Decision) -> None:
    assert decide(code) == decision


def test_162_is_pacing_only_when_it_says_so() -> None:
    assert decide(162, "API historical data query cancelled: pacing violation") == Decision.PACE
    assert decide(162, "Historical Market Data Service error message:Time length exceed max.") == Decision.REJECT


def test_an_unknown_code_rejects_the_request() -> None:
    assert decide(99999, "something new") == Decision.REJECT


def test_pacing_violation_is_read_from_the_text_of_its_codes_only() -> None:
    assert is_pacing_violation(420, "Invalid Real-time Query: Pacing violation")
    assert not is_pacing_violation(200, "pacing violation")


def test_no_data_is_162_with_hmds_no_data() -> None:
    assert is_no_data(162, "Historical Market Data Service error message:HMDS query returned no data: AAPL")
    assert not is_no_data(200, "returned no data")


def test_farm_states_and_names() -> None:
    assert (farm_state(2104), farm_state(2107), farm_state(2105), farm_state(200)) == ("ok", "inactive", "broken", None)
    assert farm_name("Market data farm connection is OK:usfarm.nj") == "usfarm.nj"
    assert farm_name("HMDS data farm connection is inactive but should be available upon demand.ushmds") == "ushmds"
    assert farm_name("A farm notice without a name.") == "A farm notice without a name."
