"""Planted secrets never come out: not in a log line, a stored row, an API answer or CLI output.

The whole system runs with a database URL that carries a password (the embedded PostgreSQL
trusts local connections, so a made-up one still connects), an LLM API key for the fake
model server, a NATS password per service and an admin API token. An LLM analysis runs
through every pipeline step, a second one is refused by the model server with the key quoted
back (as OpenAI's "Incorrect API key provided: ..." does), and an auto-trading signal becomes
orders, fills and a position. Then every line the services wrote, every row of every table,
every GET endpoint of the gateway (and its error answers) and the CLI's output are searched
for the secrets.
"""

from __future__ import annotations

import asyncio
import io
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from tests.e2e.conftest import finished_execution, running_system
from tests.e2e.test_trading import position_changed, publish_auto_trading_signal
from tradelane.cli.context import Console
from tradelane.cli.main import main
from tradelane.runtime.bus_credentials import load_or_create_credentials
from tradelane.runtime.settings import Settings

sys.path.insert(0, str(Path(__file__).parents[2] / "services" / "llm-analyst" / "tests"))

from llm_analyst_tests.fake_llm import FakeLlmServer, answer, failure

pytestmark = pytest.mark.e2e

NEUTRAL_READING = {
    "bias": "neutral",
    "trend": "sideways",
    "confidence": 40,
    "support": [],
    "resistance": [],
    "suggested_entry": None,
    "suggested_stop": None,
    "suggested_targets": [],
    "key_factors": ["no edge"],
    "reasoning": "No edge on this chart.",
}


def with_password(dsn: str, password: str) -> str:
    """``dsn`` with ``password`` in its user info (socket DSNs such as ``postgresql://postgres:@/db?host=...`` too)."""
    parts = urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}:{password}@{host}"))


class Leaks:
    """Where the planted secrets were found (nowhere, when all is well)."""

    def __init__(self, *planted: str) -> None:
        self.planted = planted
        self.found: list[str] = []
        self.searched = 0

    def search(self, where: str, text: str) -> None:
        self.searched += 1
        for secret in self.planted:
            if secret in text:
                start = text.index(secret)
                self.found.append(f"{where}: ...{text[max(0, start - 120) : start + len(secret) + 40]}...")


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLlmServer]:
    server = FakeLlmServer()
    await server.start()
    yield server
    await server.stop()


async def _run_to_the_end(client: httpx.AsyncClient, strategy_id: str) -> dict[str, Any]:
    run = await client.post(f"/api/strategies/{strategy_id}/run")
    assert run.status_code == 202, run.text
    return await finished_execution(client, run.json()["execution_id"])


async def _every_get_answer(client: httpx.AsyncClient, known: dict[str, str], leaks: Leaks) -> None:
    """Every GET route of the OpenAPI document, path parameters from ``known`` (a fresh UUID: a 404), plus errors."""
    spec = (await client.get("/openapi.json")).json()
    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/", None),
        ("GET", "/openapi.json", None),
        ("GET", "/metrics", None),
        ("GET", "/api/executions/not-an-id", None),
        ("GET", f"/api/strategies/{uuid4()}", None),
        ("GET", "/api/no-such-route", None),
        ("POST", "/api/strategies", {"name": ""}),
        ("POST", f"/api/strategies/{uuid4()}/run", None),
        ("DELETE", "/healthz", None),
    ]
    for path, operations in spec["paths"].items():
        if "get" not in operations:
            continue
        url = path
        for parameter in operations["get"].get("parameters", []):
            if parameter["in"] == "path":
                url = url.replace(f"{{{parameter['name']}}}", known.get(parameter["name"], str(uuid4())))
        requests.append(("GET", url, None))
        if any(p["in"] == "query" and p.get("required") for p in operations["get"].get("parameters", [])):
            requests.append(("GET", f"{url}?q=AAPL", None))
    statuses = set()
    for method, url, body in requests:
        response = await client.request(method, url, json=body)
        statuses.add(response.status_code)
        leaks.search(f"{method} {url} -> {response.status_code}", f"{response.headers}\n{response.text}")
    assert {200, 404, 405, 422} <= statuses, statuses


async def _every_row(dsn: str, leaks: Leaks) -> int:
    """Every row of every table the system wrote (the lineage schema and all the others), as text."""
    connection = await asyncpg.connect(dsn)
    try:
        tables = await connection.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        rows = 0
        for table in tables:
            name = f'"{table["table_schema"]}"."{table["table_name"]}"'
            for row in await connection.fetch(f"SELECT t::text AS row FROM {name} t"):
                rows += 1
                leaks.search(f"row of {name}", row["row"])
        assert any(table["table_schema"] == "lineage" for table in tables)
        return rows
    finally:
        await connection.close()


