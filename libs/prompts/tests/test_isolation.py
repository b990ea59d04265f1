"""Render processes forked by zygotes: each render in a fresh process, zygotes replaced when they die or hang."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.waiting import eventually
from tradelane.prompts.isolation import ZygotePool, run_isolated
from tradelane.prompts.limits import RenderLimits
from tradelane.prompts.rendering import TemplateLimitError

SHORT = RenderLimits(timeout_seconds=0.5)
PATIENT = RenderLimits(timeout_seconds=10)
"""The default memory limit, and time to write 100 MB on a busy machine (0.1 s idle, over 0.5 s under load)."""
SLOW_BUT_FINE = "{% for i in range(99999) %}{% for j in range(10) %}{% endfor %}{% endfor %}done"
"""About a million loop steps: a fraction of a second, well within a 20 s limit."""
NESTED_LOOPS = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads the zygotes' state in /proc"),
]


@pytest.fixture
def pool() -> Iterator[ZygotePool]:
    pool = ZygotePool(2)
    yield pool
    pool.close()


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the render processes a zygote has forked and not yet reaped)."""
    children = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
        except OSError:
            continue  # exited meanwhile
    return children


def _limit(pid: int, name: str) -> str:
    """The soft limit ``name`` of process ``pid``, as /proc prints it."""
    [line] = [line for line in Path(f"/proc/{pid}/limits").read_text().splitlines() if line.startswith(name)]
    return line[len(name) :].split()[0]


def test_a_killed_zygote_is_replaced_by_the_next_render(pool: ZygotePool) -> None:
    assert run_isolated("{{ n }}", {"n": 1}, SHORT, pool) == "1"
    [killed] = pool.pids()
    os.kill(killed, signal.SIGKILL)
    assert run_isolated("{{ n }}", {"n": 2}, SHORT, pool) == "2"
    assert pool.pids() != [killed]
    assert len(pool.pids()) == 1


async def test_a_render_whose_zygote_is_killed_meanwhile_is_done_by_a_new_one(pool: ZygotePool) -> None:
    limits = RenderLimits(timeout_seconds=20)
    assert run_isolated("{{ 1 }}", {}, limits, pool) == "1"
    [zygote] = pool.pids()
    rendering = asyncio.create_task(asyncio.to_thread(run_isolated, SLOW_BUT_FINE, {}, limits, pool))
    await eventually(lambda: _children(zygote), "the zygote's render process")
    os.kill(zygote, signal.SIGKILL)
    assert await rendering == "done"
    assert zygote not in pool.pids()


def test_a_render_after_hostile_ones_runs_in_a_fresh_process_with_the_whole_memory_limit(pool: ZygotePool) -> None:
    """The hostile renders' memory, deadline and limits stay in their own processes, which are gone after them."""
    with pytest.raises(TemplateLimitError, match="more memory than the render memory limit"):
        run_isolated("{{ 'x' | center(10 ** 9) }}", {}, SHORT, pool)
    with pytest.raises(TemplateLimitError, match=r"took longer than 0\.5 s"):
        run_isolated(NESTED_LOOPS, {}, SHORT, pool)
    [zygote] = pool.pids()
    assert _children(zygote) == []
    assert (_limit(zygote, "Max address space"), _limit(zygote, "Max cpu time")) == ("unlimited", "unlimited")
    # 100 MB of the 256 MiB memory limit: more than what is left if the hostile render's allocation had stayed
    assert run_isolated("{{ 'x' | center(100_000_000) | length }}", {}, PATIENT, pool) == "100000000"
    assert pool.pids() == [zygote]


def test_a_render_process_past_its_deadline_is_killed_by_the_zygote(pool: ZygotePool) -> None:
    """The zygote kills a child still running after the request's seconds, before the child's own time limit."""
    request = pickle.dumps({"text": NESTED_LOOPS, "context": {}, "limits": RenderLimits(timeout_seconds=10)})
    assert pool.ask(request, 0.3, wait=10) == {"stopped": "deadline"}
    [zygote] = pool.pids()
    assert _children(zygote) == []
    assert run_isolated("{{ 1 }}", {}, SHORT, pool) == "1"


def test_a_zygote_that_stops_answering_is_killed_and_replaced(pool: ZygotePool) -> None:
    assert run_isolated("{{ 1 }}", {}, SHORT, pool) == "1"
    [stuck] = pool.pids()
    os.kill(stuck, signal.SIGSTOP)
    request = pickle.dumps({"text": "{{ 2 }}", "context": {}, "limits": SHORT})
    with pytest.raises(TimeoutError):
        pool.ask(request, 1.0, wait=0.5)
    assert not Path(f"/proc/{stuck}").exists()
    assert run_isolated("{{ 3 }}", {}, SHORT, pool) == "3"


def test_renders_from_many_threads_share_the_slots_and_get_their_own_answers(pool: ZygotePool) -> None:
    with ThreadPoolExecutor(max_workers=6) as threads:
        answers = list(threads.map(lambda n: run_isolated("{{ n * 2 }}", {"n": n}, SHORT, pool), range(24)))
    assert answers == [str(n * 2) for n in range(24)]
    assert 1 <= len(pool.pids()) <= 2


def test_a_zygote_inherits_none_of_the_services_settings(pool: ZygotePool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A template that escaped the sandbox would find no API key in its process, forked from the zygote."""
    monkeypatch.setenv("TRADELANE_LLM_API_KEY", "sk-planted")
    assert run_isolated("{{ 1 }}", {}, SHORT, pool) == "1"
    [zygote] = pool.pids()
    environment = Path(f"/proc/{zygote}/environ").read_bytes()
    assert b"sk-planted" not in environment
    names = {variable.split(b"=", 1)[0].decode() for variable in environment.split(b"\0") if variable}
    assert names <= {"PATH", "PYTHONPATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ"}


def test_a_zygote_runs_a_single_thread(pool: ZygotePool) -> None:
    """It forks: with a second thread, a child could inherit a lock that thread held."""
    assert run_isolated("{{ 1 }}", {}, SHORT, pool) == "1"
    [zygote] = pool.pids()
    assert [task.name for task in Path(f"/proc/{zygote}/task").iterdir()] == [str(zygote)]
