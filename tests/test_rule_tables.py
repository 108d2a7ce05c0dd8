"""The rule file's tables decide (layers/rules/idle.yaml): order, wording and validation, with no code change.

Each test edits a copy of the default rule file as a district would (text edits of the YAML) and checks the
engine's output on a hand-made parcel against the rule as written in docs/rules.md §6.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from gis.decision_table import Clause, Evaluator, Template, TextRow, first_match, join_texts
from gis.errors import RuleFileError
from gis.idle import classify_idle_land, idle_tables, load_idle_rules
from gis.rules import RULES_DIR

DEFAULT = (RULES_DIR / "idle.yaml").read_text(encoding="utf-8")
AS_OF = dt.date(2021, 12, 31)

# A capable enterprise's parcel, not started, idle since 2021-06-30 because the planning was lawfully revised
# (cause government, art8_2): both R4 rows "adjust_planning" (planning change) and "extend_start" (cause
# government) fit it; the table lists adjust_planning first (docs/rules.md §6 step 4).
PLANNING = {
    "parcel_id": ["P1"],
    "enterprise_id": ["E1"],
    "land_use": ["住宅用地"],
    "land_price_wan": [1000.0],
    "supply_date": pd.to_datetime(["2019-05-01"]),
    "agreed_start_date": pd.to_datetime(["2020-06-30"]),
    "agreed_completion_date": pd.to_datetime(["2023-06-30"]),
    "idle_cause": ["government"],
    "idle_cause_detail": ["art8_2"],
    "price_paid_ratio": [1.0],
}
ENTERPRISES = pd.DataFrame(
    {"enterprise_id": ["E1"], "risk_level": ["normal"], "in_default": [False], "willing_to_continue": ["yes"]}
)


def rule_file(tmp_path, text: str):
    path = tmp_path / "idle.yaml"
    path.write_text(text, encoding="utf-8")
    return load_idle_rules(path)


def assess(rules=None, **changes):
    parcels = pd.DataFrame({**PLANNING, **changes})
    return classify_idle_land(parcels, enterprises=ENTERPRISES, as_of=AS_OF, rules=rules).iloc[0]


def row_line(text: str, sub_route: str, rule: str) -> str:
    (line,) = [ln for ln in text.splitlines() if f"rule: {rule}," in ln and f"sub_route: {sub_route}," in ln]
    return line


def test_reordering_two_rows_changes_the_route(tmp_path):
    before = assess()
    assert (before.route, before.sub_route) == ("continue", "adjust_planning")
    assert {"route": "continue", "sub_route": "extend_start"} in before.alternatives
    adjust, extend = row_line(DEFAULT, "adjust_planning", "R4"), row_line(DEFAULT, "extend_start", "R4")
    swapped = DEFAULT.replace(adjust, "@@").replace(extend, adjust).replace("@@", extend)
    after = assess(rule_file(tmp_path, swapped))
    assert (after.route, after.sub_route) == ("continue", "extend_start")
    assert {"route": "continue", "sub_route": "adjust_planning"} in after.alternatives
    r4 = [r for r in after.reasons if r["rule_id"] == "R4"][0]
    assert "延长动工开发期限" in r4["text"]
    assert r4["citation"].endswith("《闲置土地处置办法》第十二条第（一）项")


def test_a_wording_change_shows_in_the_reasons(tmp_path):
    old = "企业有能力继续开发：因规划依法修改或国家政策调整造成闲置，调整土地用途、规划条件后继续开发"
    new = "企业有能力继续开发：规划已依法修改（{cause_detail}），按新规划条件调整后继续开发"
    assert old in DEFAULT
    out = assess(rule_file(tmp_path, DEFAULT.replace(old, new)))
    texts = [r["text"] for r in out.reasons if r["rule_id"] == "R4"]
    assert texts == ["企业有能力继续开发：规划已依法修改（第八条第（二）项 规划依法修改），按新规划条件调整后继续开发"]


def test_a_wording_change_of_a_named_text(tmp_path):
    changed = DEFAULT.replace('{when: [in_default], text: "债务违约"}', '{when: [in_default], text: "已发生债务违约"}')
    e = pd.DataFrame(
        {"enterprise_id": ["E1"], "risk_level": ["normal"], "in_default": [True], "willing_to_continue": ["yes"]}
    )
    out = classify_idle_land(
        pd.DataFrame(PLANNING), enterprises=e, as_of=AS_OF, rules=rule_file(tmp_path, changed)
    ).iloc[0]
    assert [r["text"] for r in out.reasons if r["rule_id"] == "K1"] == ["企业 E1 已发生债务违约，无能力继续开发"]


def test_a_new_condition_in_a_row_takes_effect(tmp_path):
    """A district that wants extend_start only for parcels without breach adds a condition to the row."""
    line = row_line(DEFAULT, "adjust_planning", "R4")
    stricter = DEFAULT.replace(
        line,
        line.replace("when: [capable, idle, planning_change]", "when: [capable, idle, planning_change, not mortgaged]"),
    )
    rules = rule_file(tmp_path, stricter)
    assert assess(rules).sub_route == "adjust_planning"
    assert assess(rules, mortgaged=[True]).sub_route == "extend_start"


@pytest.mark.parametrize(
    "edit, pattern",
    [
        pytest.param(
            lambda t: t.replace("when: [capable, idle, planning_change]", "when: [capabel, idle]", 1),
            r"recommendation.rows” 第 12 行（continue/adjust_planning）的键 “when” 含未知条件 “capabel”",
            id="unknown_condition",
        ),
        pytest.param(
            lambda t: t.replace("{rule: R5, route: reclaim,", "{rule: R5, route: recover,"),
            r"第 17 行（recover/negotiated_reclaim）的键 “route” 的处置路径 “recover” 未知",
            id="unknown_route",
        ),
        pytest.param(
            lambda t: t.replace(', reason: "企业有能力继续开发：企业原因停工闲置，责令限期复工"}', "}"),
            r"第 16 行（continue/resume_works）的键 “reason” 缺失",
            id="missing_reason",
        ),
        pytest.param(
            lambda t: t.replace("{rule: R1, route: none, when: [out_of_stock_scope],", "{rule: R1, route: none,"),
            r"第 1 行（none/—）的键 “when” 缺失",
            id="missing_when",
        ),
        pytest.param(
            lambda t: t.replace(
                "sub_route: resume_works, when: [capable, halted_idle, enterprise_cause], reason",
                "sub_route: whole_transfer, when: [capable, halted_idle, enterprise_cause], reason",
            ),
            r"第 16 行（continue/whole_transfer）的键 “sub_route” 的具体方式 “whole_transfer” 不属于处置路径 continue",
            id="sub_route_of_another_route",
        ),
        pytest.param(
            lambda t: t.replace("{rule: R6, route: reclaim,", "{rule: R6, rout: reclaim, route: reclaim,"),
            r"第 18 行（reclaim/negotiated_reclaim）的键 “rout” 不是推荐路径表的键",
            id="unknown_key",
        ),
        pytest.param(
            lambda t: t.replace("{prospect}，协商收回", "{prospekt}，协商收回"),
            r"第 24 行（reclaim/negotiated_reclaim）的键 “reason” 含未知占位符 “{prospekt}”",
            id="unknown_placeholder",
        ),
        pytest.param(
            lambda t: t.replace(
                "{rule: R7, route: transfer, sub_route: whole_transfer",
                "{rule: R9, route: transfer, sub_route: whole_transfer",
            ),
            r"缺少键 “citations.R9”（推荐路径表第 19 行使用）",
            id="rule_without_citation",
        ),
        pytest.param(
            lambda t: t.replace("{when: [route=reclaim],", "{when: [route=recover],"),
            r"“measures” 第 9 行.*的检验 “route=recover” 含未知取值",
            id="measure_unknown_value",
        ),
        pytest.param(
            lambda t: t.replace(
                '{text: "市场前景{market_prospect}{prospect_assumed_note}"}',
                '{text: "市场前景{market_prospect}{prospect}"}',
            ),
            r"循环引用：prospect -> prospect",
            id="text_cycle",
        ),
        pytest.param(
            lambda t: t.replace("  - land_swap: reclaim\n", "  - land_swap: recover\n"),
            r"“sub_routes”的键 “land_swap” 的处置路径 “recover” 未知",
            id="sub_routes_unknown_route",
        ),
    ],
)
def test_invalid_table_is_refused_naming_row_and_key(tmp_path, edit, pattern):
    text = edit(DEFAULT)
    assert text != DEFAULT
    with pytest.raises(RuleFileError, match=pattern):
        rule_file(tmp_path, text)


def test_a_table_with_no_row_for_a_parcel_is_refused(tmp_path):
    """Rows 3-24 all need a known capability; without the review row an unknown enterprise fits no row."""
    text = DEFAULT.replace(
        '    - {rule: R2, route: review, when: [needs_review], reason: "需人工研判：{review_issues}"}\n', ""
    )
    rules = rule_file(tmp_path, text)
    with pytest.raises(RuleFileError, match="推荐路径表对宗地 P1 等没有适用的行"):
        classify_idle_land(pd.DataFrame(PLANNING), enterprises=None, as_of=AS_OF, rules=rules)


# --- the machinery on its own ---------------------------------------------------------------------------
def test_first_and_collect_on_a_tiny_table():
    masks = {"a": np.array([True, False, False]), "b": np.array([True, True, False])}
    ev = Evaluator(3, masks.__getitem__, lambda name, ix: np.array([f"<{name}{i}>" for i in ix], dtype=object))
    rows = [
        TextRow((Clause("a"),), Template("A{x}", ((False, "A"), (True, "x")))),
        TextRow((Clause("b"),), Template("B", ((False, "B"),))),
        TextRow((Clause("a", negate=True),), Template("notA", ((False, "notA"),))),
    ]
    assert first_match(list(masks.values())).tolist() == [0, 1, -1]
    assert ev.render_first(rows, np.arange(3)).tolist() == ["A<x0>", "B", "notA"]
    assert join_texts(ev, rows, np.arange(3), "、").tolist() == ["A<x0>、B", "B、notA", "notA"]


def test_the_default_tables_name_only_known_conditions():
    """Every condition the default rule file names is documented (has a docstring) in gis.idle_conditions."""
    from gis.idle_conditions import CONDITIONS

    tables = idle_tables(load_idle_rules())
    rows = [
        *tables.recommendation,
        *tables.measures,
        *(r for t in tables.texts.values() for r in t.rows),
        *(r for slot in tables.reasons for r in slot.rows),
    ]
    used = {c.name for r in rows for c in r.when if not c.is_value_test}
    used |= {c.name for slot in tables.reasons for c in (slot.when or ())}
    assert len(used) > 40 and used <= set(CONDITIONS)
    assert all(CONDITIONS[name].__doc__ for name in used)


# --- the renewal status table (layers/rules/renewal.yaml status_order) ---------------------------------------------
RENEWAL = (RULES_DIR / "renewal.yaml").read_text(encoding="utf-8")


def _late_village():
    """A 整治提升 village at 10 % on 2025-06-30 and 20 % on 2025-12-31: 0.1 per 184 days, so it is projected to
    finish 0.8 * 184 / 0.1 = 1472 days later, 2030-01-11 — after the deadline 2027-12-31 and also more than
    6 months after it: both the late-by-margin row and the at-risk row fit it (docs/rules.md §7)."""
    import geopandas as gpd
    import shapely

    vil = gpd.GeoDataFrame(
        {"village_id": ["A"], "name": ["A村"], "mode": ["整治提升"], "households": [100]},
        geometry=[shapely.box(0, 0, 100, 100)],
        crs="EPSG:4549",
    )
    prog = pd.DataFrame(
        {
            "village_id": ["A", "A"],
            "report_date": ["2025-06-30", "2025-12-31"],
            "stage": ["works", "works"],
            "works_progress": [0.1, 0.2],
        }
    )
    return vil, prog


def _status(rules=None):
    from gis.renewal import village_status

    vil, prog = _late_village()
    return village_status(vil, prog, as_of=dt.date(2025, 12, 31), rules=rules).iloc[0]


def _renewal_rules(tmp_path, text):
    from gis.renewal import load_renewal_rules

    path = tmp_path / "renewal.yaml"
    path.write_text(text, encoding="utf-8")
    return load_renewal_rules(path)


def _status_line(text: str, condition: str) -> str:
    (line,) = [ln for ln in text.splitlines() if f"when: [has_rate, {condition}]" in ln]
    return line


def test_reordering_status_rows_changes_the_status(tmp_path):
    assert _status().status == "late"
    late, risk = _status_line(RENEWAL, "projected_beyond_margin"), _status_line(RENEWAL, "projected_after_deadline")
    swapped = RENEWAL.replace(late, "@@").replace(risk, late).replace("@@", risk)
    row = _status(_renewal_rules(tmp_path, swapped))
    assert row.status == "at_risk"
    assert row.notes[0].endswith("预计 2030-01-11 完成（期限 2027-12-31），晚于期限，判为滞后风险")


def test_a_status_note_wording_change_shows(tmp_path):
    old = "晚于期限超过{late_margin_months}个月，判为严重滞后"
    assert old in RENEWAL
    row = _status(
        _renewal_rules(tmp_path, RENEWAL.replace(old, "比期限晚 {late_margin_months} 个月以上，列为严重滞后"))
    )
    assert row.notes == [
        "按近期速度每月 1.7%（2025-06-30 至 2025-12-31），预计 2030-01-11 完成（期限 2027-12-31），"
        "比期限晚 6 个月以上，列为严重滞后"
    ]


@pytest.mark.parametrize(
    "edit, pattern",
    [
        pytest.param(
            lambda t: t.replace("when: [stalled]", "when: [stalle]"),
            r"“status_order” 第 5 行（late）的键 “when” 含未知条件 “stalle”",
            id="unknown_condition",
        ),
        pytest.param(
            lambda t: t.replace(
                "{status: on_track, when: [], citation:", "{status: on_track, when: [has_rate], citation:"
            ),
            r"“status_order” 第 11 行的键 “when” 最后一行应无条件",
            id="last_row_conditional",
        ),
        pytest.param(
            lambda t: t.replace(
                "{status: at_risk, when: [has_rate, projected_after_deadline]",
                "{status: risky, when: [has_rate, projected_after_deadline]",
            ),
            r"第 8 行（risky）的键 “status” 的状态 “risky” 未知",
            id="unknown_status",
        ),
        pytest.param(
            lambda t: t.replace("完成率 {stall_reference_percent}", "完成率 {stall_percent}"),
            r"第 5 行（late）的键 “note” 含未知占位符 “{stall_percent}”",
            id="unknown_placeholder",
        ),
    ],
)
def test_invalid_status_table_is_refused(tmp_path, edit, pattern):
    text = edit(RENEWAL)
    assert text != RENEWAL
    with pytest.raises(RuleFileError, match=pattern):
        _renewal_rules(tmp_path, text)
