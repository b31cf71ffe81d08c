"""Step 3 of a table's run: validate a normalized frame with the table's GX suite.

``validate(frame, spec, cfg)`` runs the suite (``expectations/<table>.json`` with the
config's ``business_rules`` applied, see :mod:`trafico_lib.rules.suites`) through Great
Expectations on the whole frame, then turns GX's per-expectation unexpected rows into a
per-row outcome:

- a row that broke a **blocking** rule goes to ``rejected`` with every rule it broke in
  ``reasons`` (blocking rules first, then warnings, each group sorted);
- every other row is in ``valid`` with the (sorted) warning rules it broke in
  ``validation_warnings`` (``[]`` for a clean row).

Values normalization could not parse (the ``issues`` frame: row, column, value, problem)
become rules named ``parseable_<column>``: blocking when the column is part of the business
key (or is a slot table's quantity), warnings otherwise; ``business_rules.severity`` may change
them like any rule. An issue's ``row`` is matched against the frame's ``_row`` column when there
is one, else its index. The limits of :mod:`.limits` (a key too long to index, a quantity out of
range) are always blocking.

How rows are found. GX runs with ``result_format=COMPLETE`` on a copy of the frame with a
fresh ``RangeIndex`` (GX 1.24 with pandas 3 misreads columns of a frame with any other
index), so each column-map expectation's ``unexpected_index_list`` is row positions. GX's
map expectations skip missing values (except ``not_be_null``), which is what makes the
container rules apply only where a container is present (expo pending slots, remisiones).
``mostly`` only changes the suite-level success shown in Data Docs, never a row's outcome.
Expectations without row results (table-level, aggregates) are counted (``failed`` = 1)
but tag no row. Afterwards the big lists are dropped from the kept GX result (it keeps GX's
SUMMARY fields, with partial indexes mapped back to ``_row``), so per-run results stay small.

The ISO 6346 check digit is a custom expectation, ``expect_column_values_to_be_valid_iso6346``
(kwargs ``column``, optional ``categories`` default ``"UJZ"``), registered with GX here on
first use (:func:`register_gx_expectations`). So GX computes its unexpected rows like any
other rule, it appears in the GX result and in Data Docs, and the suite JSON stays the one
place where the rules and their parameters live. :mod:`.suites` knows the custom type,
so the "unknown type" check accepts it.

``cfg.table(name).validation_enabled = False`` skips GX: only the blocking rules on key
columns (``required_<key>``, ``key_parseable``) run, in pandas with the same semantics, and
``gx_result`` is None. Issues still apply.

GX is imported only inside these functions (it costs about 2 s). A run validates chunk by
chunk, so what does not depend on the data is built once per process: the ephemeral GX
context with its pandas datasource, one asset and whole-dataframe batch definition per table,
and the GX suite per suite content; each chunk is passed in as the batch's ``dataframe``.
"""
from __future__ import annotations

import gc
import json
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd

from ..errors import SyncFailed
from ..normalize import UNREADABLE
from ..tables import TableSpec
from ..values import plain
from .iso6346 import CATEGORIES, valid_container_mask
from .limits import KEY_TOO_LONG, limit_failures
from .suites import (
    BLOCKING, ISO6346, MATCH_REGEX, NOT_NULL, SuiteError, WARNING, key_columns, load_suite,
    parseable_rule, readable_rule, rule_severity,
)

MAX_FAILING_KEYS = 20
_ISSUE_TYPE = "normalize"  # expectation_type shown for rules that come from the issues frame
_LIMIT_TYPE = "limit"  # expectation_type shown for rules.limits' rules


class RulesError(SyncFailed):
    """Validation could not run on this input; one readable line."""


