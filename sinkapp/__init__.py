"""sinkapp: stream Kafka topics into StarRocks through Stream Load, on faust-streaming.

``__version__`` is the installed distribution's version, read from its metadata: pyproject.toml is
the one place it is written (``sinkapp --version`` and the worker's ``/status`` show it).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sinkapp")
except PackageNotFoundError:          # run from a source tree that was never installed
    __version__ = "0+unknown"
