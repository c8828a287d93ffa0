"""Typed, frozen settings built from a Java-connector style JSON config plus ``SINKAPP_*`` env.

Who calls: ``sinkapp.cli`` (``worker``, ``check``) and ``sinkapp.worker.app`` at start-up.
``load_settings(path, env)`` raises :class:`~sinkapp.errors.ConfigError` with one message
naming the key, the value and what is allowed. Secrets are :class:`Secret` values: their
``repr``/``str`` never show the text.

Sources, later wins: the JSON file, then environment variables. Each key ``a.b.c`` may be set
as ``SINKAPP_A_B_C`` (so ``SINKAPP_STARROCKS_PASSWORD``); ``sink.properties.<x>`` as
``SINKAPP_SINK_PROPERTIES_<X>``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

from sinkapp.config.checks import cross_checks, starrocks_ssl_context
from sinkapp.config.keys import KEYS
from sinkapp.config.parse import parse_settings
from sinkapp.config.types import ConverterSettings, ErrorSettings, KafkaSettings, Secret, Settings
from sinkapp.errors import ConfigError

__all__ = ["ConverterSettings", "ErrorSettings", "KafkaSettings", "Secret", "Settings", "build_settings",
           "load_settings", "read_config_file", "starrocks_ssl_context"]

ENV_PREFIX = "SINKAPP_"


def _env_name(key: str) -> str:
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", key).upper()


def _from_env(env: Mapping[str, str]) -> dict[str, str]:
    """Map ``SINKAPP_*`` variables back to config keys."""
    by_env = {_env_name(k): k for k in KEYS}
    out: dict[str, str] = {}
    sp = ENV_PREFIX + "SINK_PROPERTIES_"
    for name, value in env.items():
        if name in by_env:
            out[by_env[name]] = value
        elif name.startswith(sp) and len(name) > len(sp):
            out["sink.properties." + name[len(sp):].lower()] = value
        for side in ("KEY", "VALUE"):
            p = f"{ENV_PREFIX}{side}_CONVERTER_"
            if name.startswith(p) and name not in by_env:
                rest = name[len(p):].lower().replace("_", ".")
                out[f"{side.lower()}.converter.{rest}"] = value
    return out


def read_config_file(path: str | Path) -> dict[str, str]:
    """Read a connector JSON file: either a flat object or Connect's ``{"name":…, "config":{…}}``."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {str(p)!r} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config file {str(p)!r} is not valid JSON: {exc}") from None
    if isinstance(raw, dict) and isinstance(raw.get("config"), dict):
        name = raw.get("name")
        raw = dict(raw["config"])
        if name and "name" not in raw:
            raw["name"] = name
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {str(p)!r} must hold a JSON object of connector keys")
    return {str(k): ("" if v is None else str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in raw.items()}


def build_settings(raw: Mapping[str, str]) -> Settings:
    """Validate a flat key → string mapping into :class:`Settings`."""
    s = parse_settings(raw)
    cross_checks(s)
    return s


def load_settings(path: str | Path | None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the config file (optional) and ``SINKAPP_*`` overrides from ``env`` (default os.environ)."""
    raw: dict[str, str] = read_config_file(path) if path else {}
    raw.update(_from_env(os.environ if env is None else env))
    return build_settings(raw)
