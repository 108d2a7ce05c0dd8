"""The upper-level exports carry the disposal cases (issue 13, docs/disposal.md §6): the 处置台账 and 处置进度
sheets of ``landrenew export --format xlsx`` and the case fields of the GeoJSON (``--with-cases``).

Three cases are built by hand through the library on the small case store (tests/case_fixtures.py: parcel
``P-<sub_route>`` of 10,000 + 1,000·i m², the first six in town 330603001), with known dates; the expected
stage, deadline and days are worked out below from layers/rules/disposal.yaml, and the written files are read
back with openpyxl, python-calamine, json and pyogrio."""

from __future__ import annotations

import datetime as dt
import json

import openpyxl
import pyogrio
import pytest
from click.testing import CliRunner
from python_calamine import CalamineWorkbook

from gis.cases import open_case, record_event
from gis.export import export_geojson
from gis.ledger import write_ledger
from gis.store import GeoPackageStore
from tests import case_fixtures

AS_OF = dt.date(2026, 11, 20)
REASON = "=集体研究决定协商收回"  # formula-looking text: must arrive as text


def _event(store, case_id, event, day, who="wang", role="planner", **kw):
    record_event(store, case_id=case_id, event=event, event_date=day, recorded_by=who, role=role, today=AS_OF, **kw)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = GeoPackageStore(tmp_path_factory.mktemp("dexport") / "cases.gpkg")
    case_fixtures.fill(store)
    # 1. continue/extend_start as recommended, up to the supplementary agreement (new start 2026-11-30)
    c1 = open_case(
        store,
        parcel_id="P-extend_start",
        route="continue",
        sub_route="extend_start",
        opened_by="wang",
        role="planner",
        opened_at="2026-02-20T02:00:00Z",
    )["case_id"]
    _event(store, c1, "survey_notice", "2026-03-01", service_date="2026-03-03", doc_no="柯自然资调〔2026〕1号")
    _event(store, c1, "holder_response", "2026-03-20")
    _event(store, c1, "idle_determination", "2026-04-01", service_date="2026-04-03", doc_no="柯自然资认〔2026〕2号")
    _event(store, c1, "public_notice", "2026-04-10")
    _event(store, c1, "plan_drafted", "2026-04-20")
    _event(store, c1, "plan_approved", "2026-05-06", who="li", role="approver", doc_no="柯政〔2026〕8号")
    _event(
        store,
        c1,
        "supplementary_agreement",
        "2026-05-20",
        doc_no="柯自然资补〔2026〕3号",
        data={"new_start_date": "2026-11-30"},
    )
    # 2. recommended transfer/whole_transfer, adopted reclaim/negotiated_reclaim with a reason; survey notice only
    c2 = open_case(
        store,
        parcel_id="P-whole_transfer",
        route="reclaim",
        sub_route="negotiated_reclaim",
        opened_by="wang",
        role="planner",
        reason=REASON,
        opened_at="2026-09-30T02:00:00Z",
    )["case_id"]
    _event(store, c2, "survey_notice", "2026-10-01", service_date="2026-10-08", doc_no="柯自然资调〔2026〕9号")
    # 3. continue/on_schedule: drafted, approved, completed on 2026-09-15
    c3 = open_case(
        store,
        parcel_id="P-on_schedule",
        route="continue",
        sub_route="on_schedule",
        opened_by="wang",
        role="planner",
        opened_at="2026-05-25T02:00:00Z",
    )["case_id"]
    _event(store, c3, "plan_drafted", "2026-06-01")
    _event(store, c3, "plan_approved", "2026-06-10", who="li", role="approver")
    _event(store, c3, "completed", "2026-09-15")
    return store, {"P-extend_start": c1, "P-whole_transfer": c2, "P-on_schedule": c3}


