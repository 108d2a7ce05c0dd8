"""The 一地一策 plan document: generated for a demo parcel of each route, read back with python-docx, converted to
PDF by LibreOffice and its text checked with poppler's pdftotext; the demo cases; the CLI."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import zipfile

import openpyxl
import pytest
from click.testing import CliRunner
from docx import Document

from gis.accounts import add_user
from gis.cases import case_table, read_cases, read_events
from gis.demo_cases import build_demo_cases
from gis.disposal_export import current_warnings
from gis.disposal_rules import default_disposal_rules
from gis.plan_doc import load_plan_data, write_plan, write_plans_zip
from gis.schema import get_layer
from gis.store import GeoPackageStore
from tests import case_fixtures

AS_OF = "2026-11-01"


@pytest.fixture(scope="module")
def demo_cases_store(demo_store_master, tmp_path_factory):
    folder = tmp_path_factory.mktemp("democases")
    shutil.copy2(demo_store_master, folder / demo_store_master.name)
    store = GeoPackageStore(folder / demo_store_master.name)
    made = build_demo_cases(store, AS_OF, max_cases=30)
    return store, made


def test_demo_cases_cover_every_stage_and_some_are_overdue(demo_cases_store):
    store, made = demo_cases_store
    table = case_table(read_cases(store), read_events(store))
    assert len(table) == len(made) == 30
    assert set(table["stage"]) == {"case_open", "approved", "executing", "completed", "closed"}
    assert set(table["route"]) == {"continue", "transfer", "reclaim"}
    w = current_warnings(store, AS_OF)
    assert {"red", "stale", "no_case"} <= set(w["level"])
    assert store.meta()["demo_cases"].startswith("synthetic:30:")
    assert build_demo_cases(store, AS_OF, max_cases=0).empty  # parcels with a case are not reopened


def _docx_text(path) -> str:
    doc = Document(str(path))
    parts = [p.text for p in doc.paragraphs]
    for t in doc.tables:
        for row in t.rows:
            parts.extend(c.text for c in row.cells)
    return "\n".join(parts)


@pytest.mark.slow
def test_plan_of_each_route_holds_the_facts_and_converts_to_pdf(demo_cases_store, tmp_path):
    store, _ = demo_cases_store
    table = case_table(read_cases(store), read_events(store))
    data = load_plan_data(store)
    ia = get_layer("idle_assessment")
    docs = {}
    for route in ("continue", "transfer", "reclaim"):
        case = table.loc[table["route"] == route].sort_values("n_events").iloc[-1]
        docs[route] = (case, write_plan(data, case["parcel_id"], tmp_path / f"{route}.docx"))
    if shutil.which("soffice") is None or shutil.which("pdftotext") is None:
        pytest.fail("LibreOffice (soffice) and poppler-utils (pdftotext) are needed: make system-deps")
    subprocess.run(
        [
            "soffice",
            "--headless",
            f"-env:UserInstallation=file://{tmp_path}/lo",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            *[str(p) for _, p in docs.values()],
        ],
        check=True,
        capture_output=True,
        timeout=240,
    )
    assessment = store.read_layer("idle_assessment").set_index("parcel_id")
    parcels = store.read_layer("parcels").set_index("parcel_id")
    for route, (case, path) in docs.items():
        pid = case["parcel_id"]
        text = _docx_text(path)
        a = assessment.loc[pid]
        assert pid in text and parcels.loc[pid, "holder"] in text
        assert ia.field("route").label_of(case["route"]) in text
        assert ia.field("sub_route").label_of(case["sub_route"]) in text
        for reason in a["reasons"]:
            assert reason["citation"] in text, reason
        for block in ("经办人", "审核人", "分管领导"):
            assert block in text
        assert "演示数据（合成）" in text  # the demo store is synthetic
        doc = Document(str(path))
        assert len(doc.inline_shapes) == 1  # the location map
        labels = default_disposal_rules().label
        events = read_events(store)
        for _, e in events[events["case_id"] == case["case_id"]].iterrows():
            assert labels(e["event"]) in text
        pdf = path.with_suffix(".pdf")
        out = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
        flat = out.replace(" ", "").replace("\n", "")
        for fact in (
            pid,
            "一地一策",
            "宗地基本情况",
            parcels.loc[pid, "holder"],
            ia.field("route").label_of(route),
            "分管领导",
            "位置图",
        ):
            assert fact.replace(" ", "") in flat, fact
        fonts = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout
        rows = fonts.splitlines()[2:]
        assert any("CJK" in r for r in rows), fonts  # Chinese set in a CJK face ...
        assert all(" yes " in r for r in rows), fonts  # ... and every font embedded


def test_plans_zip_of_a_town(demo_cases_store, tmp_path):
    store, _ = demo_cases_store
    cases = read_cases(store)
    town = cases["town_code"].value_counts().index[0]
    path, ids = write_plans_zip(store, tmp_path / "plans.zip", town_code=town)
    expected = sorted(cases.loc[cases["town_code"] == town, "parcel_id"])
    assert ids == expected
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == [f"{p}.docx" for p in expected]


# -- CLI ---------------------------------------------------------------------------------------------------------
@pytest.fixture
def cli_store(tmp_path):
    store = GeoPackageStore(tmp_path / "cli.gpkg")
    case_fixtures.fill(store)
    add_user(store, "wang", "planner-pass-2026", role="planner")
    add_user(store, "zhao", "approver-pass-2026", role="approver")
    add_user(store, "li", "viewer-pass-2026", role="viewer")
    return store


def test_cli_case_open_event_show_list_plan_warnings(cli_store, tmp_path):
    from pipelines.cli import main

    run = CliRunner().invoke
    s = ["--store", str(cli_store.path)]
    res = run(
        main,
        [
            "case",
            "open",
            "P-continue_with_fee",
            "--route",
            "continue",
            "--sub-route",
            "continue_with_fee",
            "--user",
            "wang",
            *s,
        ],
    )
    assert res.exit_code == 0, res.output
    case_id = read_cases(cli_store)["case_id"].iloc[0]
    res = run(main, ["case", "event", case_id, "survey_notice", "--date", "2026-03-01", "--user", "li", *s])
    assert res.exit_code == 2 and "无权立案或登记处置事项" in res.output
    pdf = tmp_path / "通知书.pdf"
    pdf.write_bytes(b"%PDF-1.4 test")
    res = run(
        main,
        [
            "case",
            "event",
            case_id,
            "survey_notice",
            "--date",
            "2026-03-01",
            "--service-date",
            "2026-03-03",
            "--doc-no",
            "柯自然资调〔2026〕1号",
            "--attach",
            str(pdf),
            "--user",
            "wang",
            *s,
        ],
    )
    assert res.exit_code == 0, res.output
    assert "第 1 项：下达调查通知书" in res.output and "下一步可登记：holder_response（使用权人说明）" in res.output
    res = run(main, ["case", "event", case_id, "plan_drafted", "--date", "2026-03-05", "--user", "wang", *s])
    assert res.exit_code == 2 and "下一步应为：使用权人说明" in res.output
    for ev, day in (
        ("holder_response", "03-20"),
        ("idle_determination", "04-01"),
        ("public_notice", "04-10"),
        ("plan_drafted", "04-20"),
    ):
        res = run(main, ["case", "event", case_id, ev, "--date", f"2026-{day}", "--user", "zhao", *s])
        assert res.exit_code == 0, res.output
    res = run(main, ["case", "event", case_id, "plan_approved", "--date", "2026-04-21", "--user", "zhao", *s])
    assert res.exit_code == 2 and "不能由本人" in res.output
    res = run(main, ["case", "event", case_id, "fee_decision", "--date", "2026-04-21", "--user", "wang", *s])
    assert res.exit_code == 2
    res = run(main, ["case", "show", "P-continue_with_fee", *s])
    assert res.exit_code == 0 and "下达调查通知书" in res.output and "通知书.pdf" in res.output
    assert "plan_approved（处置方案批准）" in res.output
    res = run(main, ["case", "list", *s])
    assert res.exit_code == 0 and "P-continue_with_fee" in res.output and "共 1 件" in res.output
    res = run(main, ["plan", "P-continue_with_fee", "--out", str(tmp_path / "p.docx"), *s])
    assert res.exit_code == 0, res.output
    assert "P-continue_with_fee" in _docx_text(tmp_path / "p.docx")
    res = run(main, ["plans", "--town", case_fixtures.TOWNS[0], "--out", str(tmp_path / "p.zip"), *s])
    assert res.exit_code == 0 and "已生成 1 份" in res.output
    out = tmp_path / "w.xlsx"
    today = dt.date.today()  # the case was opened today (real time): as of an earlier day it does not exist yet
    res = run(main, ["warnings", "--as-of", today.isoformat(), "--out", str(out), *s])
    assert res.exit_code == 0, res.output
    ws = openpyxl.load_workbook(out)["预警清单"]
    assert ws.cell(row=1, column=1).value == f"闲置土地处置预警清单（基准日 {today}）"
    assert [c.value for c in ws[2]][:4] == ["预警等级", "宗地编号", "镇街代码", "案件编号"]
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=3)]
    # 11 identified parcels without a case; the case: answer given, no deadline running, last event 2026-04-20
    assert sorted(r[0] for r in rows) == ["停滞"] + ["未立案"] * 11
    stale = next(r for r in rows if r[0] == "停滞")
    assert stale[1] == "P-continue_with_fee" and stale[8] == (today - dt.date(2026, 4, 20)).days


def test_disposal_ledger_and_stage_fields_for_the_upper_level_exports(demo_cases_store):
    from gis.disposal_export import LEDGER_HEADERS, current_movements, disposal_ledger, stage_fields

    store, made = demo_cases_store
    ledger = disposal_ledger(store, AS_OF)
    assert list(ledger.columns) == list(LEDGER_HEADERS.values())
    table = case_table(read_cases(store), read_events(store))
    done = table.loc[table["stage"] == "completed"]
    rows = ledger.set_index("宗地编号").loc[done["parcel_id"]]
    assert (rows["处置阶段"] == "处置完成").all() and rows["处置完成日期"].notna().all()
    assert (ledger["处置阶段"] == "未立案").sum() == (ledger["预警"] == "未立案").sum()
    fields = stage_fields(store, AS_OF).set_index("parcel_id")
    assert fields.loc[done["parcel_id"], "disposal_stage"].eq("completed").all()
    mv = current_movements(store, AS_OF)
    assert mv["opened"].sum() == len(made) and mv["completed"].sum() == len(done)


def test_annual_report_carries_the_years_disposal_movements(demo_cases_store):
    from gis.report import report_html

    store, made = demo_cases_store
    html = report_html(store, year=2026)
    section = html[html.index("六、2026年闲置土地处置") :]
    section = section[: section.index("</section>")]
    opened_2026 = int((read_cases(store)["opened_at"].dt.tz_convert("Asia/Shanghai").dt.year == 2026).sum())
    assert f"本年立案<b>{opened_2026} 宗" in section and "各年度变动" in section
    assert f"已立案 {len(made)} 宗" in section
