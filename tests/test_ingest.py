"""Ingest: the matrix of bad input kinds, each with its exact outcome and message, counts that add up."""
from __future__ import annotations

import hashlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from gis.errors import CRSError, InputFileError
from gis.ingest import ingest_files, read_layer_file
from gis.store import GeoPackageStore
from tests.ingest_fixtures import CENTRES, ledger_rows, parcels_frame, square, write


def _only(report, severity="reject"):
    return [p for p in report.problems if p.severity == severity]


def test_valid_geopackage_all_stored(tmp_path):
    path = write(parcels_frame(), tmp_path / "p.gpkg")
    frame, report = read_layer_file("parcels", path)
    assert (report.read, report.stored, report.repaired, report.rejected) == (3, 3, 0, 0)
    assert list(frame["parcel_id"]) == ["KQ2020-0001", "KQ2020-0002", "KQ2020-0003"]
    assert frame["supply_date"].iloc[0] == pd.Timestamp("2020-01-15")
    assert frame.crs.to_epsg() == 4490


def test_gbk_dbf_without_cpg_reads_chinese(tmp_path):
    frame = parcels_frame().rename(columns={"出让价款(万元)": "成交价"})
    path = write(frame, tmp_path / "gbk.shp", encoding="GBK")
    tmp_path.joinpath("gbk.cpg").unlink(missing_ok=True)
    # the DBF really is GBK: its bytes are not UTF-8
    with pytest.raises(UnicodeDecodeError):
        (tmp_path / "gbk.dbf").read_bytes()[200:].decode("utf-8")
    out, report = read_layer_file("parcels", path)
    assert list(out["holder"]) == list(frame["受让人"])
    assert any("GB18030" in n and "gbk.shp" in n for n in report.notes)
    assert report.stored == 3


def test_no_crs_refused_with_crs_hint(tmp_path):
    path = write(parcels_frame(), tmp_path / "nocrs.shp", encoding="GBK")
    (tmp_path / "nocrs.prj").unlink()
    with pytest.raises(CRSError, match=r"nocrs\.shp 没有坐标系.*--crs"):
        read_layer_file("parcels", path)
    frame, report = read_layer_file("parcels", path, crs="EPSG:4490")
    assert report.stored == 3


def test_swapped_lat_lon_refused(tmp_path):
    frame = parcels_frame()
    frame.geometry = frame.geometry.map(lambda g: shapely.transform(g, lambda xy: xy[:, ::-1]))
    path = write(frame, tmp_path / "swapped.geojson")
    with pytest.raises(CRSError, match="swapped.geojson 的经纬度顺序颠倒"):
        read_layer_file("parcels", path)


def test_projected_metres_labelled_degrees_refused(tmp_path):
    frame = parcels_frame().to_crs("EPSG:4549").set_crs("EPSG:4326", allow_override=True)
    path = write(frame, tmp_path / "mislabel.gpkg")
    with pytest.raises(CRSError, match=r"声明为经纬度坐标系 EPSG:4326.*米制投影坐标.*EPSG:4549.*--crs EPSG:4549"):
        read_layer_file("parcels", path)


def test_zone_prefixed_4528_accepted_and_reprojected(tmp_path):
    original = parcels_frame()
    path = write(original.to_crs("EPSG:4528"), tmp_path / "zone40.gpkg")
    assert pyogrio.read_bounds(path)[1][0][0] > 40_000_000  # 8-digit eastings with the zone prefix
    frame, report = read_layer_file("parcels", path)
    assert report.stored == 3
    assert np.allclose(frame.total_bounds, original.total_bounds, atol=1e-7)


def test_zone_prefixed_eastings_labelled_4549_refused(tmp_path):
    frame = parcels_frame().to_crs("EPSG:4528").set_crs("EPSG:4549", allow_override=True)
    path = write(frame, tmp_path / "wrongzone.gpkg")
    with pytest.raises(CRSError, match=r"wrongzone\.gpkg.*EPSG:4549.*--crs EPSG:4528"):
        read_layer_file("parcels", path)


