"""The adapter to faust-streaming and aiokafka: the only package that uses their private API.

- :mod:`.consumer`: one Faust event per fetched partition batch; commits follow the loaded watermark;
- :mod:`.app`: the Faust app base that installs it and drains the sink at revoke and stop;
- :mod:`.take`: the agents' take loop (Faust's ``noack_take`` without a timer while idle);
- :mod:`.control`: the sink core's :class:`~sinkapp.pipeline.ports.PartitionControl` on that consumer.

``tests/test_faust_contract.py`` pins every private name used here.
"""
