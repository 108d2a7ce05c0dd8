"""End to end: the map drawn from vector tiles (issue 16) in headless Debian chromium.

The app runs on a copy of the session's demo store (1,500 parcels through the real pipeline) with the
tile threshold lowered to 500 features (``LANDRENEW_MAP_TILE_THRESHOLD``), so the parcels take the tile
path for real: a PMTiles archive built by ``gis.tiles`` under ``gis/static/mvt``, served by Streamlit's
static serving with HTTP Range requests, drawn by the local protomaps-leaflet plugin.  What the page
draws is read back from the plugin (``window.__landrenewTiles``); what the page shows after a click is
compared with the store.  Every request of every page and iframe is recorded: none may leave localhost.
"""

from __future__ import annotations

import os
import time
from urllib.parse import urlparse

import pandas as pd
import pytest

from gis.decisions import record_decision
from gis.schema import get_layer
from gis.tiles import tile_dir
from tests.app_server import USERS, AppServer, demo_app_store

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
MAP_IFRAME = "iframe[title='streamlit_folium.st_folium']"
ROUTE = get_layer("idle_assessment").field("route")
THRESHOLD = 500
REQUESTS: list[tuple[str, str | None, int | None]] = []  # (url, Range header, status)


class Demo:
    def __init__(self, store):
        self.store = store
        a = store.read_layer("idle_assessment")
        self.assessment = a.merge(
            pd.DataFrame(store.read_layer("parcels")[["parcel_id", "holder", "land_use"]]), on="parcel_id", how="left"
        )
        assert len(a) > THRESHOLD  # the tile path is taken
        points = a.set_index("parcel_id").geometry.to_crs("EPSG:4326").representative_point()
        self.points = {pid: (pt.y, pt.x) for pid, pt in points.items()}

    def row(self, pid: str) -> pd.Series:
        return self.assessment.loc[self.assessment["parcel_id"] == pid].iloc[0]


@pytest.fixture(scope="module")
def demo(demo_store_master, tmp_path_factory):
    store, _ = demo_app_store(demo_store_master, tmp_path_factory.mktemp("tiles") / "store")
    return Demo(store)


@pytest.fixture(scope="module")
def server(demo, tmp_path_factory):
    log = tmp_path_factory.mktemp("tiles-log") / "streamlit.log"
    old = os.environ.get("LANDRENEW_MAP_TILE_THRESHOLD")
    os.environ["LANDRENEW_MAP_TILE_THRESHOLD"] = str(THRESHOLD)
    try:
        with AppServer(demo.store.path, log=log) as srv:
            yield srv
    finally:
        if old is None:
            os.environ.pop("LANDRENEW_MAP_TILE_THRESHOLD", None)
        else:
            os.environ["LANDRENEW_MAP_TILE_THRESHOLD"] = old


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    ctx = browser.new_context(viewport={"width": 1500, "height": 1100}, locale="zh-CN")
    ctx.on(
        "requestfinished",
        lambda r: REQUESTS.append((r.url, r.headers.get("range"), (r.response().status if r.response() else None))),
    )
    ctx.on("requestfailed", lambda r: REQUESTS.append((r.url, r.headers.get("range"), None)))
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(server.url)
    name, password = USERS["planner"]
    pg.get_by_label("用户名").fill(name)
    pg.get_by_label("密码").fill(password)
    pg.get_by_role("button", name="登录").click()
    pg.locator(MAP_IFRAME).wait_for(timeout=180_000)  # the first run of a store version builds the tiles
    yield pg
    ctx.close()


def map_frame(page, tries: int = 300):
    for _ in range(tries):
        frame = next((f for f in page.frames if "streamlit_folium" in f.url and not f.is_detached()), None)
        if frame is not None:
            try:
                if frame.evaluate(
                    "() => !!(window.map && window.map._loaded && !window.map._animatingZoom"
                    " && window.__landrenewTiles && window.__landrenewTiles.idle_assessment)"
                ):
                    return frame
            except Exception:  # the iframe is being replaced
                pass
        time.sleep(0.1)
    raise AssertionError("the tiled map never loaded")


def drawn(page) -> list[str]:
    return sorted(map_frame(page, tries=10).evaluate("() => window.__landrenewTiles.idle_assessment.drawnKeys()"))


def wait_drawn(page, expected) -> list[str]:
    """The parcels drawn from the tiles once they settle on ``expected`` (the whole district is in view)."""
    expected, ids = sorted(expected), []
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        try:
            ids = drawn(page)
        except Exception:
            ids = []
        if ids == expected:
            return ids
        time.sleep(0.2)
    raise AssertionError(
        f"expected {len(expected)} parcels drawn from tiles, got {len(ids)} "
        f"(e.g. extra {sorted(set(ids) - set(expected))[:3]}, missing {sorted(set(expected) - set(ids))[:3]})"
    )


def pick(page, label: str, option: str) -> None:
    widget = page.locator("[data-testid='stMultiSelect']").filter(has=page.get_by_text(label, exact=True))
    choice = page.get_by_role("option", name=option, exact=True)
    for _ in range(5):
        widget.locator("input").first.click()
        try:
            choice.wait_for(timeout=3000)
            break
        except Exception:
            page.keyboard.press("Escape")
    choice.click()
    page.keyboard.press("Escape")


def tile_requests() -> list[tuple[str, str | None, int | None]]:
    return [r for r in REQUESTS if r[0].split("?")[0].endswith(".pmtiles")]