def test_self_intersecting_polygon_repaired(tmp_path):
    frame = parcels_frame()
    x, y = CENTRES[1]
    bowtie = shapely.Polygon([(x, y), (x + 0.001, y + 0.001), (x + 0.001, y), (x, y + 0.001)])
    frame.loc[1, "geometry"] = bowtie
    path = write(frame, tmp_path / "bowtie.gpkg")
    out, report = read_layer_file("parcels", path)
    assert (report.read, report.stored, report.repaired, report.rejected) == (3, 3, 1, 0)
    [note] = _only(report, "repair")
    assert note.record_id == "KQ2020-0002" and "已修复无效图形" in note.reason and "Self-intersection" in note.reason
    assert out.geometry.is_valid.all()
    # make_valid keeps both triangles of the bow-tie (buffer(0) would silently drop one)
    assert out.geometry.iloc[1].area == pytest.approx(shapely.make_valid(bowtie).area)
    assert out.geometry.iloc[1].area == pytest.approx(0.001 * 0.001 / 2)


def test_empty_geometry_rejected(tmp_path):
    frame = parcels_frame()
    frame.loc[2, "geometry"] = shapely.Polygon()
    path = write(frame, tmp_path / "empty.gpkg")
    out, report = read_layer_file("parcels", path)
    assert (report.read, report.stored, report.rejected) == (3, 2, 1)
    [p] = _only(report)
    assert (p.file, p.row, p.record_id, p.field) == ("empty.gpkg", 3, "KQ2020-0003", "图形")
    assert p.reason in ("图形为空", "缺少图形")


def test_point_layer_as_parcels_refused(tmp_path):
    frame = parcels_frame()
    frame.geometry = frame.geometry.centroid
    path = write(frame, tmp_path / "points.geojson")
    with pytest.raises(InputFileError, match=r"points\.geojson 是Point图层，宗地需要面图形"):
        read_layer_file("parcels", path)


def test_duplicate_parcel_ids_all_rejected(tmp_path):
    frame = parcels_frame()
    frame.loc[2, "宗地编号"] = "KQ2020-0002"
    path = write(frame, tmp_path / "dup.gpkg")
    out, report = read_layer_file("parcels", path)
    assert (report.stored, report.rejected) == (1, 2)
    rows = sorted(p.row for p in _only(report))
    assert rows == [2, 3]
    assert all(p.reason == "宗地编号 KQ2020-0002 在文件中重复出现 2 次（要素 2、3），无法判断哪一行有效"
               and p.record_id == "KQ2020-0002" for p in _only(report))


def test_missing_required_column_names_it_and_aliases(tmp_path):
    frame = parcels_frame().drop(columns=["供地日期"])
    path = write(frame, tmp_path / "nocol.gpkg")
    with pytest.raises(InputFileError, match=r"nocol\.gpkg 缺少必填列：供地日期（supply_date，可用列名：供地日期、合同签订日期、签订日期）"):
        read_layer_file("parcels", path)


@pytest.mark.parametrize("raw", ["2021年6月1日", "2021/6/1", "2021.06.01", "20210601", 44348, "2021-06-01"])
def test_date_forms_parse(tmp_path, raw):
    rows = ledger_rows(1)
    rows["供地日期"] = [raw]
    df = pd.DataFrame(rows)
    df["WKT"] = [square(*CENTRES[0]).wkt]
    path = tmp_path / "ledger.xlsx"
    df.to_excel(path, index=False)
    out, report = read_layer_file("parcels", path, crs="EPSG:4490")
    assert report.stored == 1
    assert out["supply_date"].iloc[0] == pd.Timestamp("2021-06-01")


def test_unparseable_date_rejected_with_fix(tmp_path):
    rows = ledger_rows()
    rows["约定动工日期"][1] = "明年春天"
    df = pd.DataFrame(rows)
    df["WKT"] = [square(x, y).wkt for x, y in CENTRES]
    path = tmp_path / "baddate.csv"
    df.to_csv(path, index=False)
    out, report = read_layer_file("parcels", path, crs="EPSG:4490")
    [p] = _only(report)
    assert (p.file, p.row, p.record_id, p.field, p.value) == ("baddate.csv", 3, "KQ2020-0002", "约定动工日期", "明年春天")
    assert "无法识别的日期" in p.reason and "2021年6月1日" in p.fix
    assert report.read == report.stored + report.rejected == 3


