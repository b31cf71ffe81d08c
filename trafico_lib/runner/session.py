"""One kernel for all the notebooks of a run: started once, reset between notebooks, shut down at the end.

Starting a kernel and importing what a notebook imports (pandas, the library, Great
Expectations: seconds) is most of what a small table's notebook costs. A
:class:`KernelSession` pays it once per run, however many tables the run has::

    with kernel_session(cfg) as session:
        for table in tables:
            execute(cfg, "sync", {...}, run_id=run_id, session=session)

Each notebook still reads as if it had a kernel of its own: after a notebook, the session sends
the kernel :func:`trafico_lib.runner.kernel.fresh_namespace` (silently: no notebook shows it),
so the next one starts at ``In [1]`` with nothing left of the last (variables, log handlers,
figures, the folder, warnings already shown). A kernel that died, or that does not answer that
reset (a cell interrupted at its timeout and still stuck), is replaced before the next notebook,
with one line. The kernel starts at the first notebook (a run that runs none starts none), in
the configuration's folder, as papermill starts its own (:data:`~.kernel.KERNEL_ARGUMENTS`).

papermill runs each notebook in it through its own mechanism: an engine (``trafico-session``,
registered with papermill) whose nbclient client is handed the session's kernel manager and
client; nbclient then neither starts nor shuts down that kernel (``owns_km`` is false).
"""
from __future__ import annotations

import logging
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from ..errors import one_line
from .kernel import KERNEL_ARGUMENTS, START_TIMEOUT_SECONDS, ensure_kernel
from .notebook import PROGRESS_FILE_ENV

log = logging.getLogger("trafico")
progress_log = logging.getLogger("trafico.progress")  # runs.PROGRESS_LOGGER

ENGINE = "trafico-session"  # the papermill engine that runs a notebook in a session's kernel
KERNEL_STARTS = 3  # kernel starts tried for one notebook, while none of its cells has run
RESET_TIMEOUT_SECONDS = 30  # a kernel that takes longer to forget a notebook is replaced
SHUTDOWN_SECONDS = 5
#: what a sync notebook imports first (its start cell): imported in the kernel as soon as it
#: starts, while the parent process prepares the notebook
SYNC_IMPORTS = ("trafico_lib.pipeline", "trafico_lib.views", "trafico_lib.normalize", "trafico_lib.health")
#: what validation imports (seconds): for a run where some table validates
GX_IMPORTS = ("great_expectations",)


class KernelSession:
    """One kernel for a run's notebooks (see the module). ``starts`` counts the kernels it
    started, ``notebooks`` the notebooks run in it; ``pid`` is the running kernel's process."""

    def __init__(self, cfg, kernel_name: str | None = None):
        self.cfg = cfg
        self.kernel_name = kernel_name or cfg.runner.kernel_name
        self.km: Any = None      # jupyter_client AsyncKernelManager of the running kernel
        self.kc: Any = None      # its client, kept for every notebook run in it
        self.starts = 0
        self.notebooks = 0
        self._pending: str | None = None  # the reset sent after the last notebook, not yet answered
        self._warmed: set[str] = set()
        self._stack = ExitStack()         # the progress relay, for the session's life
        self._relaying = False
        self._closed = False

    # ---- the kernel ---------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        return getattr(process, "pid", None)

    def alive(self) -> bool:
        from jupyter_core.utils import run_sync
        return self.km is not None and bool(run_sync(self.km.is_alive)())

    def kernel(self, name: str) -> tuple[Any, Any]:
        """A started kernel (manager, client) with nothing of an earlier notebook, for the
        notebook run ``name`` (named in the lines about it)."""
        if self._closed:
            raise RuntimeError("the kernel session is closed")
        if self.km is not None and not self.alive():
            log.warning("%s: the run's kernel died with the last notebook; starting a new one", name)
            self._stop(now=True)
        elif self._pending is not None and not self._settle():
            log.warning("%s: the run's kernel did not answer after the last notebook (within %d s); "
                        "starting a new one", name, RESET_TIMEOUT_SECONDS)
            self._stop(now=True)
        if self.km is None:
            self._start(name)
        return self.km, self.kc

    def start(self) -> None:
        """Start the kernel now (else the first notebook starts it)."""
        if self.km is None and not self._closed:
            self._start("the run's kernel")

    def warm(self, modules: tuple[str, ...] | list[str]) -> None:
        """Import ``modules`` in the kernel, in the background (the kernel queues it before
        the next notebook; the parent does not wait): starts the kernel if none runs."""
        todo = [m for m in modules if m not in self._warmed]
        if not todo or self._closed:
            return
        self.start()
        self._warmed.update(todo)
        code = "; ".join(f"__import__({m!r})" for m in todo)
        self.kc.execute(f"try:\n    {code}\nexcept Exception:\n    pass", silent=True, store_history=False)

    def notebook_done(self) -> None:
        """After a notebook ran in the kernel: send the reset (answered before the next one)."""
        if self.km is None or self._closed:
            return
        self.notebooks += 1
        folder = str(self.cfg.base_dir)
        self._pending = self.kc.execute(
            f"__import__('trafico_lib.runner.kernel', fromlist=['_']).fresh_namespace({folder!r})",
            silent=True, store_history=False)

    def discard(self) -> None:
        """Shut the kernel down now (it failed under a notebook); the next notebook starts another."""
        self._stop(now=True)

    def close(self, *, now: bool = False) -> None:
        self._closed = True
        try:
            self._stop(now=now)
        finally:
            self._stack.close()

    # ---- inner ----------------------------------------------------------------------------------
    def _start(self, name: str) -> None:
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync
        ensure_kernel(self.kernel_name)
        if not self._relaying:  # every kernel of the session inherits its PROGRESS_FILE_ENV
            self._stack.enter_context(relayed_progress())
            self._relaying = True
        for attempt in range(1, KERNEL_STARTS + 1):
            km = AsyncKernelManager(kernel_name=self.kernel_name)
            kc = None
            try:
                run_sync(km.start_kernel)(cwd=str(self.cfg.base_dir),
                                          extra_arguments=[*KERNEL_ARGUMENTS, "--HistoryManager.hist_file=:memory:"])
                self.starts += 1
                kc = km.client()
                kc.start_channels()
                run_sync(kc.wait_for_ready)(timeout=START_TIMEOUT_SECONDS)
            except Exception as exc:  # (two kernels starting at once can be handed the same port)
                _shutdown(km, kc, now=True)
                if attempt == KERNEL_STARTS:
                    raise
                log.warning("%s: its kernel did not start (%s); starting another (%d of %d)",
                            name, one_line(exc, self.cfg.secrets), attempt + 1, KERNEL_STARTS)
                continue
            kc.allow_stdin = False
            self.km, self.kc, self._pending = km, kc, None
            self._warmed = set()
            kc.execute("__import__('trafico_lib.runner.kernel', fromlist=['_']).mark_fresh()",
                       silent=True, store_history=False)
            return

    def _settle(self) -> bool:
        """Whether the kernel answered the reset sent after the last notebook (in time, ok)."""
        from jupyter_core.utils import run_sync
        msg_id, self._pending = self._pending, None
        reply = run_sync(_reply)(self.kc, msg_id, RESET_TIMEOUT_SECONDS)
        return reply is not None and reply.get("content", {}).get("status") == "ok"

    def _stop(self, *, now: bool) -> None:
        km, kc = self.km, self.kc
        self.km = self.kc = self._pending = None
        if km is not None:
            _shutdown(km, kc, now=now)


