"""Exceptions of the Stream Load emulator, rooted in :mod:`sinkapp.errors`.

    ConfigError
    ├── DdlError            a CREATE TABLE statement could not be understood (names the line)
    └── ConformanceError    StarRocks' SQL-tester files could not be found or read (:mod:`.conformance`)
    InfraError
    └── EmulatorError       the emulator could not start, or a node index is out of range

Internal (never raised to callers, turned into a ``Status: Fail`` reply):
:class:`LoadFailure` carries the exact ``Message`` text of docs/streamload-protocol.md §2 / §7.2.
"""

from __future__ import annotations

from sinkapp.errors import ConfigError, InfraError


class DdlError(ConfigError):
    """A DDL statement handed to the emulator is not understood; the message names the line."""


class ConformanceError(ConfigError):
    """The SQL-tester directory is missing, or an R file is not in the tester's format (names the line)."""


class EmulatorError(InfraError):
    """The emulator could not start or was asked for something it does not have."""


class LoadFailure(Exception):
    """A load request fails with ``Status: Fail`` and this exact ``Message`` (spec §2, §7.2)."""

    def __init__(self, message: str, *, status: str = "Fail", code: str = "INTERNAL_ERROR") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        # Status-code name used by the transaction interface (spec §5.2).
        self.code = code
