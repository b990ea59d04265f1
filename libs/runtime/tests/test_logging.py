"""Log lines never carry a secret, and libraries' lines come out as ours do, without their chatter."""

from __future__ import annotations

import json
import logging
import secrets
import sys
from collections.abc import Iterator

import pytest
import structlog

from tradelane.runtime.logging import QUIETED_LOGGERS, configure_logging
from tradelane.runtime.redaction import MASK, register_secret

PASSWORD = f"pw-{secrets.token_hex(8)}"
API_KEY = f"sk-{secrets.token_hex(12)}"
DSN = f"postgresql://trader:{PASSWORD}@db.internal:5432/tradelane"


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back after each test."""
    root = logging.getLogger()
    handlers, level, hook = root.handlers[:], root.level, sys.excepthook
    quieted = {name: logging.getLogger(name) for name in QUIETED_LOGGERS}
    their_state = {name: (logger.handlers[:], logger.propagate, logger.level) for name, logger in quieted.items()}
    structlog_config = structlog.get_config()
    yield
    root.handlers[:], sys.excepthook = handlers, hook
    root.setLevel(level)
    for name, (their_handlers, propagate, their_level) in their_state.items():
        quieted[name].handlers[:], quieted[name].propagate = their_handlers, propagate
        quieted[name].setLevel(their_level)
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


def _json_lines(err: str) -> list[dict[str, object]]:
    """Every line written, each of which must be one JSON object."""
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_faststream_lines_come_out_through_structlog(capsys: pytest.CaptureFixture[str]) -> None:
    """FastStream installs a handler of its own on import; its lines must still be JSON like ours."""
    configure_logging("INFO", "json")
    logging.getLogger("faststream").warning("subscriber %s restarted", "pipeline")
    structlog.get_logger("faststream").error("handler_failed", subject="pipeline.x")
    lines = _json_lines(capsys.readouterr().err)
    assert [(line["logger"], line["level"], line["event"]) for line in lines] == [
        ("faststream", "warning", "subscriber pipeline restarted"),
        ("faststream", "error", "handler_failed"),
    ]


def test_libraries_that_narrate_are_held_at_warning(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("DEBUG", "json")
    logging.getLogger("kaleido.kaleido").info("Getting tab from queue (has 1)")
    logging.getLogger("choreographer.browser_async").info("Opening browser.")
    logging.getLogger("logistro").info("subprocess started")
    logging.getLogger("faststream").info("callback for Task-11 is being executed...")
    logging.getLogger("ib_async.wrapper").info("orderStatus: Trade(contract=Stock(conId=265598))")
    logging.getLogger("uvicorn.access").info('127.0.0.1:49330 - "GET /readyz HTTP/1.1" 200')
    logging.getLogger("uvicorn.error").info("Waiting for application startup.")
    logging.getLogger("kaleido.kaleido").warning("Chromium is slow to start")
    logging.getLogger("tradelane.anything").debug("ours_at_debug")
    lines = _json_lines(capsys.readouterr().err)
    assert [(line["logger"], line["event"]) for line in lines] == [
        ("kaleido.kaleido", "Chromium is slow to start"),
        ("tradelane.anything", "ours_at_debug"),
    ]


def test_ib_async_does_not_repeat_what_the_ib_adapters_log(capsys: pytest.CaptureFixture[str]) -> None:
    """Codes IB reports and connection failures are the adapters' to log, at the level their handling deserves."""
    configure_logging("INFO", "json")
    wrapper, client = logging.getLogger("ib_async.wrapper"), logging.getLogger("ib_async.client")
    wrapper.error("Error 326, reqId -1: Unable to connect as the client id is already in use.")
    wrapper.error("Error 200, reqId 7: No security definition has been found for the request")
    client.error("API connection failed: ConnectionRefusedError(111, 'Connect call failed')")
    client.error("Peer closed connection.")
    wrapper.warning("Canceled order: Trade(order=LimitOrder(orderId=9))")
    lines = _json_lines(capsys.readouterr().err)
    assert [(line["logger"], line["level"], line["event"]) for line in lines] == [
        ("ib_async.wrapper", "warning", "Canceled order: Trade(order=LimitOrder(orderId=9))"),
    ]


def test_asyncpg_retrying_its_pool_during_an_outage_writes_one_line_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    refused = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
    logging.getLogger("asyncpg.pool").warning(
        "Failed to restore the pool connection floor; retrying", exc_info=(type(refused), refused, None)
    )
    (line,) = _json_lines(capsys.readouterr().err)
    assert line["event"] == (
        "Failed to restore the pool connection floor; retrying: "
        "ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 5432)"
    )
    assert "exception" not in line