async def _reply(kc, msg_id: str, timeout: float) -> dict[str, Any] | None:
    """The shell reply to ``msg_id`` (others are dropped: their notebook is done), or None."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await kc.get_shell_msg(timeout=left)
        except queue.Empty:
            return None
        if msg.get("parent_header", {}).get("msg_id") == msg_id:
            return msg
    return None


def _shutdown(km, kc, *, now: bool) -> None:
    from jupyter_core.utils import run_sync
    try:
        if kc is not None:
            kc.stop_channels()
        if run_sync(km.is_alive)():
            km.shutdown_wait_time = SHUTDOWN_SECONDS
            run_sync(km.shutdown_kernel)(now=now)
        else:
            run_sync(km.cleanup_resources)()
    except Exception as exc:  # a kernel already gone: nothing left to stop
        log.debug("kernel shutdown: %s", exc)


@contextmanager
def kernel_session(cfg, kernel_name: str | None = None) -> Iterator[KernelSession]:
    """A :class:`KernelSession` for a run: its kernel (started by the first notebook) is shut
    down when the block ends, also when it ends by an exception (SIGTERM under
    ``errors.stop_on_signals``, Ctrl-C): then at once, its open transaction rolled back."""
    session = KernelSession(cfg, kernel_name)
    try:
        yield session
    except BaseException:
        session.close(now=True)
        raise
    session.close()


# ---- papermill: run a notebook in the session's kernel --------------------------------------------
_registered = False


def register_engine() -> str:
    """papermill's engine that runs a notebook in a given kernel (``km``, ``kc``), once."""
    global _registered
    if _registered:
        return ENGINE
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.log import logger
    from papermill.utils import merge_kwargs, remove_args

    class SessionClient(PapermillNotebookClient):
        """nbclient with the session's client: it opens no channels of its own, and closes none."""
        def __init__(self, nb_man, km=None, kc=None, **kw):
            super().__init__(nb_man, km=km, **kw)
            self.kc = kc

    class SessionEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None, stderr_file=None,
                                     start_timeout=60, execution_timeout=None, **kwargs):
            kwargs = remove_args(["input_path"], **kwargs)
            safe = remove_args(["timeout", "startup_timeout"], **kwargs)
            final = merge_kwargs(safe, timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
                                 startup_timeout=start_timeout, kernel_name=kernel_name, log=logger,
                                 log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
            return SessionClient(nb_man, **final).execute()

    papermill_engines.register(ENGINE, SessionEngine)
    _registered = True
    return ENGINE


@contextmanager
def relayed_progress(poll_seconds: float = 0.5):
    """While a kernel runs: the progress lines it writes (``notebook.forward_progress``, into
    the file named by :data:`PROGRESS_FILE_ENV`, which the kernel inherits) are logged here as
    they come, to ``trafico.progress``, so a log file sees a big table's chunks and batches."""
    folder = Path(tempfile.mkdtemp(prefix="trafico-progress-"))
    path = folder / "progress.log"
    path.touch()
    before = os.environ.get(PROGRESS_FILE_ENV)
    os.environ[PROGRESS_FILE_ENV] = str(path)
    done = threading.Event()

    def follow() -> None:
        pending = ""
        with open(path, encoding="utf-8", errors="replace") as f:
            while True:
                text = f.read()
                if text:
                    *lines, pending = (pending + text).split("\n")
                    for line in lines:
                        if line.strip():
                            progress_log.info("%s", line)
                elif done.is_set():
                    break
                else:
                    done.wait(poll_seconds)
    reader = threading.Thread(target=follow, name="trafico-progress", daemon=True)
    reader.start()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(PROGRESS_FILE_ENV, None)
        else:
            os.environ[PROGRESS_FILE_ENV] = before
        done.set()
        reader.join(timeout=5)
        shutil.rmtree(folder, ignore_errors=True)
