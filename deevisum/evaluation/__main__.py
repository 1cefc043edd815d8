"""``python -m deevisum.evaluation ...`` = ``deevisum evaluate ...``."""

import sys

from deevisum.app.cli import main

sys.exit(main(["evaluate", *sys.argv[1:]]))
