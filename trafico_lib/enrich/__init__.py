"""Enrichment (docs/architecture.md §4 step 4): expo slots (quantity expansion, container assignment) and
the ``Realizado`` status from exit records."""
from .expo import expand_slots, slot_summary
from .status import (Exits, StatusTemplateError, apply_status, default_template, exits_frame,
                     load_exits, render_estado)

__all__ = [
    "expand_slots", "slot_summary",
    "Exits", "StatusTemplateError", "apply_status", "default_template", "exits_frame", "load_exits",
    "render_estado",
]
