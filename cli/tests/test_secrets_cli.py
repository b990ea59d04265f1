"""What the CLI prints never holds a password: the `tradelane up` banner and connection errors."""

from __future__ import annotations

import io
import secrets
from pathlib import Path

from tradelane.cli.context import EXIT_UNAVAILABLE, Console
from tradelane.cli.credentials import AdminToken
from tradelane.cli.main import main
from tradelane.cli.up import banner

PASSWORD = f"pw-{secrets.token_hex(8)}"


def _run(*argv: str) -> tuple[int, str]:
    console = Console(out=io.StringIO(), err=io.StringIO())
    code = main(list(argv), console)
    assert isinstance(console.out, io.StringIO) and isinstance(console.err, io.StringIO)
    return code, console.out.getvalue() + console.err.getvalue()


def test_the_banner_shows_urls_with_their_passwords_masked() -> None:
    shown = banner(
        "http://127.0.0.1:8000",
        f"nats://svc:{PASSWORD}@127.0.0.1:4222",
        f"postgresql://u:{PASSWORD}@db/t",
        "/s",
        AdminToken(Path("/s/admin-token")),
    )
    assert PASSWORD not in shown
    assert "postgresql://u:***@db/t" in shown and "nats://svc:***@127.0.0.1:4222" in shown


def test_a_database_that_cannot_be_reached_is_named_without_its_password() -> None:
    code, printed = _run(
        "executions",
        "list",
        "--nats-url",
        "nats://127.0.0.1:1",
        "--database-url",
        f"postgresql://u:{PASSWORD}@127.0.0.1:1/t",
    )
    assert code == EXIT_UNAVAILABLE
    assert "cannot reach PostgreSQL at postgresql://u:***@127.0.0.1:1/t" in printed
    assert PASSWORD not in printed


def test_a_nats_server_that_cannot_be_reached_is_named_without_its_password() -> None:
    code, printed = _run(
        "status", "--nats-url", f"nats://svc:{PASSWORD}@127.0.0.1:1", "--database-url", "postgresql:///t"
    )
    assert code == EXIT_UNAVAILABLE
    assert "cannot reach NATS at nats://svc:***@127.0.0.1:1" in printed
    assert PASSWORD not in printed
