"""Settings refuse what would silently break a service: an infinite or NaN interval, timeout or budget."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tradelane.runtime.settings import Settings


@pytest.mark.parametrize("value", ["inf", "Infinity", "nan"])
def test_a_number_setting_that_is_not_finite_is_refused_by_name(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TRADELANE_CONSUMER_LAG_INTERVAL_SECONDS", value)
    with pytest.raises(ValidationError, match="consumer_lag_interval_seconds") as refused:
        Settings()
    assert "finite number" in str(refused.value)


def test_lineage_detail_shorter_than_the_replay_window_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A message the streams can still replay keeps its lineage detail, so the diff of its replay has both sides."""
    monkeypatch.setenv("TRADELANE_STREAM_MAX_AGE_DAYS", "14")
    assert Settings().lineage_detail_window_days == 14  # unset: it follows the streams
    monkeypatch.setenv("TRADELANE_LINEAGE_DETAIL_DAYS", "7")
    with pytest.raises(ValidationError, match="at least stream_max_age_days"):
        Settings()
    monkeypatch.setenv("TRADELANE_LINEAGE_DETAIL_DAYS", "30")
    assert Settings().lineage_detail_window_days == 30
    assert Settings(stream_max_age_days=1).lineage_detail_window_days == 30
