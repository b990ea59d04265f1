"""Settings: an LLM endpoint must come complete, and no endpoint means the offline analyst."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal

import pytest
from pydantic import ValidationError

from tradelane.llm_analyst.config import AnalystSettings


def test_without_an_endpoint_no_model_is_configured() -> None:
    settings = AnalystSettings.model_validate({})
    assert settings.llm_configured is False


def test_an_endpoint_without_a_key_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValidationError, match="TRADELANE_LLM_API_KEY"):
        AnalystSettings.model_validate({"llm_base_url": "https://api.openai.com/v1", "llm_model": "gpt-4o"})


def test_an_endpoint_without_a_model_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValidationError, match="TRADELANE_LLM_MODEL"):
        AnalystSettings.model_validate({"llm_base_url": "https://api.openai.com/v1", "llm_api_key": "sk-1"})


def test_an_endpoint_that_is_not_a_url_is_refused() -> None:
    with pytest.raises(ValidationError, match="not an http"):
        AnalystSettings.model_validate({"llm_base_url": "localhost:11434", "llm_api_key": "x", "llm_model": "m"})


def test_a_complete_endpoint_names_its_provider_by_host() -> None:
    settings = AnalystSettings.model_validate(
        {"llm_base_url": "http://127.0.0.1:11434/v1", "llm_api_key": "ollama", "llm_model": "llava"}
    )
    assert (settings.llm_configured, settings.llm_provider) == (True, "127.0.0.1:11434")


def test_the_provider_never_carries_the_credentials_of_its_url() -> None:
    """The lineage records the provider; a base URL with a user and password must not put them there."""
    settings = AnalystSettings.model_validate(
        {"llm_base_url": "https://user:pw-1234@llm.internal:8443/v1", "llm_api_key": "k", "llm_model": "m"}
    )
    assert settings.llm_provider == "llm.internal:8443"


def test_a_refused_endpoint_is_named_without_its_password() -> None:
    with pytest.raises(ValidationError) as refused:
        AnalystSettings.model_validate({"llm_base_url": "https://user:pw-1234@llm.internal/v1", "llm_model": "m"})
    assert "pw-1234" not in str(refused.value)


def test_refused_settings_do_not_echo_their_input() -> None:
    """Pydantic quotes (part of) a refused model's input by default: here, the API key."""
    with pytest.raises(ValidationError) as refused:
        AnalystSettings.model_validate({"llm_api_key": "sk-abc", "llm_base_url": "not-a-url", "llm_model": "m"})
    assert "not an http(s) URL" in str(refused.value)
    assert "sk-abc" not in str(refused.value)


def test_the_price_table_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELANE_LLM_PRICES", '{"llava": {"input_per_million": "0", "output_per_million": "0.1"}}')
    assert AnalystSettings().llm_prices["llava"].output_per_million == Decimal("0.1")


def test_the_service_stops_at_start_up_when_the_key_is_missing() -> None:
    env = {**os.environ, "TRADELANE_LLM_BASE_URL": "https://api.openai.com/v1", "TRADELANE_LLM_MODEL": "gpt-4o"}
    env.pop("TRADELANE_LLM_API_KEY", None)
    result = subprocess.run(
        [sys.executable, "-m", "tradelane.llm_analyst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "llm-analyst cannot start" in result.stderr
    assert "TRADELANE_LLM_API_KEY" in result.stderr
