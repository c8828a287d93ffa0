"""The one exception tree of sinkapp.

Every error sinkapp raises derives from :class:`SinkError`. Third-party exceptions
(aiohttp, aiokafka, fastavro, the registry client) are translated at the module edge.
Callers tell errors apart by type, never by message text or status strings.

    SinkError
    ├── ConfigError            a setting is missing or wrong; the message names the key
    ├── ConversionError        a record's key/value bytes could not be decoded
    │   └── SchemaMappingError a record schema has no StarRocks table shape (``field`` names it)
    ├── TransformError         a transform could not turn a value into rows
    ├── EncodingError          rows could not be encoded into the Stream Load body
    ├── LoadError              a Stream Load failed; ``retriable`` says whether to retry
    │   ├── LoadRetriable      retry the same batch under the same label
    │   │   ├── Unreachable    no FE (or the BE of a redirect) could be connected to
    │   │   ├── LoadTimeout    no answer in time: the outcome is unknown, the label will tell
    │   │   ├── LabelRunning   the label's earlier attempt is still running
    │   │   ├── LoadPressure   too many versions, too many transactions, HTTP concurrency
    │   │   │                  limit: back off and let the next batch grow (``reason``)
    │   │   ├── UnknownAnswer  an answer without a documented Stream Load Status
    │   │   └── LoadAborted    retrying stopped: the worker is rebalancing or stopping
    │   └── LoadRejected       retrying cannot help
    │       ├── AuthRejected   StarRocks refused the credentials (HTTP 401)
    │       ├── TlsRejected    the FE/BE certificate is not trusted
    │       ├── DataRejected   StarRocks refused rows of the batch (filtered rows, bad JSON)
    │       ├── UnknownTable   the target table does not exist (the database does)
    │       ├── UnknownDatabase the target database does not exist
    │       └── NoLoadData     a zero-row load: StarRocks accepted the request but had no data
    ├── ResetRefused           ``sinkapp offsets reset`` cannot be done now; the message says why
    │                          and what to do
    ├── UsageError             a command-line argument names something that does not exist
    ├── NotInstalled           a command needs a part that is not installed (the testkit)
    ├── DdlError               a statement on the FE's MySQL port failed (``code``: the MySQL error)
    │   ├── DdlUnreachable     no FE of starrocks.jdbc.url answered
    │   ├── SchemaChangeRunning the table is in a schema change job: wait for it
    │   └── SchemaChangeFailed a table cannot be made to take a schema's records
    └── InfraError             a local test service (broker, emulator) could not start
"""

from __future__ import annotations


class SinkError(Exception):
    """Root of every sinkapp error."""


class ConfigError(SinkError):
    """A configuration key is missing, unknown, or has a value outside what is allowed."""


class ConversionError(SinkError):
    """Key or value bytes of a record could not be decoded by the route's converter."""


class SchemaMappingError(ConversionError):
    """A record schema cannot become StarRocks columns (:mod:`sinkapp.tableshape`): a field name
    StarRocks cannot take, a type without a column type, a key column of a type a key cannot have.
    ``field`` is the schema field (or table/database name) at fault; the message names it and says
    what to do."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


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
        self.status = status            # StarRocks' Status (or HTTP status) when there was one
        self.response = response or {}


class LoadRetriable(LoadError):
    """Transport failure, HTTP 5xx, timeout or a busy server: retry the same batch, same label."""

    retriable = True


class Unreachable(LoadRetriable):
    """The FE (or, after a redirect, the BE) refused or dropped the connection before answering."""


class LoadTimeout(LoadRetriable):
    """No answer within the request timeout: the outcome is unknown until the label is asked."""


class LabelRunning(LoadRetriable):
    """``Label Already Exists`` with the earlier attempt still RUNNING (or PREPARED)."""


class LoadPressure(LoadRetriable):
    """StarRocks cannot take loads this often (docs/streamload-protocol.md §8a): back off, let batches
    grow. ``reason``: ``too_many_versions``, ``txn_limit`` or ``http_concurrency``."""

    def __init__(self, message: str, *, reason: str, label: str | None = None, status: str | None = None,
                 response: dict | None = None) -> None:
        super().__init__(message, label=label, status=status, response=response)
        self.reason = reason


class UnknownAnswer(LoadRetriable):
    """An answer with no documented Stream Load ``Status``: never taken as a load."""


class LoadAborted(LoadRetriable):
    """Retrying stopped because the worker is rebalancing or stopping; the batch stays un-acked."""


class LoadRejected(LoadError):
    """StarRocks refused the data or the request; the route must stop (or dead-letter)."""

    retriable = False


class AuthRejected(LoadRejected):
    """HTTP 401: the StarRocks user or password is wrong."""


class TlsRejected(LoadRejected):
    """The FE/BE certificate is not trusted by the configured CA."""


class DataRejected(LoadRejected):
    """StarRocks refused rows of the batch (too many filtered rows, JSON it cannot parse): only
    then can the batch be split to find the rows (docs/streamload-protocol.md §3.2, §6)."""


class UnknownTable(LoadRejected):
    """StarRocks answered ``unknown table "<db>.<table>"``: the database exists, the table does not
    (docs/streamload-protocol.md §7.2)."""


class UnknownDatabase(LoadRejected):
    """StarRocks answered ``unknown database, database=<db>``."""


class NoLoadData(LoadRejected):
    """A load of zero rows: StarRocks took user, password, database and table, and found no data."""


class DdlError(SinkError):
    """A statement on the FE's MySQL port failed; ``code`` is the MySQL error number (None: no answer)."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class DdlUnreachable(DdlError):
    """No FE of ``starrocks.jdbc.url`` answered (retried with backoff)."""


class SchemaChangeRunning(DdlError):
    """The FE refused a statement because a schema change job is running on the table (its state is
    not NORMAL): wait for the job, then look at the table again."""


class SchemaChangeFailed(DdlError):
    """A table cannot be made to take a schema's records (a job CANCELLED or timed out, DDL refused)."""


class ResetRefused(SinkError):
    """``sinkapp offsets reset`` refused to move anything: a worker of the group is running, the ledger
    holds a pending batch, or the move goes back over loaded records without ``--reload``. The
    message names the partition or the members and says what to do."""


class UsageError(SinkError):
    """A command-line argument names something that does not exist (a route of the config); the
    message lists what exists."""


class NotInstalled(SinkError):
    """A command needs an optional part that is not installed (the ``sinkapp-testkit`` distribution
    for ``sinkapp demo``, ``kafka``, ``emulator``, ``registry``); the message says how to install it."""


class InfraError(SinkError):
    """A local service used by tests, the demo or benchmarks could not be started."""
