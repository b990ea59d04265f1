"""Docker Compose and Kubernetes run NATS and PostgreSQL with the durability the embedded servers have.

One choice everywhere (``tradelane.cli.embedded``): JetStream writes every message to disk
before acknowledging it, and a PostgreSQL commit returns once it is on disk. The managed
PostgreSQL of the prod overlay is the operator's (README, Durability).
"""

from __future__ import annotations

import json
import re

from tradelane.cli.embedded import POSTGRES_DURABILITY, SYNC_INTERVAL

from .test_nats_configs import K8S, ROOT, _compose_nats_conf


def _jetstream_sync_interval(config: str) -> str:
    block = re.search(r"^jetstream \{\n(.*?)^\}", config, re.MULTILINE | re.DOTALL)
    assert block, "no jetstream { ... } block"
    setting = re.search(r"^\s*sync_interval: (\S+)$", block.group(1), re.MULTILINE)
    assert setting, "the jetstream block does not choose a sync_interval"
    return setting.group(1).strip('"')


def _postgres_settings(arguments: list[str]) -> dict[str, str]:
    """The ``-c name=value`` settings of a ``postgres`` command line."""
    assert arguments[0] == "postgres", arguments
    pairs = [value for flag, value in zip(arguments[1::2], arguments[2::2], strict=True) if flag == "-c"]
    return dict(pair.split("=", 1) for pair in pairs)


def _flow_list_after(text: str, key: str, after: str) -> list[str]:
    """The JSON-style list of the first ``key: [...]`` line following the line ``after``."""
    match = re.compile(rf"^\s*{key}: (\[.*\])$", re.MULTILINE).search(text, text.index(after))
    assert match, f"no {key}: [...] after {after!r}"
    arguments: list[str] = json.loads(match.group(1))
    return arguments


def test_compose_jetstream_syncs_as_the_embedded_server_does() -> None:
    assert _jetstream_sync_interval(_compose_nats_conf()) == SYNC_INTERVAL


def test_kubernetes_jetstream_syncs_as_the_embedded_server_does() -> None:
    config = (K8S / "base" / "nats" / "nats.conf").read_text(encoding="utf-8")
    assert _jetstream_sync_interval(config) == SYNC_INTERVAL


def test_compose_postgres_commits_as_the_embedded_server_does() -> None:
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    command = _flow_list_after(compose, "command", "\n  postgres:\n    image:")
    assert _postgres_settings(command) == POSTGRES_DURABILITY


def test_kubernetes_dev_postgres_commits_as_the_embedded_server_does() -> None:
    manifest = (K8S / "overlays" / "dev" / "postgres.yaml").read_text(encoding="utf-8")
    arguments = _flow_list_after(manifest, "args", "\n        - name: postgres\n")
    assert _postgres_settings(arguments) == POSTGRES_DURABILITY
