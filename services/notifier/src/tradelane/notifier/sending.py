"""The one place that speaks Apprise: a target per configured URL, each sent to on its own.

Each URL is its own target so that a redelivered event goes only to the targets that have not
taken it yet (see :class:`~tradelane.notifier.handlers.Notifier`): a working Slack does not
get the same message again because a mail server was down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import apprise

from tradelane.notifier.messages import Notice, Urgency

_NOTIFY_TYPES = {
    Urgency.INFO: apprise.NotifyType.INFO,
    Urgency.SUCCESS: apprise.NotifyType.SUCCESS,
    Urgency.WARNING: apprise.NotifyType.WARNING,
    Urgency.FAILURE: apprise.NotifyType.FAILURE,
}


class InvalidNotificationUrlError(ValueError):
    """A configured URL is not one Apprise can send to (unknown scheme, missing parts)."""


@dataclass(frozen=True)
class Target:
    """One Apprise URL, ready to send; ``shown`` is the URL with its tokens and passwords masked."""

    shown: str
    _apprise: apprise.Apprise

    async def send(self, notice: Notice, timeout_seconds: float) -> bool:
        """Send ``notice``; whether the target took it (Apprise reports failures by returning False, and logs why)."""
        result = await self._apprise.async_notify(
            body=notice.body, title=notice.title, notify_type=_NOTIFY_TYPES[notice.urgency], timeout=timeout_seconds
        )
        return bool(result)


def targets_of(urls: Sequence[str]) -> tuple[Target, ...]:
    """A target per URL; raises :class:`InvalidNotificationUrlError` naming the first URL Apprise refuses (masked)."""
    targets = []
    for index, url in enumerate(urls, start=1):
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
        if plugin is None:
            scheme = url.split("://", 1)[0] if "://" in url else "(no scheme)"
            msg = (
                f"TRADELANE_NOTIFY_URLS: URL number {index} (scheme {scheme!r}) is not one Apprise can send to; "
                "see https://appriseit.com/services/ for the URL of each service"
            )
            raise InvalidNotificationUrlError(msg)
        one = apprise.Apprise()
        one.add(plugin)
        shown = str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]  # apprise leaves url() unannotated
        targets.append(Target(shown=shown, _apprise=one))
    return tuple(targets)
