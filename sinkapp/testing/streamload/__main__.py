"""``python -m sinkapp.testing.streamload``."""

import sys

from .cli import main

sys.exit(main())
