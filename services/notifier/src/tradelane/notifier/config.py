"""Settings of the notifier: the shared ones plus where to send notifications and about what.

``TRADELANE_NOTIFY_URLS`` holds one or more Apprise URLs (``tgram://bottoken/chatid``,
``slack://...``, ``mailto://...``, ``json://host/path``...), separated by commas, spaces or
new lines; unset or empty, the notifier acks every event unsent. ``TRADELANE_NOTIFY_EVENTS``
names the kinds sent (see :class:`~tradelane.contracts.notifications.NotificationKind`).
"""

from __future__ import annotations

import re
from typing import Final

from pydantic import Field, SecretStr, field_validator

from tradelane.contracts.notifications import NotificationKind
from tradelane.runtime.settings import Settings

_SEPARATORS: Final = re.compile(r"[\s,]+")
ALL_KINDS: Final = ",".join(kind.value for kind in NotificationKind)


def _listed(text: str) -> tuple[str, ...]:
    return tuple(item for item in _SEPARATORS.split(text) if item)


class NotifierSettings(Settings):
    """``TRADELANE_NOTIFY_*`` on top of the shared settings."""

    notify_urls: SecretStr | None = Field(
        default=None,
        description="Apprise URLs, separated by commas or spaces; they hold tokens and passwords, so they are secret.",
    )
    notify_events: str = Field(
        default=ALL_KINDS,
        description=f"Kinds of event sent, comma separated, from: {ALL_KINDS}.",
    )
    notify_max_age_seconds: float = Field(
        default=3600,
        gt=0,
        description="An event older than this when it is handled is acked unsent: too late to act on "
        "(a notifier that was down, or first deployed onto streams with history).",
    )
    notify_timeout_seconds: float = Field(default=10, gt=0, le=120, description="Seconds one send may take.")

    @field_validator("notify_events")
    @classmethod
    def _kinds_are_known(cls, value: str) -> str:
        known = {kind.value for kind in NotificationKind}
        unknown = [name for name in _listed(value.lower()) if name not in known]
        if unknown:
            msg = (
                f"TRADELANE_NOTIFY_EVENTS names {', '.join(unknown)}, which the notifier cannot send; "
                f"choose from {ALL_KINDS}"
            )
            raise ValueError(msg)
        return value

    @property
    def notification_urls(self) -> tuple[str, ...]:
        """The Apprise URLs, one each; empty when none is configured."""
        return _listed(self.notify_urls.get_secret_value()) if self.notify_urls is not None else ()

    @property
    def notification_kinds(self) -> tuple[NotificationKind, ...]:
        """The kinds switched on, in the order of :class:`NotificationKind`."""
        named = set(_listed(self.notify_events.lower()))
        return tuple(kind for kind in NotificationKind if kind.value in named)
