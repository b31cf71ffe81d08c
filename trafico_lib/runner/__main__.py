"""``python -m trafico_lib.runner``: see :mod:`trafico_lib.runner.command`."""
import sys

from .command import main

sys.exit(main())
