"""The benchmarks' shared parts (entry points: benchmarks/throughput.py, benchmarks/loadrate.py).

- :mod:`.harness`: broker, count-only Stream Load emulator and registry processes; waiting for rows;
- :mod:`.data`: Datagen orders as JSON, CSV, Avro; bulk and steady-rate producers;
- :mod:`.consumers`: sinkapp workers and the Java connector (Kafka Connect, :mod:`sinkapp_testkit.connect`);
- :mod:`.baselines`: the raw aiokafka ceiling and the bare Faust agent;
- :mod:`.bulk` + :mod:`.results`: bulk runs (N rows, end to end) and their medians;
- :mod:`.steady` + :mod:`.loads` + :mod:`.steady_report`: steady-rate runs, loads per table;
- :mod:`.procfs`: CPU and peak RSS from /proc; :mod:`.plot`: the PNGs.
"""
