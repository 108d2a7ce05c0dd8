"""Exports: RFC 7946 GeoJSON (+ sidecar), QGIS-styled GeoPackage, Excel ledgers, the annual report.

The store is built in ``tmp_path`` from tiny hand-made conformed frames: two towns, six parcels (one with a
hole, one drawn clockwise, one multipolygon, one on every route), three villages, two decisions.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely
from click.testing import CliRunner

from gis.errors import LandRenewError
from gis.export import SYNTHETIC_NOTE, export_geojson, export_gpkg, geojson_text
from gis.frames import conform
from gis.ledger import write_ledger
from gis.report import build_report
from gis.schema import get_layer
from gis.store import GeoPackageStore
from gis.styles import layer_qml, layer_sld

DISTRICT = gpd.read_file(Path(__file__).resolve().parents[1] / "gis" / "data" / "keqiao_district.geojson")
AS_OF = pd.Timestamp("2026-11-01")
T1, T2 = "330603001", "330603011"


def _poly(x0: float, y0: float, size: float = 0.004, *, hole: bool = False, cw: bool = False) -> shapely.Geometry:
    # 10 decimals on purpose: the export must round to 6
    ring = [(x0 + 0.0000001234, y0 + 0.0000004321), (x0 + size, y0), (x0 + size, y0 + size), (x0, y0 + size)]
    if cw:
        ring = ring[::-1]
    holes = (
        [
            [
                (x0 + size * 0.3, y0 + size * 0.3),
                (x0 + size * 0.3, y0 + size * 0.6),
                (x0 + size * 0.6, y0 + size * 0.6),
                (x0 + size * 0.6, y0 + size * 0.3),
            ]
        ]
        if hole
        else None
    )
    return shapely.Polygon(ring, holes)


REASON = {"rule_id": "I1", "text": "超过约定动工日期满一年未动工", "citation": "《闲置土地处置办法》第二条第一款"}


def _assessment() -> gpd.GeoDataFrame:
    rows = [
        # parcel, town, route, sub_route, geometry, idle_since
        ("P001", T1, "continue", "extend_start", _poly(120.46, 30.06, hole=True), "2023-05-01"),
        ("P002", T1, "transfer", "whole_transfer", _poly(120.47, 30.06, cw=True), "2022-01-15"),
        (
            "P003",
            T1,
            "transfer",
            "joint_development",
            shapely.MultiPolygon([_poly(120.48, 30.06), _poly(120.49, 30.06, cw=True)]),
            None,
        ),
        ("P004", T2, "reclaim", "reclaim_without_compensation", _poly(120.49, 29.95), "2021-03-01"),
        ("P005", T2, "review", None, _poly(120.50, 29.95), None),
        ("P006", T2, "none", None, _poly(120.51, 29.95), None),
    ]
    n = len(rows)
    frame = pd.DataFrame(
        {
            "parcel_id": [r[0] for r in rows],
            "town_code": [r[1] for r in rows],
            "as_of": [AS_OF] * n,
            "rules_version": ["2024.1"] * n,
            "in_stock_scope": [r[2] != "none" for r in rows],
            "dev_status": ["not_started"] * n,
            "idle_type": ["not_started_idle", "not_started_idle", "none", "not_started_idle", "none", "none"],
            "idle_since": [r[5] for r in rows],
            "idle_years": [3.5, 4.8, np.nan, 5.67, np.nan, np.nan],
            "cause": ["government", "enterprise", None, "enterprise", "unknown", None],
            "route": [r[2] for r in rows],
            "sub_route": [r[3] for r in rows],
            "alternatives": [[{"route": "transfer", "sub_route": "whole_transfer"}], [], [], [], [], []],
            "measures": [["督促动工"], [], [], ["征缴土地闲置费", "无偿收回"], [], []],
            "reasons": [
                [REASON, {"rule_id": "R4", "text": "企业有能力继续开发", "citation": "方案 §二(三)1"}],
                [REASON],
                [],
                [REASON],
                [],
                [],
            ],
            "evidence_conflict": [False] * n,
            "project_ids": [["XM1/2024"], [], [], [], [], []],
            "village_ids": [[], [], [], ["V01"], [], []],
        }
    )
    return gpd.GeoDataFrame(frame, geometry=[r[4] for r in rows], crs="EPSG:4490")


def _villages() -> gpd.GeoDataFrame:
    frame = pd.DataFrame(
        {
            "village_id": ["V01", "V02", "V03"],
            "name": ["某溪村", "某桥村", "某塘村"],
            "town_code": [T1, T1, T2],
            "mode": ["拆除新建", "整治提升", "拆整结合"],
            "stage": ["done", "works", "signing"],
            "percent_complete": [1.0, 0.6, 0.1],
            "status": ["done", "on_track", "late"],
            "projected_completion": ["2025-06-30", "2027-06-30", "2029-03-31"],
            "months_to_deadline": [14.0, 14.0, 14.0],
            "as_of": [AS_OF] * 3,
            "households": [120, 80, 300],
            "notes": [[], ["按期推进"], ["月均进度低于所需进度", "签约率 10%"]],
        }
    )
    geoms = [_poly(120.455, 30.07, 0.006), _poly(120.47, 30.08, 0.006), _poly(120.50, 29.96, 0.006)]
    return gpd.GeoDataFrame(frame, geometry=geoms, crs="EPSG:4490")


def _towns() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"town_code": [T1, T2], "name": ["柯桥街道", "兰亭街道"], "kind": ["街道", "街道"]},
        geometry=[shapely.box(120.45, 30.05, 120.50, 30.10), shapely.box(120.48, 29.93, 120.53, 29.98)],
        crs="EPSG:4490",
    )


FORMULA_HOLDER = '=HYPERLINK("http://x.example/","点击领取")'


def _parcels() -> gpd.GeoDataFrame:
    """The ledger rows behind the assessment (P006 has none: its facts stay blank)."""
    a = _assessment()
    n = 5
    frame = pd.DataFrame(
        {
            "parcel_id": [f"P00{i}" for i in range(1, n + 1)],
            "supervision_no": [f"3306032020B0000{i}" for i in range(1, n + 1)],
            "town_code": ["X"] * n,  # the ledger's own code; the sheet shows the town as assessed
            "holder": ["绍兴某某置业有限公司", FORMULA_HOLDER, "+86某某实业", "柯桥某某开发有限公司", "@某某公司"],
            "enterprise_id": ["E1", "E2", None, "E1", None],
            "land_use": ["住宅用地", "商服用地", "工业用地", "住宅用地", "其他"],
            "area_m2": [6666.67, 10000.0, 20000.0, 3000.0, 1500.0],
            "supply_date": ["2019-01-15", "2019-02-15", "2019-03-15", "2018-04-15", "2020-05-15"],
            "agreed_start_date": ["2019-06-30", "2019-07-30", "2019-08-30", "2018-09-30", "2020-10-30"],
            "agreed_completion_date": ["2022-06-30", "2022-07-30", "2022-08-30", "2021-09-30", "2023-10-30"],
            "land_price_wan": [5000.0, 6000.0, 1200.0, 800.0, 300.0],
        }
    )
    return gpd.GeoDataFrame(frame, geometry=a.geometry.iloc[:n].to_numpy(), crs="EPSG:4490")


def _enterprises() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "enterprise_id": ["E1", "E2"],
            "name": ["绍兴某某置业有限公司", "浙江某某集团有限公司"],
            "risk_level": ["normal", "high"],
            "in_default": [False, True],
            "willing_to_continue": ["yes", "no"],
        }
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> GeoPackageStore:
    st = GeoPackageStore(tmp_path_factory.mktemp("store") / "store.gpkg")
    st.write_layers(
        {
            "towns": conform(_towns(), "towns"),
            "parcels": conform(_parcels(), "parcels"),
            "enterprises": conform(_enterprises(), "enterprises"),
            "idle_assessment": conform(_assessment(), "idle_assessment"),
            "village_status": conform(_villages(), "village_status"),
        },
        meta={"synthetic": "true"},
    )
    for i, (pid, route, when) in enumerate(
        [("P002", "transfer", "2026-03-05T02:00:00Z"), ("P004", "reclaim", "2025-12-31T20:00:00Z")]
    ):
        st.append_decision(
            {
                "decision_id": f"D{i + 1}",
                "parcel_id": pid,
                "route": route,
                "note": "同意研判结果",
                "decided_by": "张三",
                "decided_at": when,
                "based_on_version": st.current_version(pid),
                "rules_version": "2024.1",
            }
        )
    return st


@pytest.fixture(scope="module")
def real_store(tmp_path_factory) -> GeoPackageStore:
    """The same layers, not synthetic."""
    st = GeoPackageStore(tmp_path_factory.mktemp("real") / "real.gpkg")
    st.write_layers({"idle_assessment": conform(_assessment(), "idle_assessment")})
    return st


def _rings(geom: dict) -> list[tuple[str, list]]:
    polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
    return [("exterior" if i == 0 else "hole", ring) for poly in polys for i, ring in enumerate(poly)]


# ------------------------------------------------------------------------------------------------ GeoJSON
@pytest.fixture(scope="module")
def geojson_files(store, tmp_path_factory) -> list[Path]:
    return export_geojson(store, tmp_path_factory.mktemp("gj"))


def test_geojson_files_and_gdal_reader(geojson_files):
    assert [p.name for p in geojson_files] == ["idle_assessment.geojson", "village_status.geojson"]
    info = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-so", str(geojson_files[0])], capture_output=True, text=True, check=True
    ).stdout
    assert "Feature Count: 6" in info
    assert "Geometry: Unknown (any)" in info or "Polygon" in info
    assert re.search(r"reasons: (String|StringList)", info)
    assert 'ID["EPSG",4326]' in info


def test_geojson_validator(geojson_files):
    import geojson_validator

    for path in geojson_files:
        assert geojson_validator.validate_structure(str(path), check_crs=True) == {}
        result = geojson_validator.validate_geometries(str(path))
        assert result["invalid"] == {}, result
        assert "excessive_coordinate_precision" not in result["problematic"]
        assert "outside_lat_lon_boundaries" not in result["problematic"]


def test_geojson_rfc7946(geojson_files):
    doc = json.loads(geojson_files[0].read_text(encoding="utf-8"))
    assert "crs" not in doc and doc["type"] == "FeatureCollection"
    district = DISTRICT.geometry.iloc[0]
    n_rings = {"exterior": 0, "hole": 0}
    for feat in doc["features"]:
        for kind, ring in _rings(feat["geometry"]):
            n_rings[kind] += 1
            assert shapely.LinearRing(ring).is_ccw == (kind == "exterior"), (feat["properties"]["parcel_id"], kind)
            xy = np.array(ring)
            assert ((xy[:, 0] >= -180) & (xy[:, 0] <= 180) & (xy[:, 1] >= -90) & (xy[:, 1] <= 90)).all()
            assert np.array_equal(xy, np.round(xy, 6))
        assert district.contains(shapely.geometry.shape(feat["geometry"]))
    # P001 has a hole, P002 (clockwise in the source) and the multipolygon's second part were flipped
    assert n_rings == {"exterior": 7, "hole": 1}
    text = geojson_files[0].read_text(encoding="utf-8")
    assert not re.search(r"\d\.\d{7,}", text)  # no coordinate (or number) with more than 6 decimals
    assert "120.460000" not in text and "120.46," in text  # shortest form, not padded


def test_geojson_properties(geojson_files):
    feats = {
        f["properties"]["parcel_id"]: f["properties"]
        for f in json.loads(geojson_files[0].read_text(encoding="utf-8"))["features"]
    }
    p1 = feats["P001"]
    assert list(p1) == get_layer("idle_assessment").field_names
    assert p1["reasons"][0] == REASON and isinstance(p1["measures"], list)
    assert p1["alternatives"] == [{"route": "transfer", "sub_route": "whole_transfer"}]
    assert p1["project_ids"] == ["XM1/2024"]  # "/" unescaped
    assert (p1["as_of"], p1["idle_since"], p1["route"], p1["in_stock_scope"]) == (
        "2026-11-01",
        "2023-05-01",
        "continue",
        True,
    )
    assert feats["P005"]["idle_since"] is None and feats["P005"]["measures"] == []
    assert feats["P004"]["idle_years"] == 5.67


def test_geojson_labels_zh(store):
    frame = store.read_layer("idle_assessment")
    doc = json.loads(geojson_text(frame, "idle_assessment", labels="zh"))
    props = {f["properties"]["宗地编号"]: f["properties"] for f in doc["features"]}
    assert doc["name"] == "闲置土地研判"
    assert list(props["P001"]) == list(get_layer("idle_assessment").labels().values())
    assert props["P001"]["推荐处置路径"] == "继续开发" and props["P001"]["具体方式"] == "延长动工期限"
    assert props["P001"]["备选路径"] == ["市场流通转让（整体转让）"]
    assert props["P001"]["研判依据"][0] == {"规则号": "I1", "理由": REASON["text"], "依据": REASON["citation"]}
    assert props["P006"]["推荐处置路径"] == "不纳入" and props["P006"]["具体方式"] is None


def test_geojson_by_town_and_sidecar(store, tmp_path):
    (path,) = export_geojson(store, tmp_path / "lt.geojson", layers=["idle_assessment"], town=T2)
    ids = [f["properties"]["parcel_id"] for f in json.loads(path.read_text(encoding="utf-8"))["features"]]
    assert ids == ["P004", "P005", "P006"]
    meta = json.loads((tmp_path / "lt.meta.json").read_text(encoding="utf-8"))
    layer = meta["layers"]["idle_assessment"]
    assert layer["counts_by_route"] == {"none": 1, "continue": 0, "transfer": 0, "reclaim": 1, "review": 1}
    assert layer["counts_by_route_zh"]["收回收购"] == 1
    assert (layer["count"], layer["as_of"], layer["rules_version"]) == (3, "2026-11-01", ["2024.1"])
    assert (meta["town"], meta["synthetic"], meta["note"]) == (T2, True, SYNTHETIC_NOTE)
    assert meta["source_store"] == store.url
    assert dt.datetime.fromisoformat(meta["generated_at"]).tzinfo is not None


def test_sidecar_not_synthetic(real_store, tmp_path):
    (path,) = export_geojson(real_store, tmp_path, layers=["idle_assessment"])
    meta = json.loads(path.with_name("idle_assessment.meta.json").read_text(encoding="utf-8"))
    assert meta["synthetic"] is False and "note" not in meta


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layers": ["idle_assessment"], "town": "999"}, "镇街代码 “999”.*没有记录"),
        ({"layers": ["decisions"]}, "没有几何"),
        ({"layers": ["resettlement_sites"]}, "没有几何"),
        ({"layers": ["nope"]}, "未知图层"),
    ],
)
def test_geojson_errors(store, tmp_path, kwargs, message):
    with pytest.raises(LandRenewError, match=message):
        export_geojson(store, tmp_path, **kwargs)


def test_geojson_multi_layer_to_file_refused(store, tmp_path):
    with pytest.raises(LandRenewError, match="--out 应为文件夹"):
        export_geojson(store, tmp_path / "x.geojson")


def test_unknown_town_error_lists_known_towns(store, tmp_path):
    with pytest.raises(LandRenewError) as info:
        export_geojson(store, tmp_path, layers=["village_status"], town="330603099")
    assert "330603001（柯桥街道）" in info.value.fix


# ------------------------------------------------------------------------------------------------ GeoPackage
def test_gpkg_layer_styles(store, tmp_path):
    path = export_gpkg(store, tmp_path / "out.gpkg")
    assert {n for n, _ in pyogrio.list_layers(path)} == {"idle_assessment", "village_status", "towns", "layer_styles"}
    styles = pyogrio.read_dataframe(path, layer="layer_styles")
    assert set(styles.columns) >= {
        "f_table_catalog",
        "f_table_schema",
        "f_table_name",
        "f_geometry_column",
        "styleName",
        "styleQML",
        "styleSLD",
        "useAsDefault",
        "description",
        "owner",
        "ui",
        "update_time",
    }
    row = styles.set_index("f_table_name").loc["idle_assessment"]
    assert row["f_geometry_column"] == pyogrio.read_info(path, layer="idle_assessment")["geometry_name"]
    assert bool(row["useAsDefault"])
    qml = row["styleQML"]
    for value, label, color in [("continue", "继续开发", "26,152,80"), ("reclaim", "收回收购", "215,48,39")]:
        assert f'value="{value}" label="{label}"' in qml
        assert f'value="{color},200"' in qml
    assert 'attr="route"' in qml and '<alias field="parcel_id" index="0" name="宗地编号" />' in qml
    assert "<ogc:Literal>reclaim</ogc:Literal>" in row["styleSLD"] and "#d73027" in row["styleSLD"]
    vs = styles.set_index("f_table_name").loc["village_status", "styleQML"]
    assert 'attr="status"' in vs and 'label="严重滞后"' in vs
    back = pyogrio.read_dataframe(path, layer="idle_assessment")
    assert len(back) == 6 and back.crs.to_epsg() == 4490
    info = pyogrio.read_info(path, layer="idle_assessment")
    assert dict(zip(info["fields"], info["dtypes"]))["as_of"] == "datetime64[D]"  # a DATE column, not DATETIME
    assert json.loads(back.set_index("parcel_id").loc["P001", "reasons"])[0] == REASON


def test_gpkg_by_town(store, tmp_path):
    path = export_gpkg(store, tmp_path / "t.gpkg", town=T1)
    assert list(pyogrio.read_dataframe(path, layer="idle_assessment")["parcel_id"]) == ["P001", "P002", "P003"]
    assert list(pyogrio.read_dataframe(path, layer="towns")["town_code"]) == [T1]
    meta = json.loads((tmp_path / "t.meta.json").read_text(encoding="utf-8"))
    assert meta["layers"]["village_status"]["counts_by_status"]["on_track"] == 1
    path = export_gpkg(store, tmp_path / "d.gpkg", layers=["idle_assessment", "decisions"], town=T2)
    assert list(pyogrio.read_dataframe(path, layer="decisions")["decision_id"]) == ["D2"]  # P004 is in T2
    assert "decisions" not in set(pyogrio.read_dataframe(path, layer="layer_styles")["f_table_name"])


def test_qml_sld_parse_and_single_symbol():
    import xml.etree.ElementTree as ET

    ET.fromstring(layer_sld("idle_assessment"))
    towns = ET.fromstring(layer_qml("towns").split("\n", 1)[1])
    assert towns.find("renderer-v2").get("type") == "singleSymbol"
    assert [a.get("name") for a in towns.iter("alias")] == ["镇街代码", "镇街名称", "类型"]


# ------------------------------------------------------------------------------------------------ Excel
@pytest.fixture(scope="module")
def ledger(store, tmp_path_factory) -> openpyxl.Workbook:
    path = write_ledger(store, tmp_path_factory.mktemp("xlsx") / "台账.xlsx")
    return openpyxl.load_workbook(path)


def test_ledger_sheets_and_counts(ledger, store):
    route = get_layer("idle_assessment").field("route")
    assert ledger.sheetnames == [
        "汇总",
        *[route.label_of(v) for v in route.values],
        "城中村改造进展",
        "处置台账",
        "处置进度",
        "审定记录",
    ]
    counts = store.read_layer("idle_assessment")["route"].value_counts()
    for value in route.values:
        ws = ledger[route.label_of(value)]
        assert ws.max_row - 2 == counts.get(value, 0)  # title row + header row
        assert ws.freeze_panes == "B3"


LEDGER_FACT_HEADERS = [
    "宗地编号",
    "电子监管号",
    "镇街代码",
    "受让人",
    "企业代码",
    "企业名称",
    "土地用途",
    "出让面积(平方米)",
    "出让面积(亩)",
    "供地日期",
    "约定动工日期",
    "约定竣工日期",
    "实际动工日期",
    "实际竣工日期",
    "出让价款(万元)",
]


def test_ledger_headers_and_cells(ledger):
    layer = get_layer("idle_assessment")
    ws = ledger["继续开发"]
    assert "模拟数据" in ws["A1"].value
    headers = [c.value for c in ws[2]]
    rest = [f.label for f in layer.fields if f.name not in ("parcel_id", "town_code")]
    assert headers == LEDGER_FACT_HEADERS + rest
    assert ws["A2"].font.bold and ws["A2"].fill.fgColor.rgb.endswith("DDEBF7")
    row = {h: c for h, c in zip(headers, ws[3])}
    assert row["宗地编号"].value == "P001" and row["推荐处置路径"].value == "继续开发"
    assert row["具体方式"].value == "延长动工期限" and row["属存量土地"].value == "是"
    assert row["研判基准日"].value == dt.datetime(2026, 11, 1) and row["研判基准日"].number_format == "yyyy-mm-dd"
    assert row["研判依据"].value.split("\n")[0] == f"I1 {REASON['text']}（{REASON['citation']}）"
    assert row["备选路径"].value == "市场流通转让（整体转让）"
    assert ws.column_dimensions["A"].width >= 10


def test_ledger_route_sheets_carry_the_ledger_facts(ledger):
    row = {c.value: v for c, v in zip(ledger["继续开发"][2], ledger["继续开发"][3])}
    assert row["宗地编号"].value == "P001" and row["镇街代码"].value == T1  # the town as assessed
    assert row["电子监管号"].value == "3306032020B00001" and row["受让人"].value == "绍兴某某置业有限公司"
    assert row["企业代码"].value == "E1" and row["企业名称"].value == "绍兴某某置业有限公司"
    assert row["土地用途"].value == "住宅用地" and row["出让面积(平方米)"].value == 6666.67
    assert row["出让面积(亩)"].value == 10.0  # 6666.67 m2 x 15 / 10,000
    assert row["供地日期"].value == dt.datetime(2019, 1, 15) and row["供地日期"].number_format == "yyyy-mm-dd"
    assert row["约定动工日期"].value == dt.datetime(2019, 6, 30)
    assert row["约定竣工日期"].value == dt.datetime(2022, 6, 30) and row["出让价款(万元)"].value == 5000.0
    none = {c.value: v for c, v in zip(ledger["不纳入"][2], ledger["不纳入"][3])}
    assert none["宗地编号"].value == "P006" and none["受让人"].value is None  # no ledger row: blank, not lost


def test_ledger_formula_text_written_as_text(store, tmp_path):
    """受让人 text starting with = + @ is a text cell (t="s"), never a formula, in Excel's own XML."""
    import html
    import zipfile

    path = write_ledger(store, tmp_path / "f.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["市场流通转让"]
    holders = [r[[c.value for c in ws[2]].index("受让人")] for r in ws.iter_rows(min_row=3)]
    assert [(c.value, c.data_type) for c in holders] == [(FORMULA_HOLDER, "s"), ("+86某某实业", "s")]
    with zipfile.ZipFile(path) as zf:
        # openpyxl writes non-ASCII as character references when lxml is installed: compare the decoded text
        xml = html.unescape(
            "".join(zf.read(n).decode("utf-8") for n in zf.namelist() if n.startswith("xl/worksheets/"))
        )
    assert "<f>" not in xml and "<f " not in xml  # no formula anywhere
    assert '<is><t>=HYPERLINK("http://x.example/","点击领取")</t></is>' in xml  # an inline text cell


def test_gpkg_export_opens_without_warning_in_debian_gdal_36(store, tmp_path):
    """QGIS 3.28 LTR's GDAL 3.6 (Debian 12 ogrinfo) warns on GeoPackage 1.4; exports are written as 1.3."""
    import shutil
    import sqlite3

    ogrinfo = shutil.which("ogrinfo")
    assert ogrinfo, "ogrinfo (Debian package gdal-bin) is needed: make system-deps"
    version = subprocess.run([ogrinfo, "--version"], capture_output=True, text=True).stdout
    out = export_gpkg(store, tmp_path / "e.gpkg")
    with sqlite3.connect(out) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 10300
    run = subprocess.run([ogrinfo, "-ro", "-al", "-so", str(out)], capture_output=True, text=True)
    assert run.returncode == 0 and run.stderr.strip() == "", (version, run.stderr)
    assert "Layer name: idle_assessment" in run.stdout
    # the store itself (written by the newer GDAL) is what would warn
    if version.startswith("GDAL 3.6"):
        store_run = subprocess.run([ogrinfo, "-ro", "-so", str(store.path)], capture_output=True, text=True)
        assert "may only be partially supported" in store_run.stderr


def test_geojson_with_ledger_facts(store, tmp_path):
    [plain] = export_geojson(store, tmp_path / "plain", layers=["idle_assessment"])
    [facts] = export_geojson(store, tmp_path / "facts", layers=["idle_assessment"], with_ledger=True)
    p0 = json.loads(plain.read_text(encoding="utf-8"))["features"][0]["properties"]
    f0 = json.loads(facts.read_text(encoding="utf-8"))["features"][0]["properties"]
    assert "holder" not in p0
    assert {
        k: f0[k]
        for k in (
            "parcel_id",
            "holder",
            "supervision_no",
            "enterprise_name",
            "area_mu",
            "supply_date",
            "agreed_start_date",
            "land_price_wan",
        )
    } == {
        "parcel_id": "P001",
        "holder": "绍兴某某置业有限公司",
        "supervision_no": "3306032020B00001",
        "enterprise_name": "绍兴某某置业有限公司",
        "area_mu": 10.0,
        "supply_date": "2019-01-15",
        "agreed_start_date": "2019-06-30",
        "land_price_wan": 5000.0,
    }
    assert set(p0) < set(f0)
    last = json.loads(facts.read_text(encoding="utf-8"))["features"][-1]["properties"]
    assert last["parcel_id"] == "P006" and last["holder"] is None
    [zh] = export_geojson(store, tmp_path / "zh", layers=["idle_assessment"], with_ledger=True, labels="zh")
    z0 = json.loads(zh.read_text(encoding="utf-8"))["features"][0]["properties"]
    assert z0["受让人"] == "绍兴某某置业有限公司" and z0["出让面积(亩)"] == 10.0


def test_ledger_summary_and_villages(ledger):
    ws = ledger["汇总"]
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=2)]
    header, body = rows[0], rows[1:]
    assert header[:3] == ["镇街代码", "镇街名称", "宗地数"]
    by_town = {r[0]: dict(zip(header, r)) for r in body}
    assert by_town[T1]["镇街名称"] == "柯桥街道" and by_town[T1]["宗地数"] == 3
    assert by_town[T1]["市场流通转让(宗)"] == 2 and by_town[T2]["收回收购(宗)"] == 1
    assert by_town["合计"]["宗地数"] == 6
    # P002 + P003 (two parts): three 0.004° squares, about 385 m x 444 m each at 30°N
    assert by_town[T1]["市场流通转让(公顷)"] == pytest.approx(3 * 385.5 * 443.6 / 1e4, rel=0.01)
    vs = ledger["城中村改造进展"]
    assert [c.value for c in vs[2]][:3] == ["村编号", "村名", "镇街代码"]
    late = {r[0].value: r for r in vs.iter_rows(min_row=3)}["V03"]
    vlabels = list(get_layer("village_status").labels().values())
    assert late[vlabels.index("进展状态")].value == "严重滞后"
    assert late[vlabels.index("说明")].value == "月均进度低于所需进度\n签约率 10%"
    assert late[vlabels.index("预计完成日期")].number_format == "yyyy-mm-dd"
    dec = ledger["审定记录"]
    # sorted by time; shown in Beijing time (2025-12-31T20:00Z -> 2026-01-01 04:00)
    assert [c.value for c in dec[3]][:3] == ["D2", "P004", "收回收购"]
    assert [c.value for c in dec[4]][:3] == ["D1", "P002", "市场流通转让"]
    at = list(get_layer("decisions").labels().values()).index("审定时间")
    assert dec[3][at].value == dt.datetime(2026, 1, 1, 4, 0) and dec[3][at].number_format == "yyyy-mm-dd hh:mm"


