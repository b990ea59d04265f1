"""A service runs on uvloop's event loop where uvloop installs."""

from __future__ import annotations

import asyncio
import sys

import pytest

from tradelane.runtime.service import event_loop_factory


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop does not install on Windows")
def test_a_service_runs_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")
    loop = event_loop_factory()()
    try:
        assert isinstance(loop, uvloop.Loop)
        assert loop.run_until_complete(asyncio.sleep(0, result="ran")) == "ran"
    finally:
        loop.close()
