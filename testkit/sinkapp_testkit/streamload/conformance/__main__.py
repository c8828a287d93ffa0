"""``python -m sinkapp_testkit.streamload.conformance [--tests DIR] [--min-sink-pass PCT]`` (see :mod:`.cli`)."""

import sys

from .cli import main

sys.exit(main())
