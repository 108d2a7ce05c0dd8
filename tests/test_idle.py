"""Idle-land rules engine (docs/rules.md §1–§6): one hand-made parcel per rule / sub-route."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from gis.errors import LandRenewError, RuleFileError
from gis.idle import RULE_SPEC, classify_idle_land, load_idle_rules
from gis.rules import RULES_DIR

AS_OF = dt.date(2021, 12, 31)
DATE_COLS = (
    "supply_date",
    "agreed_start_date",
    "agreed_completion_date",
    "actual_start_date",
    "actual_completion_date",
    "halted_since",
)
OUT_COLUMNS = [
    "parcel_id",
    "town_code",
    "as_of",
    "rules_version",
    "in_stock_scope",
    "dev_status",
    "idle_type",
    "idle_discretionary",
    "idle_since",
    "idle_years",
    "cause",
    "route",
    "sub_route",
    "alternatives",
    "measures",
    "reasons",
    "idle_fee_wan",
    "activity_index",
    "evidence_conflict",
    "project_ids",
    "village_ids",
]

# A not-started residential parcel supplied before the cutoff; agreed start 2020-06-30 -> idle on 2021-06-30.
BASE = dict(
    parcel_id="P",
    town_code="330603001",
    holder="某置业有限公司",
    enterprise_id="E_OK",
    land_use="住宅用地",
    area_m2=20000.0,
    supply_date="2019-05-01",
    agreed_start_date="2020-06-30",
    agreed_completion_date="2023-06-30",
    actual_start_date=None,
    actual_completion_date=None,
    developed_area_ratio=None,
    invested_ratio=0.5,
    halted_since=None,
    idle_cause="enterprise",
    idle_cause_detail=None,
    breach_party="none",
    land_price_wan=1000.0,
    price_paid_ratio=1.0,
    certificate_issued=True,
    mortgaged=False,
    sealed=False,
    market_prospect="high",
    project_ids=[],
    presold_units=0,
    village_ids=[],
    public_need=False,
    activity_index=np.nan,
)

ENTERPRISES = pd.DataFrame(
    {
        "enterprise_id": ["E_OK", "E_UNK", "E_BAD", "E_NODEF"],
        "name": ["正常企业", "意愿未明企业", "违约企业", "缺违约信息企业"],
        "risk_level": ["normal", "watch", "high", "normal"],
        "in_default": pd.array([False, False, True, pd.NA], dtype="boolean"),
        "willing_to_continue": ["yes", "unknown", "no", "yes"],
    }
)

STARTED = dict(actual_start_date="2019-01-01")
HALTED = dict(actual_start_date="2019-01-01", halted_since="2020-03-01", developed_area_ratio=0.2)
BAD = dict(enterprise_id="E_BAD")

C, T, R = "continue", "transfer", "reclaim"
FEE_ETC = ["放宽分期开发和价款缴纳", "合理调整开竣工日期"]
PRICE = "收地价格 = min(评估价, 企业土地成本) 下浮"
NO_DEBT = "不得新增政府隐性债务"


def frame(*rows: dict) -> pd.DataFrame:
    df = pd.DataFrame([{**BASE, **r, "parcel_id": r.get("parcel_id", f"P{i}")} for i, r in enumerate(rows)])
    for col in DATE_COLS:
        df[col] = pd.to_datetime(df[col]).astype("datetime64[ms]")
    return df


def classify(row: dict, as_of: dt.date = AS_OF, **kw) -> pd.Series:
    kw.setdefault("enterprises", ENTERPRISES)
    return classify_idle_land(frame(row), as_of=as_of, **kw).iloc[0]


def reason(out: pd.Series, rule_id: str) -> str:
    texts = [r["text"] for r in out.reasons if r["rule_id"] == rule_id]
    assert texts, f"no reason {rule_id} in {out.reasons}"
    return " | ".join(texts)


# id, overrides, as_of, route, sub_route, idle_type, idle_since, idle_years, fee, alternatives, measures, rule ids
CASES = [
    # §2 I1: "满一年" on the anniversary day itself
    (
        "anniversary_day_idle",
        {},
        dt.date(2021, 6, 30),
        C,
        "continue_with_fee",
        "not_started_idle",
        "2021-06-30",
        1.0,
        200.0,
        [],
        FEE_ETC,
        "S1 S2 I1 C2 K1 F1 R4",
    ),
    (
        "day_before_anniversary_not_idle",
        {},
        dt.date(2021, 6, 29),
        C,
        "on_schedule",
        "none",
        None,
        None,
        None,
        [],
        ["督促动工"],
        "S1 S2 I3 C2 K1 R4",
    ),
    (
        "not_yet_past_agreed_start",
        {},
        dt.date(2020, 6, 30),
        C,
        "on_schedule",
        "none",
        None,
        None,
        None,
        [],
        [],
        "S1 S2 I3 C2 K1 R4",
    ),
    # §6 step 4: the 2-year line
    (
        "just_under_two_years",
        {},
        dt.date(2022, 6, 29),
        C,
        "continue_with_fee",
        "not_started_idle",
        "2021-06-30",
        1.997,
        200.0,
        [],
        FEE_ETC,
        "S1 S2 I1 C2 K1 F1 R4",
    ),
    (
        "at_two_years_capable",
        {},
        dt.date(2022, 6, 30),
        R,
        "reclaim_without_compensation",
        "not_started_idle",
        "2021-06-30",
        2.0,
        200.0,
        [(C, "continue_with_fee")],
        [NO_DEBT],
        "S1 S2 I1 C2 K1 F1 R4",
    ),
    (
        "at_two_years_mortgaged",
        {"mortgaged": True},
        dt.date(2022, 6, 30),
        R,
        "reclaim_without_compensation",
        "not_started_idle",
        "2021-06-30",
        2.0,
        200.0,
        [(C, "continue_with_fee")],
        ["抄送抵押权人", NO_DEBT],
        "S1 S2 I1 C2 K1 F1 R4",
    ),
    # capable, government / force majeure
    (
        "government_extend_start",
        {"idle_cause": "government", "idle_cause_detail": "art8_1"},
        AS_OF,
        C,
        "extend_start",
        "not_started_idle",
        "2021-06-30",
        1.504,
        None,
        [],
        FEE_ETC,
        "S1 S2 I1 C1 K1 R4",
    ),
    (
        "force_majeure_extend_start",
        {"idle_cause": "force_majeure", "idle_cause_detail": "pandemic"},
        AS_OF,
        C,
        "extend_start",
        "not_started_idle",
        "2021-06-30",
        1.504,
        None,
        [],
        ["免除疫情/灾害违约责任", *FEE_ETC],
        "S1 S2 I1 C1 K1 R4",
    ),
    (
        "planning_revised_adjust",
        {"idle_cause": "government", "idle_cause_detail": "art8_2"},
        AS_OF,
        C,
        "adjust_planning",
        "not_started_idle",
        "2021-06-30",
        1.504,
        None,
        [(C, "extend_start"), (R, "land_swap")],
        FEE_ETC,
        "S1 S2 I1 C1 K1 R4",
    ),
    (
        "policy_change_adjust_unpaid",
        {"idle_cause": "government", "idle_cause_detail": "art8_3", "price_paid_ratio": 0.6},
        AS_OF,
        C,
        "adjust_planning",
        "not_started_idle",
        "2021-06-30",
        1.504,
        None,
        [(C, "extend_start")],
        FEE_ETC,
        "S1 S2 I1 C1 K1 R4",
    ),
    # §2 I2 halted (discretionary)
    (
        "halted_idle_resume_works",
        HALTED,
        AS_OF,
        C,
        "resume_works",
        "halted_idle",
        "2021-03-01",
        1.835,
        None,
        [],
        FEE_ETC,
        "S1 S2 I2 C2 K1 R4",
    ),
    (
        "halted_ratios_at_thresholds",
        {**HALTED, "developed_area_ratio": 1 / 3, "invested_ratio": 0.25},
        AS_OF,
        C,
        "on_schedule",
        "none",
        None,
        None,
        None,
        [],
        [],
        "S1 S2 I3 C2 K1 R4",
    ),
    (
        "halted_under_one_year",
        {**HALTED, "halted_since": "2021-06-01"},
        AS_OF,
        C,
        "on_schedule",
        "none",
        None,
        None,
        None,
        [],
        [],
        "S1 S2 I3 C2 K1 R4",
    ),
    (
        "halted_not_yet_on_as_of",
        {**HALTED, "halted_since": "2022-03-01"},
        AS_OF,
        C,
        "on_schedule",
        "none",
        None,
        None,
        None,
        [],
        [],
        "S1 S2 I3 C2 K1 R4",
    ),
    # I3: started, past the agreed completion date -> 竣工违约, not idle
    (
        "completion_breach",
        {**STARTED, "agreed_completion_date": "2021-06-30"},
        AS_OF,
        C,
        "on_schedule",
        "none",
        None,
        None,
        None,
        [],
        ["竣工违约"],
        "S1 S2 I3 I3 C2 K1 R4",
    ),
    # not capable: steps 5, 6, 7
    (
        "breach_negotiated_reclaim",
        {**BAD, "breach_party": "government"},
        AS_OF,
        R,
        "negotiated_reclaim",
        "not_started_idle",
        "2021-06-30",
        1.504,
        200.0,
        [(T, "whole_transfer"), (T, "joint_development")],
        [PRICE, NO_DEBT],
        "S1 S2 I1 C2 K1 F1 R5",
    ),
    (
        "government_not_capable",
        {**BAD, "idle_cause": "government", "idle_cause_detail": "art8_2"},
        AS_OF,
        R,
        "negotiated_reclaim",
        "not_started_idle",
        "2021-06-30",
        1.504,
        None,
        [(T, "whole_transfer"), (T, "joint_development"), (R, "land_swap")],
        [PRICE, NO_DEBT],
        "S1 S2 I1 C1 K1 R6",
    ),
    (
        "force_majeure_not_capable",
        {**BAD, "idle_cause": "force_majeure", "idle_cause_detail": "disaster", "price_paid_ratio": 0.5},
        AS_OF,
        R,
        "negotiated_reclaim",
        "not_started_idle",
        "2021-06-30",
        1.504,
        None,
        [(T, "joint_development")],
        ["免除疫情/灾害违约责任", PRICE, NO_DEBT],
        "S1 S2 I1 C1 K1 R6",
    ),
    (
        "whole_transfer",
        BAD,
        AS_OF,
        T,
        "whole_transfer",
        "not_started_idle",
        "2021-06-30",
        1.504,
        200.0,
        [(T, "joint_development")],
        [],
        "S1 S2 I1 C2 K1 F1 R7",
    ),
    (
        "whole_transfer_mortgaged",
        {**BAD, "mortgaged": True},
        AS_OF,
        T,
        "whole_transfer",
        "not_started_idle",
        "2021-06-30",
        1.504,
        200.0,
        [(T, "joint_development")],
        ["带押过户"],
        "S1 S2 I1 C2 K1 F1 R7",
    ),
    (
        "preregistered_low_investment",
        {**BAD, "invested_ratio": 0.1},
        AS_OF,
        T,
        "preregistered_transfer",
        "not_started_idle",
        "2021-06-30",
        1.504,
        200.0,
        [(T, "joint_development")],
        [],
        "S1 S2 I1 C2 K1 F1 R7",
    ),
    (
        "preregistered_no_certificate",
        {**BAD, "certificate_issued": False},
        AS_OF,
        T,
        "preregistered_transfer",
        "not_started_idle",
        "2021-06-30",
        1.504,
        200.0,
        [(T, "joint_development")],
        [],
        "S1 S2 I1 C2 K1 F1 R7",
    ),
    (
        "joint_development_unpaid",
        {**BAD, "price_paid_ratio": 0.5},
        AS_OF,
        T,
        "joint_development",
        "not_started_idle",
        "2021-06-30",
        1.504,
        200.0,
        [],
        [],
        "S1 S2 I1 C2 K1 F1 R7",
    ),
    (
        "prospect_missing_is_medium",
        {**BAD, "market_prospect": None},
        AS_OF,
        T,
        "whole_transfer",
        "not_started_idle",
        "2021-06-30",
        1.504,
        200.0,
        [(T, "joint_development")],
        [],
        "S1 S2 I1 C2 K1 F1 R7",
    ),
    (
        "low_two_years_reclaim_free",
        {**BAD, "market_prospect": "low", "public_need": True},
        dt.date(2022, 6, 30),
        R,
        "reclaim_without_compensation",
        "not_started_idle",
        "2021-06-30",
        2.0,
        200.0,
        [(T, "whole_transfer"), (T, "joint_development"), (R, "purchase_by_demand")],
        [NO_DEBT],
        "S1 S2 I1 C2 K1 F1 R7",
    ),
    (
        "low_public_need_purchase",
        {**BAD, "market_prospect": "low", "public_need": True},
        AS_OF,
        R,
        "purchase_by_demand",
        "not_started_idle",
        "2021-06-30",
        1.504,
        200.0,
        [(T, "whole_transfer"), (T, "joint_development")],
        [PRICE, NO_DEBT],
        "S1 S2 I1 C2 K1 F1 R7",
    ),
    (
        "low_no_need_negotiated",
        {**BAD, "market_prospect": "low"},
        AS_OF,
        R,
        "negotiated_reclaim",
        "not_started_idle",
        "2021-06-30",
        1.504,
        200.0,
        [(T, "whole_transfer"), (T, "joint_development")],
        [PRICE, NO_DEBT],
        "S1 S2 I1 C2 K1 F1 R7",
    ),
    (
        "not_capable_not_idle_transfer",
        BAD,
        dt.date(2021, 6, 29),
        T,
        "whole_transfer",
        "none",
        None,
        None,
        None,
        [(T, "joint_development")],
        ["督促动工"],
        "S1 S2 I3 C2 K1 R7",
    ),
    # step 3: presold units -> never reclaim
    (
        "presold_not_capable_low_transfer",
        {**BAD, "market_prospect": "low", "public_need": True, "presold_units": 120, "project_ids": ["XM1"]},
        dt.date(2022, 6, 30),
        T,
        "whole_transfer",
        "not_started_idle",
        "2021-06-30",
        2.0,
        200.0,
        [(T, "joint_development")],
        [],
        "S1 S2 I1 C2 K1 F1 R3",
    ),
    (
        "presold_capable_continue",
        {"presold_units": 30},
        dt.date(2022, 6, 30),
        C,
        "continue_with_fee",
        "not_started_idle",
        "2021-06-30",
        2.0,
        200.0,
        [],
        FEE_ETC,
        "S1 S2 I1 C2 K1 F1 R3",
    ),
    # step 2: review
    (
        "missing_agreed_start",
        {"agreed_start_date": None},
        AS_OF,
        "review",
        None,
        "none",
        None,
        None,
        None,
        [],
        [],
        "S1 S2 I1 C2 K1 R2",
    ),
    (
        "missing_supply_date",
        {"supply_date": None},
        AS_OF,
        "review",
        None,
        "not_started_idle",
        "2021-06-30",
        1.504,
        200.0,
        [],
        [],
        "S1 S2 I1 C2 K1 F1 R2",
    ),
    (
        "missing_agreed_completion",
        {**STARTED, "agreed_completion_date": None},
        AS_OF,
        "review",
        None,
        "none",
        None,
        None,
        None,
        [],
        [],
        "S1 S2 I3 I3 C2 K1 R2",
    ),
    (
        "halted_ratios_missing",
        {**HALTED, "developed_area_ratio": None},
        AS_OF,
        "review",
        None,
        "none",
        None,
        None,
        None,
        [],
        [],
        "S1 S2 I2 C2 K1 R2",
    ),
    (
        "sealed",
        {"sealed": True},
        AS_OF,
        "review",
        None,
        "not_started_idle",
        "2021-06-30",
        1.504,
        200.0,
        [],
        [],
        "S1 S2 I1 C2 K1 F1 R2",
    ),
    (
        "mixed_cause_idle",
        {"idle_cause": "mixed"},
        AS_OF,
        "review",
        None,
        "not_started_idle",
        "2021-06-30",
        1.504,
        None,
        [],
        [],
        "S1 S2 I1 C3 K1 R2",
    ),
    (
        "unknown_cause_idle",
        {"idle_cause": "unknown"},
        AS_OF,
        "review",
        None,
        "not_started_idle",
        "2021-06-30",
        1.504,
        None,
        [],
        [],
        "S1 S2 I1 C3 K1 R2",
    ),
    (
        "missing_cause_idle",
        {"idle_cause": None},
        AS_OF,
        "review",
        None,
        "not_started_idle",
        "2021-06-30",
        1.504,
        None,
        [],
        [],
        "S1 S2 I1 C3 K1 R2",
    ),
    (
        "mixed_cause_not_idle",
        {"idle_cause": "mixed"},
        dt.date(2021, 6, 29),
        C,
        "on_schedule",
        "none",
        None,
        None,
        None,
        [],
        ["督促动工"],
        "S1 S2 I3 K1 R4",
    ),
    (
        "no_enterprise_id",
        {"enterprise_id": None},
        AS_OF,
        "review",
        None,
        "not_started_idle",
        "2021-06-30",
        1.504,
        200.0,
        [],
        [],
        "S1 S2 I1 C2 K1 F1 R2",
    ),
    (
        "enterprise_not_in_table",
        {"enterprise_id": "E_X"},
        AS_OF,
        "review",
        None,
        "not_started_idle",
        "2021-06-30",
        1.504,
        200.0,
        [],
        [],
        "S1 S2 I1 C2 K1 F1 R2",
    ),
    (
        "enterprise_default_unknown",
        {"enterprise_id": "E_NODEF"},
        AS_OF,
        "review",
        None,
        "not_started_idle",
        "2021-06-30",
        1.504,
        200.0,
        [],
        [],
        "S1 S2 I1 C2 K1 F1 R2",
    ),
    # K1: unknown willingness -> capable (unconfirmed)
    (
        "willingness_unconfirmed",
        {"enterprise_id": "E_UNK"},
        AS_OF,
        C,
        "continue_with_fee",
        "not_started_idle",
        "2021-06-30",
        1.504,
        200.0,
        [],
        FEE_ETC,
        "S1 S2 I1 C2 K1 F1 R4",
    ),
    # S1: out of scope, kept with route none
    (
        "completed_out_of_scope",
        {**STARTED, "actual_completion_date": "2021-10-01"},
        AS_OF,
        "none",
        None,
        "none",
        None,
        None,
        None,
        [],
        [],
        "S1 S2 R1",
    ),
    (
        "supplied_after_cutoff",
        {"supply_date": "2024-05-01", "agreed_start_date": "2025-01-01", "agreed_completion_date": "2027-01-01"},
        dt.date(2025, 6, 30),
        "none",
        None,
        "none",
        None,
        None,
        None,
        [],
        ["督促动工"],
        "S1 S2 I3 R1",
    ),
    # E1 evidence conflict never changes the route
    (
        "started_but_no_change",
        {**STARTED, "activity_index": 0.01},
        AS_OF,
        C,
        "on_schedule",
        "none",
        None,
        None,
        None,
        [],
        [],
        "S1 S2 I3 C2 K1 E1 R4",
    ),
    (
        "not_started_but_construction",
        {"activity_index": 0.15},
        dt.date(2021, 6, 29),
        C,
        "on_schedule",
        "none",
        None,
        None,
        None,
        [],
        ["督促动工"],
        "S1 S2 I3 C2 K1 E1 R4",
    ),
]


@pytest.mark.parametrize(
    "over, as_of, route, sub, idle_type, since, years, fee, alts, measures, rule_ids",
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_case(over, as_of, route, sub, idle_type, since, years, fee, alts, measures, rule_ids):
    out = classify(over, as_of)
    assert out.route == route
    assert (out.sub_route if pd.notna(out.sub_route) else None) == sub
    assert out.idle_type == idle_type
    if since is None:
        assert pd.isna(out.idle_since)
    else:
        assert out.idle_since == pd.Timestamp(since)
    if years is None:
        assert math.isnan(out.idle_years)
    else:
        assert out.idle_years == years
    if fee is None:
        assert math.isnan(out.idle_fee_wan)
    else:
        assert out.idle_fee_wan == fee
    assert out.alternatives == [{"route": r, "sub_route": s} for r, s in alts]
    assert out.measures == measures
    assert [r["rule_id"] for r in out.reasons] == rule_ids.split()
    assert all(r["text"] and r["citation"] for r in out.reasons)
    assert bool(out.idle_discretionary) == (idle_type == "halted_idle")


def test_batch_matches_single_rows():
    """All cases of one as_of classified together give the same rows as one by one (masks do not leak)."""
    by_date: dict[dt.date, list] = {}
    for c in CASES:
        by_date.setdefault(c[2], []).append(c)
    for as_of, cases in by_date.items():
        batch = classify_idle_land(frame(*[c[1] for c in cases]), enterprises=ENTERPRISES, as_of=as_of)
        assert batch.route.tolist() == [c[3] for c in cases]
        assert [s if pd.notna(s) else None for s in batch.sub_route] == [c[4] for c in cases]
        assert [len(a) for a in batch.alternatives] == [len(c[9]) for c in cases]


@pytest.mark.parametrize(
    "over, as_of, fragments",
    [
        pytest.param({"agreed_start_date": None}, AS_OF, ["缺少约定动工日期"], id="agreed_start"),
        pytest.param({"supply_date": None}, AS_OF, ["缺少供地日期"], id="supply"),
        pytest.param({**STARTED, "agreed_completion_date": None}, AS_OF, ["缺少约定竣工日期"], id="agreed_completion"),
        pytest.param({**HALTED, "developed_area_ratio": None}, AS_OF, ["缺少已开发面积占比"], id="developed_ratio"),
        pytest.param(
            {"agreed_start_date": None, "sealed": True}, AS_OF, ["缺少约定动工日期", "宗地已查封"], id="two_issues"
        ),
        pytest.param({"sealed": True}, AS_OF, ["查封"], id="sealed"),
        pytest.param({"idle_cause": "mixed"}, AS_OF, ["混合原因", "审核属实"], id="mixed"),
        pytest.param({"idle_cause": "unknown"}, AS_OF, ["原因不明", "审核属实"], id="unknown"),
        pytest.param({"enterprise_id": None}, AS_OF, ["缺少企业代码"], id="no_enterprise_id"),
        pytest.param({"enterprise_id": "E_X"}, AS_OF, ["企业表中无企业代码 E_X"], id="enterprise_unknown"),
        pytest.param({"enterprise_id": "E_NODEF"}, AS_OF, ["缺少债务违约信息"], id="default_missing"),
    ],
)
def test_review_names_what_is_missing(over, as_of, fragments):
    out = classify(over, as_of)
    assert out.route == "review"
    text = reason(out, "R2")
    for fragment in fragments:
        assert fragment in text


def test_missing_date_is_named_in_the_idle_reason():
    out = classify({"agreed_start_date": None})
    assert reason(out, "I1") == "缺少约定动工日期，无法认定是否未动工闲置"


def test_no_enterprise_table_means_review():
    out = classify({}, enterprises=None)
    assert out.route == "review"
    assert "未提供企业表" in reason(out, "R2")


def test_missing_cause_is_reported_as_unknown():
    out = classify({"idle_cause": None})
    assert out.cause == "unknown"
    assert "未填闲置原因" in reason(out, "C3")


def test_willingness_unconfirmed_is_said():
    out = classify({"enterprise_id": "E_UNK"})
    assert "继续开发意愿未确认" in reason(out, "K1")


def test_not_capable_reason_lists_why():
    assert reason(classify(BAD), "K1") == "企业 E_BAD 债务违约、风险等级为高风险、无继续开发意愿，无能力继续开发"


def test_market_prospect_missing_assumed_medium():
    text = reason(classify({**BAD, "market_prospect": None}), "R7")
    assert "市场前景一般（未填市场前景，按“一般”假定）" in text
    assert "假定" not in reason(classify({**BAD, "market_prospect": "medium"}), "R7")


def test_presold_never_reclaims_and_says_so():
    out = classify({**BAD, "market_prospect": "low", "presold_units": 120}, dt.date(2022, 6, 30))
    assert out.route == "transfer"
    assert all(a["route"] != "reclaim" for a in out.alternatives)
    assert "已预售 120 套" in reason(out, "R3")


def test_idle_fee_text_and_rate():
    out = classify({"land_price_wan": 1234.5})
    assert out.idle_fee_wan == 246.9
    assert reason(out, "F1") == "未动工闲置且为企业原因：土地闲置费 = 出让价款 1234.5 万元 × 20% = 246.9 万元"


def test_idle_fee_without_price_is_null_and_said():
    out = classify({"land_price_wan": None})
    assert math.isnan(out.idle_fee_wan)
    assert "缺少出让价款(万元)" in reason(out, "F1")


def test_fee_rate_from_rules():
    rules = load_idle_rules().replace(**{"fee.rate": 0.1})
    assert classify({}, rules=rules).idle_fee_wan == 100.0


@pytest.mark.parametrize(
    "over, as_of, conflict, fragments",
    [
        pytest.param(
            {**STARTED, "activity_index": 0.01},
            AS_OF,
            True,
            ["台账记载已动工", "遥感影像", "显示无变化"],
            id="started_no_change",
        ),
        pytest.param({**STARTED, "activity_index": 0.05}, AS_OF, False, [], id="started_at_no_change_line"),
        pytest.param({**STARTED, "activity_index": 0.3}, AS_OF, False, [], id="started_construction"),
        pytest.param(
            {"activity_index": 0.15},
            AS_OF,
            True,
            ["台账无实际动工日期", "遥感影像", "显示有施工"],
            id="not_started_construction",
        ),
        pytest.param({"activity_index": 0.149}, AS_OF, False, [], id="not_started_inconclusive"),
        pytest.param({"activity_index": np.nan}, AS_OF, False, [], id="no_imagery"),
        pytest.param(
            {**STARTED, "actual_completion_date": "2021-01-01", "activity_index": 0.0},
            AS_OF,
            False,
            [],
            id="completed_not_checked",
        ),
        # the ledger records the works as halted: flat imagery agrees with it
        pytest.param(
            {**STARTED, "halted_since": "2021-03-01", "activity_index": 0.0}, AS_OF, False, [], id="halted_flat_agrees"
        ),
    ],
)
def test_evidence_conflict(over, as_of, conflict, fragments):
    out = classify(over, as_of)
    plain = classify({**over, "activity_index": np.nan}, as_of)
    assert bool(out.evidence_conflict) is conflict
    assert (out.route, out.sub_route) == (plain.route, plain.sub_route)
    assert out.activity_index == over["activity_index"] or math.isnan(out.activity_index)
    if conflict:
        text = reason(out, "E1")
        for fragment in fragments:
            assert fragment in text
    else:
        assert all(r["rule_id"] != "E1" for r in out.reasons)


@pytest.mark.parametrize(
    "start, as_of, leap, idle, since",
    [
        ("2020-02-29", dt.date(2021, 2, 27), "feb28", False, None),
        ("2020-02-29", dt.date(2021, 2, 28), "feb28", True, "2021-02-28"),
        ("2020-02-29", dt.date(2021, 2, 28), "mar1", False, None),
        ("2020-02-29", dt.date(2021, 3, 1), "mar1", True, "2021-03-01"),
        ("2019-02-28", dt.date(2020, 2, 28), "feb28", True, "2020-02-28"),
    ],
)
def test_leap_day_anniversary(start, as_of, leap, idle, since):
    rules = load_idle_rules().replace(**{"idle.leap_day_anniversary": leap})
    out = classify({"agreed_start_date": start}, as_of, rules=rules)
    assert (out.idle_type == "not_started_idle") is idle
    assert pd.isna(out.idle_since) if since is None else out.idle_since == pd.Timestamp(since)
    if idle:
        assert out.idle_years == 1.0


def test_cutoff_changed_to_45hao_date_changes_scope():
    parcel = {"supply_date": "2024-06-01", "agreed_start_date": "2024-09-01", "agreed_completion_date": "2027-09-01"}
    as_of = dt.date(2025, 10, 1)
    default = classify(parcel, as_of)
    assert (bool(default.in_stock_scope), default.route) == (False, "none")
    assert "晚于存量土地截止日 2024-03-31" in reason(default, "S1")
    rules = load_idle_rules().replace(**{"scope.stock_cutoff": dt.date(2024, 11, 7)})
    wider = classify(parcel, as_of, rules=rules)
    assert (bool(wider.in_stock_scope), wider.route, wider.sub_route) == (True, "continue", "continue_with_fee")
    assert wider.rules_version == "2024.1+whatif"
    assert "不晚于存量土地截止日 2024-11-07" in reason(wider, "S1")


def test_output_columns_index_and_values():
    df = frame({"project_ids": ["XM1", "XM2"], "village_ids": ["V1"]}, {})
    df.index = pd.Index([10, 20])
    out = classify_idle_land(df, enterprises=ENTERPRISES, as_of=AS_OF)
    assert list(out.columns) == OUT_COLUMNS
    assert out.index.tolist() == [10, 20]
    assert out.parcel_id.tolist() == ["P0", "P1"]
    assert out.town_code.tolist() == ["330603001", "330603001"]
    assert out.as_of.tolist() == [pd.Timestamp("2021-12-31")] * 2
    assert out.rules_version.tolist() == ["2024.1", "2024.1"]
    assert out.dev_status.tolist() == ["not_started", "not_started"]
    assert out.project_ids.tolist() == [["XM1", "XM2"], []]
    assert out.village_ids.tolist() == [["V1"], []]
    assert out.project_ids[10] is not df.project_ids[10]  # copied, not shared with the input


def test_join_columns_may_be_absent():
    df = frame({}).drop(
        columns=[
            "project_ids",
            "presold_units",
            "village_ids",
            "public_need",
            "activity_index",
            "market_prospect",
            "sealed",
            "mortgaged",
            "breach_party",
        ]
    )
    out = classify_idle_land(df, enterprises=ENTERPRISES, as_of=AS_OF).iloc[0]
    assert (out.route, out.sub_route) == ("continue", "continue_with_fee")
    assert out.project_ids == [] and out.village_ids == []
    assert math.isnan(out.activity_index) and not out.evidence_conflict


def test_empty_frame():
    out = classify_idle_land(frame({}).iloc[:0], enterprises=ENTERPRISES, as_of=AS_OF)
    assert list(out.columns) == OUT_COLUMNS and len(out) == 0


def test_missing_parcel_id_column_refused():
    with pytest.raises(LandRenewError, match="parcel_id"):
        classify_idle_land(frame({}).drop(columns=["parcel_id"]), enterprises=ENTERPRISES, as_of=AS_OF)


def test_reason_citations_come_from_the_rule_file():
    out = classify({})
    rules = load_idle_rules()
    by_id = {r["rule_id"]: r["citation"] for r in out.reasons}
    assert by_id["I1"] == rules["citations.I1"] == "《闲置土地处置办法》第二条第一款"
    assert by_id["R4"] == rules["citations.R4"] + "；" + rules["route_citations.continue_with_fee"]


# ------------------------------------------------------------------------------------------ rule file
def test_default_rule_file():
    rules = load_idle_rules()
    assert rules.version == "2024.1"
    assert rules["scope.stock_cutoff"] == dt.date(2024, 3, 31)
    assert rules["fee.rate"] == 0.2
    assert rules["idle.halted_developed_ratio_below"] == 1 / 3
    assert rules["reclaim.purchase_by_demand_distance_m"] == 2000
    assert rules["market_prospect_default"] == "medium"
    assert set(RULE_SPEC) >= {"scope.stock_cutoff", "fee.rate", "evidence.construction_min"}


def _write(tmp_path, change):
    raw = yaml.safe_load((RULES_DIR / "idle.yaml").read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "idle.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        pytest.param(lambda r: r["fee"].pop("rate"), "缺少键 “fee.rate”", id="missing_key"),
        pytest.param(lambda r: r["citations"].pop("R3"), "缺少键 “citations.R3”", id="missing_citation"),
        pytest.param(
            lambda r: r["idle"].update(not_started_years="一年"), "“idle.not_started_years”.*类型不对", id="wrong_type"
        ),
        pytest.param(
            lambda r: r["scope"].update(stock_cutoff="2024-13-01"), "“scope.stock_cutoff”.*不是日期", id="bad_date"
        ),
        pytest.param(lambda r: r["fee"].update(rate=0.25), "“fee.rate”.*超出允许范围", id="rate_above_20_percent"),
        pytest.param(lambda r: r["fee"].update(rate=-0.1), "“fee.rate”.*超出允许范围", id="negative_rate"),
        pytest.param(
            lambda r: r["idle"].update(leap_day_anniversary="feb29"),
            "“idle.leap_day_anniversary”.*不在允许取值",
            id="bad_choice",
        ),
        pytest.param(
            lambda r: r["evidence"].update(no_change_max=0.2), "“evidence.no_change_max”", id="thresholds_crossed"
        ),
        pytest.param(
            lambda r: r["reclaim"].update(residential_compatible_land_uses=["住宅"]),
            "“reclaim.residential_compatible_land_uses”",
            id="bad_land_use",
        ),
    ],
)
def test_invalid_rule_file_refused(tmp_path, change, message):
    with pytest.raises(RuleFileError, match=message):
        load_idle_rules(_write(tmp_path, change))


def test_district_rule_file_is_used(tmp_path):
    path = _write(tmp_path, lambda r: (r.update(version="keqiao-2025"), r["scope"].update(stock_cutoff="2024-11-07")))
    rules = load_idle_rules(path)
    out = classify({"supply_date": "2024-06-01"}, dt.date(2025, 10, 1), rules=rules)
    assert (out.rules_version, bool(out.in_stock_scope)) == ("keqiao-2025", True)
