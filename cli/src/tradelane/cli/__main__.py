"""``python -m tradelane.cli``."""

import sys

from tradelane.cli.main import main

sys.exit(main())
