"""End to end: the Streamlit app on the demo store in headless Debian chromium (Playwright).

One app server per module, started on a copy of the session's demo store (``conftest.demo_store_master``:
1,500 synthetic parcels through the real pipeline) in which one parcel's holder and one village's name
are ``<img src=x onerror=alert(1)>`` (``tests/app_server.py:demo_app_store``).  The parcels the tests
click, search and decide are picked from the store's data, and every figure the page shows is compared
with the same figure computed from the store.  Each test opens a fresh browser context (a new
session); every request of every page and iframe is recorded and the last test checks that none
left localhost.  Screenshots go to ``docs/screenshots/`` (they are shown in the README).
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest

from gis.decisions import decision_history, record_decision, sub_routes_of
from gis.schema import get_layer
from tests.app_server import USERS, XSS_HOLDER, AppServer, demo_app_store

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
SHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
MAP_IFRAME = "iframe[title='streamlit_folium.st_folium']"
TALL = {"width": 1500, "height": 2100}
ROUTE = get_layer("idle_assessment").field("route")
SUB_ROUTE = get_layer("idle_assessment").field("sub_route")
STATUS = get_layer("village_status").field("status")
REQUESTS: list[str] = []
DIALOGS: list[str] = []


# ---------------------------------------------------------------------------------------- fixtures
class Demo:
    """The app's store and the parcels the tests use, all picked from the store's data."""

    def __init__(self, store, xss: dict[str, str]):
        self.store = store
        self.xss_parcel, self.xss_village = xss["parcel"], xss["village"]
        a = store.read_layer("idle_assessment")
        self.assessment = a.merge(
            pd.DataFrame(store.read_layer("parcels")[["parcel_id", "holder", "area_m2"]]), on="parcel_id", how="left"
        )
        self.towns = store.read_layer("towns")
        self.villages = store.read_layer("village_status")
        transfer = a.loc[a["route"] == "transfer", "parcel_id"].tolist()
        self.reasons_parcel = transfer[0]  # clicked on the map: its reasons are shown
        self.decide_parcel = transfer[1]  # a planner decides it
        self.stale_parcel = transfer[2]  # two planners race on it
        self.viewer_parcel = transfer[3]  # a viewer opens it
        points = store.read_layer("parcels").set_index("parcel_id").geometry.to_crs("EPSG:4326").representative_point()
        self.points = {pid: (pt.y, pt.x) for pid, pt in points.items()}  # (lat, lng) inside each parcel

    def row(self, pid: str) -> pd.Series:
        return self.assessment.loc[self.assessment["parcel_id"] == pid].iloc[0]


@pytest.fixture(scope="module")
def demo(demo_store_master, tmp_path_factory):
    folder = tmp_path_factory.mktemp("app")
    store, xss = demo_app_store(demo_store_master, folder / "store")
    return Demo(store, xss)


@pytest.fixture(scope="module")
def server(demo, tmp_path_factory):
    log = tmp_path_factory.mktemp("app-log") / "streamlit.log"
    with AppServer(demo.store.path, log=log) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def new_page(browser, server):
    contexts = []

    def make():
        ctx = browser.new_context(viewport={"width": 1500, "height": 1100}, locale="zh-CN")
        ctx.on("request", lambda r: REQUESTS.append(r.url))  # the pages and all their iframes
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(30_000)
        page.on("dialog", lambda d: (DIALOGS.append(d.message), d.dismiss()))
        page.goto(server.url)
        return page

    yield make
    for ctx in contexts:
        ctx.close()


# ----------------------------------------------------------------------------------------- helpers
def login(page, role: str) -> None:
    name, password = USERS[role]
    page.get_by_label("用户名").fill(name)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.locator(MAP_IFRAME).wait_for()


#: The map is ready for a user when it exists and is not animating.  ``map._loaded`` alone is not enough:
#: folium creates the map at its start zoom, then ``fitBounds`` zooms to the store's extent with a ~250 ms
#: animation; during it Leaflet ignores ``setView`` (``_tryAnimatedZoom`` returns early) and the canvas
#: still hit-tests the paths projected at the old zoom, so a click computed then lands elsewhere (on the
#: layer control or on nothing).  That was the "first map click does nothing" flake: a click right after
#: the map appeared — more likely after the admin's rewrite, when the first page run is slower.
MAP_IDLE = (
    "() => !!(window.map && window.map._loaded && !window.map._animatingZoom"
    " && !(window.map._panAnim && window.map._panAnim._inProgress))"
)


def map_frame(page):
    """The streamlit-folium iframe once its Leaflet map exists and has finished its first fit."""
    for _ in range(300):
        frame = next((f for f in page.frames if "streamlit_folium" in f.url and not f.is_detached()), None)
        if frame is not None:
            try:
                if frame.evaluate(MAP_IDLE):
                    return frame
            except Exception:  # the iframe is being replaced
                pass
        time.sleep(0.1)
    raise AssertionError("the map never loaded")


def parcel_ids_on_map(page) -> list[str]:
    return sorted(
        map_frame(page).evaluate(
            "() => Object.values(window.map._layers).filter(l => l.feature && l.feature.properties.parcel_id)"
            ".map(l => l.feature.properties.parcel_id)"
        )
    )


def wait_parcels(page, expected: list[str]) -> list[str]:
    ids: list[str] = []
    for _ in range(100):
        try:
            ids = parcel_ids_on_map(page)
        except Exception:
            ids = []
        if ids == sorted(expected):
            return ids
        time.sleep(0.2)
    raise AssertionError(f"expected {len(expected)} parcels on the map, got {len(ids)}")


def click_parcel(page, demo: Demo, pid: str) -> None:
    """Zoom the map onto a point inside the parcel (at district zoom a parcel is ~2 px wide) and click
    that pixel with the mouse, as a planner would."""
    frame = map_frame(page)
    frame.evaluate("(ll) => { window.map.setView(ll, 17, {animate: false}); }", list(demo.points[pid]))
    page.wait_for_timeout(300)  # the canvas redraws on the next animation frame
    hit = frame.evaluate(
        """([ll, pid]) => {
        if (window.map.getZoom() !== 17) { return {xy: null, hits: ["zoom " + window.map.getZoom()]}; }
        const p = window.map.latLngToContainerPoint(ll);
        const hits = Object.values(window.map._layers).filter(l => l.feature && l._containsPoint
            && l._containsPoint(p)).map(l => l.feature.properties.parcel_id || l.feature.properties.village_id
            || l.feature.properties.project_id || l.feature.properties.town_code);
        const r = window.map.getContainer().getBoundingClientRect();
        return {xy: [p.x + r.left, p.y + r.top], hits: hits}; }""",
        [list(demo.points[pid]), pid],
    )
    assert pid in hit["hits"], f"{pid} is not under its own interior point: {hit['hits']}"
    box = page.locator(MAP_IFRAME).bounding_box()
    page.mouse.click(box["x"] + hit["xy"][0], box["y"] + hit["xy"][1])


def open_by_click(page, demo: Demo, pid: str) -> None:
    """One click on the map opens the parcel's detail (no retry: a lost click is a bug)."""
    click_parcel(page, demo, pid)
    try:
        page.get_by_role("heading", name=f"宗地 {pid}").wait_for(timeout=15_000)
    except Exception:
        shot = Path(tempfile.gettempdir()) / f"landrenew-failed-click-{pid}.png"
        page.screenshot(path=str(shot))
        raise AssertionError(f"clicking {pid} on the map did not open its detail (screenshot: {shot})") from None


