"""Example: a custom Faust agent in front of a sinkapp route (stateful enrichment with a table).

    SINKAPP_EXAMPLE_BROKER=127.0.0.1:9092 faust -A examples.enrich_orders worker -l info --without-web

Reads ``customers`` (a compacted topic, key = customer id, value = JSON) into a Faust table, and
``orders`` (key = customer id, JSON with ``customer_id``), and writes each order joined with its
customer's name and tier to ``orders-enriched``, which a sinkapp route loads like any topic.

Why a separate Faust app (its own worker process): a sinkapp worker reads every topic of its app
one fetched batch at a time (``sinkapp.consumer``), while this agent wants Faust's per-record
events, tables and joins. The two meet at a topic, so each keeps its own guarantees:

- the sink loads ``orders-enriched`` exactly once into StarRocks (labels from Kafka offsets);
- this agent, with Faust's default ``at_least_once``, may write an enriched order twice after a
  crash (distinct offsets, so both are loaded). Run it with ``processing_guarantee=exactly_once``
  (``SINKAPP_EXAMPLE_EXACTLY_ONCE=1``: Kafka transactions) and the sink, which reads committed
  records only, loads each order once end to end; or key the table by order id in a PRIMARY KEY
  table so a repeat is an upsert.

Co-partitioning: ``orders`` is keyed by customer id and has as many partitions as ``customers``,
so the customer an order needs is in this worker's part of the table. Names come from
environment variables so the test can give it fresh topics.

A changelog topic not yet visible: Faust creates the table's changelog topic when the worker starts.
When the consumer's metadata is fetched before the new topic's partitions have leaders, it counts 0
partitions for it, and every table write raises ``PartitionsMismatch: ... changelog topic ... has 0
partitions`` until the metadata is fetched again (every ``consumer_metadata_max_age_ms``, 5 minutes by
default). An agent that raised would leave its record unacknowledged, hence its offset uncommitted,
and crash again on the next record: :func:`remember` waits the moment out instead, and the app asks for
fresh metadata every few seconds (docs/faust-streaming.md lists this and other traps).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from typing import Any

import faust
import orjson
from faust.exceptions import PartitionsMismatch

log = logging.getLogger(__name__)

BROKER = os.environ.get("SINKAPP_EXAMPLE_BROKER", "127.0.0.1:9092")
PREFIX = os.environ.get("SINKAPP_EXAMPLE_PREFIX", "")
PARTITIONS = int(os.environ.get("SINKAPP_EXAMPLE_PARTITIONS", "2"))
METADATA_MAX_AGE_MS = 5000   # how soon a just-created changelog topic shows in the consumer's metadata

app = faust.App(
    os.environ.get("SINKAPP_EXAMPLE_APP", "enrich-orders"),
    broker=f"kafka://{BROKER}",
    store="memory://",
    topic_partitions=PARTITIONS,
    topic_replication_factor=1,
    processing_guarantee="exactly_once" if os.environ.get("SINKAPP_EXAMPLE_EXACTLY_ONCE") else "at_least_once",
    web_enabled=False,
    consumer_metadata_max_age_ms=METADATA_MAX_AGE_MS,
)

customers_topic = app.topic(f"{PREFIX}customers", key_type=bytes, value_type=bytes, key_serializer="raw",
                            value_serializer="raw", partitions=PARTITIONS)
orders_topic = app.topic(f"{PREFIX}orders", key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw", partitions=PARTITIONS)
enriched_topic = app.topic(f"{PREFIX}orders-enriched", key_type=bytes, value_type=bytes, key_serializer="raw",
                           value_serializer="raw", partitions=PARTITIONS)

# customer id → customer (JSON in the changelog topic Faust keeps for the table)
customers = app.Table(f"{PREFIX}customers-table", default=None, partitions=PARTITIONS)


async def remember(key: str, customer: Any) -> None:
    """``customers[key] = customer``, waiting while the changelog topic is not in this worker's metadata."""
    for waited in itertools.count():
        try:
            customers[key] = customer
            return
        except PartitionsMismatch:
            if app.consumer.topic_partitions(customers.changelog_topic_name):
                raise                  # the topic is visible and has another partition count: a real mismatch
            if waited == 0:
                log.warning("changelog topic %s is not in the consumer's metadata yet; the table write waits "
                            "for it", customers.changelog_topic_name)
            await asyncio.sleep(0.5)


@app.agent(customers_topic)
async def load_customers(stream: Any) -> None:
    async for event in stream.events():
        await remember(event.key.decode(), orjson.loads(event.value))


@app.agent(orders_topic)
async def enrich(stream: Any) -> None:
    async for event in stream.events():
        order = orjson.loads(event.value)
        customer = customers.get(event.key.decode()) or {}
        row = {**order, "customer_name": customer.get("name"), "tier": customer.get("tier")}
        await enriched_topic.send(key=event.key, value=orjson.dumps(row))
