"""Secrets never reach logs, reprs, errors or web pages (sinkapp.observe.redact)."""

from __future__ import annotations

import logging

import pytest

from sinkapp.observe import redact


def test_url_passwords_are_masked_whatever_the_scheme() -> None:
    text = "GET http://sr-key:sr-secret@registry:8081/schemas/ids/1 and https://a:b%40c@h/x sasl_ssl://u:p@h:9"
    out = redact.redact(text)
    assert "sr-secret" not in out and "b%40c" not in out and ":p@" not in out
    assert "http://sr-key:******@registry:8081/schemas/ids/1" in out


def test_registered_secrets_are_masked_as_text_and_inside_bytes_reprs() -> None:
    redact.register(["alice-s3cr3t", "key:ünïcode-secret", "ab"])      # "ab": too short to mask
    raw = repr(b"\x00alice\x00alice-s3cr3t") + " " + repr("ünïcode-secret".encode())
    out = redact.redact(f"SaslAuthenticateRequest(auth_bytes={raw}) key:ünïcode-secret ab")
    assert "alice-s3cr3t" not in out and "ünïcode-secret" not in out
    assert "\\xc3\\xbcn\\xc3\\xafcode-secret" not in out
    assert out.endswith(" ab")


def test_installed_factory_redacts_every_logger_args_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    redact.register(["tr4ce-secret"])
    redact.install()
    redact.install()                                   # idempotent
    other = logging.getLogger("aiokafka.conn")         # a third-party logger
    with caplog.at_level(logging.DEBUG):
        other.debug("Request %r", {"password": "tr4ce-secret"})
        try:
            raise ValueError("connect to http://u:tr4ce-secret@h failed")
        except ValueError:
            other.exception("failed")
    assert "tr4ce-secret" not in caplog.text
    assert "******" in caplog.text and "ValueError" in caplog.text