def search_parcel(page, pid: str) -> None:
    box = page.get_by_label("宗地编号查询")
    box.fill(pid)
    box.press("Enter")
    page.get_by_role("heading", name=f"宗地 {pid}").wait_for()


def pick(page, label: str, option: str, *, scope=None) -> None:
    """Choose an option of a Streamlit selectbox/multiselect identified by its label."""
    widget = (
        (scope or page)
        .locator("[data-testid='stMultiSelect'], [data-testid='stSelectbox']")
        .filter(has=page.get_by_text(label, exact=True))
    )
    choice = page.get_by_role("option", name=option, exact=True)
    for _ in range(5):  # a rerun may redraw the widget while its list opens: open it again
        widget.locator("input").first.click()
        try:
            choice.wait_for(timeout=3000)
            break
        except Exception:
            page.keyboard.press("Escape")
    choice.click()
    page.keyboard.press("Escape")


def shown_summary(page) -> tuple[int, float, int]:
    """(parcels, hectares, villages) of the line above the map."""
    text = page.get_by_text(re.compile(r"地图显示 \d+ 宗地块")).inner_text()
    m = re.search(r"地图显示 (\d+) 宗地块（([\d,.]+) 公顷）、(\d+) 个城中村", text)
    assert m, text
    return int(m.group(1)), float(m.group(2).replace(",", "")), int(m.group(3))


