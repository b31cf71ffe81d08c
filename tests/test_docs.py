"""Data Docs: validation results stored per run, the static site built from them (index with
the latest validation per table and failing keys, history pages, GX-rendered run pages),
bounded history, escaping, and links that work from the file system."""
from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from trafico_lib.docs import (
    DocsError, build_docs, save_validation, site_dir, stored_validations, validations_dir,
)
from trafico_lib.tables import TABLES


@pytest.fixture
def cfg(make_config, tmp_path):
    return make_config({"runner": {"reports_dir": str(tmp_path / "reports"), "data_docs_keep_runs": 3}})


def _summary(table: str, failed: int, keys: list[str]) -> dict:
    """The shape of ``ValidationResult.to_json()``."""
    return {"table": table, "suite": table, "validation_enabled": True, "success": failed == 0, "gx_success": None,
            "rows": 10, "valid": 10 - failed, "rejected": failed, "with_warnings": 0, "overrides": [],
            "rules": [{"rule": "required_Contenedor", "severity": "blocking", "column": "Contenedor",
                       "expectation_type": "expect_column_values_to_not_be_null", "failed": failed,
                       "failing_keys": keys},
                      {"rule": "container_format", "severity": "warning", "column": "Contenedor",
                       "expectation_type": "expect_column_values_to_match_regex", "failed": 0, "failing_keys": []}]}


def _hrefs(page: Path) -> list[str]:
    return re.findall(r'href="([^"]+)"', page.read_text(encoding="utf-8"))


def test_real_validation_result_builds_the_site(cfg):
    """The rules engine's ValidationResult (with its GX result) stored and rendered."""
    from trafico_lib.normalize import normalize_frame
    from trafico_lib.rules.validate import validate
    from trafico_lib.sources.csv import read_table_csv
    spec = TABLES["arribos"]
    norm = normalize_frame(read_table_csv(cfg, spec), spec, date(2026, 11, 29))
    val = validate(norm.frame, spec, cfg, issues=norm.issues)
    path = save_validation(cfg, "arribos", "20261129T101500-abc123", val)
    assert path == validations_dir(cfg) / "arribos" / "20261129T101500-abc123.json"
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert stored["summary"] == json.loads(json.dumps(val.to_json())) and stored["gx_result"]["results"]

    index = build_docs(cfg)
    assert index == site_dir(cfg) / "index.html"
    html = index.read_text(encoding="utf-8")
    rows = re.findall(r'<tr class="table-row" data-table="([^"]+)"', html)
    assert rows == list(TABLES)  # every table listed, in registry order
    assert html.count("no validation stored yet") == 3
    failing = [r for r in val.to_json()["rules"] if r["failed"]]
    assert failing, "the sample data is expected to break some rule"
    for r in failing:
        assert f'data-rule="{r["rule"]}"' in html
        assert r["failing_keys"][0] in html  # the failing rows' keys are on the index
    # the run page is GX's own rendering, in GX's layout, and its Home link leads back to the index
    run_href = re.search(r'<a href="(validations/arribos/[^"]+)">20261129T101500-abc123</a>', html).group(1)
    page = index.parent / run_href
    text = page.read_text(encoding="utf-8")
    assert "Expectation Validation Result" in text and "arribos" in text
    home = next(h for h in _hrefs(page) if h.endswith("index.html"))
    assert (page.parent / home).resolve() == index.resolve()
    # every local link of the index resolves to a file: the site needs no server
    for h in _hrefs(index):
        if not h.startswith("http"):
            assert (index.parent / h).is_file(), h
    history = (index.parent / "tables" / "arribos.html").read_text(encoding="utf-8")
    assert history.count('class="run-row"') == 1 and "20261129T101500-abc123" in history


