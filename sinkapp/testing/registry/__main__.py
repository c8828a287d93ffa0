"""``python -m sinkapp.testing.registry [--host H] [--port P] [--user-info KEY:SECRET]``."""

import sys

from . import main

sys.exit(main())
