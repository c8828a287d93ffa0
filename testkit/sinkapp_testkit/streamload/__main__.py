"""``python -m sinkapp_testkit.streamload``."""

import sys

from .cli import main

sys.exit(main())
