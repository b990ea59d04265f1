"""The notifier's own account of what it sends: the answer to ``subjects.NOTIFIER_SETTINGS``.

With targets, the answer is tested over NATS, from the running notifier (``test_service``).
"""

from __future__ import annotations

from datetime import timedelta

from tradelane.contracts.notifications import NotificationKind
from tradelane.notifier.handlers import Notifier


def test_without_targets_the_settings_say_it_is_off() -> None:
    notifier = Notifier((), list(NotificationKind), max_age=timedelta(hours=1), timeout_seconds=5)
    assert notifier.settings.enabled is False
    assert notifier.settings.targets == ()
