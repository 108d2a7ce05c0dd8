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
    assert all(
        p.reason == "宗地编号 KQ2020-0002 在文件中重复出现 2 次（要素 2、3），无法判断哪一行有效"
        and p.record_id == "KQ2020-0002"
        for p in _only(report)
    )


def test_missing_required_column_names_it_and_aliases(tmp_path):
    frame = parcels_frame().drop(columns=["供地日期"])
    path = write(frame, tmp_path / "nocol.gpkg")
    with pytest.raises(
        InputFileError,
        match=r"nocol\.gpkg 缺少必填列：供地日期（supply_date，可用列名：供地日期、合同签订日期、签订日期）",
    ):
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
    assert (p.file, p.row, p.record_id, p.field, p.value) == (
        "baddate.csv",
        3,
        "KQ2020-0002",
        "约定动工日期",
        "明年春天",
    )
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
    geom = gpd.GeoDataFrame(
        {"ZDBH": ["KQ2020-0001", "KQ2020-0002", "KQ2020-0003", "KQ2020-0404"]},
        geometry=[square(x, y) for x, y in CENTRES] + [square(120.52, 30.08)],
        crs="EPSG:4490",
    )
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
    df["WKT"] = [
        f"GEOMETRYCOLLECTION(POLYGON(({x} {y},{x + 0.001} {y},{x + 0.001} {y + 0.001},{x} {y})),"
        f" LINESTRING({x} {y},{x + 0.002} {y + 0.002}))"
    ]
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
    villages = gpd.GeoDataFrame(
        {"村编号": ["CZC001"], "村名": ["甲村"], "改造方式": ["拆除新建"], "户数": [120]},
        geometry=[square(120.49, 30.09, 0.004)],
        crs="EPSG:4490",
    )
    vpath = write(villages, tmp_path / "v.gpkg")
    report1 = pd.DataFrame(
        {
            "村编号": ["CZC001", "CZC404"],
            "填报日期": ["2026年1月25日", "2026年1月25日"],
            "阶段": ["征收签约", "征收签约"],
            "已签约户数": [30, 1],
        }
    )
    p1 = tmp_path / "填报1.xlsx"
    report1.to_excel(p1, index=False)
    reports = ingest_files(store, {"villages": vpath, "village_progress": p1})
    progress = next(r for r in reports if r.layer == "village_progress")
    assert (progress.stored, progress.rejected) == (1, 1)
    assert "村编号在库中不存在" in _only(progress)[0].reason
    assert store.read_layer("villages")["deadline"].iloc[0] == pd.Timestamp("2027-12-31")  # the default
    report2 = pd.DataFrame(
        {
            "村编号": ["CZC001", "CZC001"],
            "填报日期": ["2026-01-25", "2026-02-25"],
            "阶段": ["signing", "relocation"],
            "已签约户数": [99, 60],
        }
    )
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

    towns = gpd.GeoDataFrame(
        {"镇街代码": ["330603001"], "镇街名称": ["柯桥街道"], "类型": ["街道"]},
        geometry=[square(120.5, 30.08, 0.05)],
        crs="EPSG:4490",
    )
    towns_path = write(towns, tmp_path / "t.gpkg")
    parcels_path = write(parcels_frame(2), tmp_path / "p2.gpkg")
    from gis.store.gpkg_history import GeoPackageHistory

    real_insert = GeoPackageHistory._insert
    calls = []

    def failing_insert(self, con, layer, frame):  # the batch's write step (gis.batches -> write_history)
        calls.append(layer.name)
        if layer.name == "parcels":  # towns and the new versions were written already in this transaction
            raise OSError("disk full (injected)")
        return real_insert(self, con, layer, frame)

    monkeypatch.setattr(GeoPackageHistory, "_insert", failing_insert)
    with pytest.raises(OSError, match="injected"):
        ingest_files(store, {"towns": towns_path, "parcels": parcels_path}, confirm=True)
    monkeypatch.undo()
    assert "towns" in calls and calls[-1] == "parcels"
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


# ============================================================ real-world shapes (issue 11): the matrix
import zipfile  # noqa: E402

from click.testing import CliRunner  # noqa: E402

