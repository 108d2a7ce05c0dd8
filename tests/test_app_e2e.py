"""End to end: the Streamlit app in headless Debian chromium (Playwright, /usr/bin/chromium).

One app server per module on a small hand-made store (``tests/app_server.py``: 30 parcels, one
holder is ``<img src=x onerror=alert(1)>``); each test opens a fresh browser context (a new session).
Every request of every page and iframe is recorded; the last test checks none left localhost.
Screenshots go to ``docs/screenshots/``.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.app_server import USERS, XSS_HOLDER, XSS_PARCEL, AppServer, build_app_store

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
SHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
MAP_IFRAME = "iframe[title='streamlit_folium.st_folium']"
REQUESTS: list[str] = []
DIALOGS: list[str] = []


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("app")
    store = build_app_store(folder / "store")
    with AppServer(store.path, log=folder / "streamlit.log") as srv:
        srv.store = store
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
        ctx.on("request", lambda r: REQUESTS.append(r.url))  # pages and their iframes
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(30_000)
        page.on("dialog", lambda d: (DIALOGS.append(d.message), d.dismiss()))
        page.goto(server.url)
        return page

    yield make
    for ctx in contexts:
        ctx.close()


def login(page, role: str) -> None:
    name, password = USERS[role]
    page.get_by_label("用户名").fill(name)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.locator(MAP_IFRAME).wait_for()


def map_frame(page):
    """The streamlit-folium iframe once its Leaflet map exists."""
    for _ in range(150):
        frame = next((f for f in page.frames if "streamlit_folium" in f.url), None)
        if frame is not None:
            try:
                if frame.evaluate("() => !!(window.map && window.map._loaded)"):
                    return frame
            except Exception:  # the iframe is being replaced by a rerun
                pass
        time.sleep(0.1)
    raise AssertionError("the map never loaded")


def parcel_ids_on_map(page) -> list[str]:
    return sorted(map_frame(page).evaluate(
        "() => Object.values(window.map._layers).filter(l => l.feature && l.feature.properties.parcel_id)"
        ".map(l => l.feature.properties.parcel_id)"))


def wait_parcels(page, n: int) -> list[str]:
    for _ in range(100):
        try:
            ids = parcel_ids_on_map(page)
        except Exception:
            ids = []
        if len(ids) == n:
            return ids
        time.sleep(0.2)
    raise AssertionError(f"expected {n} parcels on the map, got {len(ids)}")


def click_parcel(page, parcel_id: str) -> None:
    """Click the canvas at the pixel of the parcel's centre (computed from the Leaflet map)."""
    frame = map_frame(page)
    xy = frame.evaluate("""(pid) => {
        for (const l of Object.values(window.map._layers)) {
            if (l.feature && l.feature.properties.parcel_id === pid) {
                const p = window.map.latLngToContainerPoint(l.getCenter());
                const r = window.map.getContainer().getBoundingClientRect();
                return [p.x + r.left, p.y + r.top];
            }
        }
        return null; }""", parcel_id)
    assert xy is not None, f"{parcel_id} not on the map"
    box = page.locator(MAP_IFRAME).bounding_box()
    page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])


def open_by_click(page, parcel_id: str) -> None:
    """Click the parcel on the map until its detail opens (a click during a rerun can be lost)."""
    heading = page.get_by_role("heading", name=f"宗地 {parcel_id}")
    for _ in range(3):
        click_parcel(page, parcel_id)
        try:
            heading.wait_for(timeout=8000)
            return
        except Exception:
            continue
    page.screenshot(path=str(SHOTS.parent / f"failed-click-{parcel_id}.png"), full_page=True)
    raise AssertionError(f"clicking {parcel_id} on the map did not open its detail")


def search_parcel(page, parcel_id: str) -> None:
    box = page.get_by_label("宗地编号查询")
    box.fill(parcel_id)
    box.press("Enter")
    page.get_by_role("heading", name=f"宗地 {parcel_id}").wait_for()


def pick(page, label: str, option: str, *, scope=None) -> None:
    """Choose an option of a Streamlit selectbox/multiselect identified by its label."""
    widget = (scope or page).locator("[data-testid='stMultiSelect'], [data-testid='stSelectbox']").filter(
        has=page.get_by_text(label, exact=True))
    choice = page.get_by_role("option", name=option, exact=True)
    for _ in range(5):  # a rerun may redraw the widget while its list opens: try again
        widget.locator("input").first.click()
        try:
            choice.wait_for(timeout=3000)
            break
        except Exception:
            page.keyboard.press("Escape")
    choice.click()
    page.keyboard.press("Escape")


def shown_count(page) -> int:
    text = page.get_by_text(re.compile(r"地图显示 \d+ 宗地块")).inner_text()
    return int(re.search(r"地图显示 (\d+) 宗地块", text).group(1))


# ------------------------------------------------------------------------------------------- tests
def test_login_refuses_a_wrong_password_then_shows_the_map(new_page):
    page = new_page()
    page.get_by_label("用户名").fill("planner")
    page.get_by_label("密码").fill("wrong-password")
    page.get_by_role("button", name="登录").click()
    page.get_by_text("用户名或密码错误").wait_for()
    assert page.locator(MAP_IFRAME).count() == 0
    login(page, "planner")
    assert len(wait_parcels(page, 30)) == 30
    assert page.get_by_text("模拟数据").first.is_visible()
    assert shown_count(page) == 30
    page.wait_for_timeout(500)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "map.png"))


