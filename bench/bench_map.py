"""Map of 20,000 parcels: time to first paint in headless chromium and page payload, our map vs plain folium.

    .venv/bin/python bench/bench_map.py [--parcels 20000] [--repeat 3]

The same parcel layer (a Voronoi coverage over ~30 x 22 km, edges digitised every 15 m like survey
data, the 12 attribute columns of an assessment) is drawn twice and written as standalone HTML files:

* ours  — ``gis.maps.map_from_layers`` (coverage simplification, 6 decimals, popup fields only,
  columnar properties, canvas renderer, local Leaflet);
* plain — ``folium.GeoJson(frame, style_function=..., tooltip=GeoJsonTooltip(popup fields))``, the usual
  way (SVG renderer, every property, full precision), also pointed at the local Leaflet so that both
  run offline and only the layer differs.

Both are served from a local ``http.server``; chromium (``/usr/bin/chromium``) loads each ``--repeat``
times in a fresh context.  First paint = ``performance.now()`` two animation frames after the load
event (the features are drawn by then).  Payload = bytes of the HTML file (the data is inline) plus the
Leaflet JS/CSS it loads.  Targets: first paint < 2 s, payload < 5 MB, >= 5x faster than plain.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import statistics
import sys
import threading
import time
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis.assets import STATIC_DIR, copy_static, use_local_assets  # noqa: E402
from gis.maps import map_from_layers  # noqa: E402
from gis.schema import get_layer  # noqa: E402

OUT = ROOT / "bench" / "out" / "map"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
PROBE = """<script>
window.addEventListener("load", function () {
  requestAnimationFrame(function () { requestAnimationFrame(function () { window.__painted = performance.now(); }); });
});
</script>"""


def parcel_layer(n: int, seed: int = 1) -> gpd.GeoDataFrame:
    """n parcels forming a coverage (Voronoi cells clipped to a box), edges densified every ~15 m."""
    rng = np.random.default_rng(seed)
    x0, y0, w, h = 120.35, 29.95, 0.30, 0.20
    pts = shapely.points(x0 + rng.random(n) * w, y0 + rng.random(n) * h)
    box = shapely.box(x0, y0, x0 + w, y0 + h)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=box))
    cells = shapely.intersection(cells, box)
    cells = shapely.segmentize(cells, 15 / 111_320)
    routes = np.array(get_layer("idle_assessment").field("route").values)
    subs = np.array(["negotiated_reclaim", "whole_transfer", "extend_start", None, None], dtype=object)
    k = rng.integers(0, len(routes), len(cells))
    return gpd.GeoDataFrame({
        "parcel_id": [f"KQ-{i:06d}" for i in range(len(cells))],
        "town_code": rng.choice(["330603001", "330603002", "330603101"], len(cells)),
        "holder": [f"绍兴柯桥测试置业有限公司{i % 997:03d}" for i in range(len(cells))],
        "land_use": rng.choice(["住宅用地", "工业用地", "商服用地"], len(cells)),
        "area_m2": rng.uniform(5_000, 60_000, len(cells)),
        "route": routes[k], "sub_route": subs[k % len(subs)],
        "idle_type": rng.choice(["none", "not_started_idle", "halted_idle"], len(cells)),
        "idle_years": rng.uniform(0, 8, len(cells)),
        "cause": rng.choice(["government", "enterprise", "unknown"], len(cells)),
        "rules_version": "2024.09-r1", "activity_index": rng.normal(0, 0.05, len(cells)),
    }, geometry=cells, crs="EPSG:4490")


def plain_map(frame: gpd.GeoDataFrame) -> folium.Map:
    layer = get_layer("idle_assessment")
    colors = layer.style["colors"]
    m = folium.Map(location=[30.05, 120.5], zoom_start=11, tiles=None)
    use_local_assets(m, "static")  # same local Leaflet; only the layer differs
    folium.GeoJson(frame, name="闲置土地研判",
                   style_function=lambda f: {"color": "#444444", "weight": 0.6,
                                             "fillColor": colors.get(f["properties"]["route"], "#999999"),
                                             "fillOpacity": 0.65},
                   tooltip=folium.GeoJsonTooltip(fields=list(layer.popup))).add_to(m)
    m.fit_bounds([[29.95, 120.35], [30.15, 120.65]])
    return m


def write(m: folium.Map, name: str) -> tuple[Path, float]:
    t = time.perf_counter()
    html = m.get_root().render()
    build = time.perf_counter() - t
    path = OUT / f"{name}.html"
    path.write_text(html.replace("</html>", PROBE + "\n</html>"), encoding="utf-8")
    return path, build


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a, **k: None})
    handler = functools.partial(handler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def first_paint(browser, url: str) -> tuple[float, int]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    external = []
    page.on("request", lambda r: external.append(r.url) if "127.0.0.1" not in r.url else None)
    page.goto(url, timeout=300_000)
    page.wait_for_function("() => window.__painted !== undefined", timeout=300_000, polling=50)
    painted = page.evaluate("() => window.__painted")
    drawn = page.evaluate("() => { let n = 0; for (const k in window) { const v = window[k];"
                          " if (v && v._layers && v.getLayers && !v._container) n += v.getLayers().length; } return n; }")
    ctx.close()
    assert not external, f"requests outside localhost: {external[:3]}"
    return painted / 1000.0, drawn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parcels", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    copy_static(OUT)
    t = time.perf_counter()
    frame = parcel_layer(args.parcels)
    n_vertices = len(shapely.get_coordinates(frame.geometry.array))
    print(f"layer: {len(frame)} parcels, {n_vertices} vertices, {frame.shape[1] - 1} attributes "
          f"(built in {time.perf_counter() - t:.1f} s)")
    ours, ours_build = write(map_from_layers({"idle_assessment": frame}, asset_base="static"), "ours")
    plain, plain_build = write(plain_map(frame), "plain")
    assets = sum((STATIC_DIR / p).stat().st_size for p in ("leaflet/leaflet.js", "leaflet/leaflet.css"))
    httpd, base = serve(OUT)
    results = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            for name, path in (("ours", ours), ("plain", plain)):
                runs = [first_paint(browser, f"{base}/{path.name}") for _ in range(args.repeat)]
                results[name] = (statistics.median(r[0] for r in runs), runs[0][1], [r[0] for r in runs])
            browser.close()
    finally:
        httpd.shutdown()
    print(f"{'map':<6} {'first paint (median)':>21} {'runs':>24} {'features':>9} {'HTML':>10} {'+assets':>10} "
          f"{'python build':>13}")
    for name, path, build in (("ours", ours, ours_build), ("plain", plain, plain_build)):
        paint, drawn, runs = results[name]
        size = path.stat().st_size
        print(f"{name:<6} {paint:>19.2f} s {' '.join(f'{r:.2f}' for r in runs):>24} {drawn:>9} "
              f"{size / 1e6:>7.2f} MB {(size + assets) / 1e6:>7.2f} MB {build:>11.2f} s")
    ratio = results["plain"][0] / results["ours"][0]
    size_ratio = plain.stat().st_size / ours.stat().st_size
    print(f"ours is {ratio:.1f}x faster to first paint and {size_ratio:.1f}x smaller "
          f"(targets: < 2 s, < 5 MB, >= 5x): "
          f"{'OK' if results['ours'][0] < 2 and ours.stat().st_size + assets < 5e6 and ratio >= 5 else 'MISSED'}")


if __name__ == "__main__":
    main()
