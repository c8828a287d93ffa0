"""``python -m sinkapp_testkit.kafka fetch|start|stop|status [...]``: see :mod:`.cli`."""

import sys

from .cli import main

sys.exit(main())
