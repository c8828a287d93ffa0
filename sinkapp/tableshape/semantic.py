"""Kafka Connect logical types and Debezium semantic types (schema ``name``) → column types.

Who calls: :mod:`.connect_map` (Connect JSON envelopes) and :mod:`.avro_map` (Avro written by
Kafka Connect's AvroConverter, where the name is ``connect.name``).

Each type is what the converters render (``sinkapp.converters.simple.apply_schema`` and
``DEBEZIUM_TYPES``, ``sinkapp.converters.avro``), so the rendered text loads:

- ``io.debezium.time.{Date}`` → ``YYYY-MM-DD`` → DATE;
- ``Time`` / ``MicroTime`` / ``NanoTime`` / ``ZonedTime`` → ``HH:MM:SS.ffffff`` text → VARCHAR(32)
  (StarRocks has no TIME column type);
- ``Timestamp`` / ``MicroTimestamp`` / ``NanoTimestamp`` (wall clock) and ``ZonedTimestamp``
  (converted to ``sinkapp.timezone``) → ``YYYY-MM-DD HH:MM:SS[.ffffff]`` → DATETIME;
- ``VariableScaleDecimal`` → exact decimal text whose scale changes per value → STRING;
- the names the converters pass through unchanged keep a column that takes the raw value:
  ``Year`` (int) → INT, ``Json`` (JSON text) → JSON, ``Uuid`` → VARCHAR(36), ``Enum`` / ``EnumSet`` /
  ``Xml`` / ``Bits`` (base64 of the bytes) → STRING.

Any other name maps by its underlying type (a Debezium geometry struct → JSON, ``MicroDuration``
int64 → BIGINT).
"""

from __future__ import annotations

from sinkapp.tableshape.columns import DATE, DATETIME, INT, JSON, STRING, TIME_TEXT, UUID

DBZ_TIME, DBZ_DATA = "io.debezium.time.", "io.debezium.data."
CONNECT_DECIMAL = "org.apache.kafka.connect.data.Decimal"

DEBEZIUM: dict[str, str] = {
    DBZ_TIME + "Date": DATE,
    DBZ_TIME + "Time": TIME_TEXT,
    DBZ_TIME + "MicroTime": TIME_TEXT,
    DBZ_TIME + "NanoTime": TIME_TEXT,
    DBZ_TIME + "ZonedTime": TIME_TEXT,
    DBZ_TIME + "Timestamp": DATETIME,
    DBZ_TIME + "MicroTimestamp": DATETIME,
    DBZ_TIME + "NanoTimestamp": DATETIME,
    DBZ_TIME + "ZonedTimestamp": DATETIME,
    DBZ_TIME + "Year": INT,
    DBZ_DATA + "VariableScaleDecimal": STRING,
    DBZ_DATA + "Json": JSON,
    DBZ_DATA + "Uuid": UUID,
    DBZ_DATA + "Enum": STRING,
    DBZ_DATA + "EnumSet": STRING,
    DBZ_DATA + "Xml": STRING,
    DBZ_DATA + "Bits": STRING,
}

#: Connect's logical types other than Decimal (which needs its parameters), as JsonConverter
#: with schemas renders them (:mod:`sinkapp.streamload.encoding` ``logical_text``)
CONNECT: dict[str, str] = {
    "org.apache.kafka.connect.data.Date": DATE,
    "org.apache.kafka.connect.data.Time": TIME_TEXT,
    "org.apache.kafka.connect.data.Timestamp": DATETIME,
}
