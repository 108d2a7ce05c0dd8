"""Disposal cases (gis.cases, gis.procedure, gis.deadlines, gis.disposal_warnings, gis.disposal_progress) on a
real GeoPackage store.  Expected orders, dates and counts are worked by hand from docs/disposal.md, not read from
the rule file."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import sqlite3

import pandas as pd
import pytest

from gis.cases import (
    Attachment,
    allowed_events,
    case_events,
    case_table,
    is_identified,
    open_case,
    read_cases,
    read_events,
    record_event,
)
from gis.disposal_progress import disposal_movements, disposal_progress, parcel_stages
from gis.disposal_rules import load_disposal_rules
from gis.disposal_warnings import disposal_warnings
from gis.errors import LandRenewError, PermissionDenied, RuleFileError
from gis.procedure import OrderError
from gis.store import GeoPackageStore, cases_store
from tests import case_fixtures

FRONT = ["survey_notice", "holder_response", "idle_determination", "public_notice", "plan_drafted", "plan_approved"]
# docs/disposal.md §1: the procedure of each sub-route, worked out by hand (hearing left out: optional)
EXPECTED = {
    ("continue", "on_schedule"): ["plan_drafted", "plan_approved", "completed"],
    ("continue", "extend_start"): [*FRONT, "supplementary_agreement", "completed"],
    ("continue", "adjust_planning"): [*FRONT, "supplementary_agreement", "completed"],
    ("continue", "continue_with_fee"): [*FRONT, "fee_decision", "fee_paid", "completed"],
    ("continue", "resume_works"): [*FRONT, "supplementary_agreement", "completed"],
    ("transfer", "whole_transfer"): [*FRONT, "transfer_registered", "completed"],
    ("transfer", "preregistered_transfer"): [*FRONT, "transfer_registered", "completed"],
    ("transfer", "joint_development"): [*FRONT, "transfer_registered", "completed"],
    ("reclaim", "negotiated_reclaim"): [*FRONT, "reclaim_agreement", "deregistered", "completed"],
    ("reclaim", "reclaim_without_compensation"): [*FRONT, "reclaim_decision", "deregistered", "completed"],
    ("reclaim", "purchase_by_demand"): [*FRONT, "reclaim_agreement", "deregistered", "completed"],
    ("reclaim", "land_swap"): [*FRONT, "reclaim_agreement", "deregistered", "completed"],
}
DATA = {
    "supplementary_agreement": None,
    "fee_decision": {"amount_wan": 1600.0},
    "fee_paid": {"amount_wan": 1600.0},
    "reclaim_agreement": {"price_wan": 5000.0, "due_date": "2026-06-30"},
}
TODAY = dt.date(2026, 11, 30)


@pytest.fixture(scope="module")
def master(tmp_path_factory):
    store = GeoPackageStore(tmp_path_factory.mktemp("cases") / "cases.gpkg")
    case_fixtures.fill(store)
    return store.path


@pytest.fixture
def store(master, tmp_path):
    shutil.copy2(master, tmp_path / master.name)
    return GeoPackageStore(tmp_path / master.name)


def _open(store, sub, route=None, **kw):
    route = route or next(r for r, s in EXPECTED if s == sub)
    return open_case(
        store,
        parcel_id=f"P-{sub}",
        route=route,
        sub_route=sub,
        opened_by="wang",
        role="planner",
        opened_at=kw.pop("opened_at", "2025-01-02"),
        **kw,
    )


def _event(store, case, event, date, *, by=None, role=None, **kw):
    approving = event in ("plan_approved", "plan_returned")
    return record_event(
        store,
        case_id=case["case_id"],
        event=event,
        event_date=date,
        recorded_by=by or ("zhao" if approving else "wang"),
        role=role or ("approver" if approving else "planner"),
        data=kw.pop("data", _default_data(event, date)),
        today=TODAY,
        **kw,
    )


def _default_data(event, date):
    if event == "supplementary_agreement":  # a new start 300 days after the agreement (at most a year)
        return {"new_start_date": (pd.Timestamp(date) + pd.Timedelta(days=300)).date()}
    return DATA.get(event)


def _run(store, case, events, start="2025-01-05"):
    day = pd.Timestamp(start)
    for e in events:
        _event(store, case, e, day.date())
        day += pd.Timedelta(days=7)


# -- rule file --------------------------------------------------------------------------------------------
def test_default_rule_file_holds_the_contract():
    rules = load_disposal_rules()
    assert {k: rules.sequence(*k) for k in EXPECTED} == {
        k: (
            v[:6] + ["hearing_requested", "hearing_held"] + v[6:]
            if k[1] in ("continue_with_fee", "reclaim_without_compensation")
            else v
        )
        for k, v in EXPECTED.items()
    }
    assert (rules.amber_days, rules.stale_days, rules.target_date) == (15, 90, dt.date(2027, 12, 31))
    assert rules.label("fee_decision") == "下达征缴土地闲置费决定书"
    assert "第十四条" in rules.citation("reclaim_decision")
    days = {d.id: (d.after, d.until, d.start, d.days) for d in rules.deadlines}
    assert days["holder_answer"] == ("survey_notice", "holder_response", "service_date", 30)
    assert days["fee_payment"] == ("fee_decision", "fee_paid", "service_date", 30)
    assert days["new_start"] == ("supplementary_agreement", "completed", "field:new_start_date", 0)


@pytest.mark.parametrize(
    "edit, where",
    [
        (
            lambda t: t.replace(
                "continue/extend_start: [*front, supplementary_agreement",
                "continue/extend_start: [*front, supplementary_agreemnt",
            ),
            r"sequences.continue/extend_start 第 7 项.*supplementary_agreemnt",
        ),
        (
            lambda t: t.replace("from: service_date,\n     days: 30", "from: service_date,\n     days: thirty"),
            "deadlines 第 1 行.days",
        ),
        (lambda t: t.replace("  amber_days: 15", "  amber_days: -1"), "warnings.amber_days"),
        (lambda t: t.replace("  continue/resume_works:", "  continue/resume_work:"), "sequences.continue/resume_work"),
        (lambda t: t.replace('from: "field:new_start_date"', 'from: "field:start"'), "deadlines 第 3 行.from"),
    ],
)
def test_invalid_rule_file_is_refused_naming_the_row(tmp_path, edit, where):
    from gis.rules import RULES_DIR

    text = (RULES_DIR / "disposal.yaml").read_text(encoding="utf-8")
    changed = edit(text)
    assert changed != text
    path = tmp_path / "disposal.yaml"
    path.write_text(changed, encoding="utf-8")
    with pytest.raises(RuleFileError, match=where):
        load_disposal_rules(path)


# -- opening ------------------------------------------------------------------------------------------------
def test_open_case_records_route_reason_and_snapshot(store):
    case = _open(store, "extend_start", run_id="run-1")
    stored = read_cases(store).iloc[0]
    assert (stored["parcel_id"], stored["route"], stored["sub_route"], stored["run_id"], stored["opened_by"]) == (
        "P-extend_start",
        "continue",
        "extend_start",
        "run-1",
        "wang",
    )
    assert stored["snapshot"]["route"] == "continue" and stored["snapshot"]["reasons"][0]["rule_id"] == "I1"
    assert stored["town_code"] == case_fixtures.TOWNS[0]
    assert case["case_id"] == stored["case_id"]


def test_open_case_refusals(store):
    with pytest.raises(LandRenewError, match="与推荐路径.*不同，须填写理由"):
        open_case(
            store,
            parcel_id="P-extend_start",
            route="reclaim",
            sub_route="negotiated_reclaim",
            opened_by="wang",
            role="planner",
        )
    case = open_case(
        store,
        parcel_id="P-extend_start",
        route="reclaim",
        sub_route="negotiated_reclaim",
        opened_by="wang",
        role="planner",
        reason="集体研究：企业无能力继续开发",
    )
    assert case["recommended_sub_route"] == "extend_start" and case["reason"].startswith("集体研究")
    with pytest.raises(LandRenewError, match=f"已有未结案件 {case['case_id']}"):
        _open(store, "extend_start")
    with pytest.raises(LandRenewError, match="P-none 未认定为闲置"):
        open_case(
            store,
            parcel_id="P-none",
            route="continue",
            sub_route="extend_start",
            opened_by="wang",
            role="planner",
            reason="x",
        )
    with pytest.raises(LandRenewError, match="没有研判结果"):
        open_case(
            store, parcel_id="P-nope", route="continue", sub_route="extend_start", opened_by="wang", role="planner"
        )
    with pytest.raises(PermissionDenied, match="无权立案"):
        open_case(store, parcel_id="P-land_swap", route="reclaim", sub_route="land_swap", opened_by="v", role="viewer")
    with pytest.raises(LandRenewError, match="没有处置程序"):
        open_case(
            store, parcel_id="P-land_swap", route="review", sub_route=None, opened_by="wang", role="planner", reason="x"
        )
    # closed another way: a new case may be opened
    _event(store, case, "closed_other", "2025-02-01", note="经核查已动工")
    again = _open(store, "extend_start")
    assert len(read_cases(store)) == 2 and again["case_id"] != case["case_id"]


# -- order ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("route, sub", list(EXPECTED))
def test_every_route_allows_its_order_and_refuses_another(store, route, sub):
    case = _open(store, sub)
    events = EXPECTED[(route, sub)]
    _run(store, case, events[:-1])
    with pytest.raises(OrderError, match=r"不能在.*之后登记：按“.*”程序，下一步应为"):
        _event(store, case, events[0], "2026-01-01")  # back to the start
    _event(store, case, events[-1], "2026-01-02")
    stored = case_events(store, case["case_id"])
    assert stored["event"].tolist() == events and stored["seq"].tolist() == list(range(1, len(events) + 1))
    assert allowed_events(store, case["case_id"]) == []
    with pytest.raises(OrderError, match="案件已处置完成"):
        _event(store, case, "closed_other", "2026-01-03", note="x")


@pytest.mark.parametrize("route, sub", list(EXPECTED))
def test_every_route_refuses_skipping_a_step(store, route, sub):
    case = _open(store, sub)
    events = EXPECTED[(route, sub)]
    _event(store, case, events[0], "2025-01-05")
    with pytest.raises(OrderError) as err:
        _event(store, case, events[2], "2025-01-06")
    labels = load_disposal_rules().label
    assert f"事项“{labels(events[2])}”不能在“{labels(events[0])}”之后登记" in str(err.value)
    assert f"下一步应为：{labels(events[1])}" in str(err.value)
    assert len(case_events(store, case["case_id"])) == 1  # nothing stored


def test_hearing_is_optional_but_done_whole(store):
    case = _open(store, "continue_with_fee")
    _run(store, case, FRONT)
    assert allowed_events(store, case["case_id"])[:2] == ["hearing_requested", "fee_decision"]
    _event(store, case, "hearing_requested", "2025-03-01")
    with pytest.raises(OrderError, match="下一步应为：举行听证"):
        _event(store, case, "fee_decision", "2025-03-02")
    _event(store, case, "hearing_held", "2025-03-10")
    _event(store, case, "fee_decision", "2025-03-20")
    assert case_events(store, case["case_id"])["event"].tolist()[-3:] == [
        "hearing_requested",
        "hearing_held",
        "fee_decision",
    ]


def test_event_checks_dates_fields_and_notes(store):
    case = _open(store, "extend_start")
    _run(store, case, FRONT, start="2025-01-05")  # last event on 2025-02-09
    with pytest.raises(LandRenewError, match="早于上一事项"):
        _event(store, case, "supplementary_agreement", "2025-02-01")
    with pytest.raises(LandRenewError, match="须填写新约定动工日期"):
        _event(store, case, "supplementary_agreement", "2025-05-10", data={})
    with pytest.raises(LandRenewError, match="超出法定期限.*不得超过 1 年（至 2026-05-10）"):
        _event(store, case, "supplementary_agreement", "2025-05-10", data={"new_start_date": "2026-05-11"})
    with pytest.raises(LandRenewError, match="送达日期"):
        _event(store, case, "supplementary_agreement", "2025-05-10", service_date="2025-05-01")
    with pytest.raises(LandRenewError, match="晚于今天"):
        _event(store, case, "supplementary_agreement", "2026-12-31")
    with pytest.raises(LandRenewError, match="须填写说明"):
        _event(store, case, "closed_other", "2025-05-10")
    _event(
        store,
        case,
        "supplementary_agreement",
        "2025-05-10",
        data={"new_start_date": "2026-05-10"},
        doc_no="柯自然资〔2025〕12号",
    )
    last = case_events(store, case["case_id"]).iloc[-1]
    assert last["data"] == {"new_start_date": "2026-05-10"} and last["doc_no"] == "柯自然资〔2025〕12号"


def test_close_and_reopen_continue_where_it_was(store):
    case = _open(store, "whole_transfer")
    _run(store, case, FRONT[:3])
    _event(store, case, "closed_other", "2025-03-01", note="企业申请暂缓")
    assert allowed_events(store, case["case_id"]) == ["reopened"]
    with pytest.raises(OrderError, match="下一步应为：重新开启"):
        _event(store, case, "public_notice", "2025-03-02")
    _event(store, case, "reopened", "2025-04-01", note="恢复处置")
    _event(store, case, "public_notice", "2025-04-02")
    assert case_table(read_cases(store), read_events(store))["state"].iloc[0] == "public_notice"


# -- approval ---------------------------------------------------------------------------------------------------
def test_self_approval_refused_and_return_sends_back_to_drafting(store):
    case = _open(store, "whole_transfer")
    _run(store, case, FRONT[:4])
    _event(store, case, "plan_drafted", "2025-03-01", by="zhao", role="approver")  # an approver drafting
    with pytest.raises(PermissionDenied, match="由 zhao 拟定，不能由本人处置方案批准"):
        _event(store, case, "plan_approved", "2025-03-02", by="zhao", role="approver")
    with pytest.raises(PermissionDenied, match="无权审批处置方案"):
        _event(store, case, "plan_approved", "2025-03-02", by="wang", role="planner")
    with pytest.raises(PermissionDenied, match="无权审批处置方案"):
        _event(store, case, "plan_approved", "2025-03-02", by="root", role="admin")
    with pytest.raises(LandRenewError, match="须填写说明"):
        _event(store, case, "plan_returned", "2025-03-02", by="qian", role="approver")
    _event(store, case, "plan_returned", "2025-03-02", by="qian", role="approver", note="补充价款测算")
    assert allowed_events(store, case["case_id"])[0] == "plan_drafted"
    with pytest.raises(OrderError):
        _event(store, case, "plan_approved", "2025-03-03", by="qian", role="approver")
    _event(store, case, "plan_drafted", "2025-03-05", by="wang", role="planner")
    _event(store, case, "plan_approved", "2025-03-06", by="zhao", role="approver")
    ev = case_events(store, case["case_id"])
    assert ev["event"].tolist()[-4:] == ["plan_drafted", "plan_returned", "plan_drafted", "plan_approved"]
    assert ev["recorded_by"].tolist()[-1] == "zhao" and ev["role"].tolist()[-1] == "approver"


def test_viewer_records_nothing(store):
    case = _open(store, "whole_transfer")
    with pytest.raises(PermissionDenied):
        _event(store, case, "survey_notice", "2025-01-05", by="v", role="viewer")


# -- attachments and append-only ---------------------------------------------------------------------------------
def test_attachments_round_trip_byte_identical_with_their_hash(store):
    import os

    case = _open(store, "extend_start")
    pdf = b"%PDF-1.4\n" + os.urandom(200_000) + b"\n%%EOF\n"
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(1000)
    row = _event(
        store,
        case,
        "survey_notice",
        "2025-01-05",
        service_date="2025-01-07",
        doc_no="柯自然资调〔2025〕1号",
        attachments=[Attachment("调查通知书.pdf", pdf), Attachment("送达回证.png", png)],
    )
    meta = cases_store.read_attachments(store, where={"event_id": row["event_id"]})
    assert meta["filename"].tolist() == ["调查通知书.pdf", "送达回证.png"]
    assert meta["sha256"].tolist() == [hashlib.sha256(pdf).hexdigest(), hashlib.sha256(png).hexdigest()]
    assert meta["size_bytes"].tolist() == [len(pdf), len(png)]
    assert meta["media_type"].tolist() == ["application/pdf", "image/png"]
    assert meta["uploaded_by"].tolist() == ["wang", "wang"]
    for aid, original in zip(meta["attachment_id"], (pdf, png)):
        assert cases_store.read_attachment_content(store, aid) == original
    with pytest.raises(LandRenewError, match="类型不支持"):
        _event(store, case, "holder_response", "2025-01-08", attachments=[Attachment("x.exe", b"MZ")])
    assert len(case_events(store, case["case_id"])) == 1  # the refused event stored nothing


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE case_events SET note = 'x'",
        "DELETE FROM case_events",
        "UPDATE cases SET route = 'reclaim'",
        "DELETE FROM attachments",
        "UPDATE attachments SET content = x'00'",
    ],
)
def test_geopackage_refuses_update_and_delete(store, statement):
    case = _open(store, "extend_start")
    _event(store, case, "survey_notice", "2025-01-05", attachments=[Attachment("a.pdf", b"%PDF-1.4 x")])
    with sqlite3.connect(store.path) as con, pytest.raises(sqlite3.IntegrityError, match="只能追加"):
        con.execute(statement)


def test_cases_survive_a_layer_rewrite(store):
    case = _open(store, "extend_start")
    _event(store, case, "survey_notice", "2025-01-05")
    store.write_layers({"towns": store.read_layer("towns")})  # copy-and-replace of the whole file
    assert len(read_events(store)) == 1 and len(read_cases(store)) == 1
    import pyogrio

    names = {n for n, _ in pyogrio.list_layers(store.path)}
    assert {"cases", "case_events", "attachments"} <= names  # GeoPackage attribute tables (QGIS lists them)


# -- deadlines and warnings (hand-worked dates) -------------------------------------------------------------------
def _warn(store, as_of, **kw):
    w = disposal_warnings(read_cases(store), read_events(store), as_of, **kw)
    return w.loc[w["level"] != "no_case"]


def test_answer_deadline_30_days_from_service(store):
    case = _open(store, "extend_start")
    _event(store, case, "survey_notice", "2026-03-01", service_date="2026-03-03")  # due 3 Mar + 30 d = 2 Apr
    assert _warn(store, "2026-03-17").empty  # 16 days left
    w = _warn(store, "2026-03-18")
    assert w[["level", "deadline_id", "days"]].values.tolist() == [["amber", "holder_answer", 15]]
    assert w["due_date"].iloc[0] == pd.Timestamp("2026-04-02") and "第六条" in w["citation"].iloc[0]
    assert _warn(store, "2026-04-02")[["level", "days"]].values.tolist() == [["amber", 0]]  # the day itself
    w = _warn(store, "2026-04-03")
    assert w[["level", "days"]].values.tolist() == [["red", 1]]
    assert w["message"].iloc[0] == "使用权人说明期限：2026-04-02到期，已逾期 1 天"
    _event(store, case, "holder_response", "2026-04-05")
    assert _warn(store, "2026-04-06").empty
    assert _warn(store, "2026-04-03")[["level"]].values.tolist() == [["red"]]  # as of before the answer


def test_answer_deadline_without_service_date_runs_from_the_notice(store):
    case = _open(store, "extend_start")
    _event(store, case, "survey_notice", "2026-03-01")  # due 31 Mar
    assert _warn(store, "2026-04-01")[["level", "days"]].values.tolist() == [["red", 1]]


def test_extension_new_start_date_passed(store):
    case = _open(store, "extend_start")
    _run(store, case, FRONT, start="2025-01-05")
    _event(store, case, "supplementary_agreement", "2025-05-10", data={"new_start_date": "2026-05-01"})
    assert _warn(store, "2026-01-01").empty  # 236 days without events, but waiting out the extension: not stale
    assert _warn(store, "2026-04-16")[["level", "deadline_id", "days"]].values.tolist() == [["amber", "new_start", 15]]
    assert _warn(store, "2026-05-02")[["level", "deadline_id", "days"]].values.tolist() == [["red", "new_start", 1]]


def test_fee_unpaid_after_service(store):
    case = _open(store, "continue_with_fee")
    _run(store, case, FRONT, start="2025-10-01")
    _event(store, case, "fee_decision", "2026-01-05", service_date="2026-01-10")  # due 9 Feb
    assert _warn(store, "2026-02-09")[["level", "days"]].values.tolist() == [["amber", 0]]
    w = _warn(store, "2026-02-10")
    assert w[["level", "deadline_id", "days"]].values.tolist() == [["red", "fee_payment", 1]]
    _event(store, case, "fee_paid", "2026-02-20")
    assert _warn(store, "2026-02-21").empty


def test_review_or_suit_pauses_a_deadline(store):
    case = _open(store, "reclaim_without_compensation")
    _run(store, case, FRONT, start="2025-10-01")
    _event(store, case, "reclaim_decision", "2026-01-05", service_date="2026-01-10")  # due 9 Feb
    _event(store, case, "review_or_suit", "2026-02-01", doc_no="柯政复〔2026〕3号")
    assert _warn(store, "2026-03-01").empty  # pending: the deadline does not run (and the case is not stale)
    assert _warn(store, "2026-06-30").empty
    _event(store, case, "review_or_suit_closed", "2026-03-03")  # pending 30 days: due 9 Feb + 30 = 11 Mar
    assert _warn(store, "2026-03-11")[["level", "days"]].values.tolist() == [["amber", 0]]
    w = _warn(store, "2026-03-12")
    assert w[["level", "deadline_id", "days"]].values.tolist() == [["red", "deregistration", 1]]
    assert w["due_date"].iloc[0] == pd.Timestamp("2026-03-11")
    assert _warn(store, "2026-02-10").empty  # as of during the review


def test_stale_and_no_case(store):
    case = _open(store, "whole_transfer")
    _event(store, case, "survey_notice", "2026-01-01")
    _event(store, case, "holder_response", "2026-01-10")  # answer deadline met; next steps have no deadline
    assert _warn(store, "2026-04-09").empty  # 89 days
    w = _warn(store, "2026-04-10")
    assert w[["level", "days"]].values.tolist() == [["stale", 90]]
    assessment = store.read_layer("idle_assessment")
    identified = assessment.loc[is_identified(assessment)]
    all_w = disposal_warnings(read_cases(store), read_events(store), "2026-04-10", identified=identified)
    no_case = set(all_w.loc[all_w["level"] == "no_case", "parcel_id"])
    assert no_case == {f"P-{s}" for _, s in EXPECTED} - {"P-whole_transfer"}  # P-none is not identified
    assert all_w["level"].iloc[0] == "stale"  # worst first: no red/amber here


def test_completed_case_raises_nothing(store):
    case = _open(store, "on_schedule")
    _run(store, case, EXPECTED[("continue", "on_schedule")], start="2025-01-05")
    assert _warn(store, "2026-06-30").empty


# -- progress ------------------------------------------------------------------------------------------------------
def test_progress_counts_rate_and_projection(store):
    # town 1 holds the first half of the sub-routes; hand-worked: 6 identified in town 1, 6 in town 2
    c1 = _open(store, "on_schedule")  # town 1, 10 000 m2: completed 2026-03-01
    _event(store, c1, "plan_drafted", "2026-01-05")
    _event(store, c1, "plan_approved", "2026-01-06")
    _event(store, c1, "completed", "2026-03-01")
    c2 = _open(store, "extend_start")  # town 1, 11 000 m2: approved and executing
    _run(store, c2, FRONT, start="2025-10-01")
    _event(store, c2, "supplementary_agreement", "2026-02-01", data={"new_start_date": "2026-12-01"})
    c3 = _open(store, "whole_transfer")  # town 1, 15 000 m2: approved, not yet executing
    _run(store, c3, FRONT, start="2025-10-01")
    c4 = _open(store, "negotiated_reclaim")  # town 2, 18 000 m2: completed 2025-12-20 (last year)
    _run(store, c4, [*FRONT, "reclaim_agreement", "deregistered"], start="2025-09-01")
    _event(store, c4, "completed", "2025-12-20")
    assessment = store.read_layer("idle_assessment").merge(
        store.read_layer("parcels")[["parcel_id", "area_m2"]], on="parcel_id"
    )
    identified = assessment.loc[is_identified(assessment)]
    stages = parcel_stages(identified, read_cases(store), read_events(store), "2026-06-30")
    by_town = disposal_progress(stages, "2026-06-30", by="town_code").set_index("town_code")
    t1, t2, total = by_town.loc["330603001"], by_town.loc["330603002"], by_town.loc["合计"]
    assert (t1["identified"], t1["with_case"], t1["approved"], t1["executing"], t1["completed"]) == (6, 3, 3, 2, 1)
    assert (t2["identified"], t2["with_case"], t2["completed"]) == (6, 1, 1)
    # areas: town 1 = 10..15 thousand m2 = 7.5 ha, completed 1.0 ha
    assert t1["identified_ha"] == pytest.approx(7.5) and t1["completed_ha"] == pytest.approx(1.0)
    assert t1["rate"] == pytest.approx(1 / 6) and t1["rate_area"] == pytest.approx(1.0 / 7.5)
    assert (total["identified"], total["completed"], total["completed_this_year"]) == (12, 2, 1)
    # last 6 months = (2025-12-30, 2026-06-30]: only the 2026-03-01 completion -> 1/6 per month
    assert total["monthly_rate"] == pytest.approx(1 / 6)
    # 10 remaining at 1/6 per month = 60 months = 1826 days -> 2031-06-30, after the target
    assert total["projected_date"] == pd.Timestamp("2031-06-30")
    assert not total["on_track"] and total["target_date"] == pd.Timestamp("2027-12-31")
    mv = disposal_movements(stages, read_cases(store), read_events(store)).set_index("year")
    assert mv.loc[2025, "completed"] == 1 and mv.loc[2026, "completed"] == 1 and mv.loc[2025, "opened"] == 4
    assert mv.loc[2026, "approved"] == 1 and mv.loc[2025, "approved"] == 3
    by_route = disposal_progress(stages, "2026-06-30", by="route").set_index("route")
    assert by_route.loc["reclaim", "identified"] == 4 and by_route.loc["reclaim", "completed"] == 1