@dataclass
class ValidationResult:
    """What validation decided for one table's frame."""

    valid: pd.DataFrame          # kept rows: input columns + validation_warnings (sorted list)
    rejected: pd.DataFrame       # blocked rows: input columns + reasons (list)
    rule_counts: pd.DataFrame    # rule, severity, column, expectation_type, failed
    gx_result: object | None     # GX ExpectationSuiteValidationResult (Data Docs); None if disabled
    suite_name: str = ""
    table: str = ""
    validation_enabled: bool = True
    overrides: list[str] = field(default_factory=list)
    failing_keys: dict[str, list[str]] = field(default_factory=dict)
    failing_rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        """True when no row broke any rule."""
        return bool((self.rule_counts["failed"] == 0).all()) if len(self.rule_counts) else True

    def to_json(self) -> dict[str, Any]:
        """A JSON-able summary to store per run: counts, and per rule its first 20 failing rows,
        both as ``failing_keys`` (the key text, or ``row N``: the older shape) and as
        ``failing_rows``, one ``{"row": N, "key": {<key column>: value}, "value": v}`` each
        (see :func:`_failing_rows`)."""
        gx_success = getattr(self.gx_result, "success", None)
        return {
            "table": self.table,
            "suite": self.suite_name,
            "validation_enabled": self.validation_enabled,
            "success": self.success,
            "gx_success": None if gx_success is None else bool(gx_success),
            "rows": int(len(self.valid) + len(self.rejected)),
            "valid": int(len(self.valid)),
            "rejected": int(len(self.rejected)),
            "with_warnings": int(self.valid["validation_warnings"].map(bool).sum()) if len(self.valid) else 0,
            "overrides": list(self.overrides),
            "rules": [
                {"rule": r.rule, "severity": r.severity, "column": r.column,
                 "expectation_type": r.expectation_type, "failed": int(r.failed),
                 "failing_keys": list(self.failing_keys.get(r.rule, [])),
                 "failing_rows": [dict(x) for x in self.failing_rows.get(r.rule, [])]}
                for r in self.rule_counts.itertuples(index=False)
            ],
        }


# ---- GX glue (lazy) ---------------------------------------------------------------------------

_REGISTERED = False


def register_gx_expectations() -> None:
    """Import GX and register trafico's custom expectation(s); safe to call more than once.

    Anything that rebuilds a suite from ``expectations/`` (e.g. a Data Docs builder) calls
    this first.
    """
    global _REGISTERED
    if _REGISTERED:
        return
    from great_expectations.compatibility import pydantic
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.expectations.expectation import ColumnMapExpectation
    from great_expectations.expectations.metrics.map_metric_provider import (
        ColumnMapMetricProvider, column_condition_partial,
    )
    from great_expectations.render import LegacyRendererType, RenderedStringTemplateContent
    from great_expectations.render.renderer.renderer import renderer

    class ColumnValuesTraficoValidIso6346(ColumnMapMetricProvider):
        condition_metric_name = "column_values.trafico_valid_iso6346"
        condition_value_keys = ("categories",)

        @column_condition_partial(engine=PandasExecutionEngine)
        def _pandas(cls, column, categories=CATEGORIES, **kwargs):
            return valid_container_mask(column, categories or CATEGORIES)

    class ExpectColumnValuesToBeValidIso6346(ColumnMapExpectation):
        """Expect container numbers to be valid ISO 6346 codes.

        Owner code (3 letters), category letter in ``categories`` (default U, J, Z), six
        serial digits, and the check digit computed the standard way.
        """

        categories: str = pydantic.Field(default=CATEGORIES, description="allowed category letters")
        map_metric = "column_values.trafico_valid_iso6346"
        success_keys = ("categories", "mostly")
        args_keys = ("column", "categories")
        library_metadata = {"maturity": "experimental", "tags": ["trafico", "iso6346"],
                            "contributors": ["trafico"]}

        @classmethod
        @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
        def _prescriptive_renderer(cls, configuration=None, result=None, runtime_configuration=None,
                                   **kwargs):
            runtime_configuration = runtime_configuration or {}
            kw = configuration.kwargs if configuration is not None else {}
            template = ("values must be valid ISO 6346 container numbers "
                        "(category $categories, correct check digit).")
            if runtime_configuration.get("include_column_name") is not False:
                template = "$column " + template
            params = {"column": kw.get("column"), "categories": "/".join(kw.get("categories") or CATEGORIES)}
            return [RenderedStringTemplateContent(
                content_block_type="string_template",
                string_template={"template": template, "params": params,
                                 "styling": runtime_configuration.get("styling")},
            )]

    assert ExpectColumnValuesToBeValidIso6346.expectation_type == ISO6346
    _REGISTERED = True


