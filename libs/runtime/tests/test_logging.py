"""Log lines never carry a secret: values, messages of other libraries, tracebacks, uncaught exceptions."""

from __future__ import annotations

import json
import logging
import secrets
import sys
from collections.abc import Iterator

import pytest
import structlog

from tradelane.runtime.logging import configure_logging
from tradelane.runtime.redaction import MASK, register_secret

PASSWORD = f"pw-{secrets.token_hex(8)}"
API_KEY = f"sk-{secrets.token_hex(12)}"
DSN = f"postgresql://trader:{PASSWORD}@db.internal:5432/tradelane"


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back after each test."""
    root = logging.getLogger()
    handlers, level, hook = root.handlers[:], root.level, sys.excepthook
    structlog_config = structlog.get_config()
    yield
    root.handlers[:], sys.excepthook = handlers, hook
    root.setLevel(level)
    structlog.configure(**structlog_config)


@pytest.fixture(autouse=True)
def registered() -> None:
    register_secret(API_KEY)


def _fail(message: str) -> None:
    raise ConnectionError(message)


def _log_everything() -> None:
    log = structlog.get_logger("test")
    log.info("connecting", dsn=DSN, key=API_KEY, password="whatever-it-is", attempts=[DSN])
    try:
        _fail(f"refused: {DSN} with key {API_KEY}")
    except ConnectionError:
        log.exception("connect_failed")
        logging.getLogger("some.library").exception("could not open %s", DSN)
    logging.getLogger("some.library").warning("Authorization: Bearer %s", API_KEY)


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_no_secret_reaches_a_log_line(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("DEBUG", fmt)  # type: ignore[arg-type]
    _log_everything()
    err = capsys.readouterr().err
    assert PASSWORD not in err and API_KEY not in err and "whatever-it-is" not in err
    assert f"trader:{MASK}@db.internal" in err
    assert err.count("Traceback (most recent call last)") == 2, err


def test_json_lines_keep_their_shape(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    _log_everything()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    connecting = next(line for line in lines if line["event"] == "connecting")
    assert connecting["attempts"] == [f"postgresql://trader:{MASK}@db.internal:5432/tradelane"]
    assert (connecting["password"], connecting["key"]) == (MASK, MASK)
    failed = next(line for line in lines if line["event"] == "connect_failed")
    assert "ConnectionError: refused: postgresql://trader:***@db.internal" in failed["exception"]


def test_an_uncaught_exception_is_printed_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    try:
        _fail(f"cannot start with {DSN} and {API_KEY}")
    except ConnectionError as error:
        sys.excepthook(type(error), error, error.__traceback__)
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ConnectionError: cannot start with" in err
    assert PASSWORD not in err and API_KEY not in err
