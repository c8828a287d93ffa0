"""sinkapp: stream Kafka topics into StarRocks through Stream Load, on faust-streaming."""

__version__ = "0.1.0"