from gis.archives import check_zip, safe_extract  # noqa: E402
from gis.ingest import rejects_csv  # noqa: E402
from gis.readers import dbf_language_driver, read_source  # noqa: E402
from tests.ingest_fixtures import (  # noqa: E402
    HEADERS,
    TITLE,
    geometry_frame,
    ledger_records,
    set_dbf_language_driver,
    titled_sheet,
    write_ods,
    write_xls,
    write_xlsx,
    zip_folder,
)

IDS = ["KQ2020-0001", "KQ2020-0002", "KQ2020-0003"]


def _counts(report):
    return report.read, report.stored, report.repaired, report.rejected, report.skipped


def _skips(report):
    return [(p.file, p.row, p.reason) for p in report.problems if p.severity == "skip"]


def _geometry(tmp_path, ids=IDS, name="宗地图形.gpkg"):
    return write(geometry_frame(list(ids)), tmp_path / name)


def test_titled_xlsx_header_found_total_blank_footnote_skipped(tmp_path):
    """Merged title, 填报单位/单位 row, 序号 column, a blank row, 合计 and 填表人 rows: 3 stored, 3 skipped."""
    ledger = write_xlsx(titled_sheet(), tmp_path / "台账.xlsx")
    out, report = read_layer_file("parcels", ledger, geometry=_geometry(tmp_path))
    assert _counts(report) == (6, 3, 0, 0, 3) and report.balanced
    assert _skips(report) == [
        ("台账.xlsx", 5, "空行，不是数据行，已跳过"),
        ("台账.xlsx", 8, "合计/小计行，不是数据行，已跳过"),
        ("台账.xlsx", 9, "表尾说明行，不是数据行，已跳过"),
    ]
    assert "台账.xlsx：表头在第3行，其上第 1–2 行为标题/单位行，未作为数据" in report.notes
    assert "台账.xlsx：已忽略序号列（序号）" in report.notes
    assert report.unmapped_columns["台账.xlsx"] == []
    # numbers typed as text with thousands separators
    assert list(out["area_m2"]) == [10000.0, 12000.5, 8000.0]
    assert list(out["land_price_wan"]) == [5000.0, 6000.0, 1200.0]


def test_titled_xlsx_row_numbers_are_excel_rows(tmp_path):
    rows = titled_sheet()
    rows[6][8] = "约五千"  # KQ2020-0002's price (row 7 in Excel: title, unit, header, 1, blank, 2 -> row 6? see below)
    ledger = write_xlsx(rows, tmp_path / "台账.xlsx")
    out, report = read_layer_file("parcels", ledger, geometry=_geometry(tmp_path))
    [p] = _only(report)
    # Excel rows: 1 title, 2 unit, 3 header, 4 KQ-0001, 5 blank, 6 KQ-0002, 7 KQ-0003
    assert (p.file, p.row, p.record_id, p.field, p.value) == ("台账.xlsx", 7, "KQ2020-0003", "出让价款(万元)", "约五千")
    assert isinstance(p.row, int)
    assert _counts(report) == (6, 2, 0, 1, 3) and report.balanced
    csv_text = rejects_csv([report]).decode("utf-8-sig")
    assert "\nparcels,台账.xlsx,7,KQ2020-0003," in csv_text.replace("\r\n", "\n")  # 7, not 7.0


