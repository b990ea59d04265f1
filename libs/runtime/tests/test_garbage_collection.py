"""A service process collects young objects less often, and never walks what it held once built."""

from __future__ import annotations

import subprocess
import sys

from tradelane.runtime.garbage_collection import OLDER_COLLECTION_EVERY, YOUNG_COLLECTION_EVERY

PROBE = """
import gc
from tradelane.runtime.garbage_collection import settle_garbage_collection
before = gc.get_freeze_count()
settle_garbage_collection()
print(before, gc.get_freeze_count(), *gc.get_threshold())
"""


def test_what_the_process_holds_is_frozen_and_young_objects_are_collected_less_often() -> None:
    # in a process of its own: a test process's objects must stay collectable
    probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60)
    frozen_before, frozen_after, *thresholds = map(int, probe.stdout.split())
    assert frozen_before == 0
    assert frozen_after > 1000  # the interpreter's and the module's own objects at least
    assert thresholds == [YOUNG_COLLECTION_EVERY, OLDER_COLLECTION_EVERY, OLDER_COLLECTION_EVERY]
