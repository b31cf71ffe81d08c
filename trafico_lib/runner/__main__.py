"""``python -m trafico_lib.runner``: the Makefile's command line (see :mod:`trafico_lib.cli.runner`)."""
import sys

from ..cli import runner_main

sys.exit(runner_main())
