"""StarRocks SQL-tester R files → cases (the format of StarRocks' ``test/lib/choose_cases.py``).

A file holds cases, each starting ``-- name: <name> [@tag ...]``. A case is a list of steps:

* a statement: SQL (several lines up to one ending ``;``), ``shell: <command>`` or ``function:
  <call>`` (one line each), optionally prefixed ``[UC]`` (run, result not checked) and, for SQL,
  ``[ORDER]`` (rows compared in order); it may be followed by its expected result between
  ``-- result:`` and ``-- !result`` (no block: the step is run and not checked);
* ``CONCURRENCY {`` ... ``} END CONCURRENCY``: threads (``-- <thread name>[(n)]:`` then its
  statements) run at the same time, each on its own connection;
* ``LOOP``, ``SET_VAR`` and ``CLEANUP`` blocks are kept as :class:`Block` steps (not replayed).

Other lines starting ``--`` and empty lines are skipped. Placeholders (``${uuid0}``, ``${url}``,
``${root_path}``) stay in the text: :mod:`.runner` replaces them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConformanceError

NAME = "-- name: "
RESULT, RESULT_END = "-- result:", "-- !result"
UNCHECK, ORDER = "[UC]", "[ORDER]"
SHELL, FUNCTION = "shell: ", "function: "
CONCURRENCY, END_CONCURRENCY = "CONCURRENCY", "END CONCURRENCY"
_THREAD = re.compile(r"^-- ([0-9a-zA-Z_\- ]+?)(?:\((\d+)\))?:$")


@dataclass
class Statement:
    text: str                      # without [UC] / [ORDER]
    expected: str | None           # None: no result block, not checked
    line: int                      # 1-based line of the statement in its file
    uncheck: bool = False
    order: bool = False

    @property
    def kind(self) -> str:
        if self.text.startswith(SHELL):
            return "shell"
        if self.text.startswith(FUNCTION):
            return "function"
        return "sql"

    @property
    def body(self) -> str:
        """The statement without its ``shell: `` / ``function: `` prefix."""
        for prefix in (SHELL, FUNCTION):
            if self.text.startswith(prefix):
                return self.text[len(prefix):]
        return self.text


@dataclass
class Thread:
    name: str
    count: int
    steps: list[Statement]


@dataclass
class Concurrent:
    threads: list[Thread]
    line: int


@dataclass
class Block:
    """A ``LOOP`` / ``SET_VAR`` / ``CLEANUP`` block: read past, not replayed (the runner says so)."""
    kind: str
    line: int


Step = Statement | Concurrent | Block
_BLOCK = re.compile(r"(LOOP|SET_VAR|CLEANUP)\s*\{\s*$")


@dataclass
class Case:
    name: str
    tags: list[str]
    file: Path
    line: int
    steps: list[Step] = field(default_factory=list)

    def statements(self) -> list[Statement]:
        out: list[Statement] = []
        for step in self.steps:
            if isinstance(step, Concurrent):
                out.extend(s for t in step.threads for s in t.steps)
            elif isinstance(step, Statement):
                out.append(step)
        return out


def parse_file(path: Path) -> list[Case]:
    return _Parser(path, path.read_text(encoding="utf-8").split("\n")).cases()


class _Parser:
    def __init__(self, path: Path, lines: list[str]) -> None:
        self.path, self.lines, self.i = path, lines, 0

    def fail(self, why: str) -> ConformanceError:
        return ConformanceError(f"{self.path}:{self.i + 1}: {why}")

    def cases(self) -> list[Case]:
        cases: list[Case] = []
        while self.i < len(self.lines):
            line = self.lines[self.i].rstrip()
            if line.startswith(NAME):
                m = re.match(r"-- name: ([a-zA-Z0-9_-]+)", line)
                if m is None:
                    raise self.fail("a case name")
                cases.append(Case(m.group(1), re.findall(r"@([a-zA-Z0-9_-]+)", line), self.path, self.i + 1))
                self.i += 1
            elif not line or line.startswith("--"):
                self.i += 1
            elif not cases:
                raise self.fail("a statement before the first '-- name:'")
            elif line.startswith(CONCURRENCY):
                cases[-1].steps.append(self._concurrency())
            elif (block := _BLOCK.match(line)) is not None:
                cases[-1].steps.append(self._block(block.group(1)))
            else:
                cases[-1].steps.append(self._statement())
        return cases

    def _block(self, kind: str) -> Block:
        start = self.i
        end = re.compile(rf"\}}\s*END {kind}\s*$")
        while self.i < len(self.lines) and not end.match(self.lines[self.i].strip()):
            self.i += 1
        if self.i >= len(self.lines):
            raise self.fail(f"'}} END {kind}' for the block of line {start + 1}")
        self.i += 1
        return Block(kind, start + 1)

    def _statement(self) -> Statement:
        first = self.i
        raw = self.lines[self.i]
        indent = len(raw) - len(raw.lstrip())
        text = raw.lstrip()     # as the tester: a trailing space after ';' continues the statement
        self.i += 1
        parts = [text]
        body = text[len(UNCHECK):] if text.startswith(UNCHECK) else text
        if not body.startswith((SHELL, FUNCTION)) and not text.endswith(";"):
            while self.i < len(self.lines):    # SQL over several lines, up to one ending with ';'
                cont = re.sub(rf"^ {{{indent}}}", "", self.lines[self.i].rstrip("\n"))
                self.i += 1
                if not cont.startswith("--"):
                    parts.append(cont)
                    if cont.endswith(";"):
                        break
        expected = self._result(indent)
        stmt = Statement("\n".join(parts), expected, first + 1)
        if stmt.text.startswith(UNCHECK):
            stmt.text, stmt.uncheck = stmt.text[len(UNCHECK):], True
        if stmt.text.startswith(ORDER):
            stmt.text, stmt.order = stmt.text[len(ORDER):], True
        return stmt

    def _result(self, indent: int) -> str | None:
        if self.i >= len(self.lines) or not self.lines[self.i].lstrip().startswith(RESULT):
            return None
        block: list[str] = []
        while self.i < len(self.lines):
            line = re.sub(rf"^ {{{indent}}}", "", self.lines[self.i].rstrip("\n"))
            block.append(line)
            self.i += 1
            if line.startswith(RESULT_END):
                break
        return "\n".join(block[1:-1])

    def _concurrency(self) -> Concurrent:
        start = self.i
        if not re.fullmatch(rf"{CONCURRENCY}\s*{{\s*", self.lines[self.i].strip()):
            raise self.fail("'CONCURRENCY {'")
        self.i += 1
        threads: list[Thread] = []
        while self.i < len(self.lines) and END_CONCURRENCY not in self.lines[self.i]:
            line = self.lines[self.i].strip()
            if not line:
                self.i += 1
                continue
            m = _THREAD.match(line)
            if m is None:
                raise self.fail(f"a thread line '-- <name>:' in CONCURRENCY, got {line!r}")
            self.i += 1
            thread = Thread(m.group(1), int(m.group(2) or 1), [])
            while self.i < len(self.lines):
                here = self.lines[self.i].strip()
                if _THREAD.match(here) or END_CONCURRENCY in here:
                    break
                if not here or here.startswith("--"):
                    self.i += 1
                    continue
                thread.steps.append(self._statement())
            threads.append(thread)
        if self.i >= len(self.lines):
            raise self.fail("'} END CONCURRENCY'")
        self.i += 1
        return Concurrent(threads, start + 1)