def test_two_row_header_with_merged_group_cells(tmp_path):
    """约定日期 merged over 动工/竣工; the other headers merged over both rows."""
    top = ["序号", "宗地编号", "受让人", "土地用途", "出让面积（亩）", "供地日期", "约定日期", None, "出让价款（元）"]
    sub = [None, None, None, None, None, None, "动工", "竣工", None]
    data = []
    for i, rec in enumerate(ledger_records(), start=1):
        pid, holder, use, _area, supply, start, done, _price = rec
        data.append([i, pid, holder, use, "15", supply, start, done, "12,000,000"])
    merges = ("G3:H3", *(f"{c}3:{c}4" for c in "ABCDEFI"))
    ledger = write_xlsx(
        [[TITLE] + [None] * 8, ["单位：亩、元"] + [None] * 8, top, sub, *data], tmp_path / "two.xlsx", merges=merges
    )
    out, report = read_layer_file("parcels", ledger, geometry=_geometry(tmp_path))
    assert _counts(report) == (3, 3, 0, 0, 0) and report.balanced
    assert "two.xlsx：表头在第3–4行（两行表头），其上第 1–2 行为标题/单位行，未作为数据" in report.notes
    mapping = {col: (name, conv) for col, name, _label, conv in report.mapping["two.xlsx"]}
    assert mapping["约定动工日期"][0] == "agreed_start_date" and mapping["约定竣工日期"][0] == "agreed_completion_date"
    assert mapping["出让面积(亩)"] == ("area_m2", "× 666.667（亩 -> 平方米）")  # headers NFKC-folded
    assert mapping["出让价款(元)"] == ("land_price_wan", "× 0.0001（元 -> 万元）")
    assert out["agreed_start_date"].tolist() == list(pd.to_datetime(ledger_rows()["约定动工日期"]))
    assert out["agreed_completion_date"].tolist() == list(pd.to_datetime(ledger_rows()["约定竣工日期"]))
    assert out["area_m2"].iloc[0] == pytest.approx(15 * 10000 / 15)  # 15 亩 = 10,000 m2
    assert out["land_price_wan"].iloc[0] == pytest.approx(1200.0)  # 12,000,000 元 = 1,200 万元


def test_unit_row_converts_columns_without_unit(tmp_path):
    """单位：公顷、元 above the header converts 出让面积 and 出让价款 (their headers name no unit)."""
    rows = titled_sheet(unit_row="单位：公顷、元", total=False, blank_between=False, footnote=False)
    for r in rows[3:]:
        r[4] = "1.5"  # 公顷
        r[8] = "30,000,000"  # 元
    out, report = read_layer_file("parcels", write_xlsx(rows, tmp_path / "u.xlsx"), geometry=_geometry(tmp_path))
    assert _counts(report) == (3, 3, 0, 0, 0)
    assert out["area_m2"].tolist() == [15000.0] * 3 and out["land_price_wan"].tolist() == [3000.0] * 3
    conv = {col: c for col, _n, _l, c in report.mapping["u.xlsx"]}
    assert conv["出让面积"] == "× 10000（公顷 -> 平方米）" and conv["出让价款"] == "× 0.0001（元 -> 万元）"


def test_legacy_xls_and_wps_et_read_through_calamine(tmp_path):
    xls = write_xls(titled_sheet(), tmp_path / "台账.xls")
    assert xls.read_bytes()[:8] == bytes.fromhex("D0CF11E0A1B11AE1")  # a real OLE2/BIFF file
    et = tmp_path / "台账.et"
    et.write_bytes(xls.read_bytes())  # WPS's .et is the same format under another name
    geom = _geometry(tmp_path)
    for path in (xls, et):
        out, report = read_layer_file("parcels", path, geometry=geom)
        assert _counts(report) == (6, 3, 0, 0, 3) and report.balanced, path.name
        assert [r for _f, r, _ in _skips(report)] == [5, 8, 9]
        assert out["holder"].tolist() == ledger_rows()["受让人"]
        assert out["supply_date"].iloc[0] == pd.Timestamp("2020-01-15")


def test_ods_read_through_calamine(tmp_path):
    ods = write_ods(titled_sheet(), tmp_path / "台账.ods")
    with zipfile.ZipFile(ods) as zf:
        assert zf.read("mimetype") == b"application/vnd.oasis.opendocument.spreadsheet"
    out, report = read_layer_file("parcels", ods, geometry=_geometry(tmp_path))
    assert _counts(report) == (6, 3, 0, 0, 3) and report.balanced
    assert _skips(report)[1] == ("台账.ods", 8, "合计/小计行，不是数据行，已跳过")
    assert "台账.ods：表头在第3行，其上第 1–2 行为标题/单位行，未作为数据" in report.notes
    assert out["holder"].tolist() == ledger_rows()["受让人"] and out["area_m2"].tolist() == [10000.0, 12000.5, 8000.0]


