"""Replay one case against a fresh emulator and judge it (pass / fail / unsupported).

Each case gets its own :class:`~sinkapp_testkit.streamload.EmulatorThread` (user ``root``, no password,
MySQL front on a free port) and a PyMySQL session; ``${uuid0}``, ``${url}`` (the FE) and ``${root_path}``
are replaced as the tester replaces them. A case without ``CREATE DATABASE`` runs in a
``test_db_<hex>`` database created first, as the tester does. Steps run in order; the first mismatch
ends the case (the tester's assertions stop it there too).

A case that does not pass is *unsupported* rather than failed when it reached something not emulated:
the emulator answered a Stream Load or a statement with a message starting ``emulator:`` (it says so
instead of pretending), a ``shell:`` line could not be replayed, or a tester function is unknown.
The reason names it.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..thread import EmulatorThread
from . import functions, httpcall, shellcmd
from .compare import check
from .locate import root_path
from .relevance import judge
from .rfile import Block, Case, Concurrent, Statement
from .sqlcall import Session

PASS, FAIL, UNSUPPORTED = "pass", "fail", "unsupported"
NOT_RUN = "emulator: not run, an earlier statement"
OTHER_CLIENTS = ("trino: ", "spark: ", "hive: ")


class HarnessGap(Exception):
    """The harness cannot replay a step (untranslatable shell line, unknown function, unresolved ${var})."""


@dataclass
class Outcome:
    file: str
    case: str
    status: str
    reason: str
    sink: bool
    why: str
    seconds: float = 0.0


@dataclass
class _State:
    failure: str | None = None
    gap: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, why: str) -> None:
        with self.lock:
            if self.failure is None:
                self.failure = why

    def missing(self, why: str) -> None:
        with self.lock:
            if self.gap is None:
                self.gap = why


class CaseRun:
    def __init__(self, case: Case, label: str, *, real_shell: bool = False) -> None:
        self.case, self.label, self.real_shell = case, label, real_shell
        self.root = root_path(case.file)
        self.vars: dict[str, str] = {"uuid0": uuid.uuid4().hex, "root_path": str(self.root)}
        self.state = _State()
        self.port = 0

    def run(self) -> Outcome:
        t0 = time.monotonic()
        sink, why = judge(self.case)
        with EmulatorThread(user="root", password="", mysql_port=0) as emu:
            self.vars["url"] = emu.fe_url
            self.port = emu.mysql_port
            session = Session(self.port)
            try:
                self._prepare_db(session)
                self._steps(session)
            finally:
                session.close()
            gaps = _emulator_gaps(emu)
        if self.state.failure is None:
            status, reason = PASS, ""
        elif self.state.gap or gaps:
            status, reason = UNSUPPORTED, self.state.gap or gaps[0]
        else:
            status, reason = FAIL, self.state.failure
        return Outcome(self.label, self.case.name, status, reason, sink, why, time.monotonic() - t0)

    def _prepare_db(self, session: Session) -> None:
        if any("CREATE DATABASE" in s.text.upper() for s in self.case.statements()):
            return
        name = f"test_db_{uuid.uuid4().hex}"
        session.run(f"CREATE DATABASE {name}")
        session.run(f"USE {name}")

    def _steps(self, session: Session) -> None:
        for step in self.case.steps:
            if isinstance(step, Concurrent):
                self._concurrent(step, session.database())
            elif isinstance(step, Block):
                self.state.missing(f"harness: {step.kind} blocks are not replayed (line {step.line})")
                self.state.fail(f"line {step.line}: not replayed")
            else:
                self._statement(step, session)
            if self.state.failure is not None:
                return

    def _concurrent(self, step: Concurrent, db: str | None) -> None:
        def worker(steps: list[Statement]) -> None:
            sess = Session(self.port, database=db)
            try:
                for stmt in steps:
                    self._statement(stmt, sess)
                    if self.state.failure is not None:
                        return
            finally:
                sess.close()
        threads = [threading.Thread(target=worker, args=(t.steps,), name=f"conformance {t.name}")
                   for t in step.threads for _ in range(t.count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _statement(self, stmt: Statement, session: Session) -> None:
        try:
            text = self._substitute(stmt.body)
            if text.startswith(OTHER_CLIENTS):
                raise HarnessGap(f"statements for {text.split(':')[0]} (another client of the tester)")
            if stmt.kind == "shell":
                actual: object = self._shell(text)
            elif stmt.kind == "function":
                actual = self._function(text, session)
            else:
                actual = session.run(text)
        except HarnessGap as exc:
            self.state.missing(f"harness: {exc}")
            self.state.fail(f"line {stmt.line}: not replayed")
            return
        except functions.FunctionFailed as exc:
            self.state.fail(f"line {stmt.line}: {exc}")
            return
        why = check(stmt, actual)
        if why is not None:
            self.state.fail(f"line {stmt.line}: {why}")

    def _substitute(self, text: str) -> str:
        text = text.replace("${root_path}/lib/..", "${root_path}")    # no lib/ beside the vendored copy
        for name, value in self.vars.items():
            text = text.replace("${" + name + "}", value)
        left = re.findall(r"\$\{([^}]*)\}", text)
        if left:
            raise HarnessGap(f"tester variable ${{{left[0]}}} has no value here")
        return text

    def _function(self, text: str, session: Session) -> object:
        try:
            return functions.call(text, session)
        except NotImplementedError as exc:
            raise HarnessGap(str(exc)) from None

    def _shell(self, line: str) -> tuple[int, str]:
        if self.real_shell:
            done = subprocess.run(line.replace("curl", "curl -sS"), shell=True, capture_output=True, text=True,
                                  timeout=120, executable="/bin/bash")
            if done.returncode == 127:          # a program or helper script that is not there
                raise HarnessGap(f"shell command could not run: {done.stderr.strip()[:160]}")
            return done.returncode, (done.stdout if done.returncode == 0 else done.stderr).rstrip("\n")
        script = re.search(r"\bbash\s+(\S+\.sh)\b", line)
        if script and not Path(script.group(1)).exists():
            raise HarnessGap(f"needs the tester's helper script {Path(script.group(1)).name}, which is not "
                             "in the tests directory")
        try:
            pipe = shellcmd.parse(line)
        except shellcmd.Untranslatable as exc:
            raise HarnessGap(f"shell line not replayed ({exc}): {line[:80]}") from None
        code, out = httpcall.perform(pipe.curl)
        for stage in pipe.filters:
            code, out = shellcmd.run_filter(stage, out)
        return code, out.rstrip("\n")


def _emulator_gaps(emu: EmulatorThread) -> list[str]:
    gaps = [f"Stream Load: {r.message}" for r in emu.loads() if r.message.startswith("emulator:")]
    gaps += [f"SQL {r.sql.split(chr(10))[0][:60]!r}: {r.error}" for r in emu.statements()
             if r.error and r.error.startswith("emulator:") and not r.error.startswith(NOT_RUN)]
    return gaps


def file_label(path: Path) -> str:
    """``<suite>/<file>`` of ``<suite>/R/<file>``."""
    return f"{path.parent.parent.name}/{path.name}"


def run_case(case: Case, *, real_shell: bool = False) -> Outcome:
    return CaseRun(case, file_label(case.file), real_shell=real_shell).run()
