"""End to end in headless Debian chromium (Playwright): a planner opens a case from the parcel detail and records
events up to a drafted plan; an approver approves it; the dashboard's disposal counts change; a viewer sees no
forms; the map's 预警 marks (coloured by level, with their tooltip) and the marks of parcels whose ledger changed
since the run the map shows.  The store is the small case store of ``tests/case_fixtures.py`` with three users."""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

import pytest

from gis.accounts import add_user
from gis.cases import case_events, open_case, read_cases, record_event
from gis.store import GeoPackageStore
from tests import case_fixtures
from tests.app_server import AppServer

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
USERS = {
    "planner": ("wang", "planner-pass-1"),
    "approver": ("zhao", "approver-pass-1"),
    "viewer": ("li", "viewer-pass-1"),
}
PID = "P-whole_transfer"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = GeoPackageStore(tmp_path_factory.mktemp("cases-e2e") / "app.gpkg")
    case_fixtures.fill(s)
    for role, (name, password) in USERS.items():
        add_user(s, name, password, role=role)
    return s


@pytest.fixture(scope="module")
def server(store, tmp_path_factory):
    with AppServer(store.path, log=tmp_path_factory.mktemp("cases-log") / "streamlit.log") as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _page(browser, server, role: str):
    ctx = browser.new_context(viewport={"width": 1500, "height": 1100}, locale="zh-CN")
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    page.goto(server.url)
    name, password = USERS[role]
    page.get_by_label("用户名").fill(name)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    box = page.get_by_label("宗地编号查询")
    box.fill(PID)
    box.press("Enter")
    page.get_by_role("heading", name=f"宗地 {PID}").wait_for()
    return ctx, page


def _metric(page, label: str) -> str:
    page.get_by_role("tab", name="统计看板").click()
    metric = page.locator("[data-testid='stMetric']").filter(has_text=label)
    metric.wait_for()
    value = metric.locator("[data-testid='stMetricValue']").inner_text().strip()
    page.get_by_role("tab", name="一张图").click()
    return value


def test_case_from_parcel_detail_to_approved_plan(browser, server, store):
    ctx, page = _page(browser, server, "planner")
    assert _metric(page, "已立案") == "0"
    page.locator("[data-testid='stForm']").filter(has_text="立案").get_by_role("button", name="立案").click()
    page.get_by_text("已立案").first.wait_for()
    case_id = read_cases(store)["case_id"].iloc[0]
    labels = ["下达调查通知书", "使用权人说明", "下达闲置土地认定书", "信息公开", "拟定处置方案"]
    for n, label in enumerate(labels, start=1):
        form = page.locator("[data-testid='stForm']").filter(has_text="登记下一事项")
        form.wait_for()  # the next allowed event is the form's default choice
        form.get_by_role("button", name="保存").click()
        page.get_by_text(f"已登记 {case_id} 第 {n} 项：{label}").wait_for()
    assert case_events(store, case_id)["event"].tolist()[-1] == "plan_drafted"
    page.get_by_text("处置方案待分管领导（审批角色）审批。").wait_for()  # a planner cannot approve
    assert _metric(page, "已立案") == "1" and _metric(page, "方案已批准") == "0"
    ctx.close()

    ctx, page = _page(browser, server, "approver")
    form = page.locator("[data-testid='stForm']").filter(has_text="审批处置方案")
    form.wait_for()
    form.get_by_role("button", name="保存").click()
    page.get_by_text(f"已登记 {case_id} 第 6 项：处置方案批准").wait_for()
    assert case_events(store, case_id)[["event", "recorded_by"]].values.tolist()[-1] == ["plan_approved", "zhao"]
    assert _metric(page, "方案已批准") == "1"
    ctx.close()

    ctx, page = _page(browser, server, "viewer")
    page.get_by_text("当前为浏览角色，不能立案或登记处置事项。").wait_for()
    assert page.locator("[data-testid='stForm']").filter(has_text="登记下一事项").count() == 0
    assert page.get_by_role("button", name="保存").count() == 0
    page.get_by_text("处置方案批准").first.wait_for()  # the timeline is shown
    ctx.close()


MAP_IFRAME = "iframe[title='streamlit_folium.st_folium']"
MARKS = (
    "(kind) => Object.values(window.map._layers).filter(l => l.landrenewMark && l.landrenewMark.kind === kind)"
    ".map(l => [l.landrenewMark.props.parcel_id, l.landrenewMark.props.level || null, l.options.fillColor])"
)


def _map_frame(page):
    page.locator(MAP_IFRAME).wait_for()
    for _ in range(300):
        frame = next((f for f in page.frames if "streamlit_folium" in f.url and not f.is_detached()), None)
        try:
            if frame is not None and frame.evaluate("() => !!(window.map && window.map._loaded)"):
                return frame
        except Exception:  # the iframe is being replaced
            pass
        time.sleep(0.1)
    raise AssertionError("the map never loaded")


