"""Settings of the llm-analyst: the shared ones plus the OpenAI-compatible endpoint and its limits.

With no ``TRADELANE_LLM_BASE_URL`` the service runs the offline analyst only. With one, a model
(``TRADELANE_LLM_MODEL``) and an API key (``TRADELANE_LLM_API_KEY``; any non-empty value for
servers that need none, such as Ollama) are required, and a missing one stops the service at
start-up with a message naming the variable.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator

from tradelane.runtime.redaction import redact
from tradelane.runtime.settings import LlmModelSettings, PromptRenderSettings


class AnalystSettings(PromptRenderSettings, LlmModelSettings):
    """``TRADELANE_LLM_*`` on top of the shared, prompt render and model settings (endpoint, default model, prices)."""

    llm_api_key: SecretStr | None = Field(default=None, description="API key of the endpoint.")
    llm_timeout: float = Field(default=60, gt=0, le=600, description="Seconds to wait for one reply.")
    llm_max_concurrency: int = Field(default=4, ge=1, le=256, description="Requests in flight at once, per process.")
    llm_retry_budget: float = Field(
        default=30,
        ge=0,
        description="Seconds one delivery may spend waiting between retries of 429/5xx/timeouts; "
        "after that the message is nak'ed with the Retry-After delay and redelivered.",
    )
    llm_max_attempts: int = Field(default=3, ge=1, le=10, description="Requests per call before giving up.")
    llm_price_currency: str = Field(default="USD", description="Currency of the price table.")
    # llm_daily_budget_usd is a shared setting (tradelane.runtime.settings): the gateway shows it too

    @model_validator(mode="after")
    def _endpoint_is_complete(self) -> AnalystSettings:
        if self.llm_base_url is None:
            return self
        missing = []
        if self.llm_api_key is None or not self.llm_api_key.get_secret_value().strip():
            missing.append(
                "TRADELANE_LLM_API_KEY (the endpoint's API key; any non-empty value for servers that need none)"
            )
        if not (self.llm_model or "").strip():
            missing.append("TRADELANE_LLM_MODEL (the default model, e.g. 'gpt-4o')")
        if missing:
            msg = f"TRADELANE_LLM_BASE_URL is set to {redact(self.llm_base_url)!r}, so also set: {'; '.join(missing)}"
            raise ValueError(msg)
        parts = urlsplit(self.llm_base_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            msg = (
                f"TRADELANE_LLM_BASE_URL {redact(self.llm_base_url)!r} is not an http(s) URL, "
                "e.g. 'https://api.openai.com/v1'"
            )
            raise ValueError(msg)
        return self

    @property
    def llm_provider(self) -> str:
        """How the lineage names the endpoint: its host (and port), never the credentials a URL may carry."""
        parts = urlsplit(self.llm_base_url or "")
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname or ""
        return (f"{host}:{parts.port}" if parts.port else host) or "none"