def test_history_is_bounded_and_stale_pages_go(cfg):
    t0 = datetime(2026, 11, 29, 8, 0, tzinfo=timezone.utc)
    for i in range(5):
        save_validation(cfg, "remisiones", f"run-{i}", _summary("remisiones", i, [f"K{i}"]),
                        saved_at=t0 + timedelta(minutes=i))
        if i == 1:
            build_docs(cfg)  # pages of run-0 and run-1 exist now
    assert sorted(p.stem for p in (validations_dir(cfg) / "remisiones").glob("*.json")) == ["run-2", "run-3", "run-4"]
    assert [r["run_id"] for r in stored_validations(cfg, "remisiones")] == ["run-4", "run-3", "run-2"]
    index = build_docs(cfg)
    pages = sorted(p.relative_to(site_dir(cfg)).parts[2] for p in (site_dir(cfg) / "validations" / "remisiones")
                   .rglob("*.html"))
    assert pages == ["run-2", "run-3", "run-4"]  # run-0 and run-1 pages removed with their results
    history = (index.parent / "tables" / "remisiones.html").read_text(encoding="utf-8")
    assert re.findall(r">(run-\d)</a>", history) == ["run-4", "run-3", "run-2"]
    html = index.read_text(encoding="utf-8")
    latest = html.split('data-table="remisiones"')[1].split("</tr>")[0]
    assert "run-4" in latest and "K4" in latest and "Rows rejected" in latest
    # a run without a GX result gets a plain page from its summary
    plain = next((site_dir(cfg) / "validations" / "remisiones" / "run-4").rglob("*.html")).read_text(encoding="utf-8")
    assert "required_Contenedor" in plain and "K4" in plain


def test_save_validation_inputs(cfg):
    s = _summary("arribos", 0, [])
    p1 = save_validation(cfg, "traficov2_arribos", "a/b c", json.dumps(s))  # target name and odd run id
    assert p1.name == "a_b_c.json" and p1.parent.name == "arribos"
    assert json.loads(p1.read_text(encoding="utf-8"))["summary"]["success"] is True
    with pytest.raises(DocsError, match="unknown table 'nope'"):
        save_validation(cfg, "nope", "r", s)
    with pytest.raises(DocsError, match="not JSON"):
        save_validation(cfg, "arribos", "r", "{broken")
    with pytest.raises(DocsError, match="expected a dict"):
        save_validation(cfg, "arribos", "r", 42)
    with pytest.raises(DocsError, match="cannot name a file"):
        save_validation(cfg, "arribos", "//", s)
    (validations_dir(cfg) / "arribos" / "junk.json").write_text("{half", encoding="utf-8")
    assert [r["run_id"] for r in stored_validations(cfg, "arribos")] == ["a/b c"]  # junk skipped, not fatal


def test_keys_are_escaped(cfg):
    save_validation(cfg, "arribos", "r1", _summary("arribos", 1, ["<script>alert(1)</script>"]))
    html = build_docs(cfg).read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_health_block_on_the_index_and_make_docs_entry_point(cfg, make_config, tmp_path, capsys):
    from trafico_lib.health import gather_facts
    (tmp_path / "nosock").mkdir()
    down = make_config({"runner": {"reports_dir": str(tmp_path / "reports")}},
                       db_url=f"postgresql://postgres@/postgres?host={tmp_path / 'nosock'}")
    html = build_docs(down, facts=gather_facts(down)).read_text(encoding="utf-8")
    assert 'id="health"' in html and "unhealthy" in html and "Database Connection: ✗" in html
    from trafico_lib.cli import docs_main as main  # python -m trafico_lib.docs
    assert main(["--no-health", "--config", cfg.source_path]) == 0
    assert capsys.readouterr().out.strip() == f"Data Docs: {site_dir(cfg) / 'index.html'}"
    assert 'id="health"' not in (site_dir(cfg) / "index.html").read_text(encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text("[]", encoding="utf-8")
    assert main(["--config", str(bad)]) == 2


def test_status_tells_rejected_rows_from_warnings_only():
    from trafico_lib.docs import passed
    clean = _summary("arribos", 0, [])
    blocked = _summary("arribos", 2, ["K1", "K2"])
    warned = _summary("arribos", 0, [])
    warned["rules"][1]["failed"] = 3
    assert passed(clean) is True and passed(blocked) is False and passed(warned) == "warnings"