# hand-worked, as of 2026-11-20 (rule file: new_start = field new_start_date + 0 days; holder_answer = service
# date + 30 days; amber within 15 days, the day itself amber, red from the day after)
EXPECTED = {
    "P-extend_start": {  # 11,000 m² = 1.1 公顷 = 16.5 亩
        "采用处置路径": "继续开发",
        "具体方式": "延长动工期限",
        "推荐路径（与采用不同时）": None,
        "处置阶段": "执行中",
        "最后事项": "签订补充协议",
        "最后事项日期": dt.date(2026, 5, 20),
        "下一步": "处置完成",
        "下一步期限": "补充协议约定动工期限",
        "期限日": dt.date(2026, 11, 30),
        "剩余天数（负数为逾期）": 10,  # 2026-11-30 - 2026-11-20
        "预警": "黄色预警（临期）",
        "方案批准人": "li",
        "方案批准日期": dt.date(2026, 5, 6),
        "文书（文号、日期）": "下达调查通知书 柯自然资调〔2026〕1号（2026-03-01，送达 2026-03-03）\n"
        "下达闲置土地认定书 柯自然资认〔2026〕2号（2026-04-01，送达 2026-04-03）\n"
        "处置方案批准 柯政〔2026〕8号（2026-05-06）\n"
        "签订补充协议 柯自然资补〔2026〕3号（2026-05-20）",
        "处置完成日期": None,
        "面积(公顷)": 1.1,
        "面积(亩)": 16.5,
        "已处置面积(公顷)": None,
    },
    "P-whole_transfer": {  # 15,000 m²; served 2026-10-08 + 30 = 2026-11-07, 13 days overdue
        "采用处置路径": "收回收购",
        "具体方式": "协商收回",
        "推荐路径（与采用不同时）": "市场流通转让/整体转让",
        "采用理由": REASON,
        "处置阶段": "已立案",
        "下一步": "使用权人说明",
        "下一步期限": "使用权人说明期限",
        "期限日": dt.date(2026, 11, 7),
        "剩余天数（负数为逾期）": -13,
        "预警": "红色预警（逾期）",
        "方案批准人": None,
        "面积(公顷)": 1.5,
        "面积(亩)": 22.5,
    },
    "P-on_schedule": {  # 10,000 m² = 1 公顷 = 15 亩, disposed
        "处置阶段": "处置完成",
        "下一步": None,
        "期限日": None,
        "剩余天数（负数为逾期）": None,
        "方案批准人": "li",
        "方案批准日期": dt.date(2026, 6, 10),
        "处置完成日期": dt.date(2026, 9, 15),
        "已处置面积(公顷)": 1.0,
        "已处置面积(亩)": 15.0,
    },
}


def _day(v):
    return v.date() if isinstance(v, dt.datetime) else v


@pytest.fixture(scope="module")
def workbook(store, tmp_path_factory):
    s, _ = store
    return write_ledger(s, tmp_path_factory.mktemp("xlsx") / "台账.xlsx", disposal_as_of=AS_OF)


def _sheet_rows(ws):
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    return rows[0][0], rows[1], rows[2:]


def test_disposal_ledger_sheet_holds_the_hand_worked_rows(store, workbook):
    _, ids = store
    wb = openpyxl.load_workbook(workbook)
    assert wb.sheetnames.index("处置台账") < wb.sheetnames.index("处置进度")
    title, header, rows = _sheet_rows(wb["处置台账"])
    assert title.startswith("柯桥区闲置土地处置台账（一地一策案件）（基准日 2026-11-20，12 行）")
    assert header[:5] == ["宗地编号", "镇街代码", "镇街名称", "案件编号", "采用处置路径"]
    by_id = {r[0]: dict(zip(header, r)) for r in rows}
    assert len(rows) == 12 and "P-none" not in by_id  # every identified parcel, not the one out of scope
    for pid, expected in EXPECTED.items():
        got = {k: _day(v) for k, v in by_id[pid].items()}
        assert got["案件编号"] == ids[pid]
        for k, v in expected.items():
            assert got[k] == pytest.approx(v) if isinstance(v, float) else got[k] == v, (pid, k, got[k], v)
    nocase = by_id["P-adjust_planning"]
    assert (nocase["处置阶段"], nocase["预警"], nocase["下一步"]) == ("未立案", "未立案", "下达调查通知书")
    # formula-looking text is a text cell (type s), never a formula
    ws = wb["处置台账"]
    col = header.index("采用理由") + 1
    cell = next(ws.cell(row=i + 3, column=col) for i, r in enumerate(rows) if r[0] == "P-whole_transfer")
    assert cell.data_type == "s" and cell.value == REASON
    # dates are dates (yyyy-mm-dd), not text
    due = next(
        ws.cell(row=i + 3, column=header.index("期限日") + 1) for i, r in enumerate(rows) if r[0] == "P-extend_start"
    )
    assert due.is_date and due.number_format == "yyyy-mm-dd"


def test_disposal_sheets_read_the_same_with_calamine(workbook):
    wb = CalamineWorkbook.from_path(str(workbook))
    rows = wb.get_sheet_by_name("处置台账").to_python()
    header = rows[1]
    by_id = {r[0]: dict(zip(header, r)) for r in rows[2:]}
    row = by_id["P-extend_start"]
    assert row["剩余天数（负数为逾期）"] == 10 and row["期限日"] == dt.date(2026, 11, 30)
    assert row["处置阶段"] == "执行中" and row["下一步"] == "处置完成"
    assert by_id["P-whole_transfer"]["采用理由"] == REASON
    assert by_id["P-whole_transfer"]["剩余天数（负数为逾期）"] == -13


