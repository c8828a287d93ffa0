"""Where a worker's memory goes: tracemalloc's top allocation sites in the progress log.

Who calls: the app, when the worker starts with ``SINKAPP_TRACEMALLOC=<frames>`` (a measurement
run: tracing costs CPU). Every progress tick then logs the traced total, its peak and the top
allocation sites grouped by file and line, so a heap breakdown comes from a real run.
"""

from __future__ import annotations

import os
import tracemalloc

TOP = 12


def start_from_env() -> bool:
    frames = os.environ.get("SINKAPP_TRACEMALLOC")
    if not frames:
        return False
    tracemalloc.start(max(1, int(frames)))
    return True


def report() -> list[str]:
    if not tracemalloc.is_tracing():
        return []
    now, peak = tracemalloc.get_traced_memory()
    stats = tracemalloc.take_snapshot().filter_traces(
        (tracemalloc.Filter(False, tracemalloc.__file__),)).statistics("lineno")
    out = [f"memory traced_mib={now / 2**20:.1f} peak_mib={peak / 2**20:.1f}"]
    for st in stats[:TOP]:
        frame = st.traceback[0]
        out.append(f"memory site={frame.filename.rsplit('site-packages/', 1)[-1]}:{frame.lineno} "
                   f"mib={st.size / 2**20:.1f} blocks={st.count}")
    return out
