"""sinkapp's test doubles and local services (the ``sinkapp-testkit`` distribution).

``__version__`` comes from the installed metadata (testkit/pyproject.toml); it is always sinkapp's
own version (tests/test_cli.py checks it).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sinkapp-testkit")
except PackageNotFoundError:          # run from a source tree that was never installed
    __version__ = "0+unknown"
