"""One validation result per run from a source validated chunk by chunk.

A streaming sync validates the source a chunk at a time (``validate`` per chunk), but the
run keeps ONE validation result (Data Docs shows one page per run)::

    totals = ValidationTotals()
    for chunk in chunks:
        val = validate(chunk, spec, cfg, issues=issues)
        totals.add(val)               # keeps counts only, never the chunk's frames
        ...
    save_validation(cfg, spec.name, run_id, totals.to_json(), gx_result=totals.gx_result)

``to_json()`` has the shape of :meth:`ValidationResult.to_json` for the whole run: counts
summed, each rule's ``failed`` summed (rules matched by name, in order of first appearance),
failing keys and failing rows concatenated in chunk order and capped at 20. ``gx_result`` is one GX result dict
(``ExpectationSuiteValidationResult.to_json_dict()`` shape): each expectation's results are
matched across chunks by type, kwargs (without GX's ``batch_id``) and ``meta.rule``; counts are
summed, percentages recomputed from the sums the way GX computes them, partial lists
concatenated and capped at GX's partial size (20), ``partial_unexpected_counts`` summed per
value; ``success`` is every chunk's success (recomputed from the sums when the expectation has
``mostly``), and ``statistics`` are recomputed.

Limits. A chunked run gives the whole run's numbers exactly for row rules (column map
expectations), since each row belongs to one chunk. Expectations without row results
(table-level, aggregates) are evaluated per chunk: their ``failed`` is the number of chunks
that failed them, their ``success`` is every chunk's, and their ``observed_value`` is the
first chunk's. ``partial_unexpected_counts`` are exact when no chunk has more than 20
distinct unexpected values.

Pure: no I/O, and GX is never imported (GX objects are read through ``to_json_dict()``).
"""
from __future__ import annotations

import copy
import json
from typing import Any

from .validate import MAX_FAILING_KEYS, ValidationResult

PARTIAL_SIZE = MAX_FAILING_KEYS  # GX's partial_unexpected_count used by validate()
_SUMMED = ("element_count", "unexpected_count", "missing_count")
_COUNTED = ("rows", "valid", "rejected", "with_warnings")


def _gx_dict(gx: Any) -> dict | None:
    if gx is None:
        return None
    if isinstance(gx, dict):
        return copy.deepcopy(gx)
    out = gx.to_json_dict()
    if not isinstance(out, dict):
        raise TypeError(f"GX result's to_json_dict() gave {type(out).__name__}, not a dict")
    return out  # a fresh dict already


