"""Replay StarRocks' own SQL-tester files (R files: statements with StarRocks' recorded answers)
against the Stream Load emulator and say, case by case, whether the emulator answers as StarRocks does.

    python -m sinkapp_testkit.streamload.conformance [--tests DIR] [--min-sink-pass 90] [--shell]

Modules: :mod:`.locate` (where the files are), :mod:`.rfile` (the R-file format), :mod:`.runner` (one
case against a fresh emulator), :mod:`.sqlcall` (SQL over the MySQL port with PyMySQL),
:mod:`.shellcmd` and :mod:`.httpcall` (``shell: curl ... | jq`` lines replayed over HTTP as curl sends
them), :mod:`.functions` (the tester's ``function:`` calls), :mod:`.compare` (the tester's result
comparison), :mod:`.relevance` (which cases a Kafka sink relies on, and why), :mod:`.report` (the
table), :mod:`.cli`.
"""

from .relevance import judge
from .runner import FAIL, PASS, UNSUPPORTED, Outcome, run_case

__all__ = ["FAIL", "PASS", "UNSUPPORTED", "Outcome", "judge", "run_case"]
