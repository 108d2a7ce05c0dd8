"""End to end in headless Debian chromium (Playwright): a planner opens a case from the parcel detail and records
events up to a drafted plan; an approver approves it; the dashboard's disposal counts change; a viewer sees no
forms.  The store is the small case store of ``tests/case_fixtures.py`` with three users."""

from __future__ import annotations

import pytest

from gis.accounts import add_user
from gis.cases import case_events, read_cases
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