# ------------------------------------------------------------------------------------------------ CLI
@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "xlsx"])
def test_cli_export(store, tmp_path, fmt):
    from pipelines.cli import main

    out = tmp_path / {"geojson": "gj", "gpkg": "x.gpkg", "xlsx": "x.xlsx"}[fmt]
    result = CliRunner().invoke(
        main, ["export", "--format", fmt, "--store", store.url, "--out", str(out), "--labels", "zh", "--town", T1]
    )
    assert result.exit_code == 0, result.output
    assert "模拟数据" in result.output
    if fmt == "geojson":
        doc = json.loads((out / f"idle_assessment_{T1}.geojson").read_text(encoding="utf-8"))
        assert {f["properties"]["镇街代码"] for f in doc["features"]} == {T1}
    else:
        assert out.exists()


def test_cli_export_with_ledger(store, tmp_path):
    from pipelines.cli import main

    result = CliRunner().invoke(
        main,
        [
            "export",
            "--format",
            "geojson",
            "--store",
            store.url,
            "--out",
            str(tmp_path / "a.geojson"),
            "--layer",
            "idle_assessment",
            "--with-ledger",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "a.geojson").read_text(encoding="utf-8"))
    first = doc["features"][0]["properties"]
    assert (first["parcel_id"], first["holder"], first["area_mu"]) == ("P001", "绍兴某某置业有限公司", 10.0)


