#!/usr/bin/env python3
"""The old command line, kept working: ``python update_traficov2.py --mode incremental`` etc.

Everything lives in :mod:`trafico_lib.cli`; this file only forwards to it.
"""
import sys

from trafico_lib.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="update_traficov2.py"))
