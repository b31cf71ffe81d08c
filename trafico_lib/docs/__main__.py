"""``python -m trafico_lib.docs``: build the Data Docs site (see trafico_lib.cli)."""
import sys

from ..cli import docs_main

sys.exit(docs_main())