# ------------------------------------------------------------------------------------------- tests
def test_parcels_render_from_tiles_served_with_range_requests(page, demo):
    everything = demo.assessment["parcel_id"].tolist()
    assert wait_drawn(page, everything) == sorted(everything)
    frame = map_frame(page)
    inline = frame.evaluate(
        "() => Object.values(window.map._layers).filter(l => l.feature && l.feature.properties.parcel_id).length"
    )
    assert inline == 0  # no parcel travels inline: they all come from the tiles
    assert frame.evaluate("() => document.querySelectorAll('.leaflet-tile-loaded').length") > 0
    tiles = tile_requests()
    assert tiles and all(r[0].startswith(f"{urlparse(r[0]).scheme}://127.0.0.1") for r in tiles)
    assert all("/app/static/mvt/" in r[0] for r in tiles)
    assert all(r[1] and r[1].startswith("bytes=") for r in tiles)  # PMTiles reads by Range ...
    assert {r[2] for r in tiles} == {206}  # ... and the server answers them
    assert any("/app/static/protomaps-leaflet/protomaps-leaflet.js" in r[0] for r in REQUESTS)


def test_a_click_on_a_tiled_parcel_shows_its_detail_from_the_store(page, demo):
    a = demo.assessment
    pid = a.loc[a["route"] == "transfer", "parcel_id"].iloc[0]
    row = demo.row(pid)
    wait_drawn(page, a["parcel_id"].tolist())
    frame = map_frame(page)
    frame.evaluate("(ll) => { window.map.setView(ll, 17, {animate: false}); }", list(demo.points[pid]))
    page.wait_for_timeout(500)
    xy = frame.evaluate(
        "(ll) => { const p = window.map.latLngToContainerPoint(ll);"
        " const r = window.map.getContainer().getBoundingClientRect(); return [p.x + r.left, p.y + r.top]; }",
        list(demo.points[pid]),
    )
    box = page.locator(MAP_IFRAME).bounding_box()
    page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
    page.get_by_role("heading", name=f"宗地 {pid}").wait_for(timeout=20_000)
    recommended = ROUTE.label_of(row["route"])
    assert page.get_by_role("cell", name=recommended, exact=False).first.is_visible()
    holder = page.locator("[data-testid='stTable'] tr").filter(has=page.get_by_text("受让人", exact=True))
    assert holder.locator("td").inner_text().strip() == row["holder"]
    reasons = page.locator("[data-testid='stTable']").filter(has_text="出处")
    rule_ids = reasons.evaluate(
        "(el) => Array.from(el.querySelectorAll('tbody tr')).map(tr => tr.children[0].innerText.trim())"
    )
    assert rule_ids == [r["rule_id"] for r in row["reasons"]]
    # the selected parcel is outlined, and the view the planner zoomed to stays (the map is not rebuilt)
    for _ in range(50):
        frame = map_frame(page)
        if frame.evaluate("() => document.querySelectorAll('path.landrenew-selected').length") == 1:
            break
        time.sleep(0.2)
    assert frame.evaluate("() => document.querySelectorAll('path.landrenew-selected').length") == 1
    assert frame.evaluate("() => window.map.getZoom()") == 17


def test_a_filter_changes_what_the_tiles_draw_without_a_new_archive(page, demo):
    a = demo.assessment
    wait_drawn(page, a["parcel_id"].tolist())
    archives_before = {r[0] for r in tile_requests()}
    pick(page, "推荐处置路径", ROUTE.label_of("reclaim"))
    reclaim = a.loc[a["route"] == "reclaim", "parcel_id"].tolist()
    assert 0 < len(reclaim) < len(a)
    assert wait_drawn(page, reclaim) == sorted(reclaim)
    pick(page, "推荐处置路径", ROUTE.label_of("review"))  # a second route is added to the filter
    both = a.loc[a["route"].isin(["reclaim", "review"]), "parcel_id"].tolist()
    assert wait_drawn(page, both) == sorted(both)
    assert {r[0] for r in tile_requests()} == archives_before  # the same archive: the filter built nothing


def test_a_saved_decision_keeps_the_tiles_and_no_request_leaves_localhost(page, demo):
    a = demo.assessment
    wait_drawn(page, a["parcel_id"].tolist())
    archive = {r[0].split("?")[0] for r in tile_requests()}
    assert len(archive) == 1
    path = tile_dir() / urlparse(next(iter(archive))).path.rsplit("/", 1)[-1]
    built = path.stat().st_mtime_ns
    pid = a.loc[a["route"] == "review", "parcel_id"].iloc[0]
    record_decision(
        demo.store,
        parcel_id=pid,
        route="reclaim",
        sub_route=None,
        note="e2e tiles",
        decided_by="planner",
        role="planner",
        based_on_version=demo.store.current_version(pid),
    )
    page.reload()
    page.get_by_label("用户名").fill(USERS["planner"][0])
    page.get_by_label("密码").fill(USERS["planner"][1])
    page.get_by_role("button", name="登录").click()
    page.locator(MAP_IFRAME).wait_for(timeout=60_000)
    wait_drawn(page, a["parcel_id"].tolist())
    assert {r[0].split("?")[0] for r in tile_requests()} == archive  # the same archive after the decision ...
    assert path.stat().st_mtime_ns == built  # ... not written again
    outside = sorted(
        {
            r[0]
            for r in REQUESTS
            if not (
                r[0].startswith(("data:", "blob:", "about:")) or urlparse(r[0]).hostname in ("127.0.0.1", "localhost")
            )
        }
    )
    assert REQUESTS and outside == []
