"""The ``sinkapp`` command line as a new user meets it: one version everywhere, help that names the
command as it was typed and explains every option, a worker with no configuration that says so,
``check``'s warning about a long flush interval, refusals of their own kind, and the testkit's
commands saying how to get the testkit when it is missing."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import sinkapp_testkit

import sinkapp
from sinkapp.cli import offsets
from sinkapp.cli.main import main
from sinkapp.errors import ResetRefused
from sinkapp.observe.web import connect_status
from sinkapp.pipeline.stats import Snapshot
from tests.workers import ROOT

cli_main = importlib.import_module("sinkapp.cli.main")    # the module (sinkapp.cli.main is also the function)

BASE = {"topics": "orders", "starrocks.http.url": "127.0.0.1:8030", "starrocks.database.name": "test",
        "starrocks.username": "root"}


@pytest.fixture(autouse=True)
def no_sinkapp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the user's shell would have: no SINKAPP_* key (the test process may carry some)."""
    for name in list(os.environ):
        if name.startswith("SINKAPP_"):
            monkeypatch.delenv(name)


# ---------------------------------------------------------------- one version


def test_one_version_in_pyproject_the_metadata_the_testkit_the_cli_and_status(
        capsys: pytest.CaptureFixture[str]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    testkit = tomllib.loads((ROOT / "testkit" / "pyproject.toml").read_text())["project"]
    v = project["version"]
    assert sinkapp.__version__ == importlib.metadata.version("sinkapp") == v
    assert sinkapp_testkit.__version__ == importlib.metadata.version("sinkapp-testkit") == testkit["version"] == v
    assert f"sinkapp=={v}" in testkit["dependencies"]
    assert f"sinkapp-testkit=={v}" in project["optional-dependencies"]["dev"]
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"sinkapp {v}\n"
    assert connect_status(Snapshot(), "s", 6066, 60.0)["version"] == v


# ---------------------------------------------------------------- help


def _parsers() -> dict[str, argparse.ArgumentParser]:
    from sinkapp_testkit import demo
    from sinkapp_testkit.kafka import cli as kafka_cli
    from sinkapp_testkit.registry import cli as registry_cli
    from sinkapp_testkit.streamload import cli as emulator_cli

    return {"worker": cli_main.worker_parser(), "check": cli_main.check_parser(), "offsets": offsets.build_parser(),
            "demo": demo.build_parser(), "kafka": kafka_cli.build_parser("sinkapp kafka"),
            "emulator": emulator_cli.build_parser("sinkapp emulator"),
            "registry": registry_cli.build_parser("sinkapp registry")}


def _walk(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    out = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out += _walk(sub)
    return out


@pytest.mark.parametrize("typed", ["worker", "check", "offsets", "offsets show", "offsets reset", "demo", "kafka",
                                   "kafka fetch", "kafka start", "kafka stop", "kafka status", "emulator",
                                   "registry"])
def test_help_names_the_command_as_typed(typed: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        main([*typed.split(), "--help"])
    assert ei.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: sinkapp {typed} ")


@pytest.mark.parametrize("command", ["worker", "check", "offsets", "demo", "kafka", "emulator", "registry"])
def test_every_option_has_help_and_no_raw_markup(command: str) -> None:
    missing, markup = [], []
    for parser in _walk(_parsers()[command]):
        for action in parser._actions:
            if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction) and not action.help:
                missing.append(f"{parser.prog} {'/'.join(action.option_strings) or action.dest}")
        if "``" in parser.format_help() or ":mod:" in parser.format_help():
            markup.append(parser.prog)
    assert not missing and not markup, (missing, markup)


def test_the_testkit_modules_name_themselves_when_run_with_python_m() -> None:
    for module in ("sinkapp_testkit.kafka", "sinkapp_testkit.streamload", "sinkapp_testkit.registry",
                   "sinkapp_testkit.demo"):
        out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.startswith(f"usage: python -m {module} "), out.stdout + out.stderr


def test_the_emulator_keeps_its_options() -> None:
    from sinkapp_testkit.streamload.cli import build_parser

    options = {o for a in build_parser()._actions for o in a.option_strings}
    assert options == {"-h", "--help", "--host", "--fe-port", "--be-port", "--admin-port", "--fes", "--bes",
                       "--user", "--password", "--database", "--ddl", "--no-store", "--count-only",
                       "--max-versions", "--compaction-per-s", "--mysql-port", "--schema-change-s",
                       "--versions-style"}


# ---------------------------------------------------------------- the testkit missing


@pytest.mark.parametrize("command", ["demo", "kafka", "emulator", "registry"])
def test_a_testkit_command_without_the_testkit_says_how_to_install_it(command: str) -> None:
    code = ("import sys; sys.modules['sinkapp_testkit'] = None; from sinkapp.cli.main import main; "
            f"sys.exit(main([{command!r}, '--help']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stdout == "", out.stdout + out.stderr
    assert out.stderr.startswith(f"sinkapp {command}: this command needs the sinkapp-testkit distribution")
    assert "pip install -e ./testkit" in out.stderr and "scripts/setup" in out.stderr


def test_a_testkit_dependency_missing_is_named() -> None:
    code = ("import sys; sys.modules['sqlglot'] = None; from sinkapp.cli.main import main; "
            "sys.exit(main(['emulator', '--help']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.startswith("sinkapp emulator: sqlglot, a dependency of the sinkapp-testkit"), out.stderr


# ---------------------------------------------------------------- worker, check, offsets


def test_a_worker_without_configuration_says_no_configuration_was_given(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sinkapp: configuration error: no configuration given: pass --config FILE")
    assert "SINKAPP_CONFIG" in err and "starrocks.http.url is required" not in err


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str], **over: str) -> str:
    f = tmp_path / "c.json"
    f.write_text(json.dumps({**BASE, **over}))
    assert main(["check", "--config", str(f)]) == 0
    return capsys.readouterr().out


def test_check_warns_when_the_first_rows_take_over_a_minute(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = check(tmp_path, capsys)                                # the default: 300000 ms
    assert ("warning: bufferflush.intervalms=300000 (5 min): a table's rows are loaded when its oldest buffered "
            "row is 5 min old") in out
    assert "the first rows appear in StarRocks up to 5 min after the worker reads them" in out
    assert "set bufferflush.intervalms=10000 or lower" in out
    assert "warning" not in check(tmp_path, capsys, **{"bufferflush.intervalms": "60000"})


def test_check_reads_sinkapp_config_when_no_config_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "c.json"
    f.write_text(json.dumps(BASE))
    monkeypatch.setenv("SINKAPP_CONFIG", str(f))
    assert main(["check"]) == 0 and "route orders -> test.orders" in capsys.readouterr().out


def test_a_reset_refusal_is_its_own_error_not_a_configuration_error(monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(argv: list[str], prog: str) -> int:
        raise ResetRefused("consumer group g has active members (w@h): stop every worker of the group first")

    monkeypatch.setattr(offsets, "main", refuse)
    assert main(["offsets", "reset", "--to-earliest"]) == 2
    err = capsys.readouterr().err
    assert err == ("sinkapp offsets reset: refused: consumer group g has active members (w@h): stop every worker "
                   "of the group first\n")


def test_reset_plans_that_cannot_be_done_raise_reset_refused() -> None:
    from sinkapp.pipeline.ledger import Entry
    from sinkapp.pipeline.types import Part

    part = Part("t", 0)
    loaded = offsets.Row(part, committed=100, end=100, begin=0, entry=Entry(99, {}, (), 0))
    with pytest.raises(ResetRefused, match=r"t\[0\]: moving to offset 0 goes back over records .* Add --reload"):
        offsets.plan_reset([loaded], {part: 0}, reload=False, epoch=0)
    pending = offsets.Row(part, committed=100, end=100, begin=0, entry=Entry(99, {}, ("lbl-1",), 0))
    with pytest.raises(ResetRefused, match="pending batch"):
        offsets.plan_reset([pending], {part: 100}, reload=True, epoch=1)
