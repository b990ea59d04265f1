"""structlog, configured once: JSON off a TTY, readable console on one, secrets masked in both.

Every line logged while a message is handled carries ``execution_id``, ``subject`` and
``message_id``: the bus middleware binds them as context variables.

Every line, ours or a library's (uvicorn, FastStream, asyncpg through the standard library),
passes :func:`redact_secrets` last, after its exception has been rendered to text, so neither a
value nor a traceback can carry a password or a registered secret
(:mod:`tradelane.runtime.redaction`). Uncaught exceptions that end a process are redacted too.

Libraries that narrate their work at INFO (:data:`QUIETED_LOGGERS`) are held at WARNING, and
any handler of their own is taken away so that their lines, too, come out through structlog.

The same lines can also go to the bus (:mod:`tradelane.runtime.log_stream`), rendered by
:func:`json_line_formatter` as they are on stderr in JSON; that stream has a threshold of its
own, so the process logs at the lower of the two levels and its stderr handler keeps to its own.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Final, Literal

# FastStream gives its "faststream" logger a handler of its own when it is imported; importing it
# here first means configure_logging always finds that handler, and takes it away.
import faststream  # noqa: F401
import structlog
from structlog.typing import EventDict, WrappedLogger

from tradelane.runtime.redaction import MASK, is_sensitive_name, redact, redact_value

StreamLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "OFF"]
"""The least level of the lines a process streams to the bus, or ``OFF``."""
STREAM_OFF: Final = "OFF"
"""The log stream's level that streams nothing (``TRADELANE_LOG_STREAM_LEVEL=off``)."""


def level_number(name: str) -> int | None:
    """The logging level called ``name`` (``info``, ``WARNING``...), or None for :data:`STREAM_OFF`."""
    if name.upper() == STREAM_OFF:
        return None
    return logging.getLevelNamesMapping()[name.upper()]


_PROCESSOR_META = ("_record", "_from_structlog")
"""Keys structlog's ProcessorFormatter adds for its own use; they are never rendered."""


QUIETED_LOGGERS: Final = {
    # Chromium's start and stop, and every PNG ("Getting tab from queue", "Got 153D")
    "kaleido": logging.WARNING,
    "choreographer": logging.WARNING,
    "logistro": logging.WARNING,
    # "callback for Task-12 is being executed..." each time a pull subscription's task ends
    "faststream": logging.WARNING,
    # every order status, execution, commission and position, as a dump of ib_async's objects
    "ib_async": logging.WARNING,
    # connecting, connected, refused, peer closed: the IB adapters log each attempt and drop
    # themselves, with the delay of the next attempt, so these lines would only repeat them
    "ib_async.client": logging.CRITICAL,
    # the server's start and stop in four lines each (the gateway logs gateway_started itself),
    # and one line per HTTP request, the web UI's polling and the probes included
    "uvicorn": logging.WARNING,
}
"""Third-party loggers and the least level they log at; every other logger logs at the configured level."""

_IB_REPORT: Final = re.compile(r"^(Error|Warning) -?\d+, reqId -?\d+: ")
"""ib_async's echo of a code IB reported, which the IB adapters receive (errorEvent) and log with their decision."""


def _not_an_ib_report(record: logging.LogRecord) -> bool:
    """Drop ib_async's own line for an IB code: tradelane logs it once, at the level its handling deserves."""
    return not _IB_REPORT.match(record.getMessage())


def _without_traceback(record: logging.LogRecord) -> bool:
    """asyncpg's pool, retrying its connections while PostgreSQL is down: one line per retry, not a traceback.

    The outage is expected and handled (the step waits and retries, the gateway answers 503), so
    the exception's type and text say enough.
    """
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        record.msg = f"{record.getMessage()}: {type(error).__name__}: {error}"
        record.args = None
        record.exc_info = None
        record.exc_text = None
    return True


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Mask secrets in every value of a log line: URL passwords, registered secrets, ``password=`` keys."""
    return {key: _redacted(key, value) for key, value in event_dict.items()}


def _redacted(key: str, value: object) -> object:
    if key in _PROCESSOR_META:
        return value
    if is_sensitive_name(key) and value is not None:
        return MASK
    return redact_value(value)


def _add_filter(logger: str, keep: Callable[[logging.LogRecord], bool]) -> None:
    filtered = logging.getLogger(logger)
    if keep not in filtered.filters:
        filtered.addFilter(keep)


def _redacting_excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """Print an uncaught exception as Python would, with its secrets masked."""
    sys.stderr.write(redact("".join(traceback.format_exception(exc_type, exc, tb))))
    sys.stderr.flush()


def _shared_processors() -> list[structlog.types.Processor]:
    """What every line goes through before it is rendered: context, level, logger, time, traceback, redaction."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        # rendered to text here (not by the console renderer) so the traceback is redacted too
        structlog.processors.format_exc_info,
        redact_secrets,
    ]


def _formatter(renderer: structlog.types.Processor) -> structlog.stdlib.ProcessorFormatter:
    """A logging formatter that renders ours and the libraries' lines alike, redacted."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )


def json_line_formatter() -> structlog.stdlib.ProcessorFormatter:
    """The formatter of a JSON line, redacted, as stderr shows it in JSON (for handlers beside stderr's)."""
    return _formatter(structlog.processors.JSONRenderer())


def configure_logging(
    level: str = "INFO", fmt: Literal["auto", "json", "console"] = "auto", stream_level: StreamLevel = STREAM_OFF
) -> None:
    """Configure structlog and the standard library's logging to write one format.

    ``level`` is stderr's threshold; ``stream_level`` the log stream's (:data:`STREAM_OFF`: none),
    so lines are made down to the lower of the two.
    """
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )

    structlog.configure(
        # filter_by_level first: a debug line on a hot path costs nothing when debug is off
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_formatter(renderer))
    handler.setLevel(level.upper())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(min(handler.level, level_number(stream_level) or handler.level))
    for name, least in QUIETED_LOGGERS.items():
        quieted = logging.getLogger(name)
        quieted.handlers.clear()
        quieted.propagate = True
        quieted.setLevel(max(least, root.level))
    _add_filter("ib_async.wrapper", _not_an_ib_report)
    _add_filter("asyncpg.pool", _without_traceback)
    sys.excepthook = _redacting_excepthook