def test_sheet_all_reads_every_sheet_of_the_same_shape(tmp_path):
    one = titled_sheet(1, total=False, blank_between=False, footnote=False)
    two = titled_sheet(3, total=True, blank_between=False, footnote=False)
    two = two[:3] + two[4:]  # KQ2020-0002 and -0003 in the second town's sheet
    notes_sheet = [["说明"], ["本表为填报说明"]]
    ledger = write_xlsx(
        one, tmp_path / "分镇街.xlsx", sheet="柯桥街道", extra_sheets={"华舍街道": two, "填报说明": notes_sheet}
    )
    out, report = read_layer_file("parcels", ledger, geometry=_geometry(tmp_path), sheet="all")
    assert _counts(report) == (4, 3, 0, 0, 1) and report.balanced
    assert sorted(out["parcel_id"]) == IDS
    assert (
        "分镇街.xlsx：读取了 2 个工作表：分镇街.xlsx[柯桥街道]（1 行）、分镇街.xlsx[华舍街道]（2 行）" in report.notes
    )
    assert "分镇街.xlsx[填报说明]：没有可对应的表头，未读取该工作表" in report.notes
    assert _skips(report) == [("分镇街.xlsx[华舍街道]", 6, "合计/小计行，不是数据行，已跳过")]
    # without --sheet all only the first sheet is read
    _, first = read_layer_file("parcels", ledger, geometry=_geometry(tmp_path))
    assert first.stored == 1


def _gbk_shapefile(folder: Path, ids=IDS, name="宗地") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frame = parcels_frame(len(ids))
    frame["宗地编号"] = list(ids)
    path = write(frame, folder / f"{name}.shp", encoding="GBK")
    for cpg in folder.glob("*.cpg"):
        cpg.unlink()
    set_dbf_language_driver(folder / f"{name}.dbf", 0)  # as many desktop tools leave it: no code page
    return path


def test_zip_with_gbk_shapefile_without_cpg(tmp_path):
    _gbk_shapefile(tmp_path / "src")
    z = zip_folder(tmp_path / "src", tmp_path / "宗地.zip", arcroot="宗地数据")
    out, report = read_layer_file("parcels", z)
    assert _counts(report) == (3, 3, 0, 0, 0) and report.balanced
    assert out["holder"].tolist() == ledger_rows()["受让人"]
    assert "宗地.zip/宗地数据/宗地.shp 没有 .cpg 编码文件，已按内容识别为 GB18030 编码读取属性表" in report.notes


def test_zip_with_two_shapefiles_of_one_shape_read_together(tmp_path):
    _gbk_shapefile(tmp_path / "src", IDS[:2], "柯桥街道")
    _gbk_shapefile(tmp_path / "src", IDS[:1], "华舍街道")  # the same id in the second town's file
    z = zip_folder(tmp_path / "src", tmp_path / "两镇.zip")
    out, report = read_layer_file("parcels", z)
    assert _counts(report) == (3, 1, 0, 2, 0) and report.balanced
    assert out["parcel_id"].tolist() == ["KQ2020-0002"]
    dups = sorted((p.file, p.row) for p in _only(report))
    assert dups == [("两镇.zip/华舍街道.shp", 0), ("两镇.zip/柯桥街道.shp", 0)]
    assert _only(report)[0].reason == (
        "宗地编号 KQ2020-0001 在文件中重复出现 2 次（两镇.zip/华舍街道.shp 要素 0、"
        "两镇.zip/柯桥街道.shp 要素 0），无法判断哪一行有效"
    )
    assert any(n.startswith("两镇.zip：合并读取了 2 个Shapefile") for n in report.notes)


def test_filegdb_folder_and_zipped_polygon_layer_chosen(tmp_path):
    gdb = tmp_path / "供地.gdb"
    pyogrio.write_dataframe(parcels_frame(), gdb, layer="宗地", driver="OpenFileGDB")
    points = parcels_frame().copy()
    points.geometry = points.geometry.representative_point()
    pyogrio.write_dataframe(points, gdb, layer="界址点", driver="OpenFileGDB", append=False)
    assert sorted(n for n, _ in pyogrio.list_layers(gdb)) == ["宗地", "界址点"]
    out, report = read_layer_file("parcels", gdb)
    assert _counts(report) == (3, 3, 0, 0, 0) and out["holder"].tolist() == ledger_rows()["受让人"]
    assert "供地.gdb 有 2 个图层（宗地、界址点），读取了面图层“宗地”" in report.notes
    z = zip_folder(tmp_path, tmp_path.parent / "供地gdb.zip")
    out2, report2 = read_layer_file("parcels", z)
    assert _counts(report2) == (3, 3, 0, 0, 0) and out2["parcel_id"].tolist() == IDS
    assert {p.row for p in report2.problems} <= {None}  # nothing to report


