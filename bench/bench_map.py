"""Map of many parcels: time to first paint in headless chromium and bytes loaded until then.

    .venv/bin/python bench/bench_map.py [--parcels 100000] [--repeat 3] [--skip plain]

One parcel layer (a coverage of Voronoi cells over ~30 x 22 km whose every edge is digitised as a
broken line — each edge split twice at jittered points shared by both neighbours, so the outlines have
~20 real, non-collinear vertices like surveyed parcels — with the 12 attribute columns of an
assessment) is drawn four ways, each a standalone page served by the same local HTTP server, in a process
of its own (starlette's ``StaticFiles`` under uvicorn, the stack of Streamlit's static serving, with HTTP
Range):

* tiles  — ``gis.maps.map_from_layers(..., tiles=...)``: the parcels as MVT tiles in a PMTiles
  archive (``gis.tiles``, built once per store version; build time printed), drawn by the local
  protomaps-leaflet plugin (tiles decoded and painted by ``gis/static/landrenew/tiles.js``); the page
  loads only the tiles in view (the archive header comes with the page);
* inline — today's path below the tile threshold: ``map_from_layers`` without tiles (coverage
  simplification, popup fields only, columnar delta-encoded payload, canvas);
* fair   — the fair folium reference: ``folium.Map(prefer_canvas=True)`` + ``folium.GeoJson`` of the
  *same simplified geometry* (``gis.maps.display_frame``) with only the popup fields, style function
  and ``GeoJsonTooltip``;
* plain  — the plain folium reference: ``folium.GeoJson`` of the unsimplified geometry with every
  attribute (SVG renderer).

All four use the same local Leaflet and load nothing from outside (checked).  Chromium
(``/usr/bin/chromium``) loads each page ``--repeat`` times in a fresh context, interleaved.  First paint =
``performance.now()`` when the features are on screen: two animation frames after the load event
(inline, fair, plain) or after the tile layer's ``load`` event (all tiles in view drawn).  Payload =
response bytes of every request made until then (HTML, JS, CSS, tile ranges).
Targets (issue 16, 10^5 parcels): tiles paint < 2 s with < 5 MB, >= 5x faster than the fair reference.
"""

from __future__ import annotations

import argparse
import dataclasses
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis.assets import copy_static, use_local_assets  # noqa: E402
from gis.maps import display_frame, map_from_layers, map_overlay, tile_fields, tile_keep  # noqa: E402
from gis.schema import get_layer  # noqa: E402
from gis.tiles import ensure_tileset  # noqa: E402

OUT = ROOT / "bench" / "out" / "map"
PAGES = ("tiles", "inline", "fair", "plain")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
PROBE = """<script>
window.addEventListener("load", function () {
  requestAnimationFrame(function () { requestAnimationFrame(function () { window.__loaded = performance.now(); }); });
});
</script>"""


def _split_edges(geoms: np.ndarray, amplitude: float, seed: int) -> np.ndarray:
    """Insert a vertex into every edge, offset sideways by up to ``amplitude`` x the edge length.

    The offset depends only on the (unordered) edge, so both neighbours of a shared edge get the same
    vertex and the layer stays a coverage.  Polygons without holes (Voronoi cells)."""
    gtype, coords, (ring_off, poly_off) = shapely.to_ragged_array(geoms)
    last = np.zeros(len(coords), dtype=bool)
    last[ring_off[1:] - 1] = True
    a, b = coords[:-1][~last[:-1]], coords[1:][~last[:-1]]
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    p = np.where(swap[:, None], b, a)
    q = np.where(swap[:, None], a, b)
    mid = (p + q) / 2
    normal = np.column_stack([-(q - p)[:, 1], (q - p)[:, 0]])
    k = np.round(mid * 1e7).astype(np.int64)
    h = ((k[:, 0] * 73_856_093) ^ (k[:, 1] * 19_349_663) ^ seed) % 10_007
    pts = mid + normal * ((h / 10_007.0 * 2.0 - 1.0) * amplitude)[:, None]
    n_edges = np.diff(ring_off) - 1
    out = np.empty((2 * len(a) + len(n_edges), 2))
    new_off = np.concatenate([[0], np.cumsum(2 * n_edges + 1)])
    edge_ring_start = np.repeat(new_off[:-1], n_edges)
    local = np.arange(len(a)) - np.repeat(np.concatenate([[0], np.cumsum(n_edges)[:-1]]), n_edges)
    out[edge_ring_start + 2 * local] = a
    out[edge_ring_start + 2 * local + 1] = pts
    out[new_off[1:] - 1] = coords[ring_off[:-1]]
    return shapely.from_ragged_array(gtype, out, (new_off, poly_off))


