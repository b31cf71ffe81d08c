"""A REST run's hold on its table (docs/architecture.md §6): a lease row in
``traficov2_sync_state``, where the direct path holds an advisory lock.

A lease is short (``supabase.lease_seconds``, 90 s by default) and renewed while its run works:
before a merge batch when the last renewal is older than a sixth of the lease (a batch right
after a renewal would only ask again what was just answered: one call per batch doubled a
full sync's calls), and by a :class:`Heartbeat` thread every third of the lease, so a run busy
in one long call keeps it. A lease past its expiry is therefore a dead run's (killed, or cut
off from the API): the next run takes it over, at most one lease length later. The lease row's
times (taken, renewed, expires) are what the health check shows.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ... import clock
from ...errors import SyncFailed

log = logging.getLogger("trafico")


class LeaseLost(SyncFailed):
    """This run's lease lapsed and another run holds the table now: the run stops writing."""


def held_message(name: str, lease: dict) -> str:
    """Why a run may not write now: who holds the table, and when that lease lapses if its run
    has died (a live run keeps renewing it)."""
    return (f"{name}: another run ({lease['run_id']} on {lease['holder']}) holds the table until "
            f"{clock.second_text(lease['expires_at'])} (it renews its lease while it works; if that run "
            "has died, the lease lapses then and the next run takes the table over); nothing was written, "
            "run again")


def lost_message(name: str, lease: dict, seconds: int) -> str:
    return (f"{name}: this run's lease on the table lapsed (no renewal for supabase.lease_seconds = {seconds} s) "
            f"and run {lease['run_id']} on {lease['holder']} holds it now; this run stopped writing (what it "
            "merged so far stays), run again")


class Lease:
    """A run's lease on a table while it writes (``RestStore.holding``): ``store`` takes and
    renews it (``take_lease``)."""

    def __init__(self, store, spec, run_id: str, holder: str, seconds: int):
        self.store, self.spec, self.run_id, self.holder, self.seconds = store, spec, run_id, holder, seconds
        self.heartbeat: Heartbeat | None = None
        self.renewed = float("-inf")  # time.monotonic() of the last renewal that kept the lease

    def beat(self) -> dict:
        """One renewal, asked once (the heartbeat's next beat is its retry)."""
        asked = time.monotonic()
        return self.kept(self.store.take_lease(self.spec, self.run_id, holder=self.holder, seconds=self.seconds,
                                               retry=False), asked)

    def kept(self, lease: dict, asked: float) -> dict:
        """``lease`` as a renewal asked at ``asked`` (monotonic) answered it: noted when kept."""
        if lease["taken"]:
            self.renewed = max(self.renewed, asked)
        return lease

    def renew(self) -> None:
        """Renew it before a batch, unless renewed less than a sixth of the lease ago (the
        monotonic clock runs on while the process is stopped: a run that stalled renews, and
        learns whether it still holds the table, before it writes again); LeaseLost, writing
        nothing more, when another run took it over (this run stalled past its expiry)."""
        lost = self.heartbeat.lost if self.heartbeat is not None else None
        asked = time.monotonic()
        if lost is None and asked - self.renewed >= self.seconds / 6:
            lease = self.kept(self.store.take_lease(self.spec, self.run_id, holder=self.holder,
                                                    seconds=self.seconds), asked)
            lost = None if lease["taken"] else lease
        if lost is not None:
            raise LeaseLost(lost_message(self.spec.name, lost, self.seconds))


class Heartbeat:
    """Calls ``renew`` every ``every`` seconds from a daemon thread until stopped; ``renew``
    returns the lease as ``traficov2_take_lease`` answers it. A renewal the API does not answer
    is tried again at the next beat (the lease outlasts two missed beats); a renewal that finds
    another run holding the table stops the beats and is kept in :attr:`lost`."""

    def __init__(self, renew: Callable[[], dict], every: float):
        self._renew, self.every = renew, every
        self._stop = threading.Event()
        self.lost: dict | None = None
        self.beats = 0
        self._thread = threading.Thread(target=self._run, name="trafico-lease-heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                lease = self._renew()
            except Exception as exc:  # noqa: BLE001 - the API away for a moment: the next beat asks again
                log.debug("lease renewal failed: %s", exc)
                continue
            self.beats += 1
            if not lease["taken"]:
                self.lost = lease
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        """Stops the beats and waits for one in flight: no renewal may land after the release."""
        self._stop.set()
        self._thread.join()
