"""The notifier's settings: URLs as a list, kinds by name, unknown kinds refused with the valid ones."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from tradelane.contracts.notifications import NotificationKind
from tradelane.notifier.config import NotifierSettings
from tradelane.notifier.sending import InvalidNotificationUrlError, targets_of


def test_urls_are_split_on_commas_and_spaces() -> None:
    settings = NotifierSettings(
        notify_urls=SecretStr("json://127.0.0.1:9/a, tgram://123456:abcdefgh/42\nmailto://u:p@x.org")
    )
    assert settings.notification_urls == ("json://127.0.0.1:9/a", "tgram://123456:abcdefgh/42", "mailto://u:p@x.org")


def test_every_kind_is_sent_unless_told_otherwise() -> None:
    assert NotifierSettings().notification_kinds == tuple(NotificationKind)


def test_kinds_are_chosen_by_name() -> None:
    assert NotifierSettings(notify_events="fill, signal").notification_kinds == (
        NotificationKind.SIGNAL,
        NotificationKind.FILL,
    )


def test_a_kind_without_an_event_is_refused_naming_the_valid_ones() -> None:
    with pytest.raises(ValidationError) as raised:
        NotifierSettings(notify_events="fill,margin_call,halts")
    message = str(raised.value)
    assert "names margin_call, halts" in message
    assert "choose from signal,order,fill,execution_failed,halt,llm_budget" in message


def test_halts_and_llm_budget_crossings_are_kinds_to_choose() -> None:
    assert NotifierSettings(notify_events="llm_budget,halt").notification_kinds == (
        NotificationKind.HALT,
        NotificationKind.LLM_BUDGET,
    )


def test_targets_show_their_urls_with_secrets_masked() -> None:
    [telegram, mail] = targets_of(["tgram://123456:ABCDEFGHsecret/98765", "mailto://user:hunter22@example.org"])
    assert "ABCDEFGHsecret" not in telegram.shown and telegram.shown.startswith("tgram://")
    assert "hunter22" not in mail.shown and "****" in mail.shown


def test_a_url_apprise_cannot_send_to_stops_the_service_naming_it_by_number_and_scheme() -> None:
    with pytest.raises(InvalidNotificationUrlError, match=r"URL number 2 \(scheme 'nosuch'\)"):
        targets_of(["json://127.0.0.1:9/a", "nosuch://secret-token@x"])