def _canon(value: Any) -> str:
    """A hashable, order-independent text for JSON-like values (kwargs, unexpected values)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _result_key(r: dict) -> tuple[str, str, Any]:
    conf = r.get("expectation_config") or {}
    kwargs = {k: v for k, v in (conf.get("kwargs") or {}).items() if k != "batch_id"}
    return (str(conf.get("type")), _canon(kwargs), (conf.get("meta") or {}).get("rule"))


def _pct(num: Any, den: Any) -> float | None:
    if num is None or not den:
        return None
    return num / den * 100


class ValidationTotals:
    """The sum of a run's per-chunk :class:`ValidationResult`\\ s, in bounded memory.

    ``table`` / ``suite`` name the run before any chunk is added (``to_json()`` of an empty
    run); a chunk of another table or suite is refused (ValueError).
    """

    def __init__(self, *, table: str = "", suite: str = "") -> None:
        self._table = table
        self._suite = suite
        self._enabled: bool | None = None
        self._overrides: list[str] = []
        self._chunks = 0
        self._counts = dict.fromkeys(_COUNTED, 0)
        self._rules: dict[str, dict[str, Any]] = {}  # rule -> to_json()'s rule entry, summed
        self._gx_success: bool | None = None
        self._gx: dict | None = None                   # accumulated GX dict (raw sums)
        self._gx_index: dict[tuple, int] = {}          # (key, occurrence) -> position in results
        self._counts_seen: dict[int, set[str]] = {}    # position -> summed fields some chunk had
        self._success_all: dict[int, bool] = {}        # position -> every chunk succeeded

    # ---- adding ------------------------------------------------------------------------------

    def add(self, val: ValidationResult) -> None:
        """Add one chunk's result; keeps only its counts, rules, failing keys and GX dict."""
        summary = val.to_json()
        gx = _gx_dict(val.gx_result)
        for what, ours, theirs in (("table", self._table, summary["table"]),
                                   ("suite", self._suite, summary["suite"])):
            if ours and theirs and ours != theirs:
                raise ValueError(f"ValidationTotals of {what} {ours!r} can't add a chunk of {what} {theirs!r}")
        if not self._chunks:
            self._table = summary["table"] or self._table
            self._suite = summary["suite"] or self._suite
            self._enabled = bool(summary["validation_enabled"])
            self._overrides = list(summary["overrides"])
        self._chunks += 1
        for k in _COUNTED:
            self._counts[k] += int(summary[k])
        for r in summary["rules"]:
            mine = self._rules.get(r["rule"])
            if mine is None:
                self._rules[r["rule"]] = {**r, "failed": int(r["failed"]),
                                          "failing_keys": list(r["failing_keys"])[:MAX_FAILING_KEYS],
                                          "failing_rows": list(r.get("failing_rows") or [])[:MAX_FAILING_KEYS]}
                continue
            mine["failed"] += int(r["failed"])
            for what in ("failing_keys", "failing_rows"):
                room = MAX_FAILING_KEYS - len(mine[what])
                if room > 0:
                    mine[what].extend(list(r.get(what) or [])[:room])
        if summary["gx_success"] is not None:
            self._gx_success = bool(summary["gx_success"]) and self._gx_success is not False
        if gx is not None:
            self._add_gx(gx)

    def _add_gx(self, gx: dict) -> None:
        if self._gx is None:
            self._gx = {**gx, "results": []}
        results = self._gx["results"]
        seen: dict[tuple, int] = {}
        for r in gx.get("results") or []:
            key = _result_key(r)
            n = seen.get(key, 0)
            seen[key] = n + 1
            pos = self._gx_index.get((key, n))
            if pos is None:  # first time this expectation is seen (first chunk, or a new one)
                pos = self._gx_index[(key, n)] = len(results)
                res = r.get("result") or {}
                results.append(r)
                self._counts_seen[pos] = {k for k in _SUMMED if res.get(k) is not None}
                self._success_all[pos] = bool(r.get("success"))
                self._trim(res)
                continue
            self._merge(results[pos], pos, r)

    @staticmethod
    def _trim(res: dict) -> None:
        for k in ("partial_unexpected_list", "partial_unexpected_index_list"):
            if isinstance(res.get(k), list):
                del res[k][PARTIAL_SIZE:]

    def _merge(self, mine: dict, pos: int, r: dict) -> None:
        """Chunk result ``r`` of the expectation at ``pos`` added to ``mine``, its sum so far."""
        self._success_all[pos] = self._success_all[pos] and bool(r.get("success"))
        new = r.get("result") or {}
        if not new:
            return
        res = mine.setdefault("result", {})
        for k in _SUMMED:
            if new.get(k) is not None:
                res[k] = (res.get(k) or 0) + int(new[k])
                self._counts_seen[pos].add(k)
        for k in ("partial_unexpected_list", "partial_unexpected_index_list"):
            if isinstance(new.get(k), list):
                have = res.get(k) if isinstance(res.get(k), list) else []
                res[k] = have + new[k][:max(0, PARTIAL_SIZE - len(have))]
        if isinstance(new.get("partial_unexpected_counts"), list):
            res["partial_unexpected_counts"] = _sum_value_counts(
                res.get("partial_unexpected_counts") or [], new["partial_unexpected_counts"])

    # ---- reading -----------------------------------------------------------------------------

    @property
    def empty(self) -> bool:
        """True until a chunk is added."""
        return self._chunks == 0

    def __bool__(self) -> bool:
        return self._chunks > 0

    @property
    def chunks(self) -> int:
        """How many chunk results were added."""
        return self._chunks

    @property
    def rows(self) -> int:
        return self._counts["rows"]

    @property
    def valid(self) -> int:
        return self._counts["valid"]

    @property
    def rejected(self) -> int:
        return self._counts["rejected"]

    @property
    def success(self) -> bool:
        """True when no row (and no table-level check) broke any rule in any chunk."""
        return all(r["failed"] == 0 for r in self._rules.values())

    def to_json(self) -> dict[str, Any]:
        """The whole run's summary, in :meth:`ValidationResult.to_json`'s shape."""
        return {
            "table": self._table,
            "suite": self._suite,
            "validation_enabled": True if self._enabled is None else self._enabled,
            "success": self.success,
            "gx_success": self._gx_success,
            **{k: int(self._counts[k]) for k in ("rows", "valid", "rejected", "with_warnings")},
            "overrides": list(self._overrides),
            "rules": [{**r, "failing_keys": list(r["failing_keys"]),
                       "failing_rows": [dict(x) for x in r["failing_rows"]]} for r in self._rules.values()],
        }

    @property
    def gx_result(self) -> dict | None:
        """The whole run's GX result dict (``to_json_dict()`` shape); None if no chunk had one."""
        if self._gx is None:
            return None
        out = copy.deepcopy(self._gx)
        for pos, r in enumerate(out["results"]):
            res = r.get("result")
            counted = self._counts_seen[pos]
            success = self._success_all[pos]
            if isinstance(res, dict) and {"element_count", "unexpected_count"} <= counted:
                _recompute_percents(res)
                mostly = ((r.get("expectation_config") or {}).get("kwargs") or {}).get("mostly")
                if mostly is not None:
                    success = _mostly_success(res, float(mostly))
            r["success"] = success
        n = len(out["results"])
        ok = sum(1 for r in out["results"] if r["success"])
        out["success"] = ok == n
        out["statistics"] = {
            **(out.get("statistics") or {}),
            "evaluated_expectations": n,
            "successful_expectations": ok,
            "unsuccessful_expectations": n - ok,
            "success_percent": ok / n * 100 if n else None,
        }
        return out


