"""Where the SQL-tester files are: ``--tests DIR``, else ``$SINKAPP_SQL_TESTS``, else the copy the
repository vendors (``tests/fixtures/starrocks-sql-tests/test/sql``, found from the repository root as
:mod:`sinkapp_testkit.kafka.jars` finds it).

``DIR`` is a StarRocks checkout's ``test/sql`` (or any directory below it): R files are the files in
directories named ``R``; ``${root_path}`` in them is the ``test`` directory above ``sql`` (their data
files are ``${root_path}/common/data/...`` and ``${root_path}/sql/<suite>/data/...``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConformanceError

REPO_ROOT = Path(__file__).resolve().parents[4]
VENDORED = REPO_ROOT / "tests" / "fixtures" / "starrocks-sql-tests" / "test" / "sql"
ENV = "SINKAPP_SQL_TESTS"


def tests_dir(given: str | os.PathLike[str] | None = None) -> Path:
    """The directory to replay; :class:`ConformanceError` saying what was looked for when it is absent."""
    if given is not None:
        where, how = Path(given), "--tests"
    elif os.environ.get(ENV):
        where, how = Path(os.environ[ENV]), f"${ENV}"
    else:
        where, how = VENDORED, "the repository's copy"
    if not where.is_dir():
        raise ConformanceError(
            f"no StarRocks SQL-tester directory at {where} ({how}); point --tests (or ${ENV}) at a "
            "StarRocks checkout's test/sql, or run from a clone of sinkapp, which vendors them in "
            "tests/fixtures/starrocks-sql-tests")
    return where.resolve()


def r_files(root: Path) -> list[Path]:
    """Every R file under ``root`` (files directly in a directory named ``R``), sorted by path."""
    found = sorted(p for p in root.rglob("*") if p.is_file() and p.parent.name == "R"
                   and not p.name.startswith("."))
    if not found:
        raise ConformanceError(f"no R files under {root} (expected <suite>/R/<file>, as in StarRocks' test/sql)")
    return found


def root_path(r_file: Path) -> Path:
    """``${root_path}`` of an R file: the directory above the ``sql`` directory it lives in."""
    for parent in r_file.parents:
        if parent.name == "sql":
            return parent.parent
    return r_file.parents[3] if len(r_file.parents) > 3 else r_file.parent