def test_kml_and_kmz_from_field_work(tmp_path):
    kml = tmp_path / "外业.kml"
    pyogrio.write_dataframe(parcels_frame().to_crs("EPSG:4326"), kml, driver="LIBKML")
    out, report = read_layer_file("parcels", kml)
    assert _counts(report) == (3, 3, 0, 0, 0) and out["parcel_id"].tolist() == IDS
    assert np.allclose(out.total_bounds, parcels_frame().total_bounds, atol=1e-6)
    kmz = tmp_path / "外业.kmz"
    with zipfile.ZipFile(kmz, "w") as zf:
        zf.write(kml, "doc.kml")
    out2, report2 = read_layer_file("parcels", kmz)
    assert _counts(report2) == (3, 3, 0, 0, 0) and out2["holder"].tolist() == ledger_rows()["受让人"]


def test_dbf_language_driver_byte_honoured_before_sniffing(tmp_path):
    """A Big5 DBF (LDID 0x4F): sniffing alone would decode it as GB18030 (valid bytes, wrong characters)."""
    frame = parcels_frame()
    frame["受让人"] = ["臺灣某某實業有限公司", "柯橋某某開發有限公司", "紹興某某置業有限公司"]
    frame["土地用途"] = "住宅用地"
    # a Big5 DBF can hold no simplified header: the registry's field names serve as headers
    frame = frame.rename(
        columns=dict(
            zip(
                HEADERS,
                [
                    "parcel_id",
                    "holder",
                    "land_use",
                    "area_m2",
                    "supply_date",
                    "agreed_start_date",
                    "agreed_completion_date",
                ],
            )
        )
    )
    frame = frame.rename(columns={"出让价款(万元)": "land_price_wan", "受让人": "holder"})
    path = write(frame, tmp_path / "big5.shp", encoding="cp950")
    for cpg in tmp_path.glob("*.cpg"):
        cpg.unlink()
    set_dbf_language_driver(tmp_path / "big5.dbf", 0x4F)
    assert dbf_language_driver(tmp_path / "big5.dbf") == 0x4F
    body = (tmp_path / "big5.dbf").read_bytes()
    assert "臺灣".encode("cp950") in body and "臺灣" not in body.decode("gb18030", errors="replace")
    out, report = read_layer_file("parcels", path)
    assert out["holder"].tolist() == frame["holder"].tolist()
    assert "big5.shp 没有 .cpg 编码文件，按 DBF 语言驱动字节 0x4F（Big5/950）读取属性表" in report.notes
    # GBK with its LDID 0x4D
    gbk = write(parcels_frame(), tmp_path / "gbk.shp", encoding="GBK")
    (tmp_path / "gbk.cpg").unlink(missing_ok=True)
    set_dbf_language_driver(tmp_path / "gbk.dbf", 0x4D)
    out, report = read_layer_file("parcels", gbk)
    assert out["holder"].tolist() == ledger_rows()["受让人"] and _counts(report) == (3, 3, 0, 0, 0)
    assert "gbk.shp 没有 .cpg 编码文件，按 DBF 语言驱动字节 0x4D（GBK/936）读取属性表" in report.notes


