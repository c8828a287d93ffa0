"""What the parent does when a child worker process ends: restart it after a back-off, give up, or
count it as stopped. Pure decisions, no processes (tests/test_supervise.py drives them with numbers).

Who calls: :class:`sinkapp.supervise.parent.Supervisor`, once per child exit.

- A child that ends while the parent is stopping is **stopped**: clean when it exited 0 (it drained
  and committed) or died of the very signal the parent forwarded before its handlers were installed
  (it held nothing yet); anything else is a failure the parent's exit status reports.
- A child that exits with status 2 (``sinkapp: configuration error: ...``: a wrong password, a
  missing table, a refused ACL) is **given up**: every child would hit the same error, so the parent
  stops the others (they drain and commit) and exits 2.
- Any other end (killed by a signal, kill -9, OOM, a crash with status 1, even status 0 when someone
  else sent it SIGTERM) is **restarted** after a back-off of ``first_delay_s``, doubling per death
  in a row up to ``max_delay_s``. A child that stayed up ``stable_after_s`` starts the count again.
  Once a child died ``max_quick_deaths`` times in a row, each within ``stable_after_s`` of its
  start, it is given up (a crash loop): the parent stops the others and exits 1.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

CONFIG_ERROR_EXIT = 2           # sinkapp.cli.main's status for a ConfigError (and a usage error)


@dataclass(frozen=True)
class RestartPolicy:
    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    stable_after_s: float = 60.0
    max_quick_deaths: int = 5

    def delay_s(self, deaths_in_a_row: int) -> float:
        """The back-off before the next start after the ``deaths_in_a_row``-th death (1, 2, ...)."""
        return float(min(self.max_delay_s, self.first_delay_s * 2 ** max(0, deaths_in_a_row - 1)))


@dataclass(frozen=True)
class Restart:
    delay_s: float
    deaths_in_a_row: int


@dataclass(frozen=True)
class GiveUp:
    reason: str
    exit_code: int


@dataclass(frozen=True)
class Stopped:
    clean: bool


Decision = Restart | GiveUp | Stopped


def describe_exit(returncode: int) -> str:
    """``exit 1`` or ``killed by SIGKILL`` (a negative return code is the signal)."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit {returncode}"


def decide(policy: RestartPolicy, returncode: int, ran_s: float, deaths_in_a_row: int, stopping: bool,
           forwarded: frozenset[int] = frozenset({signal.SIGTERM, signal.SIGINT})) -> Decision:
    """What to do about a child that ended with ``returncode`` after running ``ran_s`` seconds,
    having died ``deaths_in_a_row`` times in a row before (0 for a child that was fine)."""
    if stopping:
        return Stopped(returncode == 0 or -returncode in forwarded)
    if returncode == CONFIG_ERROR_EXIT:
        return GiveUp(f"{describe_exit(returncode)}: a configuration error (its log says which); every "
                      "process would stop on it, so none is restarted", CONFIG_ERROR_EXIT)
    deaths = deaths_in_a_row + 1 if ran_s < policy.stable_after_s else 1
    if deaths >= policy.max_quick_deaths:
        return GiveUp(f"{describe_exit(returncode)}: died {deaths} times in a row, each within "
                      f"{policy.stable_after_s:g}s of its start; not restarted again", 1)
    return Restart(policy.delay_s(deaths), deaths)
