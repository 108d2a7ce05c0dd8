"""The page's tile decoder and painter (``gis/static/landrenew/tiles.js``) in headless Debian chromium.

* the decoder reads every feature of real tiles (``gis.tiles.build_tileset``) with the same id, fields and
  vertices as ``mapbox-vector-tile`` (an independent decoder), grouped by the style field;
* a standalone tiled map (``gis.maps.map_from_layers``, served with HTTP Range by starlette, the stack of
  Streamlit's static serving) paints an idle parcel far below a pixel at the district fit in its route
  colour, the hover query finds a parcel under its interior point, and a filter (mask) clears it.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import socket
import threading
import time

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gis.assets import STATIC_DIR, copy_static
from gis.schema import get_layer
from tests.test_maps import _voronoi_parcels

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
COLORS = get_layer("idle_assessment").style["colors"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _tiles(path):
    from pmtiles.reader import MmapSource, Reader, all_tiles

    with open(path, "rb") as fh:
        return [((z, x, y), gzip.decompress(data)) for (z, x, y), data in all_tiles(Reader(MmapSource(fh)).get_bytes)]


def test_decoder_matches_mapbox_vector_tile(tmp_path, browser):
    import mapbox_vector_tile

    from gis.maps import tile_fields, tile_keep
    from gis.tiles import build_tileset

    frame = _voronoi_parcels(300)
    ts = build_tileset(
        frame,
        tmp_path / "p.pmtiles",
        key="parcel_id",
        fields=tile_fields("idle_assessment"),
        layer_name="idle_assessment",
        keep=tile_keep(frame),
        minzoom=9,
        maxzoom=14,
    )
    page = browser.new_page()
    page.add_script_tag(path=str(STATIC_DIR / "landrenew" / "tiles.js"))
    checked = 0
    for (z, _x, _y), raw in _tiles(ts.path):
        ours = page.evaluate(
            """(b64) => { const s = atob(b64), a = new Uint8Array(s.length);
              for (let i = 0; i < s.length; i++) { a[i] = s.charCodeAt(i); }
              const m = landrenewMVT.parseTile(a.buffer, 512, "route");
              return (m.get("idle_assessment") || []).map(f => ({id: f.id, props: f.props, type: f.geomType,
                rings: Array.from({length: f.r1 - f.r0}, (_, k) => Array.from(
                  f.g.xy.subarray(2 * f.g.rings[f.r0 + k], 2 * f.g.rings[f.r0 + k + 1])))})); }""",
            base64.b64encode(raw).decode(),
        )
        ref = mapbox_vector_tile.decode(raw, default_options={"y_coord_down": True})["idle_assessment"]["features"]
        assert [f["id"] for f in ours] != [] and sorted(f["id"] for f in ours) == sorted(f["id"] for f in ref)
        routes = [f["props"]["route"] for f in ours]
        assert all(routes.index(r) + routes.count(r) - 1 == len(routes) - 1 - routes[::-1].index(r) for r in routes)
        by_id = {f["id"]: f for f in ref}
        for f in ours:
            want = by_id[f["id"]]
            assert f["type"] == 3 and f["props"] == want["properties"], (z, f["id"])
            g = want["geometry"]
            polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
            rings = [np.asarray(r[:-1], dtype=float) * 512 / 4096 for p in polys for r in p]  # unclosed, px
            got = [np.asarray(r, dtype=float).reshape(-1, 2) for r in f["rings"]]
            assert len(got) == len(rings) and all(np.array_equal(a, b) for a, b in zip(got, rings)), (z, f["id"])
            checked += 1
    page.close()
    assert checked > 6 * len(frame)  # every parcel at every zoom, some in two tiles


def _serve(folder):
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = Starlette(routes=[Mount("/", StaticFiles(directory=str(folder)))])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def test_a_sub_pixel_idle_parcel_is_painted_in_its_route_colour_and_filters_clear_it(tmp_path, browser):
    from gis.maps import map_from_layers, map_overlay, tile_fields, tile_keep
    from gis.tiles import build_tileset

    frame = _voronoi_parcels(400)
    b = frame.total_bounds
    d = 2e-6  # 0.2 m: far below a pixel at the fit, and below the tile grid at the fit's data zoom
    tiny = gpd.GeoDataFrame(
        {"parcel_id": ["TINY"], "route": ["reclaim"], "idle_type": ["halted_idle"], "idle_years": [3.0]},
        geometry=[shapely.box(b[0] - 0.5, b[1] - 0.3, b[0] - 0.5 + d, b[1] - 0.3 + d)],
        crs=frame.crs,
    )
    # the tiny parcel stands alone, far from the others: the fit is an overview (display zoom <= 12) and its
    # pixel shows nothing but itself
    frame = gpd.GeoDataFrame(gpd.pd.concat([frame, tiny], ignore_index=True), geometry="geometry", crs=frame.crs)
    copy_static(tmp_path)
    ts = build_tileset(
        frame,
        tmp_path / "mvt" / "p.pmtiles",
        key="parcel_id",
        fields=tile_fields("idle_assessment"),
        layer_name="idle_assessment",
        keep=tile_keep(frame),
        minzoom=8,
        maxzoom=14,
    )
    ts = dataclasses.replace(ts, url="mvt/p.pmtiles")
    pages = {}
    for name, shown in (("all", None), ("filtered", frame[frame["parcel_id"] != "TINY"])):
        m = map_from_layers({"idle_assessment": frame}, tiles={"idle_assessment": ts}, asset_base="static")
        map_overlay({"idle_assessment": shown} if shown is not None else None, tiles={"idle_assessment": ts}).add_to(m)
        (tmp_path / f"{name}.html").write_text(m.get_root().render(), encoding="utf-8")
        pages[name] = f"{name}.html"
    server, base = _serve(tmp_path)
    probe = """([lat, lng]) => {
      const map = Object.values(window).find(v => v instanceof L.Map);
      const p = map.latLngToContainerPoint([lat, lng]), r = map.getContainer().getBoundingClientRect();
      const x = p.x + r.left, y = p.y + r.top;
      for (const c of document.querySelectorAll("canvas.leaflet-tile")) {
        const q = c.getBoundingClientRect();
        if (x >= q.left && x < q.right && y >= q.top && y < q.bottom) {
          const px = c.getContext("2d").getImageData(Math.floor((x - q.left) * c.width / q.width),
            Math.floor((y - q.top) * c.height / q.height), 1, 1).data;
          const t = window.__landrenewTiles.idle_assessment;
          const hits = t.query(L.latLng(lat, lng));
          return {zoom: map.getZoom(), rgba: Array.from(px), hits: hits.map(f => f.props.parcel_id)};
        }
      }
      return null; }"""
    zoom_to = """([lat, lng]) => new Promise((done) => {
      const map = Object.values(window).find(v => v instanceof L.Map);
      window.__landrenewTiles.idle_assessment.layer.once("load", () => requestAnimationFrame(done));
      map.setView([lat, lng], 16, {animate: false}); })"""
    anchor = tiny.geometry.iloc[0].centroid
    inner = frame.geometry.iloc[7].representative_point()
    try:
        found = {}
        for name, url in pages.items():
            page = browser.new_page(viewport={"width": 1000, "height": 700})
            requests = []
            page.on("request", lambda r, requests=requests: requests.append(r.url))
            page.goto(f"{base}/{url}")
            page.wait_for_function("() => window.__landrenewTilesPainted !== undefined", timeout=60_000)
            # the tile under the tiny parcel may be painted after the first one: wait until it is there
            page.wait_for_function(
                "() => { const t = window.__landrenewTiles && window.__landrenewTiles.idle_assessment;"
                f" return !!(t && t.layer && !t.layer.isLoading()) && ({probe})({[anchor.y, anchor.x]!r}) !== null; }}",
                timeout=60_000,
            )
            at_fit = page.evaluate(probe, [anchor.y, anchor.x])
            page.evaluate(zoom_to, [inner.y, inner.x])
            found[name] = (at_fit, page.evaluate(probe, [inner.y, inner.x]))
            assert requests and all(u.startswith(base) for u in requests)
            page.close()
    finally:
        server.should_exit = True
    (tiny_all, inner_all), (tiny_filtered, inner_filtered) = found["all"], found["filtered"]
    assert tiny_all["zoom"] <= 12 and tiny_all["hits"] == ["TINY"]
    rgb = {k: [int(v[i : i + 2], 16) for i in (1, 3, 5)] for k, v in COLORS.items()}
    rgba = tiny_all["rgba"]
    assert rgba[3] > 0 and all(abs(a - b) <= 12 for a, b in zip(rgba[:3], rgb["reclaim"])), rgba  # a pixel at least
    assert tiny_filtered["rgba"][3] == 0 and tiny_filtered["hits"] == []  # the filter clears it, same tiles
    pid, route = frame["parcel_id"].iloc[7], frame["route"].iloc[7]
    assert inner_all["zoom"] == 16 and inner_all["hits"] == [pid] == inner_filtered["hits"]
    # fill opacity 0.65 over a transparent tile: the parcel's own colour, alpha 0.65
    assert abs(inner_all["rgba"][3] - 0.65 * 255) <= 2
    assert all(abs(a - b) <= 3 for a, b in zip(inner_all["rgba"][:3], rgb[route])), inner_all