def test_duplicates_named_on_both_sides_of_the_join(tmp_path):
    rows = titled_sheet(3, total=False, blank_between=False, footnote=False)
    rows.append([4, *ledger_records(3)[1]])  # KQ2020-0002 again, Excel row 7
    ledger = write_xlsx(rows, tmp_path / "台账.xlsx")
    geo = geometry_frame(["KQ2020-0001", "KQ2020-0003", "KQ2020-0003", "KQ2020-0002"])
    geom = write(geo, tmp_path / "图形.geojson", driver="GeoJSON")
    out, report = read_layer_file("parcels", ledger, geometry=geom)
    # 4 ledger rows + 2 geometry features that join no single row; stored: KQ-0001 only
    assert _counts(report) == (6, 1, 0, 5, 0) and report.balanced
    by = {(p.file, p.row): p.reason for p in _only(report)}
    assert (
        by[("台账.xlsx", 5)]
        == by[("台账.xlsx", 7)]
        == "宗地编号 KQ2020-0002 在文件中重复出现 2 次（第 5、7 行），无法判断哪一行有效"
    )
    assert (
        by[("台账.xlsx", 6)] == "图形文件 图形.geojson 中宗地编号 KQ2020-0003 有 2 个图形（要素 1、2），无法判断用哪个"
    )
    assert (
        by[("图形.geojson", 1)]
        == by[("图形.geojson", 2)]
        == "宗地编号 KQ2020-0003 在图形文件中重复出现 2 次（要素 1、2），无法判断用哪个图形"
    )
    assert not any("找不到对应图形" in r or "没有对应记录" in r for r in by.values())


def _store_with_towns_and_enterprises(tmp_path) -> GeoPackageStore:
    from gis.frames import conform

    store = GeoPackageStore(tmp_path / "store.gpkg")
    towns = gpd.GeoDataFrame(
        {"town_code": ["330603001", "330603002"], "name": ["柯桥街道", "华舍街道"], "kind": ["街道", "街道"]},
        geometry=[shapely.box(120.48, 30.07, 120.505, 30.09), shapely.box(120.505, 30.07, 120.53, 30.09)],
        crs="EPSG:4490",
    )
    ent = pd.DataFrame(
        {
            "enterprise_id": ["91330621E1"],
            "name": ["绍兴某某置业有限公司"],
            "risk_level": ["normal"],
            "in_default": [False],
            "willing_to_continue": ["yes"],
        }
    )
    store.write_layers({"towns": conform(towns, "towns"), "enterprises": conform(ent, "enterprises")})
    return store


def test_unknown_town_replaced_by_geometry_town_and_unknown_enterprise_reported(tmp_path):
    store = _store_with_towns_and_enterprises(tmp_path)
    frame = parcels_frame()
    frame["镇街代码"] = ["明年", "330603001", "1e99"]
    frame["企业代码"] = ["91330621E1", "91330621XX", None]
    path = write(frame, tmp_path / "refs.gpkg")
    [report] = ingest_files(store, {"parcels": path})
    assert _counts(report) == (3, 3, 2, 0, 0) and report.balanced
    stored = store.read_layer("parcels").set_index("parcel_id")
    # centres 120.49 / 120.50 lie in 柯桥街道, 120.51 in 华舍街道
    assert stored["town_code"].to_dict() == {IDS[0]: "330603001", IDS[1]: "330603001", IDS[2]: "330603002"}
    msgs = {(p.row, p.field): (p.severity, p.reason) for p in report.problems}
    assert msgs[(1, "镇街代码")] == (
        "repair",
        "镇街代码“明年”不是任何镇街的代码，已按图形所在位置改为 330603001（柯桥街道）",
    )
    assert msgs[(3, "镇街代码")] == (
        "repair",
        "镇街代码“1e99”不是任何镇街的代码，已按图形所在位置改为 330603002（华舍街道）",
    )
    assert msgs[(2, "企业代码")] == (
        "warning",
        "企业代码 91330621XX 在企业表中不存在，已入库；研判时该宗地列为待研判（无法判断企业开发能力）",
    )


def test_implausible_numbers_rejected_or_flagged_with_the_range(tmp_path):
    frame = parcels_frame()
    frame["出让价款(万元)"] = [1e99, 6000.0, 0.001]  # 0.001 万元 for 8,000 m2 = 0.00125 元/m2
    out, report = read_layer_file("parcels", write(frame, tmp_path / "junk.gpkg"))
    assert _counts(report) == (3, 2, 0, 1, 0) and report.balanced
    [rej] = _only(report)
    assert (rej.row, rej.field, rej.reason) == (1, "出让价款(万元)", "数值超出合理范围（不超过 5,000,000万元）")
    [flag] = _only(report, "warning")
    assert (flag.row, flag.field, flag.value) == (3, "出让单价(元/平方米)", 0.0)
    assert (
        flag.reason
        == "出让单价(元/平方米)（出让价款(万元) ÷ 出让面积(平方米)）超出合理范围 10 – 100,000，已入库，请核实"
    )


