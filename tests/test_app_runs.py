"""The app shows any kept assessment run read-only (docs/history.md §3), run headless with Streamlit's AppTest on
the real app.py and a demo store with a second, what-if run kept beside the current one."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from gis.accounts import add_user
from gis.idle import load_idle_rules
from gis.store.history_schema import utc_now
from gis.workflow import compute_assessment, keep_assessment

pytestmark = pytest.mark.slow
APP = str(Path(__file__).resolve().parent.parent / "app.py")


def test_a_kept_what_if_run_is_shown_read_only(demo_store, monkeypatch):
    from streamlit.testing.v1 import AppTest

    store = demo_store
    add_user(store, "admin1", "admin1-pass-2026", role="admin")
    monkeypatch.setenv("LANDRENEW_STORE", str(store.path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    # a what-if run with a later as-of: kept, not current
    as_of, known_at, rules = dt.date(2027, 6, 30), utc_now(), load_idle_rules()
    frame = compute_assessment(store, as_of=as_of, known_at=known_at, rules=rules)
    what_if = keep_assessment(store, frame, as_of=as_of, known_at=known_at, rules=rules, what_if=True)
    with sqlite3.connect(store.path) as con:  # the reference: the kept rows as the GeoPackage holds them
        (count,) = con.execute("select count(*) from idle_assessment_runs where run_id = ?", (what_if,)).fetchone()
        routes = dict(con.execute("select parcel_id, route from idle_assessment_runs where run_id = ?", (what_if,)))

    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["user_name"] = "admin1"
    at.session_state["last_seen"] = dt.datetime.now(dt.UTC)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    box = next(s for s in at.selectbox if s.label == "查看某次研判的结果（只读）")
    assert what_if in box.options
    box.select(what_if)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(f"研判批次 {what_if}：{count} 宗地" in c.value for c in at.caption)
    table = next(d.value for d in at.dataframe if "宗地编号" in d.value.columns and len(d.value) == count)
    labels = {"continue": "继续开发", "transfer": "市场流通转让", "reclaim": "收回收购"}
    pid = next(p for p, r in routes.items() if r in labels)
    row = table[table["宗地编号"] == pid].iloc[0]
    assert row["推荐处置路径"] == labels[routes[pid]]