async def _cli_output(argv: list[str]) -> str:
    console = Console(out=io.StringIO(), err=io.StringIO())
    await asyncio.to_thread(main, argv, console)
    assert isinstance(console.out, io.StringIO) and isinstance(console.err, io.StringIO)
    return console.out.getvalue() + console.err.getvalue()


async def test_planted_secrets_reach_no_log_line_row_api_answer_or_cli_output(
    settings: Settings, fake_llm: FakeLlmServer, capfd: pytest.CaptureFixture[str], nats_options: dict[str, Any]
) -> None:
    """The secrets: a database password, an LLM API key, every NATS identity's password and the admin API token."""
    password, api_key = f"pw-{secrets.token_hex(10)}", f"sk-{secrets.token_hex(16)}"
    assert settings.nats_credentials_file is not None, "the test NATS server has users"
    nats_passwords = [
        secret.get_secret_value() for secret in load_or_create_credentials(settings.nats_credentials_file).values()
    ]
    leaks = Leaks(password, api_key, *nats_passwords)
    dsn = with_password(settings.database_url.get_secret_value(), password)
    planted = settings.model_copy(update={"database_url": SecretStr(dsn)})
    fake_llm.script(answer(NEUTRAL_READING))
    environment = {
        "TRADELANE_LLM_BASE_URL": fake_llm.base_url,
        "TRADELANE_LLM_API_KEY": api_key,
        "TRADELANE_LLM_MODEL": "vision-secrets",
        "TRADELANE_LLM_TIMEOUT": "10",
        "TRADELANE_LOG_LEVEL": "DEBUG",
    }
    async with running_system(planted, **environment) as system:
        leaks.planted = (*leaks.planted, system.token)
        async with system.client(timeout=20) as client:
            strategy = {
                "name": "secrets-llm",
                "symbol": {"symbol": "AAPL"},
                "schedule": {"cron": "0 0 1 1 *"},
                "render_png": False,
                "analysis": {"analyst": "llm"},
            }
            created = await client.post("/api/strategies", json=strategy)
            assert created.status_code == 201, created.text
            analysed = await _run_to_the_end(client, created.json()["id"])
            assert analysed["status"] in {"completed", "rejected"}, analysed

            fake_llm.script(failure(401, f"Incorrect API key provided: {api_key}. Find your API key at ..."))
            refused = await _run_to_the_end(client, created.json()["id"])
            assert refused["status"] == "failed", refused
            assert len(fake_llm.requests) == 2

            traded = await position_changed(
                client, await publish_auto_trading_signal(client, system, nats_options, "secrets-auto-trade")
            )
            dead_letters = (await client.get("/api/dlq")).json()
            prompts = (await client.get("/api/prompts")).json()
            orders = (await client.get("/api/orders")).json()
            assert dead_letters and orders
            known = {
                "strategy_id": created.json()["id"],
                "execution_id": refused["execution_id"],
                "other_id": analysed["execution_id"],
                "dead_letter_id": str(dead_letters[0]["id"]),
                "step": "analysis",
                "template_id": str(prompts[0]["id"]) if prompts else str(uuid4()),
                "version": "1",
                "order_id": str(orders[0]["id"]),
                "conid": "265598",
                "sha256": "0" * 64,
            }
            await _every_get_answer(client, known, leaks)
            for execution in (analysed, refused, traded):
                leaks.search(f"execution {execution['execution_id']}", str(execution))

            connection = ["--nats-url", planted.nats_url, "--database-url", dsn]
            connection += ["--nats-credentials", str(settings.nats_credentials_file)]
            for command in (["status"], ["executions", "list"], ["executions", "show", refused["execution_id"]]):
                leaks.search(f"tradelane {' '.join(command)}", await _cli_output([*command, *connection]))
        rows = await _every_row(dsn, leaks)

    out, err = capfd.readouterr()
    lines = (out + err).splitlines()
    for number, line in enumerate(lines):
        leaks.search(f"log line {number}", line)
    assert rows > 20 and len(lines) > 100, (rows, len(lines))
    assert any("Incorrect API key provided: ***" in line for line in lines), "the refusal is logged, key masked"
    assert leaks.found == [], "\n".join(leaks.found)
