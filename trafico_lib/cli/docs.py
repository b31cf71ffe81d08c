"""``python -m trafico_lib.docs [--config F] [--no-health]`` (``make docs``): build the Data Docs site."""
from __future__ import annotations

from typing import Sequence

from ..errors import EXIT_OK
from .exits import run_with_config
from .log import setup_logging
from ..paths import shown_path
from .parser import build_docs_parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_docs_parser().parse_args(argv)
    setup_logging(args.verbose)

    def command(cfg) -> int:
        from ..docs import build_docs
        facts = None
        if not args.no_health:
            from ..health import gather_facts
            facts = gather_facts(cfg)
        index = build_docs(cfg, facts=facts, command="docs")
        print(f"Data Docs: {shown_path(index)}")
        return EXIT_OK
    return run_with_config(args.config, command, verbose=args.verbose)