def build_gx_suite(suite: dict[str, Any]):
    """The GX ExpectationSuite for a loaded suite dict; SuiteError if GX refuses any part.

    Each expectation is built on its own so that a refusal is an error naming it (GX's own
    constructor would drop it with only a log line); the count is checked again after.
    """
    register_gx_expectations()
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
    from great_expectations.expectations.metadata_types import FailureSeverity

    where = suite.get("source", suite["name"])
    built = []
    for i, exp in enumerate(suite["expectations"], 1):
        rule = exp["meta"]["rule"]
        sev = FailureSeverity.CRITICAL if exp["meta"].get("severity") == BLOCKING else FailureSeverity.WARNING
        try:
            conf = ExpectationConfiguration(
                type=exp["type"], kwargs=dict(exp["kwargs"]), meta=dict(exp["meta"]),
                notes=exp.get("notes"), description=exp.get("description"), severity=sev,
            )
            built.append(conf.to_domain_obj())
        except Exception as exc:  # GX raises several kinds for bad input; all are suite problems
            msg = getattr(exc, "message", None) or str(exc)
            msg = " ".join(str(msg).split())
            raise SuiteError(f"{where}: expectation {i} ({rule}): GX refused it: {msg}") from None
    gx_suite = gx.ExpectationSuite(name=suite["name"], expectations=built,
                                   meta={k: v for k, v in suite.get("meta", {}).items()})
    if len(gx_suite.expectations) != len(suite["expectations"]):
        raise SuiteError(f"{where}: GX kept {len(gx_suite.expectations)} of "
                         f"{len(suite['expectations'])} expectations")
    return gx_suite


@lru_cache(maxsize=None)
def _gx_batch_definition(table: str):
    """The table's whole-dataframe batch definition; the ephemeral GX context, its pandas
    datasource and the table's asset are built once per process (each chunk passes its own
    frame through ``batch_parameters``, as GX documents for dataframes)."""
    context = _gx_context()
    return (context.data_sources.get("trafico").add_dataframe_asset(table)
            .add_batch_definition_whole_dataframe("whole_dataframe"))


@lru_cache(maxsize=1)
def _gx_context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.data_sources.add_pandas("trafico")
    _spare_the_gc_of_gx()
    return context


def _spare_the_gc_of_gx() -> None:
    """Exempt what GX's import left alive from the cyclic GC's full collections, once.

    Importing GX leaves some 600,000 long-lived objects; each full collection walks them all
    (about 0.3 s), and a chunk's per-row lists trigger one about every other 50,000-row chunk.
    Those objects live as long as the process, so they are moved to the permanent generation
    (``gc.freeze``) after collecting what is garbage now; later objects are collected as usual.
    """
    gc.collect()
    gc.freeze()


@lru_cache(maxsize=8)
def _cached_gx_suite(suite_json: str):
    return build_gx_suite(json.loads(suite_json))


def _gx_suite_for(suite: dict[str, Any]):
    """:func:`build_gx_suite`, built once per suite content (a run validates many chunks)."""
    try:
        key = json.dumps(suite, sort_keys=True)
    except (TypeError, ValueError):  # not plain JSON (a notebook's suite): build it each time
        return build_gx_suite(suite)
    return _cached_gx_suite(key)


_RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "partial_unexpected_count": MAX_FAILING_KEYS,
    "return_unexpected_index_query": False,
}


def _run_gx(gx_suite, work: pd.DataFrame, table: str):
    """GX's result for one frame. What ``batch_definition.get_batch(...).validate(...)`` does,
    minus its first batch load: GX's Batch.validate loads (and fingerprints) the frame again
    through the validator it builds, so the public path hashes every chunk twice."""
    from great_expectations.validator.v1_validator import Validator

    validator = Validator(_gx_batch_definition(table), result_format=_RESULT_FORMAT,
                          batch_parameters={"dataframe": work})
    return validator.validate_expectation_suite(gx_suite)


def _raised(info: Any) -> str | None:
    """The exception message GX recorded for one expectation, if any."""
    if not isinstance(info, dict):
        return None
    if "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    for v in info.values():
        msg = _raised(v)
        if msg:
            return msg
    return None


# ---- pandas semantics of the few types checked without GX -----------------------------------