@pytest.mark.parametrize(
    ("header", "values", "expected", "rejected"),
    [
        ("已投资额占比", ["30%", 0.25, "100%"], [0.30, 0.25, 1.0], 0),
        ("投资比例（%）", [30, 25, 100], [0.30, 0.25, 1.0], 0),
        ("投资比例", [30, 0.25, 0.5], [None, 0.25, 0.5], 1),  # a bare 30 outside a % column is not a ratio
        ("投资比例", ["130%", 0.25, 0.5], [None, 0.25, 0.5], 1),
    ],
)
def test_ratio_forms(tmp_path, header, values, expected, rejected):
    rows = ledger_rows()
    rows[header] = values
    df = pd.DataFrame(rows)
    df["WKT"] = [square(x, y).wkt for x, y in CENTRES]
    path = tmp_path / "ratios.xlsx"
    df.to_excel(path, index=False)
    out, report = read_layer_file("parcels", path, crs="EPSG:4490")
    assert report.rejected == rejected
    kept = [e for e in expected if e is not None]
    assert list(out["invested_ratio"]) == pytest.approx(kept)
    if rejected:
        [p] = _only(report)
        assert p.field == "已投资额占比" and "0 到 1" in p.fix


def test_negative_area_rejected(tmp_path):
    frame = parcels_frame()
    frame.loc[0, "出让面积"] = -10000.0
    path = write(frame, tmp_path / "neg.gpkg")
    out, report = read_layer_file("parcels", path)
    [p] = _only(report)
    assert (p.row, p.record_id, p.field, p.value) == (1, "KQ2020-0001", "出让面积(平方米)", -10000.0)
    assert p.reason == "数值应大于 0"
    assert report.stored == 2


def test_area_in_hectares_converted(tmp_path):
    frame = parcels_frame().rename(columns={"出让面积": "出让面积（公顷）"})
    frame["出让面积（公顷）"] = [1.0, 1.2, 0.8]
    out, _ = read_layer_file("parcels", write(frame, tmp_path / "ha.gpkg"))
    assert list(out["area_m2"]) == pytest.approx([10000.0, 12000.0, 8000.0])


def test_excel_ledger_joined_to_geometry_by_parcel_id(tmp_path):
    ledger = pd.DataFrame(ledger_rows())
    ledger.loc[3] = ledger.loc[2]
    ledger.loc[3, "宗地编号"] = "KQ2020-9999"  # no polygon for this ledger row
    ledger_path = tmp_path / "台账.xlsx"
    ledger.to_excel(ledger_path, index=False)
    geom = gpd.GeoDataFrame({"ZDBH": ["KQ2020-0001", "KQ2020-0002", "KQ2020-0003", "KQ2020-0404"]},
                            geometry=[square(x, y) for x, y in CENTRES] + [square(120.52, 30.08)], crs="EPSG:4490")
    geom_path = write(geom, tmp_path / "图形.gpkg")
    out, report = read_layer_file("parcels", ledger_path, geometry=geom_path)
    assert report.read == 5 and report.stored == 3 and report.rejected == 2
    reasons = {p.record_id: p for p in _only(report)}
    assert "在图形文件 图形.gpkg 中找不到对应图形" in reasons["KQ2020-9999"].reason
    assert reasons["KQ2020-9999"].row == 5  # Excel row (header is row 1)
    assert "图形在台账中没有对应记录" in reasons["KQ2020-0404"].reason
    assert report.balanced


def test_3d_geometries_flattened(tmp_path):
    frame = parcels_frame()
    frame.geometry = shapely.force_3d(frame.geometry.to_numpy(), 12.5)
    path = write(frame, tmp_path / "z.gpkg")
    out, report = read_layer_file("parcels", path)
    assert report.repaired == 3 and report.stored == 3
    assert not out.geometry.has_z.any()
    assert all("去除了 Z 坐标" in p.reason for p in _only(report, "repair"))


