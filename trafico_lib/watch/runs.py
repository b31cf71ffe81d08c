"""What a watch cycle runs for a changed table: its notebook (archived, as every run that
changed something is) in the kernel the watch keeps warm, or ``--no-notebook`` the library."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import Config
from ..stores import Store
from .loop import RunTable

if TYPE_CHECKING:
    from ..runner import KernelSession


def library_run(cfg: Config) -> RunTable:
    """``--no-notebook``: ``pipeline.run_table`` in the watch's own process (imports kept)."""
    def run(table: str, run_id: str, mode: str, store: Store) -> dict[str, Any]:
        from ..pipeline import run_table
        return run_table(table, mode=mode, cfg=cfg, store=store, run_id=run_id).to_dict()
    return run


def notebook_run(cfg: Config, config_path: str | None, session: KernelSession | None = None) -> RunTable:
    """The table's sync notebook through the runner, in ``session`` (the kept kernel) when given."""
    def run(table: str, run_id: str, mode: str, store: Store) -> dict[str, Any]:
        from ..runner import run_sync_notebooks
        results = run_sync_notebooks(cfg, [table], mode=mode, config_path=config_path, run_id=run_id,
                                     progress=False, session=session)
        return results[0] if results else {"table": table, "status": "not run", "error": "disabled"}
    return run