# ---- GX arithmetic -----------------------------------------------------------------------------

def _recompute_percents(res: dict) -> None:
    """GX's ``_format_map_output`` percentages, from summed counts (None when dividing by 0)."""
    element = res.get("element_count") or 0
    unexpected = res.get("unexpected_count")
    if "missing_count" in res and res["missing_count"] is not None:
        missing = res["missing_count"]
        nonnull = element - missing
        total = _pct(unexpected, element)
        nonmissing = _pct(unexpected, nonnull) if element else None
        res["missing_percent"] = _pct(missing, element) if unexpected is not None else None
        res["unexpected_percent_total"] = total
        res["unexpected_percent_nonmissing"] = nonmissing
        res["unexpected_percent"] = nonmissing
    else:  # GX skips the missing fields (e.g. not_be_null): the percent is of all rows
        total = _pct(unexpected, element)
        res["unexpected_percent"] = total
        for k in ("unexpected_percent_total", "unexpected_percent_nonmissing"):
            if k in res:
                res[k] = total


def _mostly_success(res: dict, mostly: float) -> bool:
    """GX's rule: vacuously true without rows considered, else share of good rows >= mostly."""
    considered = (res.get("element_count") or 0) - (res.get("missing_count") or 0)
    unexpected = res.get("unexpected_count") or 0
    if considered <= 0:
        return True
    return (considered - unexpected) / considered >= mostly


def _sum_value_counts(a: list, b: list) -> list[dict]:
    """Two ``partial_unexpected_counts`` lists summed per value; GX's order and size."""
    totals: dict[str, list] = {}  # canonical value -> [value, count]; insertion = first seen
    for entry in (*a, *b):
        if not isinstance(entry, dict) or "value" not in entry:
            continue  # GX's {"error": ...} entry for unhashable values
        slot = totals.setdefault(_canon(entry["value"]), [entry["value"], 0])
        slot[1] += int(entry.get("count") or 0)
    top = sorted(totals.values(), key=lambda vc: -vc[1])[:PARTIAL_SIZE]  # Counter.most_common
    try:
        top.sort(key=lambda vc: (-vc[1], vc[0]))
    except TypeError:  # values of mixed types (None, numbers, text): by count only
        top.sort(key=lambda vc: -vc[1])
    return [{"value": v, "count": c} for v, c in top]
