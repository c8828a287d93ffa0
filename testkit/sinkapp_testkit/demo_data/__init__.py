"""Fixtures of the product walkthrough, shipped for `sinkapp demo` and used by the benchmarks:
the Datagen ``orders`` Avro schema, the ``test123`` table's DDL and the Java connector's Avro config."""

from pathlib import Path

HERE = Path(__file__).parent


def path(name: str) -> Path:
    """``orders.avsc``, ``test123.sql`` or ``connector-avro.json``."""
    return HERE / name
