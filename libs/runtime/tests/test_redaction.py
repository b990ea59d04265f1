"""Secrets are masked wherever tradelane shows text: URL passwords always, registered secrets everywhere."""

from __future__ import annotations

import secrets

from pydantic import SecretStr

from tradelane.runtime.redaction import (
    MASK,
    is_sensitive_name,
    redact,
    redact_value,
    register_secret,
    register_settings_secrets,
    url_passwords,
)
from tradelane.runtime.settings import Settings


def _planted(prefix: str = "s") -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


def test_the_password_of_a_dsn_is_masked_and_the_rest_kept() -> None:
    shown = redact("cannot reach postgresql://trader:hunter22@db.internal:5432/tradelane?sslmode=require")
    assert shown == f"cannot reach postgresql://trader:{MASK}@db.internal:5432/tradelane?sslmode=require"


def test_a_password_holding_an_at_sign_is_masked_whole() -> None:
    assert redact("postgresql://u:p@ss@host/db") == f"postgresql://u:{MASK}@host/db"


def test_every_url_of_a_server_list_is_masked() -> None:
    shown = redact("nats://a:first1@h1:4222,nats://b:second2@h2:4222")
    assert shown == f"nats://a:{MASK}@h1:4222,nats://b:{MASK}@h2:4222"


def test_urls_without_a_password_are_left_alone() -> None:
    for text in (
        "postgresql://postgres:@/tradelane?host=/tmp/pg",
        "postgresql://postgres@127.0.0.1:5432/tradelane",
        "http://127.0.0.1:8000/api/executions?limit=5",
    ):
        assert redact(text) == text


def test_password_parameters_are_masked() -> None:
    assert redact("postgresql:///db?host=/tmp&password=opensesame") == f"postgresql:///db?host=/tmp&password={MASK}"
    assert redact("host=db user=u password=opensesame dbname=t") == f"host=db user=u password={MASK} dbname=t"
    assert redact("TRADELANE_LLM_API_KEY=sk-abcdef") == f"TRADELANE_LLM_API_KEY={MASK}"


def test_a_registered_secret_is_masked_anywhere_even_percent_encoded() -> None:
    key = _planted("sk") + "/+="
    register_secret(SecretStr(key))
    assert redact(f"Incorrect API key provided: {key}.") == f"Incorrect API key provided: {MASK}."
    assert key not in redact(f"Bearer {key}") and "sk-" not in redact(f"x {key}")
    assert redact("%2F%2B%3D".join([key[:-3], ""])) == MASK


def test_registering_a_url_registers_its_password_not_the_url() -> None:
    password = _planted("pw")
    register_secret(f"postgresql://trader:{password}@db:5432/tradelane")
    assert url_passwords(f"postgresql://trader:{password}@db/t") == [password]
    assert redact(f"password authentication failed ({password})") == f"password authentication failed ({MASK})"
    assert redact("postgresql://trader@db:5432/tradelane") == "postgresql://trader@db:5432/tradelane"


def test_registering_a_url_without_a_password_registers_nothing() -> None:
    register_secret("nats://127.0.0.1:4222")
    register_secret(SecretStr("postgresql://postgres@127.0.0.1:5432/tradelane"))
    assert redact("nats://127.0.0.1:4222 postgresql://postgres@127.0.0.1:5432/tradelane") == (
        "nats://127.0.0.1:4222 postgresql://postgres@127.0.0.1:5432/tradelane"
    )


def test_short_values_are_not_registered() -> None:
    register_secret("abc")
    assert redact("abc abcd") == "abc abcd"


def test_settings_register_their_secret_fields_and_url_passwords() -> None:
    password, nats_password = _planted("db"), _planted("nats")
    settings = Settings(
        database_url=SecretStr(f"postgresql://u:{password}@db/t"), nats_url=f"nats://svc:{nats_password}@n:4222"
    )
    register_settings_secrets(settings)
    assert redact(f"{password} and {nats_password}") == f"{MASK} and {MASK}"


def test_values_are_redacted_through_containers_and_object_reprs() -> None:
    password = _planted("pw")
    register_secret(password)
    error = ConnectionError(f"refused for postgresql://u:{password}@db/t")
    redacted = redact_value({"errors": [error, f"x {password}"], "count": 3, "nested": {"api_key": "anything"}})
    assert redacted == {
        "errors": [f"ConnectionError('refused for postgresql://u:{MASK}@db/t')", f"x {MASK}"],
        "count": 3,
        "nested": {"api_key": MASK},
    }


def test_an_object_whose_repr_holds_no_secret_is_kept_as_it_is() -> None:
    value = object()
    assert redact_value(value) is value


def test_secret_names() -> None:
    assert all(map(is_sensitive_name, ("password", "db_password", "api_key", "llm_api_key", "secret", "pwd")))
    assert not any(map(is_sensitive_name, ("token_name", "database", "step", "execution_id")))
