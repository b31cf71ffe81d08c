"""Retries, one policy (docs/architecture.md §4, step 6): what is worth trying again and how long
to wait between tries.

Only a :class:`~trafico_lib.errors.TransientError` is retried (a connection lost or refused,
the server restarting, a serialization failure or deadlock, the REST gateway's 502/503/504/520,
a timeout): data, permission, configuration and schema errors never are. Between tries the
wait grows exponentially, 0.5 s up to 8 s.

The policy is applied at two places, each retrying what the other cannot:

* **the run** (``pipeline.run_table`` and ``pipeline.apply``, ``sync_settings.<table>.retry_attempts``
  tries): the direct path's staged rows live in the connection's temp tables, so a lost
  connection can only be recovered by starting again from the source read; so can a REST
  gateway down for longer than one call's tries (the batches that committed are counted,
  ``RestStore.written``);
* **one REST call** (``RestClient.call``, its ``attempts``), for calls safe to repeat: a
  gateway blip costs the call it hit, not the run (whose batches each committed on their own).

No other layer retries (supabase-py's own retry is off).
"""
from __future__ import annotations

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from ..errors import TransientError


def retrying(attempts: int) -> Retrying:
    """Up to ``attempts`` tries of a call (``retrying(n)(fn)``), again only after a
    :class:`~trafico_lib.errors.TransientError`, with backoff; the last error is raised as is."""
    return Retrying(retry=retry_if_exception_type(TransientError), stop=stop_after_attempt(attempts),
                    wait=wait_exponential(multiplier=0.5, min=0.5, max=8), reraise=True)
