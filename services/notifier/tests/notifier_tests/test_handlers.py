"""The notifier's own account of what it sends: the answer to ``subjects.NOTIFIER_SETTINGS``."""

from __future__ import annotations

from datetime import timedelta

from tradelane.contracts.notifications import NotificationKind, NotificationSettings
from tradelane.notifier.handlers import Notifier
from tradelane.notifier.sending import targets_of


def test_the_settings_show_targets_masked_and_the_kinds_sent() -> None:
    notifier = Notifier(
        targets_of(["mailto://alerts:hunter22@example.org"]),
        [NotificationKind.FILL, NotificationKind.SIGNAL],
        max_age=timedelta(hours=1),
        timeout_seconds=5,
    )
    shown = notifier.settings
    assert (shown.enabled, shown.kinds, shown.max_age_seconds) == (
        True,
        (NotificationKind.SIGNAL, NotificationKind.FILL),
        3600,
    )
    [target] = shown.targets
    assert "alerts:****@example.org" in target
    assert "hunter22" not in NotificationSettings.model_validate_json(shown.model_dump_json()).model_dump_json()


def test_without_targets_the_settings_say_it_is_off() -> None:
    notifier = Notifier((), list(NotificationKind), max_age=timedelta(hours=1), timeout_seconds=5)
    assert notifier.settings.enabled is False
    assert notifier.settings.targets == ()
