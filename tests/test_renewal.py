"""Tests for gis.renewal and gis.resettlement (docs/rules.md §7): hand-worked arithmetic on tiny fixtures.

Conventions used in the comments: a month is 365.25/12 = 30.4375 days; as_of is 2025-12-31 unless said
otherwise, so months_to_deadline to 2027-12-31 = 730 / 30.4375 = 23.98357... months.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.errors import CRSError, InputFileError, RuleFileError
from gis.renewal import (
    DAYS_PER_MONTH,
    district_summary,
    load_renewal_rules,
    percent_complete,
    village_status,
)
from gis.resettlement import resettlement_sites

X0, Y0 = 500_000.0, 3_320_000.0  # EPSG:4549 metres, inside Keqiao's zone
AS_OF = dt.date(2025, 12, 31)
MONTHS_TO_2027 = 730 / 30.4375  # 2025-12-31 -> 2027-12-31


@pytest.fixture(scope="module")
def rules():
    return load_renewal_rules()


def villages(*rows: dict) -> gpd.GeoDataFrame:
    """Villages as 100 m x 100 m squares (10 000 m²) in EPSG:4549, side by side."""
    base = {
        "name": None,
        "town_code": "T1",
        "mode": "整治提升",
        "households": 100,
        "planned_demolition_m2": 10_000.0,
        "planned_resettlement_units": 100,
        "deadline": None,
    }
    recs = [{**base, "name": f"{r['village_id']}村", **r} for r in rows]
    geoms = [shapely.box(X0 + 200 * i, Y0, X0 + 200 * i + 100, Y0 + 100) for i in range(len(recs))]
    return gpd.GeoDataFrame(recs, geometry=geoms, crs="EPSG:4549")


def reports(*rows: tuple) -> pd.DataFrame:
    """(village_id, report_date, stage, {field: value}) -> village_progress."""
    recs = [{"village_id": v, "report_date": d, "stage": s, **f} for v, d, s, f in rows]
    return pd.DataFrame(recs)


def status_of(vil, prog, as_of=AS_OF, rules=None):
    return village_status(vil, prog, as_of=as_of, rules=rules).set_index("village_id")


def notes_text(row) -> str:
    return "\n".join(row["notes"])


# ----------------------------------------------------------------------------------------- rules
def test_rule_file_defaults(rules):
    assert rules["deadline.default"] == dt.date(2027, 12, 31)
    assert rules["stages.拆除新建"] == [
        "not_started",
        "planning",
        "signing",
        "relocation",
        "demolition",
        "resettlement_construction",
        "done",
    ]
    assert rules["stages.整治提升"] == ["not_started", "planning", "works", "done"]
    assert rules["status.stall_months"] == 6 and rules["status.late_margin_months"] == 6
    assert rules.version == "2024.09-r1"


def test_weights_must_sum_to_one(rules):
    bad = rules.replace(
        **{"weights.拆除新建": {"signing": 0.5, "relocation": 0.2, "demolition": 0.2, "resettlement": 0.3}}
    )
    with pytest.raises(RuleFileError, match="weights.拆除新建.*权重之和为 1.2，应为 1"):
        percent_complete(villages({"village_id": "A"}), reports(("A", "2025-01-31", "works", {})), rules=bad)


def test_rule_file_missing_key_is_refused(tmp_path):
    text = Path(load_renewal_rules().path).read_text(encoding="utf-8")
    broken = tmp_path / "renewal.yaml"
    broken.write_text(text.replace("  top_n: 5\n", ""), encoding="utf-8")
    with pytest.raises(RuleFileError, match="缺少键 “sites.top_n”"):
        load_renewal_rules(broken)


def test_rule_file_unknown_stage_is_refused(tmp_path):
    text = Path(load_renewal_rules().path).read_text(encoding="utf-8")
    broken = tmp_path / "renewal.yaml"
    broken.write_text(
        text.replace(
            "整治提升: [not_started, planning, works, done]", "整治提升: [not_started, planning, painting, done]"
        ),
        encoding="utf-8",
    )
    with pytest.raises(RuleFileError, match=r"stages.整治提升.*未知阶段 \['painting'\]"):
        load_renewal_rules(broken)


# ------------------------------------------------------------------------------- percent_complete
FULL = {
    "signed_households": 50,
    "relocated_households": 25,
    "demolished_m2": 2_500.0,
    "resettlement_units_delivered": 10,
}


def test_percent_complete_demolition_mode(rules):
    # households 100, planned demolition 10 000 m², planned units 50:
    # 0.2 * 50/100 + 0.2 * 25/100 + 0.2 * 2500/10000 + 0.4 * 10/50 = 0.10 + 0.05 + 0.05 + 0.08 = 0.28
    vil = villages({"village_id": "A", "mode": "拆除新建", "planned_resettlement_units": 50})
    pc = percent_complete(vil, reports(("A", "2025-01-31", "demolition", FULL)), rules=rules)
    assert pc.tolist() == pytest.approx([0.28])


def test_changing_a_weight_changes_percent(rules):
    # signing 0.4, resettlement 0.2: 0.4*0.5 + 0.2*0.25 + 0.2*0.25 + 0.2*0.2 = 0.20+0.05+0.05+0.04 = 0.34
    what_if = rules.replace(
        **{"weights.拆除新建": {"signing": 0.4, "relocation": 0.2, "demolition": 0.2, "resettlement": 0.2}}
    )
    vil = villages({"village_id": "A", "mode": "拆除新建", "planned_resettlement_units": 50})
    prog = reports(("A", "2025-01-31", "demolition", FULL))
    assert percent_complete(vil, prog, rules=what_if).tolist() == pytest.approx([0.34])
    assert village_status(vil, prog, as_of=AS_OF, rules=what_if)["rules_version"].iloc[0] == "2024.09-r1+whatif"


def test_percent_is_per_report_row_and_carries_missing_fields_forward(rules):
    # row 2 omits signed_households: the 2025-01-31 value (50) stands, so only relocation moves:
    # 0.2*0.5 + 0.2*0.5 + 0.2*0.25 + 0.4*0.2 = 0.10+0.10+0.05+0.08 = 0.33; the unknown village -> NaN
    vil = villages({"village_id": "A", "mode": "拆除新建", "planned_resettlement_units": 50})
    prog = reports(
        ("A", "2025-01-31", "demolition", FULL),
        ("A", "2025-02-28", "demolition", {**FULL, "signed_households": None, "relocated_households": 50}),
        ("ZZ", "2025-02-28", "works", {"works_progress": 0.5}),
    )
    pc = percent_complete(vil, prog.set_axis([10, 11, 12]), rules=rules)
    assert pc.index.tolist() == [10, 11, 12]
    assert pc.iloc[:2].tolist() == pytest.approx([0.28, 0.33])
    assert np.isnan(pc.iloc[2])


def test_missing_denominator_rescales_the_other_weights(rules):
    # no resettlement units planned (货币安置): resettlement left out, the other three (0.2 each) scaled to 1/3:
    # (0.5 + 0.25 + 0.25) / 3 = 0.3333...
    vil = villages({"village_id": "A", "mode": "拆除新建", "planned_resettlement_units": 0})
    prog = reports(("A", "2025-12-31", "demolition", FULL))
    assert percent_complete(vil, prog, rules=rules).tolist() == pytest.approx([1 / 3])
    st = status_of(vil, prog, rules=rules)
    assert "安置房交付指标缺分母（计划安置房套数为空或0），不计入" in notes_text(st.loc["A"])


@pytest.mark.parametrize(
    ("extra", "expected", "note"),
    [
        # area from the geometry: 100 m x 100 m = 10 000 m²; s = 4000 / 10000 = 0.4; demolition-part households
        # 100 * 0.4 = 40: signing 20/40 = 0.5, relocation 10/40 = 0.25, demolition 2000/4000 = 0.5,
        # resettlement 0/40 = 0 -> 0.2*0.5 + 0.2*0.25 + 0.2*0.5 + 0 = 0.25; works 0.5
        # p = 0.4 * 0.25 + 0.6 * 0.5 = 0.10 + 0.30 = 0.40
        ({}, 0.40, "拆除部分占比 = 计划拆除面积 4000 ㎡ / 村域面积 10000 ㎡ = 40.0%；整治部分占比 60.0%"),
        # an area_m2 column wins: s = 4000 / 8000 = 0.5; households 50: 20/50 = 0.4, 10/50 = 0.2, 0.5, 0
        # -> 0.08 + 0.04 + 0.10 = 0.22; p = 0.5 * 0.22 + 0.5 * 0.5 = 0.36
        ({"area_m2": 8_000.0}, 0.36, "村域面积 8000 ㎡ = 50.0%"),
        # no planned demolition area: default share 0.5, households 50, demolition ratio left out and
        # signing/relocation/resettlement rescaled: (0.2*0.4 + 0.2*0.2 + 0.4*0) / 0.8 = 0.15;
        # p = 0.5 * 0.15 + 0.5 * 0.5 = 0.325
        ({"planned_demolition_m2": None}, 0.325, "拆除部分占比取默认 50%"),
    ],
)
def test_mixed_mode_is_weighted_by_area(rules, extra, expected, note):
    vil = villages(
        {
            "village_id": "M",
            "mode": "拆整结合",
            "planned_demolition_m2": 4_000.0,
            "planned_resettlement_units": 40,
            **extra,
        }
    )
    prog = reports(
        (
            "M",
            "2025-12-31",
            "demolition",
            {"signed_households": 20, "relocated_households": 10, "demolished_m2": 2_000.0, "works_progress": 0.5},
        )
    )
    assert percent_complete(vil, prog, rules=rules).tolist() == pytest.approx([expected])
    assert note in notes_text(status_of(vil, prog, rules=rules).loc["M"])


# --------------------------------------------------------------------------------- forecast/status
def works_village(vid: str, *points: tuple[str, float], stage: str = "works", **attrs):
    """A 整治提升 village whose percent is its works_progress."""
    return (
        villages({"village_id": vid, **attrs}),
        reports(*[(vid, d, stage, {"works_progress": w}) for d, w in points]),
    )


def test_on_track_hand_worked(rules):
    # reports 2025-06-30: 0.2, 2025-12-31: 0.5.  Window: 2025-12-31 minus 6 months = 2025-06-30, so the base
    # is the 2025-06-30 report; 184 days = 184/30.4375 = 6.04517 months.
    # rate = (0.5 - 0.2) / 6.04517 = 0.049626 per month.
    # projected = 2025-12-31 + (1 - 0.5)/rate months = + 0.5 * 184 / 0.3 days = + 306.67 -> 307 days = 2026-11-03
    # required = (1 - 0.5) / (730/30.4375) = 0.020848 per month; 2026-11-03 <= 2027-12-31 -> on_track
    vil, prog = works_village("A", ("2025-06-30", 0.2), ("2025-12-31", 0.5))
    row = status_of(vil, prog, rules=rules).loc["A"]
    assert row["percent_complete"] == pytest.approx(0.5)
    assert row["monthly_rate"] == pytest.approx(0.3 / (184 / 30.4375))
    assert row["projected_completion"] == pd.Timestamp("2026-11-03")
    assert row["required_monthly_rate"] == pytest.approx(0.5 / MONTHS_TO_2027)
    assert row["months_to_deadline"] == pytest.approx(23.983572895277)
    assert row["status"] == "on_track"
    assert row["last_report_date"] == pd.Timestamp("2025-12-31")
    assert row["notes"] == []


def test_rate_window_uses_latest_report_before_the_window(rules):
    # monthly reports: the base is the latest report at or before 2025-12-31 - 6 months = 2025-06-30
    # (0.25), not the first one (0.10): rate = (0.55 - 0.25) / (184/30.4375)
    vil, prog = works_village(
        "A", ("2025-03-31", 0.10), ("2025-06-30", 0.25), ("2025-09-30", 0.40), ("2025-12-31", 0.55)
    )
    row = status_of(vil, prog, rules=rules).loc["A"]
    assert row["monthly_rate"] == pytest.approx(0.30 / (184 / DAYS_PER_MONTH))
    assert row["report_count"] == 4


def test_at_risk_hand_worked(rules):
    # 0.20 -> 0.36 over 184 days: projected = 2025-12-31 + (1 - 0.36) * 184 / 0.16 = + 736 days = 2028-01-06,
    # after the deadline 2027-12-31 but not after 2027-12-31 + 6 months = 2028-06-30 -> at_risk
    vil, prog = works_village("A", ("2025-06-30", 0.20), ("2025-12-31", 0.36))
    row = status_of(vil, prog, rules=rules).loc["A"]
    assert row["projected_completion"] == pd.Timestamp("2028-01-06")
    assert row["status"] == "at_risk"
    assert "预计 2028-01-06 完成（期限 2027-12-31），晚于期限，判为滞后风险" in notes_text(row)


def test_late_by_projection_hand_worked(rules):
    # 0.1 -> 0.2 over 184 days: projected = + 0.8 * 184 / 0.1 = 1472 days = 2030-01-11 > 2028-06-30 -> late
    vil, prog = works_village("A", ("2025-06-30", 0.1), ("2025-12-31", 0.2))
    row = status_of(vil, prog, rules=rules).loc["A"]
    assert row["projected_completion"] == pd.Timestamp("2030-01-11")
    assert row["status"] == "late"
    assert "晚于期限超过6个月，判为严重滞后" in notes_text(row)


def test_late_margin_comes_from_the_rule_file(rules):
    # the at_risk village above (projected 2028-01-06) is late once the margin is 0 months
    vil, prog = works_village("A", ("2025-06-30", 0.20), ("2025-12-31", 0.36))
    assert status_of(vil, prog, rules=rules.replace(**{"status.late_margin_months": 0})).loc["A", "status"] == "late"


def test_late_when_no_progress_over_six_months(rules):
    vil, prog = works_village("A", ("2025-06-30", 0.3), ("2025-09-30", 0.3), ("2025-12-31", 0.3))
    row = status_of(vil, prog, rules=rules).loc["A"]
    assert row["status"] == "late"
    assert row["monthly_rate"] == 0.0
    assert pd.isna(row["projected_completion"])
    assert "近6个月无进展：2025-06-30 完成率 30.0%，2025-12-31 为 30.0%，判为严重滞后" in notes_text(row)


def test_zero_rate_over_a_short_history_is_late_with_reason(rules):
    # two months without progress: not a 6-month stall, but at rate 0 the village never finishes
    vil, prog = works_village("A", ("2025-10-31", 0.3), ("2025-12-31", 0.3))
    row = status_of(vil, prog, rules=rules).loc["A"]
    assert row["status"] == "late"
    assert "近期完成速度为每月 0.0%（2025-10-31 至 2025-12-31），按此速度无法完成" in notes_text(row)


@pytest.mark.parametrize(
    ("deadline", "expected_required", "status", "verdict"),
    [
        # one report, p = 0.5; required = 0.5 / (730/30.4375) = 0.02085 <= 0.05 -> on_track
        (None, 0.5 / MONTHS_TO_2027, "on_track", "未超过阈值，判为正常"),
        # own deadline 2026-06-30: 181 days = 5.94661 months; required = 0.5 / 5.94661 = 0.08408 > 0.05 -> at_risk
        ("2026-06-30", 0.5 / (181 / 30.4375), "at_risk", "高于阈值，判为滞后风险"),
    ],
)
def test_single_report_judged_by_required_rate(rules, deadline, expected_required, status, verdict):
    vil, prog = works_village("A", ("2025-12-31", 0.5), deadline=deadline)
    row = status_of(vil, prog, rules=rules).loc["A"]
    assert np.isnan(row["monthly_rate"])
    assert pd.isna(row["projected_completion"])
    assert row["required_monthly_rate"] == pytest.approx(expected_required)
    assert row["status"] == status
    assert "可用于计算速度的填报只有1次（2025-12-31），无法计算完成速度" in notes_text(row)
    assert verdict in notes_text(row)


def test_deadline_passed(rules):
    vil, prog = works_village("A", ("2025-03-31", 0.3), ("2025-09-30", 0.5), deadline="2025-06-30")
    row = status_of(vil, prog, rules=rules).loc["A"]
    assert row["status"] == "late"
    assert row["required_monthly_rate"] == np.inf
    assert row["months_to_deadline"] == pytest.approx(-184 / 30.4375)
    assert "完成期限 2025-06-30 已过（基准日 2025-12-31），尚有 50.0% 未完成，所需月速度记为无穷大" in notes_text(row)


def test_done_village(rules):
    vil, prog = works_village("A", ("2025-06-30", 0.6), ("2025-11-30", 1.0), stage="done")
    row = status_of(vil, prog, rules=rules).loc["A"]
    assert row["status"] == "done"
    assert row["percent_complete"] == 1.0
    assert row["required_monthly_rate"] == 0.0
    assert row["projected_completion"] == pd.Timestamp("2025-11-30")
    assert row["notes"] == ["已完成：各项指标均达100%（2025-11-30 填报）"]


@pytest.mark.parametrize(
    ("prog", "stage", "note"),
    [
        (reports(), "not_started", "截至 2025-12-31 无进度填报，按未启动处理；期限 2027-12-31 前每月需完成 4.2%"),
        (
            reports(("A", "2025-12-31", "planning", {"works_progress": 0.0})),
            "planning",
            "完成率为0，阶段为方案编制，按未启动处理",
        ),
    ],
)
def test_not_started(rules, prog, stage, note):
    # required = 1 / 23.98357 = 0.0417 -> "4.2%"
    vil = villages({"village_id": "A"})
    prog = prog if len(prog) else pd.DataFrame(columns=["village_id", "report_date", "stage"])
    row = status_of(vil, prog, rules=rules).loc["A"]
    assert row["status"] == "not_started"
    assert row["stage"] == stage
    assert row["required_monthly_rate"] == pytest.approx(1 / MONTHS_TO_2027)
    assert note in notes_text(row)


def test_reports_after_as_of_do_not_count(rules):
    vil, prog = works_village("A", ("2025-06-30", 0.2), ("2025-12-31", 0.5), ("2026-01-31", 0.9))
    row = status_of(vil, prog, rules=rules).loc["A"]
    assert row["last_report_date"] == pd.Timestamp("2025-12-31")
    assert row["percent_complete"] == pytest.approx(0.5)


# ------------------------------------------------------------------------------------ data errors
def test_backwards_progress_is_flagged_and_not_averaged(rules):
    # 拆除新建, households 100, nothing but signing moves: p = 0.2 * signed/100
    # 2025-01-31: 40 (0.08), 2025-06-30: 60 (0.12), 2025-09-30: 50 (0.10, went backwards), 2025-12-31: 80 (0.16)
    # current state = latest report: 0.16.  The rate uses only the reports from the drop (2025-09-30) on:
    # (0.16 - 0.10) / (92/30.4375) = 0.019851 per month (the whole-window rate would have been
    # (0.16 - 0.12) / (184/30.4375) = 0.006617)
    vil = villages({"village_id": "B", "mode": "拆除新建"})
    prog = reports(
        *[
            ("B", d, "signing", {"signed_households": s})
            for d, s in [("2025-01-31", 40), ("2025-06-30", 60), ("2025-09-30", 50), ("2025-12-31", 80)]
        ]
    )
    row = status_of(vil, prog, rules=rules).loc["B"]
    assert row["percent_complete"] == pytest.approx(0.16)
    assert row["monthly_rate"] == pytest.approx(0.06 / (92 / 30.4375))
    assert row["data_error"]
    text = notes_text(row)
    assert "数据错误（进度倒退）：已签约户数在 2025-06-30 填报为 60，在 2025-09-30 降为 50，请核实" in text
    assert "完成速度只按 2025-09-30 及之后的填报计算" in text


def test_duplicate_report_dates_do_not_double_count(rules):
    # the same date twice: only the last row of the file counts (0.5, not 0.4 and not a sum)
    vil, prog = works_village("A", ("2025-06-30", 0.2), ("2025-12-31", 0.4), ("2025-12-31", 0.5))
    row = status_of(vil, prog, rules=rules).loc["A"]
    assert row["percent_complete"] == pytest.approx(0.5)
    assert row["report_count"] == 2
    assert row["monthly_rate"] == pytest.approx(0.3 / (184 / 30.4375))
    assert "数据重复：2025-12-31 有 2 条填报，只采用文件中最后一条" in notes_text(row)
    assert row["data_error"]


@pytest.mark.parametrize(
    ("stage", "fields", "note", "status"),
    [
        # stage signing but demolition has begun (1000/10000 m²)
        (
            "signing",
            {"signed_households": 50, "demolished_m2": 1_000.0},
            "阶段与指标不符：填报阶段为征收签约，但拆除已开始（10.0%），完成率按指标计算",
            "on_track",
        ),
        # stage done, indicators say 0.2*0.5 + 0.2*0.5 + 0.2*0.1 = 0.22
        (
            "done",
            {"signed_households": 50, "relocated_households": 50, "demolished_m2": 1_000.0},
            "阶段与指标不符：阶段填报为完成，但指标完成率仅 22.0%，按指标判定未完成",
            "on_track",
        ),
        # all indicators complete, stage still resettlement_construction
        (
            "resettlement_construction",
            {
                "signed_households": 100,
                "relocated_households": 100,
                "demolished_m2": 10_000.0,
                "resettlement_units_delivered": 100,
            },
            "阶段与指标不符：指标已全部完成，但阶段仍为安置房建设，按指标判定已完成",
            "done",
        ),
        ("works", {"signed_households": 10}, "阶段“works”不属于拆除新建的阶段，未作阶段核对", "on_track"),
    ],
)
def test_stage_contradicting_indicators(rules, stage, fields, note, status):
    vil = villages({"village_id": "C", "mode": "拆除新建"})
    prog = reports(("C", "2025-12-31", stage, fields))
    row = status_of(vil, prog, rules=rules).loc["C"]
    assert note in notes_text(row)
    assert row["status"] == status
    assert row["stage"] == stage


def test_stage_going_backwards_is_flagged(rules):
    vil = villages({"village_id": "C", "mode": "拆除新建"})
    prog = reports(
        ("C", "2025-06-30", "relocation", {"signed_households": 50}),
        ("C", "2025-12-31", "signing", {"signed_households": 60}),
    )
    row = status_of(vil, prog, rules=rules).loc["C"]
    assert "数据错误（阶段倒退）：阶段在 2025-06-30 为搬迁腾空，在 2025-12-31 退回征收签约，请核实" in notes_text(row)
    assert row["data_error"]
    # the stage is not an indicator: the rate still runs over the whole window, 0.2*(0.6-0.5)/(184/30.4375)
    assert row["monthly_rate"] == pytest.approx(0.02 / (184 / 30.4375))


def test_stale_last_report_is_mentioned(rules):
    vil, prog = works_village("A", ("2025-01-31", 0.2), ("2025-05-31", 0.5))
    row = status_of(vil, prog, rules=rules).loc["A"]
    assert "最近一次填报 2025-05-31 距基准日已超过6个月，进度可能未更新" in notes_text(row)


def test_needs_resettlement_units(rules):
    vil = villages(
        {"village_id": "A", "mode": "拆除新建", "planned_resettlement_units": 100},
        {"village_id": "B", "mode": "拆除新建", "planned_resettlement_units": 100},
        {"village_id": "C", "mode": "整治提升", "planned_resettlement_units": None},
    )
    prog = reports(
        ("A", "2025-12-31", "resettlement_construction", {"resettlement_units_delivered": 30}),
        ("B", "2025-12-31", "resettlement_construction", {"resettlement_units_delivered": 120}),
        ("C", "2025-12-31", "works", {"works_progress": 0.5}),
    )
    st = status_of(vil, prog, rules=rules)
    assert st["needs_resettlement_units"].tolist() == [70, 0, 0]
    assert st["needs_resettlement_units"].dtype == np.int64
    assert "已交付安置房套数 120 超过计划安置房套数 100，按100%计（请核实）" in notes_text(st.loc["B"])


def test_output_has_one_row_per_village_in_input_order(rules):
    vil = villages({"village_id": "Z"}, {"village_id": "A"}, {"village_id": "M"}).set_axis([7, 8, 9])
    prog = reports(("A", "2025-12-31", "works", {"works_progress": 0.5}), ("ZZ", "2025-12-31", "works", {}))
    out = village_status(vil, prog, as_of=AS_OF, rules=rules)
    assert out.index.tolist() == [7, 8, 9]
    assert out["village_id"].tolist() == ["Z", "A", "M"]
    assert out.crs == vil.crs
    assert out["as_of"].iloc[0] == pd.Timestamp(AS_OF)
    assert out.attrs["unknown_village_ids"] == ["ZZ"]
    assert list(out.columns[:11]) == [
        "village_id",
        "name",
        "town_code",
        "mode",
        "stage",
        "percent_complete",
        "monthly_rate",
        "required_monthly_rate",
        "projected_completion",
        "status",
        "months_to_deadline",
    ]


@pytest.mark.parametrize(
    ("vil", "match"),
    [
        (villages({"village_id": "A"}, {"village_id": "A"}), "城中村编号重复：A"),
        (villages({"village_id": "A", "mode": "旧改"}), "改造方式无法识别：A（旧改）"),
    ],
)
def test_bad_villages_are_refused(rules, vil, match):
    with pytest.raises(InputFileError, match=match):
        village_status(vil, reports(("A", "2025-12-31", "works", {})), as_of=AS_OF, rules=rules)


# ------------------------------------------------------------------------------------------ summary
def test_district_summary_counts_and_decisive():
    status = pd.DataFrame(
        {
            "village_id": ["A", "B", "C", "D"],
            "name": ["甲", "乙", "丙", "丁"],
            "town_code": ["T1", "T1", "T2", "T2"],
            "status": ["on_track", "late", "done", "not_started"],
            "households": [100, 300, 50, 200],
            "signed_households": [60.0, 90.0, 50.0, 0.0],
            "relocated_households": [40.0, 30.0, 50.0, 0.0],
            "percent_complete": [0.5, 0.2, 1.0, 0.0],
            "months_to_deadline": [24.0, 24.0, 24.0, 12.0],
            "required_monthly_rate": [0.02, 0.03, 0.0, 0.08],
        }
    )
    towns = pd.DataFrame({"town_code": ["T1", "T2"], "name": ["柯桥街道", "华舍街道"]})
    out = district_summary(status, towns=towns)
    bt = out["by_town"].set_index("town_code")
    assert bt.index.tolist() == ["T1", "T2", "全区"]
    assert bt.loc["T1", "town_name"] == "柯桥街道"
    assert bt.loc["T1", ["villages", "done", "on_track", "at_risk", "late", "not_started"]].tolist() == [
        2,
        0,
        1,
        0,
        1,
        0,
    ]
    assert bt.loc["全区", ["villages", "done", "on_track", "at_risk", "late", "not_started"]].tolist() == [
        4,
        1,
        1,
        0,
        1,
        1,
    ]
    assert bt.loc["全区", "households"] == 650
    assert bt.loc["全区", "signed_households"] == 200
    # household-weighted: T1 (100*0.5 + 300*0.2) / 400 = 0.275; district (50 + 60 + 50 + 0) / 650
    assert bt.loc["T1", "goal_share"] == pytest.approx(0.275)
    assert bt.loc["全区", "goal_share"] == pytest.approx(160 / 650)
    assert bt.loc["T2", "months_left"] == 24.0
    dec = out["decisive"]
    assert dec["village_id"].tolist() == ["B", "D"]  # the most households first; on_track/done left out
    assert dec["rank"].tolist() == [1, 2]
    # at stake: B 300 * 0.8 = 240, D 200 -> shares 240/650, 200/650, cumulative 440/650
    assert dec["households_at_stake"].tolist() == pytest.approx([240, 200])
    assert dec["cumulative_share"].tolist() == pytest.approx([240 / 650, 440 / 650])
    assert dec["reason"].iloc[0] == "严重滞后，300 户，完成 20.0%，尚有约 240 户未完成，占全区户数 36.9%（累计 36.9%）"


def test_district_summary_from_village_status(rules):
    vil = villages({"village_id": "A", "town_code": None}, {"village_id": "B", "town_code": "T9"})
    prog = reports(("B", "2025-11-30", "done", {"works_progress": 1.0}))
    bt = district_summary(village_status(vil, prog, as_of=AS_OF, rules=rules))["by_town"]
    assert bt["town_code"].tolist() == ["T9", "未分配", "全区"]
    assert bt["town_name"].tolist() == ["T9", "未分配", "全区"]
    assert bt["done"].tolist() == [1, 0, 1] and bt["not_started"].tolist() == [0, 1, 1]


# ------------------------------------------------------------------------------- resettlement sites
def _parcel(pid, dx, dy, w, h, route, land_use, alternatives=()):
    # (dx, dy): lower-left corner offset from the village's lower-left corner (village = 100 m square)
    return {
        "parcel_id": pid,
        "route": route,
        "land_use": land_use,
        "alternatives": list(alternatives),
        "geometry": shapely.box(X0 + dx, Y0 + dy, X0 + dx + w, Y0 + dy + h),
    }


@pytest.fixture
def site_inputs(rules):
    # village A needs 100 units -> need = 100 * 50 m² = 5000 m²; village B needs none
    vil = villages(
        {"village_id": "A", "mode": "拆除新建", "planned_resettlement_units": 100},
        {"village_id": "B", "mode": "整治提升", "planned_resettlement_units": None},
    )
    prog = reports(
        ("A", "2025-12-31", "signing", {"signed_households": 50}), ("B", "2025-12-31", "works", {"works_progress": 0.5})
    )
    status = village_status(vil, prog, as_of=AS_OF, rules=rules)
    parcels = [
        # 400 m east of the village's edge, 5000 m² -> closeness 1 - 400/2000 = 0.80, fit 1 -> score 0.90
        _parcel("P1", 500, 0, 50, 100, "reclaim", "住宅用地"),
        # 100 m north, 20 000 m² -> closeness 0.95, fit 5000/20000 = 0.25 -> score 0.60
        _parcel(
            "P2", 0, 200, 200, 100, "transfer", "商住用地", [{"route": "reclaim", "sub_route": "negotiated_reclaim"}]
        ),
        # 50 m away, right size, but its only route is continue -> excluded
        _parcel("P3", -150, 0, 50, 100, "continue", "住宅用地", [{"route": "continue", "sub_route": "on_schedule"}]),
        # continue, with reclaim as an alternative (JSON text as in GeoPackage); 500 m south, 2500 m²
        # -> closeness 0.75, fit 0.5 -> score 0.625
        {
            **_parcel("P4", 0, -550, 50, 50, "continue", "住宅用地"),
            "alternatives": json.dumps([{"route": "reclaim", "sub_route": "purchase_by_demand"}]),
        },
        # industrial land -> excluded
        _parcel("P5", 120, 0, 50, 100, "reclaim", "工业用地"),
        # 3 km away -> beyond the 2 km limit
        _parcel("P6", 3100, 0, 50, 100, "reclaim", "住宅用地"),
    ]
    assessment = gpd.GeoDataFrame(parcels, geometry="geometry", crs="EPSG:4549").to_crs("EPSG:4490")
    return status, assessment


def test_resettlement_sites_ranking(rules, site_inputs):
    status, assessment = site_inputs
    out = resettlement_sites(status, assessment, rules=rules)
    assert out["village_id"].unique().tolist() == ["A"]
    assert out["parcel_id"].tolist() == ["P1", "P4", "P2"]
    assert out["rank"].tolist() == [1, 2, 3]
    # 4490 -> 4549 round trip: metres within millimetres
    assert out["distance_m"].tolist() == pytest.approx([400, 500, 100], abs=0.01)
    assert out["fit"].tolist() == pytest.approx([1.0, 0.5, 0.25], abs=1e-5)
    assert out["score"].tolist() == pytest.approx([0.90, 0.625, 0.60], abs=1e-5)
    assert out["reason"].iloc[0] == (
        "第1位（综合得分 0.90）：距村 400 米（上限 2000 米），面积 5000 ㎡，需约 5000 ㎡"
        "（100 套 × 50 ㎡/套），匹配度 1.00；推荐路径为收回收购"
    )
    assert out["reason"].iloc[1].endswith("备选路径含收回收购或转让")


def test_resettlement_sites_top_n_and_area_column(rules, site_inputs):
    status, assessment = site_inputs
    # a declared area_m2 wins over the geometry: P2 declared 5000 m² -> fit 1, score (0.95 + 1)/2 = 0.975
    assessment = assessment.assign(area_m2=[5_000.0, 5_000.0, 5_000.0, 2_500.0, 5_000.0, 5_000.0])
    out = resettlement_sites(status, assessment, rules=rules.replace(**{"sites.top_n": 1}))
    assert out["parcel_id"].tolist() == ["P2"]
    assert out["score"].tolist() == pytest.approx([0.975], abs=1e-5)


def test_resettlement_sites_need_land_use_and_crs(rules, site_inputs):
    status, assessment = site_inputs
    with pytest.raises(InputFileError, match="缺少字段 \\['land_use'\\].*连接 land_use"):
        resettlement_sites(status, assessment.drop(columns="land_use"), rules=rules)
    with pytest.raises(CRSError, match="闲置土地研判结果 没有坐标系"):
        resettlement_sites(status, assessment.set_crs(None, allow_override=True), rules=rules)
