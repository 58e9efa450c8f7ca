"""``python -m trio_launcher.cli``: the same as the ``trio-launcher`` command."""

import sys

from . import main

sys.exit(main())