def table_rows(table) -> list[list[str]]:
    """The cells (header cell first) of each body row of a ``st.table``."""
    return table.evaluate(
        "(el) => Array.from(el.querySelectorAll('tbody tr')).map("
        "tr => Array.from(tr.children).map(c => c.innerText.trim()))"
    )


def route_table(page, *, last: bool = False) -> dict[str, tuple[int, float]]:
    """A table of ``gis.dashboard.route_counts`` (the map's 按推荐处置路径统计, or with ``last`` the admin's
    result): {route label: (count, hectares)}."""
    tables = page.locator("[data-testid='stTable']").filter(has_text="面积(公顷)")
    rows = table_rows(tables.last if last else tables.first)
    return {r[-3]: (int(r[-2].replace(",", "")), float(r[-1].replace(",", ""))) for r in rows}


def assert_routes(shown: dict[str, tuple[int, float]], frame: pd.DataFrame) -> None:
    """The shown counts by route are those of ``frame`` (computed here from the store): every route of
    the registry, the exact count and the area in hectares to the table's 2 decimals."""
    assert list(shown) == [ROUTE.label_of(code) for code in ROUTE.values]
    for code in ROUTE.values:
        sel = frame[frame["route"] == code]
        count, hectares = shown[ROUTE.label_of(code)]
        assert count == len(sel), code
        assert hectares == pytest.approx(float(sel["area_m2"].sum()) / 10_000, abs=0.006), code


# ------------------------------------------------------------------------------------------- tests
def test_login_refuses_a_wrong_password_then_shows_the_map(new_page, demo):
    page = new_page()
    page.get_by_label("用户名").fill("planner")
    page.get_by_label("密码").fill("wrong-password")
    page.get_by_role("button", name="登录").click()
    page.get_by_text("用户名或密码错误").wait_for()
    assert page.locator(MAP_IFRAME).count() == 0
    login(page, "planner")
    everything = demo.assessment["parcel_id"].tolist()
    assert wait_parcels(page, everything) == sorted(everything)
    villages_on_map = map_frame(page).evaluate(
        "() => Object.values(window.map._layers).filter(l => l.feature && l.feature.properties.village_id).length"
    )
    assert villages_on_map == len(demo.villages)
    assert page.get_by_text("模拟数据").first.is_visible()
    n, ha, nv = shown_summary(page)
    assert (n, nv) == (len(demo.assessment), len(demo.villages))
    assert ha == pytest.approx(demo.assessment["area_m2"].sum() / 10_000, abs=0.051)
    assert_routes(route_table(page), demo.assessment)
    # README shot: one zoom level closer than the whole-district fit, so the route colours of the
    # parcels (a few pixels wide at district zoom) can be seen; most of the district stays in view.
    x0, y0, x1, y1 = demo.towns.total_bounds
    map_frame(page).evaluate(
        "(ll) => { window.map.setView(ll, window.map.getZoom() + 1, {animate: false}); }",
        [(y0 + y1) / 2, (x0 + x1) / 2],
    )
    page.wait_for_timeout(800)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "map.png"))


