"""Baseline for the benchmark: a bare Faust agent that only ``noack_take``s and acks.

Run by benchmarks/throughput.py as ``python benchmarks/bare_faust.py BOOTSTRAP TOPIC GROUP N``;
after the N-th event it prints one line ``BARE_FAUST_DONE {json}`` and exits. The JSON holds wall
clock times (``time.time()``) of the events that crossed 10 %, 90 % and 100 % of N with the counts
at those moments, the process's CPU seconds since it started (user + system) and its peak RSS
(VmHWM, KiB), so the caller times it from process start like every other consumer.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import faust

bootstrap, topic_name, group, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
app = faust.App(group, broker=f"kafka://{bootstrap}", store="memory://", table_standby_replicas=0,
                topic_disable_leader=True, web_enabled=False, consumer_auto_offset_reset="earliest",
                stream_buffer_maxsize=16384)
topic = app.topic(topic_name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
state: dict[str, list[float]] = {}
marks = {"t10": 0.1 * n, "t90": 0.9 * n}


def _vmhwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


@app.agent(topic, concurrency=1)
async def drain(stream):  # type: ignore[no-untyped-def]
    seen = 0
    async for events in stream.noack_take(10_000, within=1.0):
        for ev in events:
            ev.ack()
        seen += len(events)
        now = time.time()
        for key, threshold in marks.items():
            if key not in state and seen >= threshold:
                state[key] = [now, seen]
        if seen >= n:
            t = os.times()
            out = {**state, "tN": [now, seen], "cpu_s": t.user + t.system, "vmhwm_kb": _vmhwm_kb()}
            print(f"BARE_FAUST_DONE {json.dumps(out)}", flush=True)
            os._exit(0)


if __name__ == "__main__":
    sys.argv = [sys.argv[0], "worker", "-l", "warn", "--without-web"]
    app.main()
