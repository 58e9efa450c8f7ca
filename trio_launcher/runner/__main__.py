"""``python -m trio_launcher.runner``: the Python task runner, configured from the environment.

Arguments (``--help``) go through ``trio-launcher runner``'s parser, which
takes none, so the runner's cold path never loads :mod:`argparse`.
"""

import sys

from .main import main

if __name__ == "__main__":
    if len(sys.argv) > 1:
        from ..cli import main as cli_main

        sys.exit(cli_main(["runner", *sys.argv[1:]]))
    sys.exit(main())