def test_formula_looking_text_stored_as_text_and_rejects_csv_safe(tmp_path):
    frame = parcels_frame()
    frame["受让人"] = ['=HYPERLINK("http://x.example/","点击")', "+86某公司", "@SUM(A1:A2)"]
    frame.loc[1, "出让面积"] = -1.0  # rejected: its id, which starts with "-", goes into the rejects CSV
    frame.loc[1, "宗地编号"] = "-KQ2020-0002"
    out, report = read_layer_file("parcels", write(frame, tmp_path / "f.gpkg"))
    assert _counts(report) == (3, 2, 0, 1, 0)
    assert out["holder"].tolist() == [frame["受让人"][0], frame["受让人"][2]]  # kept as given
    csv_text = rejects_csv([report]).decode("utf-8-sig")
    assert ",'-KQ2020-0002," in csv_text and ",-KQ2020-0002," not in csv_text


def test_zip_slip_and_zip_bomb_refused_before_extraction(tmp_path, monkeypatch):
    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as zf:
        zf.writestr("宗地.shp", b"x")
        zf.writestr("../../evil.txt", b"owned")
    with pytest.raises(InputFileError, match=r"slip\.zip 中的文件名“\.\./\.\./evil\.txt”指向解压目录之外"):
        read_source(slip)
    absolute = tmp_path / "abs.zip"
    with zipfile.ZipFile(absolute, "w") as zf:
        zf.writestr("/etc/evil.txt", b"owned")
    with pytest.raises(InputFileError, match="绝对路径或含 .."):
        safe_extract(absolute, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("宗地.dbf", b"\0" * (3 * 1024 * 1024))
    assert bomb.stat().st_size < 20_000
    monkeypatch.setenv("LANDRENEW_MAX_UNZIPPED_MB", "2")
    with pytest.raises(InputFileError, match=r"bomb\.zip 解压后共 3\.0 MB，超过上限 2 MB，未解压"):
        read_source(bomb)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*"))
    assert len(check_zip(bomb, max_bytes=4 * 1024 * 1024)) == 1


def test_check_writes_nothing_and_counts_equal_the_real_run(tmp_path):
    store = _store_with_towns_and_enterprises(tmp_path)
    before = hashlib.sha256(store.path.read_bytes()).hexdigest()
    rows = titled_sheet()
    rows[3][8] = "约五千"
    ledger = write_xlsx(rows, tmp_path / "台账.xlsx")
    geom = _geometry(tmp_path)
    args = ["ingest", "--store", str(store.path), "--parcels", str(ledger), "--parcel-geometry", str(geom)]
    from pipelines.cli import main

    checked = CliRunner().invoke(main, [*args, "--check"])
    assert checked.exit_code == 0, checked.output
    assert hashlib.sha256(store.path.read_bytes()).hexdigest() == before
    assert not store.has_layer("parcels")
    assert "出让面积 -> area_m2（出让面积(平方米)）" in checked.output
    assert "合计：读取 6，将入库 2，修复 0，拒收 1，跳过 3" in checked.output
    assert "检查模式：未写入存储" in checked.output
    assert list(store.reports_dir.glob("rejects-*-check.csv"))
    real = CliRunner().invoke(main, args)
    assert real.exit_code == 0, real.output
    assert "合计：读取 6，入库 2，修复 0，拒收 1，跳过 3" in real.output
    assert len(store.read_layer("parcels")) == 2


def test_gbk_field_names_with_ascii_values_detected_as_gbk(tmp_path):
    """A geometry file whose values are all ASCII (ids) but whose field names are Chinese in GBK."""
    path = write(geometry_frame(IDS), tmp_path / "g.shp", encoding="GBK")
    (tmp_path / "g.cpg").unlink()
    src = read_source(path)
    assert list(src.frame.columns[:1]) == ["宗地编号"] and src.frame["宗地编号"].tolist() == IDS
    assert src.notes == ["g.shp 没有 .cpg 编码文件，已按内容识别为 GB18030 编码读取属性表"]


def test_cli_reads_a_filegdb_folder(tmp_path):
    gdb = tmp_path / "供地.gdb"
    pyogrio.write_dataframe(parcels_frame(), gdb, layer="宗地", driver="OpenFileGDB")
    from pipelines.cli import main

    run = CliRunner().invoke(main, ["ingest", "--store", str(tmp_path / "s.gpkg"), "--parcels", str(gdb), "--check"])
    assert run.exit_code == 0, run.output
    assert "合计：读取 3，将入库 3，修复 0，拒收 0，跳过 0" in run.output
    assert not (tmp_path / "s.gpkg").exists()


def test_junk_in_a_1500_row_ledger_nothing_lost_and_every_junk_cell_accounted_for(tmp_path):
    """The issue's scenario: 300 cells of a 1,500-row 台账 overwritten by 明年 / 1e99 / 2021-13-45.  Expected per
    column type (worked out here, not by the code): a junk date, number, ratio, 是/否 or enum rejects its row;
    a junk 镇街代码 is replaced by the town the parcel lies in (repair); a junk 企业代码 is stored with a warning;
    junk in free text (受让人, 电子监管号) is text and stored."""
    from gis.demo import build_demo_layers
    from gis.demo import to_labels as _to_labels
    from gis.frames import conform

    layers = build_demo_layers(n_parcels=1500)
    parcels, towns = layers["parcels"], layers["towns"]
    table = _to_labels(parcels, "parcels").astype(object)
    store = GeoPackageStore(tmp_path / "s.gpkg")
    store.write_layers({"towns": conform(towns, "towns"), "enterprises": conform(layers["enterprises"], "enterprises")})
    geom = write(
        gpd.GeoDataFrame({"宗地编号": table["宗地编号"]}, geometry=parcels.geometry.to_numpy(), crs=parcels.crs),
        tmp_path / "g.gpkg",
    )

    def run(frame, name):
        path = tmp_path / name
        frame.to_excel(path, index=False)
        [report] = ingest_files(store, {"parcels": {"path": path, "geometry": geom}}, check=True)
        return report

    base = run(table, "clean.xlsx")
    base_rejected = {p.row for p in _only(base)}
    rng = np.random.default_rng(11)
    cols = [c for c in table.columns if c != "宗地编号"]
    junk = ["明年", "1e99", "2021-13-45"]
    cells = set()
    while len(cells) < 300:
        cells.add((int(rng.integers(len(table))), cols[int(rng.integers(len(cols)))]))
    spoiled = table.copy()
    for i, (r, c) in enumerate(sorted(cells)):
        spoiled.loc[r, c] = junk[i % 3]
    report = run(spoiled, "junk.xlsx")
    free_text = {"受让人", "电子监管号"}
    expect_reject = {r + 2 for r, c in cells if c not in free_text | {"镇街代码", "企业代码"}} | base_rejected
    assert {p.row for p in _only(report)} == expect_reject
    assert (report.read, report.stored, report.rejected) == (1500, 1500 - len(expect_reject), len(expect_reject))
    assert report.balanced
    town_junk = {(r + 2, spoiled.loc[r, "镇街代码"]) for r, c in cells if c == "镇街代码"}
    repaired = {(p.row, p.value) for p in report.problems if p.field == "镇街代码" and p.severity == "repair"}
    assert town_junk == repaired and all(
        "不是任何镇街的代码，已按图形所在位置改为" in p.reason for p in report.problems if p.field == "镇街代码"
    )
    ent_junk = {r + 2 for r, c in cells if c == "企业代码"}
    warned = {p.row for p in report.problems if p.field == "企业代码" and p.severity == "warning"}
    assert ent_junk <= warned
    price = [p for p in _only(report) if p.field == "出让价款(万元)" and p.value == "1e99"]
    assert price and all(p.reason == "数值超出合理范围（不超过 5,000,000万元）" for p in price)