def test_a_filter_changes_the_map_and_the_counts(new_page, demo):
    page = new_page()
    login(page, "viewer")
    a = demo.assessment
    wait_parcels(page, a["parcel_id"].tolist())
    pick(page, "推荐处置路径", ROUTE.label_of("reclaim"))
    reclaim = a[a["route"] == "reclaim"]
    assert wait_parcels(page, reclaim["parcel_id"].tolist()) == sorted(reclaim["parcel_id"])
    page.get_by_text(f"地图显示 {len(reclaim)} 宗地块").wait_for()
    n, ha, nv = shown_summary(page)
    assert (n, nv) == (len(reclaim), len(demo.villages))  # the route filter leaves the villages alone
    assert ha == pytest.approx(reclaim["area_m2"].sum() / 10_000, abs=0.051)
    assert_routes(route_table(page), reclaim)

    town = reclaim["town_code"].value_counts().index[0]  # the town with the most reclaim parcels
    town_name = demo.towns.loc[demo.towns["town_code"] == town, "name"].iloc[0]
    pick(page, "镇街", town_name)
    both = reclaim[reclaim["town_code"] == town]
    villages = demo.villages[demo.villages["town_code"] == town]
    assert 0 < len(both) < len(reclaim)
    assert wait_parcels(page, both["parcel_id"].tolist()) == sorted(both["parcel_id"])
    page.get_by_text(f"地图显示 {len(both)} 宗地块").wait_for()
    assert shown_summary(page)[::2] == (len(both), len(villages))
    assert_routes(route_table(page), both)
    shown_villages = map_frame(page).evaluate(
        "() => Object.values(window.map._layers).filter(l => l.feature && l.feature.properties.village_id)"
        ".map(l => l.feature.properties.village_id).sort()"
    )
    assert shown_villages == sorted(villages["village_id"])


def test_clicking_a_parcel_on_the_map_shows_its_reasons(new_page, demo):
    pid = demo.reasons_parcel
    row = demo.row(pid)
    page = new_page()
    login(page, "planner")
    wait_parcels(page, demo.assessment["parcel_id"].tolist())
    open_by_click(page, demo, pid)
    page.get_by_text("研判依据").wait_for()
    recommended = f"{ROUTE.label_of(row['route'])}／{SUB_ROUTE.label_of(row['sub_route'])}"
    assert page.get_by_role("cell", name=recommended, exact=True).is_visible()
    reasons = page.locator("[data-testid='stTable']").filter(has_text="出处")
    shown = [(r[0], r[1], r[2]) for r in table_rows(reasons)]
    assert shown == [(r["rule_id"], r["text"], r["citation"]) for r in row["reasons"]]
    page.get_by_text("遥感指数变化").wait_for()
    page.locator("[data-testid='stVegaLiteChart'] .marks >> visible=true").first.wait_for()
    page.set_viewport_size(TALL)  # Streamlit scrolls inside the page: a taller window shows all of the detail
    page.wait_for_timeout(1000)
    page.screenshot(path=str(SHOTS / "parcel.png"))


def test_the_parcel_search_shows_the_same_detail(new_page, demo):
    pid = demo.reasons_parcel
    page = new_page()
    login(page, "viewer")
    search_parcel(page, pid)
    rule_ids = [r[0] for r in table_rows(page.locator("[data-testid='stTable']").filter(has_text="出处"))]
    assert rule_ids == [r["rule_id"] for r in demo.row(pid)["reasons"]]


def test_a_planners_decision_persists_across_a_reload_and_shows_in_the_history(new_page, demo):
    pid = demo.decide_parcel
    route, sub = "reclaim", sub_routes_of("reclaim")[0]
    label = f"{ROUTE.label_of(route)}／{SUB_ROUTE.label_of(sub)}"
    note = f"e2e：{pid} 企业同意协商收回"
    page = new_page()
    login(page, "planner")
    search_parcel(page, pid)
    page.get_by_text("尚无审定记录").wait_for()
    form = page.locator("[data-testid='stForm']").filter(has_text="记录审定结果")
    pick(page, "审定路径", ROUTE.label_of(route), scope=form)
    pick(page, "具体方式", label, scope=form)
    form.get_by_label("说明").fill(note)
    form.get_by_role("button", name="保存审定").click()
    page.get_by_text(f"已保存宗地 {pid} 的审定结果：{ROUTE.label_of(route)}").wait_for()

    stored = decision_history(demo.store, pid)
    assert stored[["route", "sub_route", "note", "decided_by"]].values.tolist() == [[route, sub, note, "planner"]]

    page.reload()
    login(page, "planner")
    search_parcel(page, pid)
    history = page.locator("[data-testid='stTable']").filter(has_text=note)
    history.wait_for()
    rows = table_rows(history)
    assert len(rows) == 1
    assert rows[0][1:] == ["planner", ROUTE.label_of(route), SUB_ROUTE.label_of(sub), note]
    page.get_by_text(f"{label}（审定人 planner）").wait_for()