def parcel_layer(n: int, seed: int = 1) -> gpd.GeoDataFrame:
    """n parcels forming a coverage, ~20 irregular vertices each, with the attributes of an assessment."""
    rng = np.random.default_rng(seed)
    x0, y0, w, h = 120.35, 29.95, 0.30, 0.20
    pts = shapely.points(x0 + rng.random(n) * w, y0 + rng.random(n) * h)
    box = shapely.box(x0, y0, x0 + w, y0 + h)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=box))
    cells = shapely.intersection(cells, box)
    cells = _split_edges(_split_edges(cells, 0.12, 1), 0.10, 2)
    bad = ~shapely.is_valid(cells)
    cells[bad] = shapely.make_valid(cells[bad])  # a few cells with a very sharp corner
    routes = np.array(get_layer("idle_assessment").field("route").values)
    subs = np.array(["negotiated_reclaim", "whole_transfer", "extend_start", None, None], dtype=object)
    k = rng.integers(0, len(routes), len(cells))
    return gpd.GeoDataFrame(
        {
            "parcel_id": [f"KQ-{i:06d}" for i in range(len(cells))],
            "town_code": rng.choice(["330603001", "330603002", "330603101"], len(cells)),
            "holder": [f"绍兴柯桥测试置业有限公司{i % 997:03d}" for i in range(len(cells))],
            "land_use": rng.choice(["住宅用地", "工业用地", "商服用地"], len(cells)),
            "area_m2": rng.uniform(5_000, 60_000, len(cells)),
            "route": routes[k],
            "sub_route": subs[k % len(subs)],
            "idle_type": np.where(
                routes[k] == "none", "none", rng.choice(["not_started_idle", "halted_idle"], len(cells))
            ),
            "idle_years": rng.uniform(0, 8, len(cells)),
            "cause": rng.choice(["government", "enterprise", "unknown"], len(cells)),
            "rules_version": "2024.09-r1",
            "activity_index": rng.normal(0, 0.05, len(cells)),
        },
        geometry=cells,
        crs="EPSG:4490",
    )


def _style(colors: dict):
    return lambda f: {
        "color": "#444444",
        "weight": 0.6,
        "fillColor": colors.get(f["properties"]["route"], "#999999"),
        "fillOpacity": 0.65,
    }


def folium_map(frame: gpd.GeoDataFrame, *, canvas: bool) -> folium.Map:
    layer = get_layer("idle_assessment")
    m = folium.Map(location=[30.05, 120.5], zoom_start=11, tiles=None, prefer_canvas=canvas)
    use_local_assets(m, "static")  # same local Leaflet; only the layer differs
    folium.GeoJson(
        frame,
        name=layer.label,
        style_function=_style(layer.style["colors"]),
        tooltip=folium.GeoJsonTooltip(fields=list(layer.popup)),
    ).add_to(m)
    m.fit_bounds([[29.95, 120.35], [30.15, 120.65]])
    return m


def write(m: folium.Map, name: str) -> tuple[Path, float]:
    t = time.perf_counter()
    html = m.get_root().render()
    build = time.perf_counter() - t
    path = OUT / f"{name}.html"
    path.write_text(html.replace("</html>", PROBE + "\n</html>"), encoding="utf-8")
    return path, build