def test_a_filter_changes_the_map_and_the_counts(new_page):
    page = new_page()
    login(page, "viewer")
    wait_parcels(page, 30)
    pick(page, "推荐处置路径", "收回收购")
    ids = wait_parcels(page, 6)
    assert ids == [f"KQ-{k:04d}" for k in range(0, 30, 5)]  # every 5th parcel is reclaim
    page.get_by_text("地图显示 6 宗地块").wait_for()
    assert shown_count(page) == 6
    counts = page.locator("[data-testid='stTable']").filter(has_text="按推荐处置路径").first
    assert counts.count() == 0 or "6" in counts.inner_text()


def test_clicking_a_parcel_shows_its_reasons(new_page):
    page = new_page()
    login(page, "planner")
    wait_parcels(page, 30)
    open_by_click(page, "KQ-0003")
    page.get_by_text("研判依据").wait_for()
    assert page.get_by_text("宗地 KQ-0003：超过约定动工日期满一年未动工").is_visible()
    assert page.get_by_text("闲置原因不明，需人工研判").is_visible()  # KQ-0003 -> review
    page.get_by_text("遥感指数变化").wait_for()
    page.wait_for_timeout(800)
    page.screenshot(path=str(SHOTS / "parcel.png"), full_page=True)


def test_a_planners_decision_persists_across_a_reload_and_shows_in_the_history(new_page):
    page = new_page()
    login(page, "planner")
    search_parcel(page, "KQ-0011")
    page.get_by_text("尚无审定记录").wait_for()
    form = page.locator("[data-testid='stForm']").filter(has_text="记录审定结果")
    pick(page, "审定路径", "收回收购", scope=form)
    pick(page, "具体方式", "收回收购／协商收回", scope=form)
    form.get_by_label("说明").fill("e2e：企业同意协商收回")
    form.get_by_role("button", name="保存审定").click()
    page.get_by_text("已保存宗地 KQ-0011 的审定结果：收回收购").wait_for()

    page.reload()
    login(page, "planner")
    search_parcel(page, "KQ-0011")
    history = page.locator("[data-testid='stTable']").filter(has_text="e2e：企业同意协商收回")
    history.wait_for()
    assert history.count() == 1
    assert "planner" in history.inner_text() and "协商收回" in history.inner_text()
    page.get_by_text("收回收购／协商收回（审定人 planner）").wait_for()


def test_a_stale_decision_is_refused_with_the_conflict_message(new_page):
    first, second = new_page(), new_page()
    for page in (first, second):
        login(page, "planner")
        search_parcel(page, "KQ-0012")
    second.locator("[data-testid='stForm']").get_by_role("button", name="保存审定").click()
    second.get_by_text("已保存宗地 KQ-0012").wait_for()
    first.locator("[data-testid='stForm']").get_by_role("button", name="保存审定").click()
    first.get_by_text(re.compile("宗地 KQ-0012 的研判或审定已被更新.*本次保存未生效")).wait_for()


def test_a_viewer_sees_no_decision_form(new_page):
    page = new_page()
    login(page, "viewer")
    search_parcel(page, "KQ-0013")
    page.get_by_text("当前为浏览角色，不能审定。").wait_for()
    assert page.get_by_role("button", name="保存审定").count() == 0
    assert page.get_by_text("数据管理").count() == 0


def test_the_xss_holder_renders_as_text_and_runs_nothing(new_page):
    page = new_page()
    login(page, "planner")
    wait_parcels(page, 30)
    open_by_click(page, XSS_PARCEL)
    cell = page.get_by_text(XSS_HOLDER, exact=True)
    assert cell.count() == 1 and cell.is_visible()
    assert page.locator("img[src='x']").count() == 0
    frame = map_frame(page)
    tooltip = frame.evaluate("""(vid) => {
        for (const l of Object.values(window.map._layers)) {
            if (l.feature && l.feature.properties.village_id === vid) {
                const group = Object.values(window.map._layers).find(g => g.hasLayer && g.hasLayer(l));
                l.fire("mouseover", {latlng: l.getCenter()}, true);  // as a hover does
                const el = group.getTooltip().getElement();
                return [el.innerText, el.querySelectorAll('img').length];
            }
        } return null; }""", "V02")  # the village named like the XSS holder
    assert XSS_HOLDER in tooltip[0] and tooltip[1] == 0
    assert frame.evaluate("() => document.querySelectorAll(\"img[src='x']\").length") == 0
    page.wait_for_timeout(500)
    assert DIALOGS == []


def test_admin_runs_the_renewal_pipeline_with_a_progress_bar(new_page):
    page = new_page()
    login(page, "admin")
    page.get_by_role("tab", name="数据管理").click()
    page.get_by_role("button", name="运行城中村改造进展").click()
    page.get_by_text("城中村改造进展结果").wait_for(timeout=60_000)
    assert page.get_by_text(re.compile(r"完成：2 个城中村")).is_visible()
    table = page.locator("[data-testid='stTable']").filter(has_text="进展状态").last.inner_text()
    assert "严重滞后" in table and "村数" in table


def test_dashboard_and_no_request_leaves_localhost(new_page):
    page = new_page()
    login(page, "planner")
    wait_parcels(page, 30)
    open_by_click(page, "KQ-0000")
    page.get_by_text("研判依据").wait_for()
    page.get_by_role("tab", name="统计看板").click()
    page.get_by_text("距 2027 年底期限").wait_for()
    page.get_by_text("各镇街闲置面积（按推荐路径）").wait_for()
    page.locator("[data-testid='stVegaLiteChart'] .marks >> visible=true").first.wait_for()
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)
    assert REQUESTS, "no request was recorded"
    outside = sorted({u for u in REQUESTS
                      if not (u.startswith(("data:", "blob:", "about:"))
                              or urlparse(u).hostname in ("127.0.0.1", "localhost"))})
    assert outside == []
    assert any("/app/static/leaflet/leaflet.js" in u for u in REQUESTS)
    assert DIALOGS == []
