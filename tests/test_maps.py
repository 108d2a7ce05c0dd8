"""Map building (gis.maps, gis.assets) and the dashboard figures (gis.dashboard) on tiny frames."""

from __future__ import annotations

import datetime as dt
import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis import dashboard as dash
from gis.assets import STATIC_DIR, external_urls, local_assets
from gis.errors import LandRenewError
from gis.maps import display_frame, feature_target, layer_payload, map_from_layers

XSS = "<img src=x onerror=alert(1)>"


def _grid(n: int = 3, *, crs: str = "EPSG:4490") -> gpd.GeoDataFrame:
    """n x n squares sharing edges, each edge with an extra wobble vertex (a coverage)."""
    cells = []
    step = 0.001
    for i in range(n):
        for j in range(n):
            x, y = 120.45 + i * step, 30.05 + j * step
            cells.append(shapely.box(x, y, x + step, y + step).segmentize(step / 7))
    frame = gpd.GeoDataFrame(
        {
            "parcel_id": [f"P{k}" for k in range(n * n)],
            "route": (["reclaim", "continue", "review"] * n * n)[: n * n],
            "sub_route": (["negotiated_reclaim", "extend_start", None] * n * n)[: n * n],
            "idle_type": "not_started_idle",
            "idle_years": 2.3456,
            "holder": XSS,
            "land_use": "住宅用地",
            "reasons": [[{"rule_id": "I1", "text": "未动工", "citation": "第二条"}]] * (n * n),
        },
        geometry=cells,
        crs=crs,
    )
    return frame


def _script_data(html: str) -> list[dict]:
    return [json.loads(m) for m in re.findall(r"var d = (\{.*?\});\n", html)]


def test_local_assets_and_a_rendered_map_load_nothing_from_outside():
    js, css = local_assets("static")
    assert js == [("leaflet", "static/leaflet/leaflet.js")]
    assert css == [("leaflet_css", "static/leaflet/leaflet.css")]
    assert (STATIC_DIR / "leaflet" / "leaflet.js").stat().st_size > 100_000
    assert (STATIC_DIR / "leaflet" / "LICENSE").exists()
    html = map_from_layers({"idle_assessment": _grid()}).get_root().render()
    assert external_urls(html) == []
    assert '<script src="/app/static/leaflet/leaflet.js"></script>' in html
    assert "jquery" not in html.lower() and "bootstrap" not in html.lower()


@pytest.mark.parametrize(
    "html, found",
    [
        (
            '<script src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"></script>',
            ["https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"],
        ),
        ('<link rel="stylesheet" href="//netdna.bootstrapcdn.com/x.css"/>', ["//netdna.bootstrapcdn.com/x.css"]),
        (
            "L.tileLayer('https://tile.openstreetmap.org/{z}/{x}/{y}.png')",
            ["https://tile.openstreetmap.org/{z}/{x}/{y}.png"],
        ),
        ('<script src="/app/static/leaflet/leaflet.js"></script>', []),
    ],
)
def test_external_urls(html, found):
    assert external_urls(html) == found


def test_display_frame_keeps_fields_rounds_and_keeps_the_coverage():
    grid = _grid(3)
    shown = display_frame(grid, fields=["parcel_id", "route", "nope"], tolerance_m=5.0)
    assert list(shown.columns) == ["parcel_id", "route", "geometry"]
    assert shown.crs.to_epsg() == 4326
    coords = shapely.get_coordinates(shown.geometry.array)
    assert np.allclose(coords, np.round(coords, 6), atol=0, rtol=0)
    # the wobble vertices are gone: fewer coordinates than the input
    assert len(coords) < len(shapely.get_coordinates(grid.geometry.array))
    # still a coverage: no overlaps and no gaps between neighbours
    union = shapely.union_all(shown.geometry.array)
    assert abs(union.area - shown.area.sum()) < 1e-12
    assert union.geom_type == "Polygon" and len(union.interiors) == 0


