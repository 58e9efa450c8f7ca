"""``python -m trio_launcher.runner``: the Python task runner, configured from the environment."""

import sys

from .main import main

if __name__ == "__main__":
    sys.exit(main())