SERVER = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
app = Starlette(routes=[Mount("/", StaticFiles(directory=sys.argv[1]))])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def serve(folder: Path) -> tuple[subprocess.Popen, str]:
    """starlette's StaticFiles under uvicorn in a process of its own (as Streamlit serves the app's static
    files from its own process): in this process it would share the GIL with the browser driver."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(folder), str(port)])
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the page server did not start") from None
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}"


DRAWN = """() => {
  if (window.__landrenewTiles) { return Object.values(window.__landrenewTiles).reduce((n, t) => n + t.drawnKeys().length, 0); }
  let n = 0; for (const k in window) { const v = window[k];
    if (v && v._layers && v.getLayers && !v._container) n += v.getLayers().length; } return n; }"""


def first_paint(browser, url: str, tiles: bool, timeout: float) -> tuple[float, int, int]:
    """(seconds to first paint, features drawn, bytes loaded); a page still not painted after
    ``timeout`` counts as ``timeout`` (a lower bound, shown with ">")."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    requests, external = [], []
    page.on("requestfinished", lambda r: requests.append(r))
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith("http://127.0.0.1") else None)
    ready = "window.__landrenewTilesPainted !== undefined" if tiles else "window.__loaded !== undefined"
    try:
        page.goto(url, timeout=timeout * 1000)
        page.wait_for_function(f"() => {ready}", timeout=timeout * 1000, polling=20)
    except Exception as exc:  # playwright TimeoutError
        print(f"  {url}: not painted after {timeout:.0f} s ({type(exc).__name__})")
        nbytes = sum(r.sizes()["responseBodySize"] for r in list(requests))
        ctx.close()
        return float("inf"), 0, nbytes
    painted = page.evaluate("() => window.__landrenewTilesPainted || window.__loaded")
    drawn = page.evaluate(DRAWN)
    nbytes = sum(r.sizes()["responseBodySize"] for r in list(requests))
    ctx.close()
    assert not external, f"requests outside localhost: {external[:3]}"
    return painted / 1000.0, drawn, nbytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parcels", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ref-repeat", type=int, default=1, help="loads of the fair and plain references")
    ap.add_argument("--timeout", type=float, default=1200, help="seconds a page may take to paint")
    ap.add_argument("--skip", nargs="*", default=[], choices=PAGES, help="pages to leave out")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    copy_static(OUT)
    t = time.perf_counter()
    frame = parcel_layer(args.parcels)
    n_vertices = len(shapely.get_coordinates(frame.geometry.array))
    print(
        f"layer: {len(frame)} parcels, {n_vertices} vertices ({n_vertices / len(frame):.1f} a parcel), "
        f"{frame.shape[1] - 1} attributes (built in {time.perf_counter() - t:.1f} s)"
    )
    pages: dict[str, tuple[Path, float]] = {}
    if "tiles" not in args.skip:
        t = time.perf_counter()
        for old in (OUT / "mvt").glob("*.pmtiles"):
            old.unlink()
        ts = ensure_tileset(
            frame,
            store_id="bench",
            version=f"{args.parcels}-{time.time()}",
            layer="idle_assessment",
            key="parcel_id",
            fields=tile_fields("idle_assessment"),
            keep=tile_keep(frame),
            folder=OUT / "mvt",
        )
        tiles_build = time.perf_counter() - t
        ts = dataclasses.replace(ts, url=f"mvt/{ts.path.name}")  # the page is served from OUT
        m = map_from_layers({"idle_assessment": frame}, tiles={"idle_assessment": ts}, asset_base="static")
        map_overlay({"idle_assessment": frame}, tiles={"idle_assessment": ts}).add_to(m)
        path, build = write(m, "tiles")
        pages["tiles"] = (path, build + tiles_build)
        print(
            f"tiles: archive {ts.path.stat().st_size / 1e6:.1f} MB built in {tiles_build:.1f} s (once per store "
            f"version)"
        )
    if "inline" not in args.skip:
        t = time.perf_counter()
        m = map_from_layers({"idle_assessment": frame}, asset_base="static")
        path, build = write(m, "inline")
        pages["inline"] = (path, time.perf_counter() - t)
    if "fair" not in args.skip:
        t = time.perf_counter()
        popup = list(get_layer("idle_assessment").popup)
        m = folium_map(display_frame(frame, fields=popup, tolerance_m=2.0), canvas=True)
        path, build = write(m, "fair")
        pages["fair"] = (path, time.perf_counter() - t)
    if "plain" not in args.skip:
        t = time.perf_counter()
        path, build = write(folium_map(frame, canvas=False), "plain")
        pages["plain"] = (path, time.perf_counter() - t)
    server, base = serve(OUT)
    runs: dict[str, list] = {name: [] for name in pages}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            for i in range(args.repeat):
                for name, (path, _build) in pages.items():
                    if name in ("fair", "plain") and i >= args.ref_repeat:
                        continue
                    runs[name].append(first_paint(browser, f"{base}/{path.name}", name == "tiles", args.timeout))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        f"{'map':<7} {'first paint (median)':>21} {'runs':>22} {'features':>9} {'payload':>10} {'HTML':>10} "
        f"{'python build':>13}"
    )
    med = {}

    def secs(v: float) -> str:
        return f"> {args.timeout:.0f}" if v == float("inf") else f"{v:.2f}"

    for name, (path, build) in pages.items():
        paint = statistics.median(r[0] for r in runs[name])
        med[name] = min(paint, args.timeout)
        payload = runs[name][0][2]
        print(
            f"{name:<7} {secs(paint):>19} s {' '.join(secs(r[0]) for r in runs[name]):>22} {runs[name][0][1]:>9} "
            f"{payload / 1e6:>7.2f} MB {path.stat().st_size / 1e6:>7.2f} MB {build:>11.1f} s"
        )
    if "tiles" in med:
        for ref in ("inline", "fair", "plain"):
            if ref in med:
                bound = ">= " if med[ref] >= args.timeout else ""
                print(
                    f"tiles vs {ref}: {bound}{med[ref] / med['tiles']:.1f}x faster to first paint, "
                    f"{runs[ref][0][2] / runs['tiles'][0][2]:.1f}x fewer bytes"
                )
        ok = med["tiles"] < 2 and runs["tiles"][0][2] < 5e6 and ("fair" not in med or med["fair"] / med["tiles"] >= 5)
        print(f"targets (tiles: < 2 s, < 5 MB, >= 5x faster than fair): {'OK' if ok else 'MISSED'}")
    for ours in ("inline",):
        for ref in ("fair", "plain"):
            if ours in med and ref in med:
                print(f"inline vs {ref}: {med[ref] / med[ours]:.1f}x faster to first paint")


if __name__ == "__main__":
    main()
