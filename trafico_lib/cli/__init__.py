"""The command lines, one package for every entry point (docs/architecture.md §8):

* ``python update_traficov2.py`` and the ``trafico`` script: :func:`main`;
* ``python -m trafico_lib.runner`` (the Makefile's notebook runs): :func:`runner_main`;
* ``python -m trafico_lib.docs`` (``make docs``): :func:`docs_main`.

Modules: ``parser`` (the parsers), ``log`` (logging set-up), ``output`` (what is printed),
``exits`` (an error as one line and an exit code), ``commands``/``runner``/``docs`` (the
commands). The library never imports this package.
"""
from ..errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from .commands import main
from .docs import main as docs_main
from .output import format_summary
from .parser import build_parser
from .runner import main as runner_main

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "docs_main", "format_summary", "main",
           "runner_main"]