def test_display_frame_without_crs_is_refused():
    frame = _grid(1).set_crs(None, allow_override=True)
    with pytest.raises(LandRenewError, match="没有坐标系"):
        display_frame(frame, fields=["parcel_id"])


def test_layer_payload_is_columnar_quantized_and_script_safe():
    squares = gpd.GeoDataFrame(
        {"parcel_id": ["<P1>", "P2"], "route": ["reclaim", None], "idle_years": [2.345, None]},
        geometry=[
            shapely.box(120.1, 30.2, 120.100002, 30.200001),
            shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)]),
        ],
        crs="EPSG:4326",
    )
    text = layer_payload(squares, ["parcel_id", "route", "idle_years"], layer="idle_assessment")
    assert "<" not in text and ">" not in text
    data = json.loads(text)
    assert data["fields"] == ["parcel_id", "route", "idle_years"]
    assert data["codes"] == {"route": ["none", "continue", "transfer", "reclaim", "review"]}
    assert data["rows"] == [["<P1>", 3, 2.35], ["P2", None, None]]
    assert data["scale"] == 1_000_000
    # ring 1 starts absolute, then deltas in 1e-6 degrees; decoding = cumulative sum
    xy = np.cumsum(np.array(data["xy"]).reshape(-1, 2), axis=0) / 1e6
    assert xy[:5].tolist() == [
        [120.100002, 30.2],
        [120.100002, 30.200001],
        [120.1, 30.200001],
        [120.1, 30.2],
        [120.100002, 30.2],
    ]
    assert data["rings"] == [0, 5, 10, 15] and data["polys"] == [0, 1, 2, 3] and data["parts"] == [0, 1, 3]


def test_map_carries_popup_fields_only_and_colours_from_the_registry():
    grid = _grid(2)
    m = map_from_layers({"idle_assessment": grid})
    html = m.get_root().render()
    (data,) = _script_data(html)
    assert data["fields"] == ["parcel_id", "route", "sub_route", "idle_type", "idle_years"]  # registry popup
    assert len(data["rows"]) == 4 and data["rows"][0][:2] == ["P0", 3]
    assert "reasons" not in html and "第二条" not in html and "onerror" not in html  # fetched on click
    assert '"reclaim":"#d73027"' in html and "收回收购" in html  # registry colour and label
    assert m.options["prefer_canvas"] is True
    assert "textContent" in html and "innerHTML" not in html
    assert html.count("bindTooltip") == 1  # one tooltip per layer


def test_map_draws_layers_in_order_and_escapes_through_text_nodes():
    towns = gpd.GeoDataFrame(
        {"town_code": ["T1"], "name": ["柯桥街道"], "kind": ["街道"]},
        geometry=[shapely.box(120.44, 30.04, 120.46, 30.06)],
        crs="EPSG:4490",
    )
    villages = gpd.GeoDataFrame(
        {"village_id": ["V1"], "name": [XSS], "status": ["late"], "percent_complete": [0.5]},
        geometry=[shapely.box(120.44, 30.04, 120.445, 30.045)],
        crs="EPSG:4490",
    )
    html = (
        map_from_layers({"idle_assessment": _grid(1), "towns": towns, "village_status": villages}).get_root().render()
    )
    data = _script_data(html)
    assert [d["fields"][0] for d in data] == ["name", "village_id", "parcel_id"]  # towns, villages, parcels
    assert XSS not in html  # only as \u003c...\u003e inside the script
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in html


@pytest.mark.parametrize(
    "basemap, kwargs, expect",
    [
        ("osm", {}, "tile.openstreetmap.org"),
        ("tianditu", {"tianditu_key": "KEY123"}, "tianditu.gov.cn/vec_w/wmts"),
        ("xyz", {"xyz_url": "/app/static/tiles/{z}/{x}/{y}.png"}, "/app/static/tiles/{z}/{x}/{y}.png"),
    ],
)
def test_basemaps(basemap, kwargs, expect):
    html = map_from_layers({"idle_assessment": _grid(1)}, basemap=basemap, **kwargs).get_root().render()
    assert expect in html


