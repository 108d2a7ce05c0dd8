"""The case pages of the app, run headless with Streamlit's AppTest (the real app.py and store, no browser):
a planner opens a case from the parcel detail and records events up to a drafted plan; an approver approves it;
the dashboard's disposal counts change; a viewer sees no forms."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gis.accounts import add_user
from gis.auth import User
from gis.cases import case_events, read_cases
from gis.store import GeoPackageStore
from tests import case_fixtures

pytestmark = pytest.mark.slow
APP = str(Path(__file__).resolve().parent.parent / "app.py")
PID = "P-whole_transfer"


@pytest.fixture
def store(tmp_path, monkeypatch):
    s = GeoPackageStore(tmp_path / "app.gpkg")
    case_fixtures.fill(s)
    for name, role in (("wang", "planner"), ("zhao", "approver"), ("li", "viewer")):
        add_user(s, name, f"{name}-pass-2026", role=role)  # the app reads the role from the store on every run
    monkeypatch.setenv("LANDRENEW_STORE", str(s.path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return s


def _page(user: User):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["user_name"] = user.name  # signed in: the app re-reads the role from the store
    at.session_state["last_seen"] = dt.datetime.now(dt.UTC)
    at.session_state["selected"] = ("idle_assessment", PID)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _submit(at, label: str):
    button = next(b for b in at.button if b.label == label)
    button.click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error if "模拟数据" not in e.value]  # the synthetic-data banner is expected
    assert not errors, errors
    return at


def _metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_planner_opens_and_records_approver_approves_viewer_sees_no_forms(store):
    at = _page(User("wang", "planner"))
    assert _metric(at, "已立案") == "0"
    at = _submit(at, "立案")
    case = read_cases(store).iloc[0]
    assert (case["parcel_id"], case["route"], case["sub_route"], case["opened_by"]) == (
        PID,
        "transfer",
        "whole_transfer",
        "wang",
    )
    day = dt.date.today()
    for event in ("survey_notice", "holder_response", "idle_determination", "public_notice", "plan_drafted"):
        at = _page(User("wang", "planner"))
        form_event = next(s for s in at.selectbox if s.label == "事项")
        assert (
            form_event.options[0]
            == {
                "survey_notice": "下达调查通知书",
                "holder_response": "使用权人说明",
                "idle_determination": "下达闲置土地认定书",
                "public_notice": "信息公开",
                "plan_drafted": "拟定处置方案",
            }[event]
        )
        form_event.set_value(event)
        next(d for d in at.date_input if d.label == "事项日期").set_value(day)
        at = _submit(at, "保存")
    assert case_events(store, case["case_id"])["event"].tolist()[-1] == "plan_drafted"
    # the planner cannot approve: no approval form, a note instead
    at = _page(User("wang", "planner"))
    assert not [s for s in at.selectbox if s.label == "事项" and "plan_approved" in s.options] and any(
        "待分管领导" in c.value for c in at.caption
    )
    assert _metric(at, "方案已批准") == "0" and _metric(at, "已立案") == "1"
    # the approver approves
    at = _page(User("zhao", "approver"))
    approve = next(s for s in at.selectbox if s.label == "事项" and "处置方案批准" in s.options)
    approve.set_value("plan_approved")
    at = _submit(at, "保存")
    assert case_events(store, case["case_id"])[["event", "recorded_by"]].values.tolist()[-1] == [
        "plan_approved",
        "zhao",
    ]
    at = _page(User("zhao", "approver"))
    assert _metric(at, "方案已批准") == "1"
    # a viewer sees the timeline and no form
    at = _page(User("li", "viewer"))
    assert not [s for s in at.selectbox if s.label == "事项"]
    assert not [b for b in at.button if b.label in ("保存", "立案")]
    assert any("当前为浏览角色，不能立案" in i.value for i in at.info)
    assert any("处置方案批准" in str(t.value) for t in at.table)