def test_geometry_collection_keeps_polygon_part(tmp_path):
    rows = ledger_rows(1)
    df = pd.DataFrame(rows)
    x, y = CENTRES[0]
    df["WKT"] = [f"GEOMETRYCOLLECTION(POLYGON(({x} {y},{x+0.001} {y},{x+0.001} {y+0.001},{x} {y})),"
                 f" LINESTRING({x} {y},{x+0.002} {y+0.002}))"]
    path = tmp_path / "gc.csv"
    df.to_csv(path, index=False)
    out, report = read_layer_file("parcels", path, crs="EPSG:4490")
    assert report.repaired == 1 and out.geometry.iloc[0].geom_type == "Polygon"
    assert out.geometry.iloc[0].area == pytest.approx(0.001 * 0.001 / 2)


def test_unknown_enum_rejected_with_allowed_values(tmp_path):
    frame = parcels_frame()
    frame.loc[1, "土地用途"] = "养殖用地"
    out, report = read_layer_file("parcels", write(frame, tmp_path / "enum.gpkg"))
    [p] = _only(report)
    assert p.value == "养殖用地" and p.reason == "不是允许的取值" and "住宅用地" in p.fix


def test_enum_chinese_labels_map_to_codes(tmp_path):
    frame = parcels_frame()
    frame["闲置原因"] = ["政府原因", "enterprise", "不可抗力"]
    out, report = read_layer_file("parcels", write(frame, tmp_path / "cause.gpkg"))
    assert list(out["idle_cause"]) == ["government", "enterprise", "force_majeure"]


def test_unmapped_columns_reported(tmp_path):
    frame = parcels_frame()
    frame["备注"] = ["a", "b", "c"]
    out, report = read_layer_file("parcels", write(frame, tmp_path / "extra.gpkg"))
    assert report.unmapped_columns == {"extra.gpkg": ["备注"]}
    assert "未能对应的列（未导入）：备注" in report.summary()


def test_row_outside_district_rejected(tmp_path):
    frame = parcels_frame()
    frame.loc[3] = frame.loc[2]
    frame.loc[3, "宗地编号"] = "KQ2020-0004"
    frame.loc[3, "geometry"] = square(116.40, 39.90)  # Beijing
    out, report = read_layer_file("parcels", write(frame, tmp_path / "far.gpkg"))
    [p] = _only(report)
    assert p.record_id == "KQ2020-0004" and p.reason == "坐标超出柯桥区范围"


def test_gcj02_opt_in_shifts_back(tmp_path):
    from gis.crs import wgs84_to_gcj02

    original = parcels_frame()
    shifted = original.copy()
    shifted.geometry = shapely.transform(original.geometry.to_numpy(), wgs84_to_gcj02)
    path = write(shifted, tmp_path / "amap.gpkg")
    plain, _ = read_layer_file("parcels", path)
    fixed, _ = read_layer_file("parcels", path, from_gcj02=True)
    # Amap coordinates are a few hundred metres off; the conversion brings them back within a centimetre
    assert plain.geometry.iloc[0].centroid.distance(original.geometry.iloc[0].centroid) > 0.002
    assert fixed.geometry.iloc[0].centroid.distance(original.geometry.iloc[0].centroid) < 1e-7


