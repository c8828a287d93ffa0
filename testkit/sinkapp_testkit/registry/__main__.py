"""``python -m sinkapp_testkit.registry [--host H] [--port P] [--user-info KEY:SECRET]``."""

import sys

from . import main

sys.exit(main())
