"""One source for the renewal deadline: ``deadline.default`` in layers/rules/renewal.yaml.

A district that moves its goal edits that one key; the dashboard countdown, the annual report, the Excel ledger,
the villages layer's default and the status of a village without its own deadline all follow, with no code change.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import openpyxl
import pytest

import gis.rules
import gis.schema
from gis import dashboard as dash
from gis.ledger import write_ledger
from gis.renewal import load_renewal_rules, renewal_deadline
from gis.report import report_html

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def moved_goal(tmp_path, monkeypatch):
    """The default rule folder replaced by a copy whose deadline is 2029-06-30."""
    folder = tmp_path / "rules"
    shutil.copytree(gis.rules.RULES_DIR, folder)
    path = folder / "renewal.yaml"
    text = path.read_text(encoding="utf-8")
    assert "  default: 2027-12-31\n" in text
    path.write_text(text.replace("  default: 2027-12-31\n", "  default: 2029-06-30\n"), encoding="utf-8")
    monkeypatch.setattr(gis.rules, "RULES_DIR", folder)
    gis.schema._all_layers.cache_clear()
    yield dt.date(2029, 6, 30)
    monkeypatch.undo()
    gis.schema._all_layers.cache_clear()


def test_default_deadline():
    assert renewal_deadline() == dt.date(2027, 12, 31)
    assert dash.countdown(dt.date(2026, 11, 1)) == {"deadline": dt.date(2027, 12, 31), "days": 425, "months": 14.0}


def test_dashboard_report_ledger_follow_the_rule_file(moved_goal, demo_store, tmp_path):
    assert renewal_deadline() == moved_goal
    # 2026-11-01 -> 2029-06-30: 61 (to 2027-01-01) + 365 + 366 (2028) + 180 (to 2029-06-30) = 972 days
    assert dash.countdown(dt.date(2026, 11, 1))["days"] == 972
    html = report_html(demo_store, year=2026)
    assert "四、城中村改造进展（对照 2029 年底目标）" in html and "2027 年底" not in html
    book = openpyxl.load_workbook(write_ledger(demo_store, tmp_path / "台账.xlsx"), read_only=True)
    titles = [next(book[name].iter_rows(max_row=1, values_only=True))[0] for name in book.sheetnames]
    assert any("目标 2029 年底" in str(t) for t in titles) and not any("2027" in str(t) for t in titles)
    assert gis.schema.get_layer("villages").field("deadline").default == "2029-06-30"


def test_a_district_rule_file_passed_explicitly(tmp_path, demo_store):
    text = (gis.rules.RULES_DIR / "renewal.yaml").read_text(encoding="utf-8")
    path = tmp_path / "renewal.yaml"
    path.write_text(text.replace("  default: 2027-12-31\n", "  default: 2028-12-31\n"), encoding="utf-8")
    rules = load_renewal_rules(path)
    assert "对照 2028 年底目标" in report_html(demo_store, year=2026, renewal_rules=rules)
    assert dash.countdown(dt.date(2028, 12, 1), deadline=renewal_deadline(rules))["days"] == 30


def test_the_date_is_written_only_in_the_rule_file():
    """No module, page or layer file repeats the district deadline (village-specific demo dates aside)."""
    pattern = re.compile(r"2027-12-31|2027, 12, 31|2027 年底|2027年底")
    hits = []
    for path in [*ROOT.glob("gis/**/*.py"), *ROOT.glob("pipelines/*.py"), ROOT / "app.py", *ROOT.glob("layers/*.yaml")]:
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if pattern.search(line) and ">>>" not in line and "datetime.date(2027, 12, 31)" not in line:
                hits.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()}")
    assert not hits, "\n".join(hits)