def test_progress_history_is_appended_never_overwritten(tmp_path):
    store = GeoPackageStore(tmp_path / "s.gpkg")
    villages = gpd.GeoDataFrame({"村编号": ["CZC001"], "村名": ["甲村"], "改造方式": ["拆除新建"], "户数": [120]},
                                geometry=[square(120.49, 30.09, 0.004)], crs="EPSG:4490")
    vpath = write(villages, tmp_path / "v.gpkg")
    report1 = pd.DataFrame({"村编号": ["CZC001", "CZC404"], "填报日期": ["2026年1月25日", "2026年1月25日"],
                            "阶段": ["征收签约", "征收签约"], "已签约户数": [30, 1]})
    p1 = tmp_path / "填报1.xlsx"
    report1.to_excel(p1, index=False)
    reports = ingest_files(store, {"villages": vpath, "village_progress": p1})
    progress = next(r for r in reports if r.layer == "village_progress")
    assert (progress.stored, progress.rejected) == (1, 1)
    assert "村编号在库中不存在" in _only(progress)[0].reason
    assert store.read_layer("villages")["deadline"].iloc[0] == pd.Timestamp("2027-12-31")  # the default
    report2 = pd.DataFrame({"村编号": ["CZC001", "CZC001"], "填报日期": ["2026-01-25", "2026-02-25"],
                            "阶段": ["signing", "relocation"], "已签约户数": [99, 60]})
    p2 = tmp_path / "填报2.xlsx"
    report2.to_excel(p2, index=False)
    [again] = ingest_files(store, {"village_progress": p2})
    assert (again.stored, again.rejected) == (1, 1)
    assert "历史记录不可覆盖" in _only(again)[0].reason
    history = store.read_layer("village_progress").sort_values("report_date")
    assert list(history["signed_households"]) == [30, 60]  # the January report was not overwritten by 99
    rejects = sorted(store.reports_dir.glob("rejects-*.csv"))
    assert rejects and "历史记录不可覆盖" in rejects[-1].read_text(encoding="utf-8-sig")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_failure_midway_leaves_store_unchanged(tmp_path, monkeypatch):
    store = GeoPackageStore(tmp_path / "s.gpkg")
    ingest_files(store, {"parcels": write(parcels_frame(), tmp_path / "p.gpkg")})
    before_digest = _digest(store.path)
    before = store.read_layer("parcels")

    towns = gpd.GeoDataFrame({"镇街代码": ["330603001"], "镇街名称": ["柯桥街道"], "类型": ["街道"]},
                             geometry=[square(120.5, 30.08, 0.05)], crs="EPSG:4490")
    towns_path = write(towns, tmp_path / "t.gpkg")
    parcels_path = write(parcels_frame(2), tmp_path / "p2.gpkg")
    real_write = pyogrio.write_dataframe
    calls = []

    def failing_write(df, path, *args, **kwargs):
        calls.append(kwargs.get("layer"))
        if kwargs.get("layer") == "parcels":  # the second layer of this ingest: towns were written already
            raise OSError("disk full (injected)")
        return real_write(df, path, *args, **kwargs)

    monkeypatch.setattr(pyogrio, "write_dataframe", failing_write)
    with pytest.raises(OSError, match="injected"):
        ingest_files(store, {"towns": towns_path, "parcels": parcels_path})
    monkeypatch.undo()
    assert calls[:2] == ["towns", "parcels"]
    assert _digest(store.path) == before_digest
    assert "towns" not in store.layer_counts()
    pd.testing.assert_frame_equal(store.read_layer("parcels"), before)
    assert not list(tmp_path.glob(".*.tmp.gpkg"))  # no temporary copy left behind


def test_blank_rule_date_kept_with_warning_not_lost(tmp_path):
    """A ledger row missing 约定动工日期 stays in the store (the assessment sends it to review), with a warning."""
    frame = parcels_frame()
    frame["约定动工日期"] = frame["约定动工日期"].astype(object)
    frame.loc[1, "约定动工日期"] = None
    out, report = read_layer_file("parcels", write(frame, tmp_path / "blankdate.gpkg"))
    assert (report.read, report.stored, report.rejected, report.warnings) == (3, 3, 0, 1)
    [p] = [p for p in report.problems if p.severity == "warning"]
    assert (p.record_id, p.field) == ("KQ2020-0002", "约定动工日期") and "待研判" in p.reason
    assert pd.isna(out.loc[out["parcel_id"] == "KQ2020-0002", "agreed_start_date"]).all()
    assert "另有 1 行入库但需补充信息" in report.summary()


def test_blank_required_text_rejected(tmp_path):
    frame = parcels_frame()
    frame.loc[0, "受让人"] = "  "
    out, report = read_layer_file("parcels", write(frame, tmp_path / "noholder.gpkg"))
    [p] = _only(report)
    assert (p.record_id, p.field, p.reason) == ("KQ2020-0001", "受让人", "必填字段为空")
