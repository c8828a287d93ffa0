"""The one exception tree of sinkapp.

Every error sinkapp raises derives from :class:`SinkError`. Third-party exceptions
(aiohttp, aiokafka, fastavro, the registry client) are translated at the module edge.

    SinkError
    ├── ConfigError          a setting is missing or wrong; the message names the key
    ├── ConversionError      a record's key/value bytes could not be decoded
    ├── TransformError       a transform could not turn a value into rows
    ├── EncodingError        rows could not be encoded into the Stream Load body
    ├── LoadError            a Stream Load failed; ``retriable`` says whether to retry
    │   ├── LoadRetriable    transport error, 5xx, timeout, busy: retry with the same label
    │   └── LoadRejected     the data or the request is wrong: retrying cannot help
    └── InfraError           a local test service (broker, emulator) could not start
"""

from __future__ import annotations


class SinkError(Exception):
    """Root of every sinkapp error."""


class ConfigError(SinkError):
    """A configuration key is missing, unknown, or has a value outside what is allowed."""


class ConversionError(SinkError):
    """Key or value bytes of a record could not be decoded by the route's converter."""


class TransformError(SinkError):
    """A transform raised or returned something that is not a row."""


class EncodingError(SinkError):
    """Rows could not be encoded in the route's body format."""


class LoadError(SinkError):
    """A Stream Load did not succeed. ``retriable`` tells the caller whether to retry."""

    retriable: bool = False

    def __init__(self, message: str, *, label: str | None = None, status: str | None = None,
                 response: dict | None = None) -> None:
        super().__init__(message)
        self.label = label
        self.status = status
        self.response = response or {}


class LoadRetriable(LoadError):
    """Transport failure, HTTP 5xx, timeout or a busy server: retry the same batch, same label."""

    retriable = True


class LoadRejected(LoadError):
    """StarRocks refused the data or the request; the route must stop (or dead-letter)."""

    retriable = False


class InfraError(SinkError):
    """A local service used by tests, the demo or benchmarks could not be started."""