def test_a_stale_decision_is_refused_with_the_conflict_message(new_page, demo):
    pid = demo.stale_parcel
    first, second = new_page(), new_page()
    for page in (first, second):
        login(page, "planner")
        search_parcel(page, pid)
    second.locator("[data-testid='stForm']").get_by_role("button", name="保存审定").click()
    second.get_by_text(f"已保存宗地 {pid}").wait_for()
    first.locator("[data-testid='stForm']").get_by_role("button", name="保存审定").click()
    first.get_by_text(re.compile(f"宗地 {pid} 的研判或审定已被更新.*本次保存未生效")).wait_for()
    assert len(decision_history(demo.store, pid)) == 1  # the stale save left nothing behind


def test_a_viewer_sees_no_decision_form(new_page, demo):
    # The server side (record_decision refuses a viewer even with a forged request) is unit-tested in
    # tests/test_auth_decisions.py; the page never builds the form for a viewer, so no widget exists to forge.
    page = new_page()
    login(page, "viewer")
    search_parcel(page, demo.viewer_parcel)
    page.get_by_text("当前为浏览角色，不能审定。").wait_for()
    forms = page.locator("[data-testid='stForm']")  # the side bar's own 修改密码 form aside
    assert forms.count() == page.locator("[data-testid='stSidebar'] [data-testid='stForm']").count() == 1
    assert page.get_by_role("button", name="保存审定").count() == 0
    assert page.get_by_role("tab", name="数据管理").count() == 0
    assert decision_history(demo.store, demo.viewer_parcel).empty


def test_the_history_expander_shows_every_version_and_the_decisions_basis(new_page, demo):
    """A parcel the demo's monthly batches changed: the 变更历史 expander lists each version (valid from/to, the
    change, batch, recorded time, field old -> new) and each decision with the run and what that run said."""
    from gis.history import versions_of
    from gis.history_view import decision_items, version_items
    from gis.runs import current_run, read_run

    used = {demo.reasons_parcel, demo.decide_parcel, demo.stale_parcel, demo.viewer_parcel, demo.xss_parcel}
    counts = versions_of(demo.store, "parcels", geometry=False).groupby("parcel_id").size()
    run = read_run(demo.store, current_run(demo.store)).set_index("parcel_id")
    pid = next(
        p
        for p in counts.sort_values(ascending=False, kind="stable").index
        if p not in used and p in run.index and run.loc[p, "route"] != "none"
    )
    record_decision(
        demo.store,
        parcel_id=pid,
        route="review",
        sub_route=None,
        note="e2e：变更历史",
        decided_by="planner",
        role="planner",
        based_on_version=demo.store.current_version(pid),
    )
    versions, [decision] = version_items(demo.store, pid), decision_items(demo.store, pid)
    assert len(versions) >= 2 and any(v["lines"] for v in versions)
    page = new_page()
    login(page, "viewer")
    search_parcel(page, pid)
    expander = page.locator("[data-testid='stExpander']").filter(has_text="变更历史")
    expander.get_by_text("变更历史").click()
    tables = expander.locator("[data-testid='stTable']")
    tables.first.wait_for()
    # Streamlit's table renders the text as markdown, which typesets "->" as an arrow
    shown = [[c.replace(" → ", " -> ") for c in r] for r in table_rows(tables.nth(0))]
    assert shown == [
        [str(i), v["valid_from"], v["valid_to"], v["change"], v["batch_id"], v["recorded_at"], "；".join(v["lines"])]
        for i, v in enumerate(versions, 1)
    ]
    seen = run.loc[pid]
    recommended = ROUTE.label_of(seen["route"]) + (
        f"／{SUB_ROUTE.label_of(seen['sub_route'])}" if isinstance(seen["sub_route"], str) else ""
    )
    [row] = table_rows(tables.nth(1))
    assert row[:5] == [
        decision["decided_at"],
        "planner",
        ROUTE.label_of("review"),
        current_run(demo.store),
        recommended,
    ]
    assert row[6] == "；".join(decision["seen_reasons"])
    assert [r.split("（")[0] for r in decision["seen_reasons"]] == [r["text"].split("（")[0] for r in seen["reasons"]]


