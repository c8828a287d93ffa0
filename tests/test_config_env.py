"""``SINKAPP_*`` environment variables: each sets a config key or is one of the few that are not keys;
a misspelt one is an error with a close match, and no configuration at all says so."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sinkapp.config import NOT_CONFIG_VARS, load_settings
from sinkapp.errors import ConfigError
from tests.workers import ROOT

BASE = {
    "topics": "orders",
    "starrocks.http.url": "127.0.0.1:8030",
    "starrocks.database.name": "test",
    "starrocks.username": "root",
}


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    f = tmp_path / "c.json"
    f.write_text(json.dumps(BASE))
    return f


def test_a_misspelt_variable_is_an_error_naming_the_close_match(config_file: Path) -> None:
    with pytest.raises(ConfigError) as ei:
        load_settings(config_file, env={"SINKAPP_BUFFERFLUSH_INTERVALSMS": "5000"})
    msg = str(ei.value)
    assert msg.startswith("environment variable SINKAPP_BUFFERFLUSH_INTERVALSMS sets no config key")
    assert "did you mean SINKAPP_BUFFERFLUSH_INTERVALMS (bufferflush.intervalms)?" in msg


def test_an_unknown_variable_far_from_any_key_is_an_error_too(config_file: Path) -> None:
    with pytest.raises(ConfigError, match="SINKAPP_QQQ sets no config key. Rename or unset it"):
        load_settings(config_file, env={"SINKAPP_QQQ": "1"})


def test_the_value_of_an_unknown_variable_is_never_shown(config_file: Path) -> None:
    with pytest.raises(ConfigError) as ei:
        load_settings(config_file, env={"SINKAPP_STARROCKS_PASWORD": "hunter2-secret"})
    assert "did you mean SINKAPP_STARROCKS_PASSWORD" in str(ei.value) and "hunter2" not in str(ei.value)


def test_variables_that_are_not_keys_and_prefixed_families_are_accepted(config_file: Path) -> None:
    env = {name: "x" for name in NOT_CONFIG_VARS}
    env.update({"SINKAPP_SINK_PROPERTIES_COLUMNS": "a,b", "SINKAPP_VALUE_CONVERTER_BASIC_AUTH_USER_INFO": "k:s",
                "SINKAPP_BUFFERFLUSH_INTERVALMS": "5000", "PATH": "/bin", "OTHER_THING": "1"})
    s = load_settings(config_file, env=env)
    assert s.bufferflush_intervalms == 5000 and s.sink_properties["columns"] == "a,b"


def _names_in_repository() -> set[str]:
    """Every ``SINKAPP_*`` name the repository's code, scripts and README use."""
    names: set[str] = set()
    for top in ("sinkapp", "testkit", "tests", "benchmarks", "examples", "scripts", ".ci"):
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and path.suffix in ("", ".py", ".md", ".sh", ".toml") and "__pycache__" not in path.parts:
                names |= set(re.findall(r"\bSINKAPP_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(errors="replace")))
    names |= set(re.findall(r"\bSINKAPP_[A-Z0-9_]*[A-Z0-9]\b", (ROOT / "README.md").read_text()))
    placeholders = {"SINKAPP_A_B_C", "SINKAPP_X", "SINKAPP_SINK_PROPERTIES_X", "SINKAPP_QQQ",
                    "SINKAPP_BUFFERFLUSH_INTERVALSMS", "SINKAPP_STARROCKS_PASWORD"}   # docs and this file
    return names - placeholders


def test_every_variable_the_repository_uses_is_accepted(config_file: Path) -> None:
    names = _names_in_repository()
    assert {"SINKAPP_CONFIG", "SINKAPP_KAFKA_HOME", "SINKAPP_STARROCKS_PASSWORD"} <= names
    refused = []
    for name in sorted(names):
        try:
            load_settings(config_file, env={name: "1" if "PORT" in name or "MS" in name else "x"})
        except ConfigError as exc:
            if "sets no config key" in str(exc):
                refused.append(name)
    assert not refused, f"SINKAPP_* names used in the repository but refused (add to NOT_CONFIG_VARS?): {refused}"


def test_no_file_and_no_key_in_the_environment_says_no_configuration_was_given() -> None:
    with pytest.raises(ConfigError) as ei:
        load_settings(None, env={"SINKAPP_CONFIG": "", "HOME": "/root"})
    msg = str(ei.value)
    assert msg.startswith("no configuration given: pass --config FILE") and "SINKAPP_CONFIG=FILE" in msg


def test_a_configuration_from_the_environment_alone_still_works() -> None:
    env = {"SINKAPP_" + k.upper().replace(".", "_"): v for k, v in BASE.items()}
    assert load_settings(None, env=env).database == "test"