def test_cli_export_error(store, tmp_path):
    from pipelines.cli import main

    result = CliRunner().invoke(
        main, ["export", "--format", "geojson", "--store", store.url, "--out", str(tmp_path), "--town", "000"]
    )
    assert result.exit_code == 2 and "镇街代码 “000”" in result.output


@pytest.mark.parametrize(("year", "code", "text"), [("2026", 0, "已生成 2026 年度报告"), ("1899", 2, "不是有效年份")])
def test_cli_report(store, tmp_path, year, code, text):
    from pipelines.cli import main

    out = tmp_path / "r.html"
    result = CliRunner().invoke(main, ["report", "--year", year, "--store", store.url, "--out", str(out)])
    assert result.exit_code == code, result.output
    assert text in result.output
    assert out.exists() == (code == 0)


# ------------------------------------------------------------------------------------------------ report
@pytest.fixture(scope="module")
def report_html(store, tmp_path_factory) -> Path:
    return build_report(store, tmp_path_factory.mktemp("report") / "report.html", year=2026)


def test_report_self_contained(report_html):
    html = report_html.read_text(encoding="utf-8")
    assert "2026年度" in html and "模拟数据" in html and "@media print" in html
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", html)  # nothing fetched: data URIs only
    assert "url(" not in html.replace("url(data:", "")
    assert html.count('src="data:image/png;base64,') >= 4


