"""Keeping secrets out of what tradelane writes: log lines, error messages, CLI output, files.

Two rules, applied together by :func:`redact`:

- **Passwords in URLs and parameters**: the password of any URL-like value
  (``postgresql://user:PASSWORD@host/db``, ``nats://user:PASSWORD@host``) and the value of any
  ``password=`` / ``api_key=`` / ``secret=`` style parameter is masked, whether or not anyone
  registered it, so a DSN from any source is safe to show.
- **Registered secrets**: every value given to :func:`register_secret` is masked wherever it
  appears (an API key echoed in a server's error message, a password on its own). A process
  registers its settings' secrets once at start-up with :func:`register_settings_secrets`:
  every ``SecretStr`` field, and the password of every URL-valued field.

The registry is per process and only grows; values shorter than :data:`MIN_SECRET_LENGTH`
are not registered (masking every "ab" in every log line would hide more than it protects,
and such a value is no secret anyway).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote

from pydantic import BaseModel, SecretStr

MASK = "***"
MIN_SECRET_LENGTH = 4

_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s]*:)(?P<password>[^/?#\s]*)@",
)
"""``scheme://user:password@``; the password runs to the last ``@`` of the authority."""
_URL_START = re.compile(r"^\s*[a-zA-Z][a-zA-Z0-9+.-]*://")

_SENSITIVE_NAME = r"\w*?(?:password|passwd|pwd|secret|api[_-]?key|apikey|credentials?)"
_SENSITIVE_KEY = re.compile(rf"(?i)^{_SENSITIVE_NAME}$")
_SENSITIVE_PARAMETER = re.compile(rf"(?i)(?P<head>\b{_SENSITIVE_NAME}\s*=\s*)(?P<value>[^&\s'\",;)]+)")
"""``password=...`` in a query string, a libpq ``key=value`` DSN or a message."""

_lock = threading.Lock()
_registered: set[str] = set()
_registered_pattern: re.Pattern[str] | None = None


def register_secret(value: str | SecretStr | None) -> None:
    """Mask ``value`` in everything this process redacts from now on (a URL registers only its password, if any).

    Its percent-encoded and -decoded forms are registered too, so a password is masked both
    as typed in a DSN and as a server or library may echo it.
    """
    global _registered_pattern  # noqa: PLW0603 - one registry per process, by design
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not text:
        return
    secrets = url_passwords(text) if _URL_START.match(text) else [text]
    forms = {form for secret in secrets for form in (secret, unquote(secret), quote(secret, safe=""))}
    fresh = {form for form in forms if len(form) >= MIN_SECRET_LENGTH and form != MASK} - _registered
    if not fresh:
        return
    with _lock:
        _registered.update(fresh)
        # longest first, so a secret that contains another is masked whole
        alternatives = sorted(_registered, key=len, reverse=True)
        _registered_pattern = re.compile("|".join(re.escape(secret) for secret in alternatives))


def register_settings_secrets(settings: BaseModel) -> None:
    """Register every ``SecretStr`` field of ``settings`` and the password of every URL-valued field.

    Call it once where a process reads its settings (the service runner, the gateway, the CLI),
    so any secret a settings class declares, now or later, is masked without further wiring.
    """
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr) or (isinstance(value, str) and url_passwords(value)):
            register_secret(value)


def url_passwords(text: str) -> list[str]:
    """The non-empty passwords of the URLs in ``text`` (a comma-separated server list has several)."""
    return [match["password"] for match in _URL_PASSWORD.finditer(text) if match["password"]]


def redact(text: str) -> str:
    """``text`` with URL passwords, password-like parameters and registered secrets masked."""
    text = _URL_PASSWORD.sub(_mask_url_password, text)
    text = _SENSITIVE_PARAMETER.sub(lambda match: f"{match['head']}{MASK}", text)
    pattern = _registered_pattern
    return pattern.sub(MASK, text) if pattern is not None else text


def is_sensitive_name(name: str) -> bool:
    """Whether a field or log key named ``name`` holds a secret by its very name (``password``, ``api_key``)."""
    return bool(_SENSITIVE_KEY.match(name))


def redact_value(value: object) -> object:
    """``value`` with every string in it redacted; containers are copied, other objects kept unless their repr leaks.

    An object that is neither a string, a number nor a container is rendered by its ``repr``
    in a log line; when that repr holds a secret (an exception quoting a DSN) the redacted
    repr replaces it.
    """
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float | SecretStr):
        return value
    if isinstance(value, Mapping):
        return {key: MASK if _named_secret(key) else redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items: Iterable[object] = (redact_value(item) for item in value)
        return list(items) if isinstance(value, list) else tuple(items)
    shown = repr(value)
    cleaned = redact(shown)
    return value if cleaned == shown else cleaned


def _named_secret(key: object) -> bool:
    return isinstance(key, str) and is_sensitive_name(key)


def _mask_url_password(match: re.Match[str]) -> str:
    return f"{match['head']}{MASK}@" if match["password"] else match[0]