def _marks(page, kind: str, expected: int) -> list:
    got: list = []
    for _ in range(150):
        try:
            got = sorted(_map_frame(page).evaluate(MARKS, kind))
        except Exception:
            got = []
        if len(got) == expected:
            return got
        time.sleep(0.2)
    raise AssertionError(f"expected {expected} {kind} marks on the map, got {got}")


def _hover(page, latlng) -> str:
    """Move the mouse onto a point of the map (zoomed onto it) and return the tooltip's text."""
    frame = _map_frame(page)
    frame.evaluate("(ll) => { window.map.setView(ll, 16, {animate: false}); }", list(latlng))
    page.wait_for_timeout(400)
    xy = frame.evaluate("(ll) => { const p = window.map.latLngToContainerPoint(ll); return [p.x, p.y]; }", list(latlng))
    box = page.locator(MAP_IFRAME).bounding_box()
    for d in (3, 1):  # two moves: the canvas fires mouseover on a move inside the mark
        page.mouse.move(box["x"] + xy[0] + d, box["y"] + xy[1] + d)
    tip = frame.locator(".leaflet-tooltip")
    tip.wait_for()
    return tip.inner_text()


def test_warning_marks_and_changed_parcels_on_the_map(browser, server, store):
    """Two cases with a survey notice served 40 and 20 days ago: the holder's 30-day answer is 10 days overdue (red)
    and due in 10 days (amber, within the rule file's 15); each identified parcel without a case is 未立案."""
    from gis.batches import write_batch
    from gis.disposal_export import current_warnings
    from gis.disposal_warnings import parcel_warning_level
    from gis.idle import load_idle_rules
    from gis.map_marks import mark_style
    from gis.runs import keep_run
    from gis.store.history_schema import HistoryWrite, utc_now

    today = dt.date.today()
    for pid, sub, served in (
        ("P-negotiated_reclaim", "negotiated_reclaim", 40),
        ("P-extend_start", "extend_start", 20),
    ):
        route = "reclaim" if sub == "negotiated_reclaim" else "continue"
        case = open_case(
            store,
            parcel_id=pid,
            route=route,
            sub_route=sub,
            opened_by="wang",
            role="planner",
            opened_at=today - dt.timedelta(days=served + 5),
        )
        record_event(
            store,
            case_id=case["case_id"],
            event="survey_notice",
            event_date=today - dt.timedelta(days=served + 2),
            service_date=today - dt.timedelta(days=served),
            recorded_by="wang",
            role="planner",
            today=today,
        )
    worst = parcel_warning_level(current_warnings(store, today))
    assert worst["P-negotiated_reclaim"] == "red" and worst["P-extend_start"] == "amber"
    assert "P-none" not in worst.index  # not identified: no warning
    colors = mark_style("warnings")["colors"]

    ctx, page = _page(browser, server, "planner")
    assert _map_frame(page).evaluate(MARKS, "warnings") == []  # off until ticked
    page.locator("[data-testid='stSidebar']").get_by_text("处置预警", exact=True).click()
    shown = _marks(page, "warnings", len(worst))
    assert shown == sorted([pid, lv, colors[lv]] for pid, lv in worst.items())
    points = store.read_layer("parcels").set_index("parcel_id").geometry.to_crs("EPSG:4326").representative_point()
    tip = _hover(page, (points["P-negotiated_reclaim"].y, points["P-negotiated_reclaim"].x))
    for text in (
        "P-negotiated_reclaim",
        "红色预警（逾期）",
        "已立案",
        "逾期 10 天",
        (today - dt.timedelta(days=10)).isoformat(),
    ):
        assert text in tip, (text, tip)
    page.screenshot(path=str(Path(tempfile.gettempdir()) / "landrenew-warnings.png"))
    ctx.close()

    # a kept run, then a town's ledger changes one holder: the map marks exactly that parcel
    tx = HistoryWrite()
    keep_run(
        store,
        tx,
        run_id="A-e2e",
        kind="assess",
        as_of=today,
        known_at=utc_now(),
        rules=load_idle_rules(),
        outputs={"idle_assessment": store.read_layer("idle_assessment")},
        what_if=False,
        user="e2e",
        label=None,
    )
    store.write_history(tx)
    row = store.read_layer("parcels", where={"parcel_id": "P-none"})
    row["holder"] = "台账更正有限公司"
    write_batch(store, {"parcels": row}, mode="upsert")
    ctx, page = _page(browser, server, "viewer")
    page.get_by_text("自本次研判以来有 1 宗地块台账已变更，建议重新研判").wait_for()
    [(pid, _, _)] = _marks(page, "changed", 1)
    assert pid == "P-none"
    ctx.close()