def test_report_decisions_of_the_year(report_html):
    html = report_html.read_text(encoding="utf-8")
    # D1 decided 2026-03-05 (UTC) -> in 2026; D2 2025-12-31T20:00Z is 2026-01-01 04:00 in Beijing time
    assert "<td>D1</td>" in html and "<td>D2</td>" in html and "<td>2026-01-01 04:00</td>" in html
    assert "本年度共审定 2 宗" in html
    assert "某塘村" in html and "严重滞后" in html


def test_report_year_filters_decisions(store, tmp_path):
    html = build_report(store, tmp_path / "r.html", year=2025).read_text(encoding="utf-8")
    assert "<td>D1</td>" not in html and "<td>D2</td>" not in html and "本年度无审定记录" in html


@pytest.mark.browser
def test_report_in_chromium_no_network(demo_store, tmp_path):
    """The demo store's report in headless chromium: no request but the file; screenshot for the README."""
    from playwright.sync_api import sync_playwright

    report_html = build_report(demo_store, tmp_path / "report.html", year=2026)
    shot = Path(__file__).resolve().parents[1] / "docs" / "screenshots" / "report.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    url = report_html.resolve().as_uri()
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})

            def handle(route):
                requests.append(route.request.url)
                if route.request.url == url:
                    route.continue_()
                else:
                    route.abort()

            page.route("**/*", handle)
            page.goto(url, wait_until="load")
            page.wait_for_timeout(300)
            assert page.locator("h1").inner_text().startswith("柯桥区")
            assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert requests == [url]
    assert shot.stat().st_size > 10_000


def test_layer_csv_and_gpkg_outputs_are_safe_and_readable(tmp_path):
    """``assess --out F.csv``: formula-looking text gets a leading quote; ``--out F.gpkg``: GeoPackage 1.3."""
    import csv
    import sqlite3

    from gis.output import write_layer_file

    frame = conform(_assessment(), "idle_assessment")
    frame.loc[0, "parcel_id"] = "=cmd|' /C calc'!A0"
    frame.loc[1, "parcel_id"] = "@SUM(1+1)*cmd|' /C calc'!A0"
    path = write_layer_file(frame, "idle_assessment", tmp_path / "a.csv")
    rows = list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))
    assert [r["parcel_id"] for r in rows[:3]] == ["'=cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0", "P003"]
    gpkg = write_layer_file(frame, "idle_assessment", tmp_path / "a.gpkg")
    with sqlite3.connect(gpkg) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 10300
