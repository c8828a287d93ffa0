"""The ``sinkapp`` command line (:mod:`.main`) and its ``offsets`` command (:mod:`.offsets`)."""

from sinkapp.cli.main import main

__all__ = ["main"]