@pytest.mark.parametrize(
    "basemap, kwargs, message",
    [
        ("amap", {}, "未知底图“amap”"),
        ("tianditu", {}, "需要密钥"),
        ("xyz", {"xyz_url": "/tiles/"}, r"\{z\}/\{x\}/\{y\}"),
    ],
)
def test_basemap_errors(basemap, kwargs, message):
    with pytest.raises(LandRenewError, match=message):
        map_from_layers({"idle_assessment": _grid(1)}, basemap=basemap, **kwargs)


def test_no_basemap_by_default_and_unknown_layers_refused():
    html = map_from_layers({"idle_assessment": _grid(1)}).get_root().render()
    assert "L.tileLayer" not in html
    with pytest.raises(LandRenewError, match="地图不支持图层：parcels"):
        map_from_layers({"parcels": _grid(1)})


@pytest.mark.parametrize(
    "props, target",
    [
        ({"parcel_id": "P1", "route": "reclaim"}, ("idle_assessment", "P1")),
        ({"village_id": "V1", "status": "late"}, ("village_status", "V1")),
        ({"project_id": "PRJ1", "name": "x"}, ("projects", "PRJ1")),
        ({"name": "柯桥街道", "town_code": "T1"}, ("towns", "T1")),
        ({}, None),
        (None, None),
    ],
)
def test_feature_target(props, target):
    assert feature_target(props) == target


# ------------------------------------------------------------------------------------------ dashboard
def _parcels_and_villages():
    grid = _grid(3)
    grid["town_code"] = ["T1"] * 5 + ["T2"] * 4
    grid["area_m2"] = 10_000.0
    grid["idle_years"] = np.arange(9, dtype=float)
    villages = gpd.GeoDataFrame(
        {"village_id": ["V1", "V2"], "town_code": ["T1", "T2"], "status": ["late", "done"], "households": [100, 50]},
        geometry=[shapely.box(0, 0, 1, 1)] * 2,
        crs="EPSG:4490",
    )
    return grid, villages


@pytest.mark.parametrize(
    "flt, n_parcels, n_villages",
    [
        (dash.MapFilter(), 9, 2),
        (dash.MapFilter(towns=("T2",)), 4, 1),
        (dash.MapFilter(routes=("reclaim",)), 3, 2),
        (dash.MapFilter(routes=("reclaim",), towns=("T1",)), 2, 1),
        (dash.MapFilter(sub_routes=("extend_start",)), 3, 2),
        (dash.MapFilter(idle_years=(2.0, 4.0)), 3, 2),
        (dash.MapFilter(village_statuses=("done",)), 9, 1),
        (dash.MapFilter(land_uses=("工业用地",)), 0, 2),
    ],
)
def test_apply_filter(flt, n_parcels, n_villages):
    parcels, villages = _parcels_and_villages()
    p, v = dash.apply_filter(parcels, villages, flt)
    assert (len(p), len(v)) == (n_parcels, n_villages)


def test_map_filter_refuses_unknown_codes():
    with pytest.raises(LandRenewError, match="推荐处置路径.*sell"):
        dash.MapFilter(routes=("sell",))
    with pytest.raises(LandRenewError, match="闲置年限下限大于上限"):
        dash.MapFilter(idle_years=(3.0, 1.0))


def test_route_counts_follow_the_registry_order():
    parcels, _ = _parcels_and_villages()
    table = dash.route_counts(parcels)
    assert table["推荐处置路径"].tolist() == ["不纳入", "继续开发", "市场流通转让", "收回收购", "待研判"]
    assert table["宗数"].tolist() == [0, 3, 0, 3, 3]
    assert table["面积(公顷)"].tolist() == [0.0, 3.0, 0.0, 3.0, 3.0]


