"""``sinkapp demo``: the walkthrough runs end to end and loads every produced order."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.kafka


def test_short_demo_loads_every_produced_row(kafka: object) -> None:
    # `kafka` only orders this after the broker tests; the demo starts its own broker like a user's run
    out = subprocess.run([sys.executable, "-m", "sinkapp.cli", "demo", "--duration", "8", "--rate", "500"],
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    m = re.search(r"totals: produced=(\d+) loaded=(\d+) loads=(\d+) worker_exit=0 -> OK", out.stdout)
    assert m, out.stdout[-3000:]
    produced, loaded, loads = map(int, m.groups())
    assert produced > 1000 and loaded == produced and loads >= 1
    assert "sample of test.test123:" in out.stdout and '"city": "City_' in out.stdout
    assert re.search(r"lag=\d+", out.stdout)
