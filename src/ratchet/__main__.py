"""``python -m ratchet ...``: the same command line as the ``ratchet`` script."""

import sys

from ratchet.cli import main

sys.exit(main())