def _python_failures(exp: dict[str, Any], work: pd.DataFrame) -> np.ndarray | None:
    """Failing row positions for an expectation, computed in pandas; None if unsupported.

    Same semantics as GX: missing values fail only ``not_be_null``.
    """
    kw = exp["kwargs"]
    if "row_condition" in kw or "column" not in kw:
        return None
    col = work[kw["column"]]
    present = col.notna().to_numpy()
    if exp["type"] == NOT_NULL:
        bad = ~present
    elif exp["type"] == MATCH_REGEX:
        ok = col[present].astype(str).str.contains(kw.get("regex", "(?s).*"), regex=True).to_numpy(dtype=bool)
        bad = np.zeros(len(col), dtype=bool)
        bad[np.flatnonzero(present)[~ok]] = True
    elif exp["type"] == ISO6346:
        bad = present & ~valid_container_mask(col, kw.get("categories") or CATEGORIES).to_numpy()
    else:
        return None
    return np.flatnonzero(bad)


# ---- the step --------------------------------------------------------------------------------

def _work_frame(frame: pd.DataFrame, columns: list[str], keys: list[str]) -> pd.DataFrame:
    """The columns the suite reads, positionally indexed; blank key text counts as missing."""
    work = frame[columns].reset_index(drop=True)
    for k in keys:
        if k in work.columns:
            col = work[k]
            blank = _blank_text(col.to_numpy(dtype=object))
            if blank.any():
                work[k] = col.astype(object).where(~blank, None)
    return work


def _blank_text(values: np.ndarray) -> np.ndarray:
    """Where ``values`` (objects) holds a string that is empty or only blanks."""
    texts = np.flatnonzero(np.fromiter(map(isinstance, values, repeat(str)), dtype=bool, count=len(values)))
    blank = np.zeros(len(values), dtype=bool)
    blank[texts] = np.fromiter((not v.strip() for v in values[texts]), dtype=bool, count=len(texts))
    return blank


def _suite_columns(suite: dict[str, Any]) -> list[str]:
    cols: list[str] = []
    for e in suite["expectations"]:
        kw = e["kwargs"]
        for c in [kw.get("column"), kw.get("column_A"), kw.get("column_B"), *(kw.get("column_list") or [])]:
            if c and c not in cols:
                cols.append(c)
    return cols


def _labels(frame: pd.DataFrame) -> np.ndarray:
    """What identifies a row to people: its ``_row`` when present, else its index label."""
    return (frame["_row"] if "_row" in frame.columns else frame.index.to_series()).to_numpy(dtype=object)


