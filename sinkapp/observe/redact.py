"""One redaction point for secrets: log records (every logger, third-party ones included), error
texts and web pages.

Who calls: :func:`sinkapp.worker.app.create_app` registers the worker's secrets (``register_settings``)
and installs the log record factory (``install``) before any client starts; the status page and
the route stop reasons pass their text through :func:`redact`.

What is hidden:
- the password of every URL with user information (``http://key:secret@host`` →
  ``http://key:******@host``), whatever its source (registry URLs pasted with credentials,
  URLs inside exception texts);
- every registered secret value wherever it appears (StarRocks and SASL passwords, registry
  ``key:secret`` user info and its secret part), e.g. inside aiokafka's debug-level repr of a
  ``SaslAuthenticateRequest``, which carries the PLAIN password bytes.

Log records are redacted when they are created (``logging.setLogRecordFactory``), so no handler,
formatter or logger configuration set up later by Faust can bypass it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

MASK = "******"
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s'\"]*):(?P<pw>[^@/\s'\"]+)@")

_lock = threading.Lock()
_secrets: list[str] = []
_pattern: re.Pattern[str] | None = None
_installed = False


def register(values: Iterable[str | None]) -> None:
    """Add secret values (empty and very short ones are ignored: masking them would mangle text)."""
    global _pattern
    with _lock:
        for v in values:
            if v and len(v) >= 4 and v not in _secrets:
                _secrets.append(v)
                if ":" in v:                          # key:secret user info: the secret alone too
                    tail = v.split(":", 1)[1]
                    if len(tail) >= 4 and tail not in _secrets:
                        _secrets.append(tail)
        forms = set()
        for s in _secrets:
            forms.update({s, repr(s.encode())[2:-1]})   # as text, and as it appears in a bytes repr
        ordered = sorted(forms, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None


def register_settings(settings: Any) -> None:
    """Register every secret of a :class:`sinkapp.config.Settings`."""
    vals: list[str | None] = []
    for secret in (settings.password, settings.registry_user_info, getattr(settings.tables, "jdbc_password", None),
                   getattr(settings.kafka, "sasl_password", None),
                   getattr(settings.key_converter, "registry_user_info", None),
                   getattr(settings.value_converter, "registry_user_info", None)):
        if secret is not None:
            vals.append(secret.get())
    for url in (settings.registry_url, getattr(settings.value_converter, "registry_url", None),
                getattr(settings.key_converter, "registry_url", None)):
        m = _URL_USERINFO.search(url or "")
        if m:
            vals.append(m.group("pw"))
    register(vals)


def redact(text: str) -> str:
    """``text`` with URL passwords and every registered secret masked."""
    if not text:
        return text
    text = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{MASK}@", text)
    pattern = _pattern
    return pattern.sub(MASK, text) if pattern is not None else text


def install() -> None:
    """Redact every log record at creation (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    base = logging.getLogRecordFactory()
    formatter = logging.Formatter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:                             # a bad format string: leave it to logging
            return record
        clean = redact(message)
        if clean != message or record.args:
            record.sinkapp_args = record.args         # what a filter may judge by (never logged)
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(formatter.formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)
