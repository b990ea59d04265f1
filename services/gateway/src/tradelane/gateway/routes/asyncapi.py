"""``/asyncapi.json`` and ``/asyncapi``: the AsyncAPI document of the bus, as data and as a page.

The document is FastStream's, generated from the flow table of :mod:`tradelane.runtime.flow`
(the gateway imports no service). It describes the bus, not its data, but like
``/openapi.json`` it needs the ``read`` scope.

The page is rendered here, from the same document, as one table of subjects: who publishes,
who consumes, which contract. It loads nothing: FastStream's own viewer fetches its script
from a public CDN, which would leave the page blank on a machine without internet and put a
third party's script inside the gateway's origin.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from html import escape
from typing import Any, Final
from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from faststream.specification import Specification

from tradelane.gateway.security.headers import inline_hashes
from tradelane.runtime.asyncapi import flow_specification

router = APIRouter(include_in_schema=False)

STYLE: Final = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #1b1f24; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .35rem .6rem; border-bottom: 1px solid #d0d7de; }
th { background: #f6f8fa; }
code { font: 13px ui-monospace, monospace; }
"""


@cache
def specification(version: str, nats_url: str) -> Specification:
    """The document of release ``version`` (the flow is fixed for a release, so it is built once)."""
    return flow_specification(version, nats_url.split(","))


def _contract(document: dict[str, Any], channel: dict[str, Any]) -> str:
    """The name of the schema a channel's message carries (``JSON`` where no contract is known)."""
    components = document["components"]
    for reference in channel["messages"].values():
        message = components["messages"][unquote(reference["$ref"].rsplit("/", 1)[-1])]
        schema = message["payload"].get("$ref", "").rsplit("/", 1)[-1]
        return schema if schema in components["schemas"] and ":" not in schema else "JSON"
    return "JSON"


def subject_rows(document: dict[str, Any]) -> list[tuple[str, str, list[str], list[str]]]:
    """One row per subject: its address, its contract, who sends on it, who receives it."""
    senders: dict[str, list[str]] = defaultdict(list)
    receivers: dict[str, list[str]] = defaultdict(list)
    contracts: dict[str, str] = {}
    for title, channel in document["channels"].items():
        address = channel["address"]
        participant, verb = title.split(" ", 2)[:2]
        (senders if verb in {"publishes", "requests"} else receivers)[address].append(f"{participant} {verb}")
        if contracts.get(address, "JSON") == "JSON":
            contracts[address] = _contract(document, channel)
    return [(address, contracts[address], senders[address], receivers[address]) for address in sorted(contracts)]


@cache
def page(version: str, nats_url: str) -> str:
    """The document as an HTML table; the JSON (``/asyncapi.json``) holds the schemas."""
    document: dict[str, Any] = specification(version, nats_url).to_jsonable()
    rows = "".join(
        f"<tr><td><code>{escape(address)}</code></td><td>{escape(contract)}</td>"
        f"<td>{escape(', '.join(senders))}</td><td>{escape(', '.join(receivers))}</td></tr>"
        for address, contract, senders, receivers in subject_rows(document)
    )
    info = document["info"]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(info['title'])} {escape(info['version'])}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(info['title'])} <small>{escape(info['version'])}</small></h1>"
        "<p>Every subject of the bus, who sends on it and who receives it. "
        'The schemas are in <a href="/asyncapi.json">the AsyncAPI document</a>.</p>'
        "<table><thead><tr><th>Subject</th><th>Contract</th><th>Sent by</th><th>Received by</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></body></html>"
    )


def page_policy(html: str) -> str:
    """The page's Content-Security-Policy: its own inline style, nothing else."""
    return "; ".join(
        [
            "default-src 'none'",
            f"style-src {inline_hashes(html, 'style')}",
            "form-action 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


def _release(request: Request) -> tuple[str, str]:
    """The gateway's version and the NATS servers it is configured with."""
    settings = request.app.state.settings
    return settings.service_version, settings.nats_url


@router.get("/asyncapi.json")
async def asyncapi_document(request: Request) -> dict[str, Any]:
    """The AsyncAPI 3.0 document: every subject, who publishes and who consumes it, and its contract."""
    document: dict[str, Any] = specification(*_release(request)).to_jsonable()
    return document


@router.get("/asyncapi")
async def asyncapi_page(request: Request) -> HTMLResponse:
    """The AsyncAPI document as a table of subjects."""
    html = page(*_release(request))
    return HTMLResponse(html, headers={"Content-Security-Policy": page_policy(html), "Cache-Control": "no-cache"})
