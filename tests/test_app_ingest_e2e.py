"""The data page in a real browser (headless Debian chromium): a titled Excel 台账 and a zipped GBK shapefile
uploaded as a ledger + geometry pair, previewed (nothing written), the rejects report downloaded, then
confirmed (written).  The counts shown are compared with the store and with ``--check`` of the same files."""

from __future__ import annotations

import pytest

from gis.batches import list_batches
from gis.ingest import ingest_files
from tests.app_server import USERS, AppServer, build_app_store
from tests.ingest_fixtures import geometry_frame, titled_sheet, write, write_xlsx, zip_folder

pytestmark = pytest.mark.browser
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def test_preview_then_confirm_a_ledger_and_zipped_shapefile(tmp_path):
    from playwright.sync_api import sync_playwright

    store = build_app_store(tmp_path / "store")
    rows = titled_sheet()
    rows[3][8] = "@五千"  # KQ2020-0001's price: formula-looking text, rejected
    ledger = write_xlsx(rows, tmp_path / "柯桥区台账.xlsx")
    shp = tmp_path / "shp"
    shp.mkdir()
    write(geometry_frame(["KQ2020-0001", "KQ2020-0002", "KQ2020-0003"]), shp / "宗地.shp", encoding="GBK")
    (shp / "宗地.cpg").unlink(missing_ok=True)
    zipped = zip_folder(shp, tmp_path / "宗地图形.zip")

    def ledger_state():  # what an import writes: the layer, its versions and the batches (sign-ins are audited)
        parcels = store.read_layer("parcels")
        return parcels.drop(columns="geometry").to_csv(), list(parcels.geometry.to_wkt()), len(list_batches(store))

    before = ledger_state()
    n_before = len(store.read_layer("parcels"))
    with AppServer(store.path, log=tmp_path / "streamlit.log") as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context(
            viewport={"width": 1500, "height": 1800}, locale="zh-CN", accept_downloads=True
        ).new_page()
        page.set_default_timeout(60_000)
        page.goto(server.url)
        name, password = USERS["admin"]
        page.get_by_label("用户名").fill(name)
        page.get_by_label("密码").fill(password)
        page.get_by_role("button", name="登录").click()
        page.get_by_role("tab", name="数据管理").click()
        page.get_by_text("导入源文件").click()
        uploaders = page.locator("[data-testid='stFileUploader']")
        uploaders.filter(has_text="宗地（parcels）").locator("input[type=file]").set_input_files(str(ledger))
        uploaders.filter(has_text="宗地图形").locator("input[type=file]").set_input_files(str(zipped))
        page.get_by_text("宗地图形.zip").wait_for()
        page.get_by_role("button", name="预览（不入库）").click()
        page.get_by_text("导入预览（未写入存储）结果").wait_for()
        counts = page.locator("[data-testid='stTable']", has_text="将入库").last.inner_text()
        assert "将入库" in counts and "跳过" in counts
        cells = [c.strip() for c in counts.split("\n") if c.strip()]
        assert cells[-6:] == ["宗地", "6", "2", "0", "1", "3"], cells
        page.get_by_text("表头对应", exact=True).wait_for()
        assert ledger_state() == before  # the preview wrote nothing
        with page.expect_download() as dl:
            page.get_by_role("button", name="下载拒收/修复清单（CSV）").click()
        text = dl.value.path().read_bytes().decode("utf-8-sig")
        assert "柯桥区台账.xlsx,4,KQ2020-0001,出让价款(万元),'@五千,不是有效的数字" in text
        assert "柯桥区台账.xlsx,8,,,,合计/小计行，不是数据行，已跳过" in text
        # the file replaces the whole layer, retiring most of it: the guard asks for the planner's confirmation
        page.get_by_text("确认退出台账的记录").click()
        page.get_by_role("button", name="确认导入").click()
        page.get_by_text("导入结果").wait_for()
        browser.close()
    parcels = store.read_layer("parcels")
    assert sorted(parcels["parcel_id"]) == ["KQ2020-0002", "KQ2020-0003"] and n_before != 2
    # the same files through the library's --check give the same counts
    [report] = ingest_files(store, {"parcels": {"path": ledger, "geometry": zipped}}, check=True)
    assert (report.read, report.stored, report.rejected, report.skipped) == (6, 2, 1, 3)
