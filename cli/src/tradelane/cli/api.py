"""``tradelane api METHOD PATH [--data JSON]``: one call to the gateway's REST API with the local token.

The token comes from ``TRADELANE_TOKEN``, else ``<state_dir>/admin-token`` (written by
``tradelane up``), so on the machine that runs ``tradelane up`` this needs no flags. Plain
urllib: the CLI has no HTTP client dependency of its own.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from tradelane.cli.context import EXIT_UNAVAILABLE, CliError, Connections, Console
from tradelane.cli.credentials import TOKEN_VARIABLE, admin_token_path, find_token

DEFAULT_GATEWAY: Final = "http://127.0.0.1:8000"
URL_VARIABLE: Final = "TRADELANE_GATEWAY_URL"
TIMEOUT_SECONDS: Final = 150.0
"""Longer than the gateway's slowest route (a symbol batch asks IB for up to 120 s)."""


@dataclass(frozen=True)
class ApiCall:
    method: str
    path: str
    data: str | None
    url: str | None


def _body(data: str | None) -> bytes | None:
    """The request body: JSON text, ``@file`` for a file's content, ``-`` for stdin; checked to be JSON."""
    if data is None:
        return None
    if data == "-":
        data = sys.stdin.read()
    elif data.startswith("@"):
        try:
            data = Path(data[1:]).read_text(encoding="utf-8")
        except OSError as error:
            raise CliError(f"cannot read --data {data}: {error}") from error
    try:
        json.loads(data)
    except ValueError as error:
        raise CliError(f"--data is not JSON: {error}") from error
    return data.encode()


def _base_url(call: ApiCall, env: Mapping[str, str], written: str | None) -> tuple[str, str]:
    for url, source in ((call.url, "--url"), (env.get(URL_VARIABLE), URL_VARIABLE), (written, "endpoints.json")):
        if url:
            return url.rstrip("/"), source
    return DEFAULT_GATEWAY, "the default"


def _show(console: Console, raw: bytes) -> None:
    if not raw:
        return
    try:
        console.print(json.dumps(json.loads(raw), indent=2, ensure_ascii=False))
    except ValueError:
        console.print(raw.decode(errors="replace"))


def _detail(raw: bytes) -> str:
    try:
        detail = json.loads(raw).get("detail")
    except (ValueError, AttributeError):
        return raw.decode(errors="replace")[:500]
    return detail if isinstance(detail, str) else json.dumps(detail)


def call_api(connections: Connections, console: Console, call: ApiCall, env: Mapping[str, str], state_dir: Path) -> int:
    """Send the request; the answer's JSON on stdout; exit 1 with the gateway's reason on a 4xx or 5xx."""
    if not call.path.startswith("/"):
        raise CliError(f"PATH must start with '/', e.g. /api/strategies (got {call.path!r})")
    base, source = _base_url(call, env, connections.endpoints.gateway_url)
    if urlsplit(base).scheme not in ("http", "https"):
        raise CliError(f"the gateway URL {base!r} (from {source}) must start with http:// or https://")
    found = find_token(env, state_dir)
    if found is None:
        raise CliError(
            f"no API token: set {TOKEN_VARIABLE}, or run `tradelane up` once (it writes {admin_token_path(state_dir)})"
        )
    token, _ = found
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    body = _body(call.data)
    if body is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + call.path, data=body, method=call.method, headers=headers)  # noqa: S310 - the scheme is checked above
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - the scheme is checked above
            _show(console, response.read())
            return 0
    except urllib.error.HTTPError as error:
        raw = error.read()
        console.note(f"tradelane api: HTTP {error.code}: {_detail(raw)}")
        return 1
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise CliError(f"cannot reach the gateway at {base} (from {source}): {reason}", EXIT_UNAVAILABLE) from error