def test_villages_by_status_and_countdown():
    _, villages = _parcels_and_villages()
    table = dash.villages_by_status(villages).set_index("进展状态")
    assert table.loc["严重滞后", "村数"] == 1 and table.loc["已完成", "户数"] == 50
    assert table.loc["正常", "村数"] == 0
    assert dash.countdown(dt.date(2027, 12, 30))["days"] == 1
    assert dash.countdown(dt.date(2028, 1, 1))["days"] == -1


def test_village_burnup_and_progress_trend():
    villages = gpd.GeoDataFrame(
        {
            "village_id": ["V1"],
            "name": ["村"],
            "mode": ["整治提升"],
            "households": [10],
            "deadline": pd.to_datetime(["2027-12-31"]),
        },
        geometry=[shapely.box(120.4, 30.0, 120.41, 30.01)],
        crs="EPSG:4490",
    )
    progress = pd.DataFrame(
        {
            "village_id": ["V1", "V1"],
            "report_date": pd.to_datetime(["2025-01-31", "2026-01-31"]),
            "stage": ["works", "works"],
            "works_progress": [0.2, 0.6],
        }
    )
    burn = dash.village_burnup("V1", villages, progress)
    actual = burn[burn["序列"] == "实际完成"]
    target = burn[burn["序列"] == "按期完成所需"]
    assert actual["完成比例"].tolist() == [0.2, 0.6]
    assert target["日期"].tolist() == [pd.Timestamp("2025-01-31"), pd.Timestamp("2027-12-31")]
    assert target["完成比例"].tolist() == [0.2, 1.0]
    trend = dash.progress_trend(villages, progress)
    assert trend["全区完成比例"].tolist() == [0.2, 0.6]
    with pytest.raises(LandRenewError, match="没有编号为 V9 的城中村"):
        dash.village_burnup("V9", villages, progress)


def test_labelled_shows_chinese_labels_and_joins_lists():
    frame = pd.DataFrame(
        {
            "route": ["reclaim"],
            "alternatives": [[{"route": "transfer", "sub_route": "joint_development"}]],
            "as_of": pd.to_datetime(["2026-11-01"]),
        }
    )
    out = dash.labelled(frame, "idle_assessment", ["route", "alternatives", "as_of"])
    assert out.to_dict("records") == [
        {"推荐处置路径": "收回收购", "备选路径": "市场流通转让（合作开发）", "研判基准日": "2026-11-01"}
    ]


# ------------------------------------------------------------------------------------ vector tiles
def _voronoi_parcels(n: int = 300, seed: int = 3) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x0, y0, w, h = 120.45, 30.05, 0.02, 0.015
    cells = shapely.get_parts(
        shapely.voronoi_polygons(
            shapely.multipoints(shapely.points(x0 + rng.random(n) * w, y0 + rng.random(n) * h)),
            extend_to=shapely.box(x0, y0, x0 + w, y0 + h),
        )
    )
    cells = shapely.intersection(cells, shapely.box(x0, y0, x0 + w, y0 + h))
    routes = np.array(["reclaim", "transfer", "continue", "review", "none"])[rng.integers(0, 5, len(cells))]
    return gpd.GeoDataFrame(
        {
            "parcel_id": [f"KQ-{i:04d}" for i in range(len(cells))],
            "route": routes,
            "sub_route": np.where(routes == "reclaim", "negotiated_reclaim", None),
            "idle_type": np.where(routes == "none", "none", "halted_idle"),
            "idle_years": rng.uniform(0, 8, len(cells)),
            "holder": XSS,
        },
        geometry=cells,
        crs="EPSG:4490",
    )


