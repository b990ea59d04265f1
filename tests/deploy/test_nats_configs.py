"""The checked-in NATS configurations and secrets of Docker Compose and Kubernetes match the permission table.

Regenerate both after changing ``tradelane.runtime.bus_permissions``:
``.venv/bin/python -m tradelane.runtime.bus_permissions deploy/k8s/base/nats/nats.conf docker-compose.yml``.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from tradelane.runtime.bus_permissions import IDENTITIES, password_variable, with_authorization

ROOT = Path(__file__).parents[2]
K8S = ROOT / "deploy" / "k8s"
DEPLOYMENTS = (
    "scheduler",
    "market-data",
    "indicators",
    "charts",
    "llm-analyst",
    "signals",
    "broker",
    "lineage",
    "notifier",
    "ledger",
    "backtester",
    "gateway",
)


def _compose_nats_conf() -> str:
    """The ``configs: nats.conf: content: |`` block of docker-compose.yml, as nats-server reads it."""
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    match = re.search(r"\n  nats\.conf:\n    content: \|\n((?:      .*\n|\n)+)", compose)
    assert match, "docker-compose.yml has no inline nats.conf"
    return textwrap.dedent(match.group(1)).rstrip("\n").replace("$$", "$") + "\n"


def test_the_kubernetes_nats_conf_carries_the_current_permission_table() -> None:
    config = (K8S / "base" / "nats" / "nats.conf").read_text(encoding="utf-8")
    assert config == with_authorization(config), (
        "deploy/k8s/base/nats/nats.conf is out of date: run "
        "`.venv/bin/python -m tradelane.runtime.bus_permissions deploy/k8s/base/nats/nats.conf docker-compose.yml`"
    )


def test_the_compose_nats_conf_carries_the_current_permission_table() -> None:
    config = _compose_nats_conf()
    expected = with_authorization(config)
    assert config == expected, (
        "the nats.conf in docker-compose.yml is out of date: run "
        "`.venv/bin/python -m tradelane.runtime.bus_permissions deploy/k8s/base/nats/nats.conf docker-compose.yml`"
    )


@pytest.mark.parametrize("identity", sorted(IDENTITIES))
def test_every_identity_has_a_password_for_the_nats_servers(identity: str) -> None:
    variable = password_variable(identity)
    statefulset = (K8S / "base" / "nats" / "statefulset.yaml").read_text(encoding="utf-8")
    reference = "\n              valueFrom:\n                secretKeyRef:\n                  name: "
    assert f"- name: {variable}{reference}nats-{identity}\n" in statefulset
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert f"{variable}: ${{{variable}:?" in compose
    assert f"# {variable}=" in (ROOT / ".env.example").read_text(encoding="utf-8")
    assert f"- name: nats-{identity}\n" in (K8S / "overlays" / "dev" / "kustomization.yaml").read_text(encoding="utf-8")
    assert f"nats-{identity}" in (ROOT / "deploy" / "check" / "run.sh").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("manifest", "identity"), [*((name, name) for name in DEPLOYMENTS), ("provision-job", "provision")]
)
def test_each_workload_connects_as_its_own_identity(manifest: str, identity: str) -> None:
    text = (K8S / "base" / f"{manifest}.yaml").read_text(encoding="utf-8")
    assert f"- name: TRADELANE_NATS_USER\n              value: {identity}\n" in text
    assert re.findall(r"name: (nats-[a-z-]+)\n", text) == [f"nats-{identity}"]


def test_each_compose_service_connects_as_its_own_identity() -> None:
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    for service, identity in [*((name, name) for name in DEPLOYMENTS), ("cli", "operator"), ("provision", "provision")]:
        start = compose.index(f"\n  {service}:\n") + 1
        following = re.compile(r"^  \S|^\S", re.MULTILINE).search(compose, compose.index("\n", start) + 1)
        assert following is not None
        block = compose[start : following.start()]
        assert f"TRADELANE_NATS_USER: {identity}\n" in block, service
        assert f"TRADELANE_NATS_PASSWORD: ${{{password_variable(identity)}:?" in block, service