def test_disposal_progress_sheet_rates_per_town_and_district(workbook):
    _, header, rows = _sheet_rows(openpyxl.load_workbook(workbook)["处置进度"])
    got = {r[0]: dict(zip(header, r)) for r in rows}
    assert list(got) == ["330603001", "330603002", "合计"]
    town = got["330603001"]  # six identified: 1.0+1.1+1.2+1.3+1.4+1.5 = 7.5 公顷
    assert (town["镇街名称"], town["已认定(宗)"], town["已认定(公顷)"]) == ("柯桥街道", 6, pytest.approx(7.5))
    assert (town["已立案(宗)"], town["已立案(公顷)"]) == (3, pytest.approx(1.0 + 1.1 + 1.5))
    assert (town["方案已批准(宗)"], town["执行中(宗)"], town["处置完成(宗)"]) == (2, 1, 1)
    assert town["处置率(宗数)"] == pytest.approx(1 / 6) and town["处置率(面积)"] == pytest.approx(1.0 / 7.5)
    assert town["本年完成(宗)"] == 1 and town["近期月均完成(宗)"] == pytest.approx(1 / 6)  # one in 6 months
    district = got["合计"]  # twelve identified, 7.5 + 11.1 = 18.6 公顷
    assert (district["镇街名称"], district["已认定(宗)"], district["已认定(公顷)"]) == ("全区", 12, pytest.approx(18.6))
    assert district["处置率(宗数)"] == pytest.approx(1 / 12) and district["处置率(面积)"] == pytest.approx(1 / 18.6)
    # 11 parcels left at 1/6 a month: 66 months, after the 2027-12-31 target
    assert _day(district["目标日期"]) == dt.date(2027, 12, 31) and district["能否按期完成"] == "否"
    assert _day(district["预计全部完成日期"]) > dt.date(2032, 1, 1)
    assert got["330603002"]["处置完成(宗)"] == 0 and got["330603002"]["能否按期完成"] == "否"


def test_geojson_with_cases_carries_the_stage_fields(store, tmp_path):
    s, ids = store
    (path,) = export_geojson(s, tmp_path / "ia.geojson", layers=["idle_assessment"], with_cases=True, as_of=AS_OF)
    features = {f["properties"]["parcel_id"]: f["properties"] for f in json.loads(path.read_text("utf-8"))["features"]}
    p = features["P-extend_start"]
    assert (p["case_id"], p["disposal_stage"], p["disposal_stage_label"]) == (
        ids["P-extend_start"],
        "executing",
        "执行中",
    )
    assert (p["next_step"], p["due_date"], p["days_left"], p["warning_level"]) == (
        "处置完成",
        "2026-11-30",
        10,
        "amber",
    )
    assert (features["P-whole_transfer"]["days_left"], features["P-whole_transfer"]["warning_level"]) == (-13, "red")
    assert features["P-adjust_planning"]["disposal_stage"] == "none"
    assert features["P-none"]["disposal_stage"] is None and features["P-none"]["case_id"] is None
    frame = pyogrio.read_dataframe(path)
    assert set(frame.loc[frame["parcel_id"] == "P-on_schedule", "disposal_stage"]) == {"completed"}
    # without the flag the features carry no case fields
    (plain,) = export_geojson(s, tmp_path / "plain.geojson", layers=["idle_assessment"])
    assert "disposal_stage" not in json.loads(plain.read_text("utf-8"))["features"][0]["properties"]


def test_cli_exports_with_cases_and_the_xlsx_sheets(store, tmp_path):
    from pipelines.cli import main

    s, _ = store
    run = CliRunner().invoke
    out = tmp_path / "zh.geojson"
    res = run(
        main,
        [
            "export",
            "--layer",
            "idle_assessment",
            "--labels",
            "zh",
            "--with-cases",
            "--as-of",
            "2026-11-20",
            "--out",
            str(out),
            "--store",
            str(s.path),
        ],
    )
    assert res.exit_code == 0, res.output
    props = {f["properties"]["宗地编号"]: f["properties"] for f in json.loads(out.read_text("utf-8"))["features"]}
    assert (
        props["P-whole_transfer"]["剩余天数（负数为逾期）"] == -13
        and props["P-whole_transfer"]["预警"] == "红色预警（逾期）"
    )
    xlsx = tmp_path / "台账.xlsx"
    res = run(main, ["export", "--format", "xlsx", "--as-of", "2026-11-20", "--out", str(xlsx), "--store", str(s.path)])
    assert res.exit_code == 0, res.output
    ws = openpyxl.load_workbook(xlsx)["处置台账"]
    assert "基准日 2026-11-20" in ws.cell(row=1, column=1).value
    res = run(main, ["export", "--format", "xlsx", "--as-of", "2026-13-01", "--out", str(xlsx), "--store", str(s.path)])
    assert res.exit_code != 0 and "不是日期" in res.output


def test_town_export_keeps_that_towns_disposal_rows(store, tmp_path):
    s, _ = store
    wb = openpyxl.load_workbook(write_ledger(s, tmp_path / "town.xlsx", town="330603002", disposal_as_of=AS_OF))
    _, header, rows = _sheet_rows(wb["处置台账"])
    assert len(rows) == 6 and {r[header.index("镇街代码")] for r in rows} == {"330603002"}
    assert {r[header.index("处置阶段")] for r in rows} == {"未立案"}  # the three cases are in the other town
    _, header, rows = _sheet_rows(wb["处置进度"])
    assert [r[0] for r in rows] == ["330603002"] and rows[0][header.index("已认定(宗)")] == 6
