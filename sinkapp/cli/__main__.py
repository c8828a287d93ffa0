import sys

from sinkapp.cli.main import main

sys.exit(main())