def _decoded(path) -> dict[int, list[tuple[int, int, dict, object]]]:
    """{zoom: [(feature id, key, properties, lon/lat geometry)]} read with the pmtiles reader and the
    mapbox-vector-tile decoder (both independent of gis.tiles)."""
    import gzip

    import mapbox_vector_tile
    from pmtiles.reader import MmapSource, Reader, all_tiles

    out: dict[int, list] = {}
    with open(path, "rb") as fh:
        for (z, x, y), data in all_tiles(Reader(MmapSource(fh)).get_bytes):
            layers = mapbox_vector_tile.decode(gzip.decompress(data), default_options={"y_coord_down": True})
            n = 4096 * 2**z

            def to_lonlat(xy, x=x, y=y, n=n):
                lon = (xy[:, 0] + x * 4096) / n * 360 - 180
                lat = np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * (xy[:, 1] + y * 4096) / n))))
                return np.column_stack([lon, lat])

            for layer in layers.values():
                for f in layer["features"]:
                    geom = shapely.transform(shapely.geometry.shape(f["geometry"]), to_lonlat)
                    out.setdefault(z, []).append((f["id"], f["properties"], geom))
    return out


def test_tiles_decode_to_the_source_parcels_with_their_fields(tmp_path):
    from gis.maps import tile_fields, tile_keep
    from gis.tiles import build_tileset

    frame = _voronoi_parcels()
    ts = build_tileset(
        frame,
        tmp_path / "p.pmtiles",
        key="parcel_id",
        fields=tile_fields("idle_assessment"),
        layer_name="idle_assessment",
        keep=tile_keep(frame),
        minzoom=10,
        maxzoom=14,
    )
    tiles = _decoded(ts.path)
    assert sorted(tiles) == [10, 11, 12, 13, 14]
    src = frame.set_index("parcel_id")
    for z, feats in tiles.items():
        assert {ts.keys[i] for i, _, _ in feats} == set(frame["parcel_id"]), z  # every parcel at every zoom
        for i, props, _ in feats:
            row = src.loc[ts.keys[i]]
            assert props["parcel_id"] == ts.keys[i] and props["route"] == row["route"]
            assert props["idle_years"] == pytest.approx(round(row["idle_years"], 1))
            assert ("sub_route" in props) == isinstance(row["sub_route"], str)
            assert "holder" not in props  # only the tooltip and style fields travel
    # at zoom 14 (no simplification) each decoded parcel is its source polygon snapped to the tile grid:
    # no vertex further than one grid step (360 / 2^14 / 4096 degrees, about 0.5 m)
    step = 360 / 2**14 / 4096
    for i, _, geom in tiles[14]:
        assert shapely.hausdorff_distance(geom, src.loc[ts.keys[i]].geometry) < step


def test_tiles_simplify_as_a_coverage_no_gaps_no_overlaps(tmp_path):
    from gis.tiles import build_tileset

    frame = _voronoi_parcels(400)
    ts = build_tileset(frame, tmp_path / "p.pmtiles", key="parcel_id", fields=["parcel_id"], minzoom=11, maxzoom=12)
    for z, feats in _decoded(ts.path).items():
        by_id = {}
        for i, _, geom in feats:  # a parcel split over two tiles is the same polygon in both
            by_id.setdefault(i, geom)
        geoms = np.array(list(by_id.values()))
        assert shapely.get_num_coordinates(geoms).sum() < shapely.get_num_coordinates(frame.geometry.array).sum()
        union = shapely.union_all(geoms)
        outline = shapely.union_all(frame.geometry.array)
        assert shapely.area(geoms).sum() == pytest.approx(union.area, rel=1e-3), z  # no overlaps
        assert union.area == pytest.approx(outline.area, rel=2e-3), z  # no gaps


