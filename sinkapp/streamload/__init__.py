"""Stream Load over HTTP: the client (one attempt, FE failover, 307 → BE) and the retry policy."""

from sinkapp.streamload.client import LoadResult, StreamLoadClient
from sinkapp.streamload.retry import RetryPolicy, load_with_retry

__all__ = ["LoadResult", "RetryPolicy", "StreamLoadClient", "load_with_retry"]
