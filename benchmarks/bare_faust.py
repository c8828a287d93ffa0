"""Baseline for the benchmark: a bare Faust agent that only ``noack_take``s and acks.

Run by benchmarks/throughput.py as ``python benchmarks/bare_faust.py BOOTSTRAP TOPIC GROUP N``;
prints ``BARE_FAUST_DONE <seconds from first event to the N-th>`` and exits.
"""

from __future__ import annotations

import os
import sys
import time

import faust

bootstrap, topic_name, group, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
app = faust.App(group, broker=f"kafka://{bootstrap}", store="memory://", table_standby_replicas=0,
                topic_disable_leader=True, web_enabled=False, consumer_auto_offset_reset="earliest",
                stream_buffer_maxsize=16384)
topic = app.topic(topic_name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
state = {"seen": 0, "t0": 0.0}


@app.agent(topic, concurrency=1)
async def drain(stream):  # type: ignore[no-untyped-def]
    async for events in stream.noack_take(10_000, within=1.0):
        if not state["seen"]:
            state["t0"] = time.perf_counter()
        for ev in events:
            ev.ack()
        state["seen"] += len(events)
        if state["seen"] >= n:
            print(f"BARE_FAUST_DONE {time.perf_counter() - state['t0']:.4f}", flush=True)
            os._exit(0)


if __name__ == "__main__":
    sys.argv = [sys.argv[0], "worker", "-l", "warn", "--without-web"]
    app.main()