def test_idle_parcels_are_never_dropped_even_below_a_pixel(tmp_path):
    from gis.maps import tile_keep
    from gis.tiles import build_tileset

    d = 1e-5  # about 1 m: far below a pixel at zoom 8-11
    frame = gpd.GeoDataFrame(
        {
            "parcel_id": ["IDLE", "DONE", "BIG"],
            "route": ["reclaim", "none", "none"],
            "idle_type": ["halted_idle", "none", "none"],
        },
        geometry=[
            shapely.box(120.5, 30.1, 120.5 + d, 30.1 + d),
            shapely.box(120.51, 30.1, 120.51 + d, 30.1 + d),
            shapely.box(120.52, 30.1, 120.53, 30.11),
        ],
        crs="EPSG:4490",
    )
    ts = build_tileset(
        frame,
        tmp_path / "p.pmtiles",
        key="parcel_id",
        fields=["parcel_id"],
        keep=tile_keep(frame),
        minzoom=8,
        maxzoom=14,
    )
    tiles = _decoded(ts.path)
    for z, feats in tiles.items():
        shown = {ts.keys[i] for i, _, _ in feats}
        assert {"IDLE", "BIG"} <= shown, z
        if z <= 11:
            assert "DONE" not in shown, z  # a finished parcel may vanish where it is below the tile grid
    idle_at_8 = next(g for i, _, g in tiles[8] if ts.keys[i] == "IDLE")
    assert (
        idle_at_8.contains(shapely.Point(120.5 + d / 2, 30.1 + d / 2))
        or idle_at_8.distance(shapely.Point(120.5, 30.1)) < 1e-3
    )  # drawn where the parcel is
    assert {ts.keys[i] for i, _, _ in tiles[14]} == {"IDLE", "DONE", "BIG"}


def test_tile_mask_is_a_bitset_by_feature_id():
    from gis.tiles import TileSet

    ts = TileSet(
        path=None,
        url="u",
        layer="l",
        key="k",
        keys=np.array(["A", "B", "C", "D", "E", "F", "G", "H", "I"], dtype=object),
        fields=(),
        bounds=(0, 0, 1, 1),
        minzoom=8,
        maxzoom=14,
    )
    import base64

    assert base64.b64decode(ts.mask(["A", "C", "I", "nope"])) == bytes([0b101, 0b1])
    assert ts.mask(list("ABCDEFGHI")) is None  # everything shown: no mask
    assert ts.index_of("C") == 2 and ts.index_of("Z") is None


def test_tile_threshold_setting(monkeypatch):
    from gis.tiles import TILE_THRESHOLD, tile_threshold

    monkeypatch.delenv("LANDRENEW_MAP_TILE_THRESHOLD", raising=False)
    assert tile_threshold() == TILE_THRESHOLD == 20_000
    monkeypatch.setenv("LANDRENEW_MAP_TILE_THRESHOLD", "500")
    assert tile_threshold() == 500
    monkeypatch.setenv("LANDRENEW_MAP_TILE_THRESHOLD", "很多")
    with pytest.raises(LandRenewError, match="LANDRENEW_MAP_TILE_THRESHOLD 应为整数"):
        tile_threshold()


def test_a_tiled_map_carries_no_parcel_and_loads_only_local_files(tmp_path):
    from gis.maps import map_overlay, tile_fields
    from gis.tiles import build_tileset

    frame = _voronoi_parcels(50)
    ts = build_tileset(
        frame,
        tmp_path / "p.pmtiles",
        key="parcel_id",
        fields=tile_fields("idle_assessment"),
        layer_name="idle_assessment",
        url="/app/static/mvt/p.pmtiles",
        minzoom=12,
        maxzoom=13,
    )
    m = map_from_layers({"idle_assessment": frame}, tiles={"idle_assessment": ts})
    shown = frame[frame["route"] == "reclaim"]
    map_overlay({"idle_assessment": shown}, tiles={"idle_assessment": ts}, selected=frame.iloc[:1]).add_to(m)
    html = m.get_root().render()
    assert external_urls(html) == []
    assert '<script src="/app/static/protomaps-leaflet/protomaps-leaflet.js"></script>' in html
    assert "/app/static/mvt/p.pmtiles" in html
    assert not any(pid in html for pid in frame["parcel_id"])  # the parcels come from the tiles only
    assert XSS not in html and ts.mask(shown["parcel_id"]) in html
    assert (STATIC_DIR / "protomaps-leaflet" / "LICENSE").exists()