def test_the_xss_holder_and_village_name_render_as_text_and_run_nothing(new_page, demo):
    page = new_page()
    login(page, "planner")
    wait_parcels(page, demo.assessment["parcel_id"].tolist())
    open_by_click(page, demo, demo.xss_parcel)
    holder = page.locator("[data-testid='stTable'] tr").filter(has=page.get_by_text("受让人", exact=True))
    assert holder.locator("td").inner_text().strip() == XSS_HOLDER
    assert page.locator("img[src='x']").count() == 0
    frame = map_frame(page)
    tooltip = frame.evaluate(
        """(vid) => {
        for (const l of Object.values(window.map._layers)) {
            if (l.feature && l.feature.properties.village_id === vid) {
                const group = Object.values(window.map._layers).find(g => g.hasLayer && g.hasLayer(l));
                l.fire("mouseover", {latlng: l.getCenter()}, true);  // as a hover does
                const el = group.getTooltip().getElement();
                return [el.innerText, el.querySelectorAll('img').length];
            }
        } return null; }""",
        demo.xss_village,
    )
    assert tooltip is not None and XSS_HOLDER in tooltip[0] and tooltip[1] == 0
    assert frame.evaluate("() => document.querySelectorAll(\"img[src='x']\").length") == 0
    page.wait_for_timeout(500)
    assert DIALOGS == []


def test_admin_runs_the_assessment_with_a_progress_bar(new_page, demo):
    before = demo.store.meta()["assessed_at"]
    page = new_page()
    login(page, "admin")
    page.get_by_role("tab", name="数据管理").click()
    page.get_by_role("button", name="运行闲置土地研判").click()
    bar = page.locator("[data-testid='stProgress']")
    # "研判结果" alone also matches the bar's own step text "整理研判结果": wait for the bar's last step
    bar.get_by_text("研判完成").wait_for(timeout=90_000)
    page.get_by_text("研判结果", exact=True).first.wait_for(timeout=30_000)
    assert bar.count() == 1 and "研判完成" in bar.inner_text()
    assert bar.get_by_role("progressbar").get_attribute("aria-valuenow") == "100"
    assert demo.store.meta()["assessed_at"] >= before
    stored = demo.store.read_layer("idle_assessment").merge(
        pd.DataFrame(demo.store.read_layer("parcels")[["parcel_id", "area_m2"]]), on="parcel_id"
    )
    assert_routes(route_table(page, last=True), stored)


def test_dashboard_after_the_store_was_rewritten_and_no_request_leaves_localhost(new_page, demo):
    page = new_page()
    login(page, "planner")
    wait_parcels(page, demo.assessment["parcel_id"].tolist())
    open_by_click(page, demo, demo.reasons_parcel)  # the first map click after the admin's rewrite
    page.get_by_text("研判依据").wait_for()
    page.get_by_role("tab", name="统计看板").click()
    page.get_by_text("距 2027 年底期限").wait_for()
    page.get_by_text("各镇街宗地面积（按推荐处置路径；灰色为不纳入存量处置的宗地）").wait_for()
    metrics = dict(
        zip(
            page.locator("[data-testid='stMetricLabel']").all_inner_texts(),
            page.locator("[data-testid='stMetricValue']").all_inner_texts(),
        )
    )
    decided = demo.store.read_layer("decisions")["parcel_id"].nunique()
    ours = {"距 2027 年底期限", "闲置/研判宗地（当前筛选）", "城中村（当前筛选）", "已审定宗地"}
    assert {k: v for k, v in metrics.items() if k in ours} == {
        "距 2027 年底期限": "425 天",
        "闲置/研判宗地（当前筛选）": str(len(demo.assessment)),
        "城中村（当前筛选）": str(len(demo.villages)),
        "已审定宗地": str(decided),
    }
    from gis.store import cases_store  # the disposal section (app_cases.py) counts the store's cases

    assert metrics["已立案"] == str(cases_store.read_cases(demo.store)["parcel_id"].nunique())
    page.locator("[data-testid='stVegaLiteChart'] .marks >> visible=true").first.wait_for()
    page.set_viewport_size(TALL)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / "dashboard.png"))
    assert REQUESTS, "no request was recorded"
    outside = sorted(
        {
            u
            for u in REQUESTS
            if not (u.startswith(("data:", "blob:", "about:")) or urlparse(u).hostname in ("127.0.0.1", "localhost"))
        }
    )
    assert outside == []
    assert any("/app/static/leaflet/leaflet.js" in u for u in REQUESTS)
    assert DIALOGS == []
