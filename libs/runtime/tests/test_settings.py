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
