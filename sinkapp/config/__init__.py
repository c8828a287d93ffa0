"""Typed, frozen settings built from a Java-connector style JSON config plus ``SINKAPP_*`` env.

Who calls: ``sinkapp.cli`` (``worker``, ``check``) and ``sinkapp.worker.app`` at start-up.
``load_settings(path, env)`` raises :class:`~sinkapp.errors.ConfigError` with one message
naming the key, the value and what is allowed. Secrets are :class:`Secret` values: their
``repr``/``str`` never show the text.

Sources, later wins: the JSON file, then environment variables. Each key ``a.b.c`` may be set
as ``SINKAPP_A_B_C`` (so ``SINKAPP_STARROCKS_PASSWORD``); ``sink.properties.<x>`` as
``SINKAPP_SINK_PROPERTIES_<X>``. Any other ``SINKAPP_*`` variable is an error with a close match
(a misspelt override must not be ignored), except the few in :data:`NOT_CONFIG_VARS`.
"""

from __future__ import annotations

import difflib
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

__all__ = ["NOT_CONFIG_VARS", "ConverterSettings", "ErrorSettings", "KafkaSettings", "Secret", "Settings",
           "build_settings", "load_settings", "read_config_file", "starrocks_ssl_context"]

ENV_PREFIX = "SINKAPP_"

#: ``SINKAPP_*`` variables that are not config keys; every other ``SINKAPP_*`` name must map to a key
NOT_CONFIG_VARS = frozenset({
    "SINKAPP_CONFIG",                # the connector JSON file (``sinkapp worker --config`` sets it)
    "SINKAPP_WEB_PORT",              # the worker's web port, over sinkapp.web.port (sinkapp.worker.app)
    "SINKAPP_TRACEMALLOC",           # memory tracing: frames per allocation (sinkapp.observe.memtrace)
    "SINKAPP_KAFKA_HOME",            # the testkit's Kafka jars and broker home
    "SINKAPP_TEST_BOOTSTRAP",        # the tests' broker run by someone else
    "SINKAPP_SQL_TESTS",             # the emulator conformance runner's StarRocks SQL-tester files
    "SINKAPP_EXAMPLE_BROKER", "SINKAPP_EXAMPLE_PREFIX", "SINKAPP_EXAMPLE_PARTITIONS",   # examples/
    "SINKAPP_EXAMPLE_APP", "SINKAPP_EXAMPLE_EXACTLY_ONCE",                              # enrich_orders.py
})


def _env_name(key: str) -> str:
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", key).upper()


def _from_env(env: Mapping[str, str]) -> dict[str, str]:
    """Map ``SINKAPP_*`` variables back to config keys; ConfigError for one that maps to none."""
    by_env = {_env_name(k): k for k in KEYS}
    out: dict[str, str] = {}
    sp = ENV_PREFIX + "SINK_PROPERTIES_"
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name in NOT_CONFIG_VARS:
            continue
        if name in by_env:
            out[by_env[name]] = value
        elif name.startswith(sp) and len(name) > len(sp):
            out["sink.properties." + name[len(sp):].lower()] = value
        elif (side := _converter_side(name)) is not None:
            rest = name[len(f"{ENV_PREFIX}{side}_CONVERTER_"):].lower().replace("_", ".")
            out[f"{side.lower()}.converter.{rest}"] = value
        else:
            raise ConfigError(_unknown_var(name, by_env))
    return out


def _converter_side(name: str) -> str | None:
    for side in ("KEY", "VALUE"):
        p = f"{ENV_PREFIX}{side}_CONVERTER_"
        if name.startswith(p) and len(name) > len(p):
            return side
    return None


def _unknown_var(name: str, by_env: Mapping[str, str]) -> str:
    names = {n[len(ENV_PREFIX):]: n for n in sorted(by_env) + sorted(NOT_CONFIG_VARS)}   # compared without
    close = difflib.get_close_matches(name[len(ENV_PREFIX):], list(names), n=1)          # the common prefix
    if close:
        near = names[close[0]]
        key = f" ({by_env[near]})" if near in by_env else ""
        hint = f"; did you mean {near}{key}? Rename or unset it"
    else:
        hint = ". Rename or unset it"
    return (f"environment variable {name} sets no config key{hint} (a key a.b.c is set as SINKAPP_A_B_C, "
            "sink.properties.x as SINKAPP_SINK_PROPERTIES_X)")


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
    """Read the config file (optional) and ``SINKAPP_*`` overrides from ``env`` (default os.environ).

    With no file and no key set in the environment, a ConfigError says that no configuration was given."""
    from_env = _from_env(os.environ if env is None else env)
    if not path and not from_env:
        raise ConfigError("no configuration given: pass --config FILE (a connector JSON file, e.g. "
                          "config/connector-avro.json) or set SINKAPP_CONFIG=FILE; keys may also come from "
                          "SINKAPP_* environment variables (SINKAPP_STARROCKS_HTTP_URL, ...)")
    raw: dict[str, str] = read_config_file(path) if path else {}
    raw.update(from_env)
    return build_settings(raw)