def _issue_failures(issues: pd.DataFrame | None, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Rows of the issues frame as rule failures: ``readable_<column>`` for bytes that are not
    text, ``parseable_<column>`` for the rest."""
    if issues is None or len(issues) == 0:
        return {}
    missing = {"row", "column"} - set(issues.columns)
    if missing:
        raise RulesError(f"issues frame lacks column(s) {', '.join(sorted(missing))} "
                         "(expected row, column, value, problem)")
    labels = pd.Index(frame["_row"] if "_row" in frame.columns else frame.index)
    unreadable = (issues["problem"] == UNREADABLE) if "problem" in issues.columns else pd.Series(False, index=issues.index)
    out = {}
    for bad_bytes, part in issues.groupby(unreadable.to_numpy(), sort=True):
        name = readable_rule if bad_bytes else parseable_rule
        for column, rows in part.groupby("column", sort=True)["row"]:
            pos = np.flatnonzero(labels.isin(rows.tolist()))
            if len(pos):
                out[name(str(column))] = pos
    return out


def _row_key_text(key_values: list[np.ndarray], labels: np.ndarray, pos: np.ndarray) -> list[str]:
    """How people find the first failing rows: their key (``|``-joined), else ``row <label>``."""
    out = []
    for p in pos[:MAX_FAILING_KEYS]:
        vals = [values[p] for values in key_values]
        if key_values and all(isinstance(v, str) and v.strip() for v in vals):
            out.append("|".join(vals))
        else:
            out.append(f"row {plain(labels[p])}")
    return out


_NO_VALUE = object()


def _failing_rows(frame: pd.DataFrame, keys: list[str], labels: np.ndarray, failures: dict[str, np.ndarray],
                  info: dict[str, tuple[str, str | None, str]],
                  issues: pd.DataFrame | None) -> dict[str, list[dict[str, Any]]]:
    """The first failing rows of each rule, as people find them::

        {"row": 121, "key": {"Booking": "BKG2611012"}, "value": "MSKU1234568"}

    ``row`` is the row's ``_row`` (its line in a CSV file, its position in a database read
    counted from 1; the frame's index label when there is no ``_row``): the number the
    notebook's issue and reject tables are indexed by. ``key`` holds the row's business key
    under the key columns' names (None for a missing part); ``value`` is what the row holds
    in the rule's column (for a ``parseable_``/``readable_`` rule, the text as read), absent
    when the rule has no column.
    """
    key_values = {k: frame[k].to_numpy(dtype=object) for k in keys if k in frame.columns}
    read_as: dict[tuple[str, Any], Any] = {}
    if issues is not None and len(issues) and "value" in issues.columns:
        for r in issues[["row", "column", "value"]].itertuples(index=False):
            read_as.setdefault((str(r.column), plain(r.row)), r.value)
    out: dict[str, list[dict[str, Any]]] = {}
    for rule, pos in failures.items():
        if not len(pos):
            continue
        column, typ = info[rule][1], info[rule][2]
        values = frame[column].to_numpy(dtype=object) if column and column in frame.columns else None
        rows = []
        for p in pos[:MAX_FAILING_KEYS].tolist():
            label = plain(labels[p])
            entry: dict[str, Any] = {"row": plain(label),
                                     "key": {k: plain(v[p]) for k, v in key_values.items()}}
            value = read_as.get((column, label), _NO_VALUE) if typ == _ISSUE_TYPE else _NO_VALUE
            if value is _NO_VALUE and values is not None:
                value = values[p]
            if value is not _NO_VALUE:
                entry["value"] = plain(value)
            rows.append(entry)
        out[rule] = rows
    return out


def _trim_gx_result(gx_result, labels: np.ndarray) -> None:
    """Drop the full unexpected lists (kept as frames instead); map partial indexes to labels."""
    for r in gx_result.results:
        res = r.result
        for k in ("unexpected_list", "unexpected_index_list", "unexpected_index_query"):
            res.pop(k, None)
        part = res.get("partial_unexpected_index_list")
        if part:
            res["partial_unexpected_index_list"] = [
                plain(labels[int(p)]) if isinstance(p, (int, np.integer)) else p for p in part
            ]


def validate(frame: pd.DataFrame, spec: TableSpec, cfg, *, issues: pd.DataFrame | None = None,
             suite: dict[str, Any] | None = None) -> ValidationResult:
    """Validate a normalized frame with its table's suite; split it into kept and rejected rows.

    ``suite`` is a loaded suite dict (default: :func:`load_suite` for the table with ``cfg``),
    e.g. to try a changed rule in a notebook.
    """
    if cfg is None:
        from ..config import Config
        cfg = Config()
    suite = suite if suite is not None else load_suite(spec.name, cfg)
    keys = key_columns(spec, cfg)
    enabled = cfg.table(spec.name).validation_enabled
    exps = suite["expectations"]
    if not enabled:
        exps = [e for e in exps if e["meta"].get("severity") == BLOCKING
                and e["kwargs"].get("column") in keys]

    columns = _suite_columns({"expectations": exps})
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RulesError(f"{spec.name}: the frame lacks column(s) {', '.join(missing)} "
                         f"that {suite.get('source', suite['name'])} checks")
    work = _work_frame(frame, columns, keys)
    labels = _labels(frame)

    failures: dict[str, np.ndarray] = {}
    info: dict[str, tuple[str, str | None, str]] = {}  # rule -> (severity, column, type)
    for e in exps:
        info[e["meta"]["rule"]] = (e["meta"].get("severity", WARNING), e["kwargs"].get("column"), e["type"])

    gx_result = None
    unrowed: dict[str, int] = {}  # failed count of expectations without row results
    if enabled and len(frame) == 0:  # nothing to check (a no-op rerun): no GX, whose import alone costs seconds
        failures = {e["meta"]["rule"]: np.array([], dtype=np.int64) for e in exps}
    elif enabled:
        gx_suite = _gx_suite_for({**suite, "expectations": exps})
        gx_result = _run_gx(gx_suite, work, spec.name)
        by_rule = {e["meta"]["rule"]: e for e in exps}
        for r in gx_result.results:
            rule = r.expectation_config.meta["rule"]
            err = _raised(r.exception_info)
            if err:
                err = " ".join(str(err).split())
                raise RulesError(f"{spec.name}: rule {rule} ({r.expectation_config.type}) "
                                 f"could not be evaluated: {err}")
            idx = r.result.get("unexpected_index_list")
            if idx is None:
                pos = _python_failures(by_rule[rule], work)
                if pos is None:  # table-level / aggregate: counted, tags no row
                    failures[rule] = np.array([], dtype=np.int64)
                    unrowed[rule] = 0 if r.success else 1
                    continue
            else:
                pos = np.unique(np.asarray(idx, dtype=np.int64))
            failures[rule] = pos
        _trim_gx_result(gx_result, labels)
    else:
        for e in exps:
            pos = _python_failures(e, work)
            if pos is None:
                raise SuiteError(f"{suite.get('source', suite['name'])}: rule {e['meta']['rule']} "
                                 f"({e['type']}) can't be checked with validation disabled")
            failures[e["meta"]["rule"]] = pos

    quantity = spec.slots.quantity if spec.slots else None
    for rule, pos in _issue_failures(issues, frame).items():
        readable = rule.startswith("readable_")
        column = rule.removeprefix("readable_") if readable else rule.removeprefix("parseable_")
        default = BLOCKING if readable or column in keys or column == quantity else WARNING
        if rule in failures:  # a suite rule of the same name: merge rows
            pos = np.union1d(failures[rule], pos)
        else:
            info[rule] = (rule_severity(rule, default, cfg), column, _ISSUE_TYPE)
        failures[rule] = pos
    # what the database and the slot expansion can take: always blocking (rules/limits.py)
    for rule, pos in limit_failures(frame, spec, keys, max_quantity=cfg.table(spec.name).max_quantity).items():
        info[rule] = (BLOCKING, quantity if rule != KEY_TOO_LONG else None, _LIMIT_TYPE)
        failures[rule] = pos

    return _assemble(frame, spec, suite, enabled, gx_result, failures, info, unrowed, keys, labels, issues)


def _rule_lists(n: int, rules: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """One new list per row (objects), holding the rules (in the given order) that tag it."""
    per_row = pd.Series([[] for _ in range(n)], dtype=object).to_numpy()
    for rule, pos in rules:
        for p in pos.tolist():
            per_row[p].append(rule)
    return per_row


def _assemble(frame, spec, suite, enabled, gx_result, failures, info, unrowed, keys, labels,
              issues=None) -> ValidationResult:
    """Per-row lists, the kept/rejected split, counts and failing keys."""
    n = len(frame)
    blocked = np.zeros(n, dtype=bool)
    for rule, pos in failures.items():
        if info[rule][0] == BLOCKING:
            blocked[pos] = True
    order = sorted(failures, key=lambda r: (info[r][0] != BLOCKING, r))
    per_row = _rule_lists(n, [(rule, failures[rule]) for rule in order])

    keep = np.flatnonzero(~blocked)
    drop = np.flatnonzero(blocked)
    valid = frame.iloc[keep]  # a new frame (copy-on-write): adding a column leaves ``frame`` alone
    valid["validation_warnings"] = pd.Series(per_row[keep], index=valid.index, dtype=object)
    rejected = frame.iloc[drop]
    rejected["reasons"] = pd.Series(per_row[drop], index=rejected.index, dtype=object)

    rows = []
    for rule, (severity, column, typ) in info.items():
        failed = unrowed[rule] if rule in unrowed else len(failures.get(rule, ()))
        rows.append({"rule": rule, "severity": severity, "column": column,
                     "expectation_type": typ, "failed": int(failed)})
    rule_counts = pd.DataFrame(rows, columns=["rule", "severity", "column", "expectation_type", "failed"])
    rule_counts["failed"] = rule_counts["failed"].astype("int64")

    key_values = [frame[k].to_numpy(dtype=object) for k in keys]
    failing = {rule: _row_key_text(key_values, labels, pos) for rule, pos in failures.items() if len(pos)}
    return ValidationResult(
        valid=valid, rejected=rejected, rule_counts=rule_counts, gx_result=gx_result,
        suite_name=suite["name"], table=spec.name, validation_enabled=enabled,
        overrides=list(suite.get("overrides", [])), failing_keys=failing,
        failing_rows=_failing_rows(frame, keys, labels, failures, info, issues),
    )
