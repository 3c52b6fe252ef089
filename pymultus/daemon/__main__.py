"""``python -m pymultus.daemon``: the same as ``pymultus-daemon``."""

import sys

from pymultus.daemon.main import main

sys.exit(main())
