"""``sinkapp demo``: the walkthrough runs end to end and loads every produced order; it counts the
loads that wrote rows, and removes its work directory unless asked to keep it (the benchmarks share
that rule, :mod:`sinkapp_testkit.workdir`)."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from sinkapp_testkit.demo import data_loads
from sinkapp_testkit.workdir import add_work_options, run_in_work_dir


@pytest.mark.kafka
def test_short_demo_loads_every_produced_row(kafka: object, tmp_path: Path) -> None:
    # `kafka` only orders this after the broker tests; the demo starts its own broker like a user's run
    out = subprocess.run([sys.executable, "-m", "sinkapp.cli", "demo", "--duration", "8", "--rate", "500"],
                         capture_output=True, text=True, timeout=240, env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    m = re.search(r"totals: produced=(\d+) loaded=(\d+) loads=(\d+) worker_exit=0 -> OK", out.stdout)
    assert m, out.stdout[-3000:]
    produced, loaded, loads = map(int, m.groups())
    assert produced > 1000 and loaded == produced and loads >= 1
    assert "sample of test.test123:" in out.stdout and '"city": "City_' in out.stdout
    assert re.search(r"lag=\d+", out.stdout)
    assert list(tmp_path.iterdir()) == []                      # the work directory went with the run


def record(status: str, rows: int) -> SimpleNamespace:
    return SimpleNamespace(status=status, rows_loaded=rows)


def test_loads_count_the_loads_that_wrote_rows_only() -> None:
    records = [record("Fail", 0),                      # the worker's start-up check: a zero-row load
               record("Success", 500), record("Label Already Exists", 0), record("Publish Timeout", 20),
               record("Fail", 0), record("Success", 0)]
    assert data_loads(records) == 2


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_work_options(p)
    return p.parse_args(argv)


def test_a_temporary_work_directory_goes_after_a_successful_run(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    said: list[str] = []
    seen: list[Path] = []

    def run(work: Path) -> int:
        (work / "worker.log").write_text("log")
        seen.append(work)
        return 0

    assert run_in_work_dir("sinkapp-x-", parse([]), run, said.append) == 0
    assert seen[0].parent == tmp_path and not seen[0].exists() and said == []


def test_keep_or_a_failed_run_keeps_it_and_says_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    said: list[str] = []
    assert run_in_work_dir("sinkapp-x-", parse(["--keep"]), lambda work: 0, said.append) == 0
    assert run_in_work_dir("sinkapp-x-", parse([]), lambda work: 1, said.append) == 1
    with pytest.raises(RuntimeError):
        run_in_work_dir("sinkapp-x-", parse([]), lambda work: _raise(), said.append)
    kept = sorted(tmp_path.iterdir())
    assert len(kept) == 3 and all(p.is_dir() for p in kept)
    assert said[0].startswith("work directory kept: ")
    assert said[1].startswith("work directory kept for its logs (the run failed): ") and said[2].startswith(
        "work directory kept for its logs")


def _raise() -> int:
    raise RuntimeError("the run broke")


def test_a_given_work_directory_is_used_and_never_removed(tmp_path: Path) -> None:
    work = tmp_path / "mine"
    said: list[str] = []
    assert run_in_work_dir("sinkapp-x-", parse(["--work", str(work)]), lambda w: 0 if w == work else 1,
                           said.append) == 0
    assert work.is_dir() and said == []
