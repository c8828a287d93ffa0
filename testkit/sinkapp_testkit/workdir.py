"""The work directory of a demo or benchmark run: made in the temp dir and removed when the run ends.

Who calls: ``sinkapp demo`` and the scripts in benchmarks/. ``--work DIR`` names a directory the run
uses and never removes; ``--keep`` keeps the temporary one. A run that fails (a non-zero exit status
or an exception) keeps it too, for its logs, and says where it is.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def add_work_options(parser: argparse.ArgumentParser) -> None:
    """``--work DIR`` and ``--keep`` on a command's parser."""
    parser.add_argument("--work", type=Path, metavar="DIR",
                        help="work directory (logs, configs, the broker's data); kept after the run "
                             "(default: a new one in the temp dir, removed after a successful run)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary work directory after a successful run")


def run_in_work_dir(prefix: str, args: argparse.Namespace, run: Callable[[Path], int],
                    say: Callable[[str], None] = print) -> int:
    """``run(work)`` in ``args.work`` or a new temporary directory; the temporary one is removed after
    a run that returned 0 unless ``args.keep``. Returns what ``run`` returned."""
    given: Path | None = getattr(args, "work", None)
    work = given or Path(tempfile.mkdtemp(prefix=prefix))
    work.mkdir(parents=True, exist_ok=True)
    rc = 1
    try:
        rc = run(work)
        return rc
    finally:
        if given is not None:
            pass
        elif getattr(args, "keep", False):
            say(f"work directory kept: {work}")
        elif rc != 0:
            say(f"work directory kept for its logs (the run failed): {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
