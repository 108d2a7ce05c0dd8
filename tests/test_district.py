"""The district extent is a rule file, not code: a province's ledger is checked against the province.

Reference points (city centres, CGCS2000 ~ WGS84 at this scale): 宁波 121.55E 29.87N and 温州 120.70E 28.00N lie
outside Keqiao's box (120.0–121.1E, 29.4–30.6N) and inside Zhejiang's (118–123E, 27–31.5N).
"""

from __future__ import annotations

import geopandas as gpd
import pytest
from click.testing import CliRunner

from gis.district import district, parse_extent
from gis.errors import CRSError, LandRenewError, RuleFileError
from gis.ingest import read_layer_file
from gis.partitioned_ingest import ingest_partitioned
from pipelines.cli import main as cli
from tests.ingest_fixtures import parcels_frame, square, write

ZHEJIANG = (118.0, 27.0, 123.0, 31.5)


def _with_ningbo(tmp_path):
    frame = parcels_frame()
    frame.loc[3] = frame.loc[2]
    frame.loc[3, "宗地编号"] = "KQ2020-0004"
    frame.loc[3, "geometry"] = square(121.55, 29.87)  # 宁波
    return write(frame, tmp_path / "province.gpkg")


def _wenzhou_file(tmp_path):
    frame = parcels_frame()
    frame.geometry = [square(120.70 + 0.01 * i, 28.00) for i in range(len(frame))]  # 温州
    return write(frame, tmp_path / "wenzhou.gpkg")


def test_default_extent_is_keqiao_from_the_rule_file():
    d = district()
    assert d.name == "柯桥区" and d.extent == (120.0, 29.4, 121.1, 30.6)
    assert d.path.endswith("layers/rules/district.yaml")


def test_row_outside_district_rejected_by_default_and_stored_with_province_extent(tmp_path):
    path = _with_ningbo(tmp_path)
    _, report = read_layer_file("parcels", path)
    [p] = [p for p in report.problems if p.severity == "reject"]
    assert p.record_id == "KQ2020-0004" and p.reason == "坐标超出柯桥区范围" and "--extent" in p.fix
    frame, report = read_layer_file("parcels", path, extent=ZHEJIANG)
    assert (report.stored, report.rejected) == (4, 0)
    assert "KQ2020-0004" in set(frame["parcel_id"])


def test_file_outside_district_refused_and_the_message_names_the_extent(tmp_path):
    path = _wenzhou_file(tmp_path)
    with pytest.raises(CRSError, match="wenzhou.gpkg .*不在柯桥区范围内"):
        read_layer_file("parcels", path)
    with pytest.raises(CRSError, match=r"不在研判范围（经度 120.0–120.5、纬度 29.4–30.6）内"):
        read_layer_file("parcels", path, extent=(120.0, 29.4, 120.5, 30.6))
    _, report = read_layer_file("parcels", path, extent=ZHEJIANG)
    assert report.stored == 3


def test_another_district_file_by_environment(tmp_path, monkeypatch):
    rules = tmp_path / "zhejiang.yaml"
    rules.write_text(
        'kind: district\nversion: "zj-1"\neffective_date: 2026-12-01\nname: 浙江省\n'
        "extent: {min_lon: 118.0, min_lat: 27.0, max_lon: 123.0, max_lat: 31.5}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("LANDRENEW_DISTRICT", str(rules))
    assert district().name == "浙江省"
    _, report = read_layer_file("parcels", _wenzhou_file(tmp_path))
    assert report.stored == 3
    frame = parcels_frame()
    frame.geometry = [square(116.40 + 0.01 * i, 39.90) for i in range(len(frame))]  # 北京
    with pytest.raises(CRSError, match="不在浙江省范围内"):
        read_layer_file("parcels", write(frame, tmp_path / "beijing.gpkg"))


def test_invalid_district_file_refused_naming_the_key(tmp_path):
    rules = tmp_path / "bad.yaml"
    rules.write_text(
        'kind: district\nversion: "x"\neffective_date: 2026-12-01\nname: 某区\n'
        "extent: {min_lon: 121.0, min_lat: 27.0, max_lon: 118.0, max_lat: 31.5}\n",
        encoding="utf-8",
    )
    with pytest.raises(RuleFileError, match="bad.yaml 的 extent 的范围 121.0,27.0,118.0,31.5 无效"):
        district(rules)
    rules.write_text(
        'kind: district\nversion: "x"\neffective_date: 2026-12-01\nname: 某区\n'
        "extent: {min_lon: 118.0, min_lat: 27.0, max_lon: 123.0, max_lat: 95}\n",
        encoding="utf-8",
    )
    with pytest.raises(RuleFileError, match="extent.max_lat"):
        district(rules)


def test_parse_extent_messages():
    assert parse_extent("118，27，123，31.5") == ZHEJIANG
    with pytest.raises(LandRenewError, match="不是 4 个数"):
        parse_extent("118,27,北,31")
    with pytest.raises(LandRenewError, match="应为 4 个数"):
        parse_extent("118,27,123")


def test_cli_extent_for_the_store_and_the_partitioned_ingest(tmp_path):
    path = _with_ningbo(tmp_path)
    store = tmp_path / "s.gpkg"
    runner = CliRunner()
    base = ["ingest", "--store", str(store), "--parcels", str(path), "--check"]
    res = runner.invoke(cli, base)
    assert res.exit_code == 0, res.output
    assert "拒收 1" in res.output
    res = runner.invoke(cli, [*base, "--extent", "118,27,123,31.5"])
    assert res.exit_code == 0, res.output
    assert "拒收 0" in res.output
    res = runner.invoke(cli, [*base, "--extent", "123,27,118,31.5"])
    assert res.exit_code != 0 and "无效" in res.output
    report = ingest_partitioned("parcels", path, tmp_path / "out" / "parcels", extent=ZHEJIANG)
    assert (report.read, report.stored, report.rejected) == (4, 4, 0)
    parts = gpd.read_parquet(tmp_path / "out" / "parcels")
    assert "KQ2020-0004" in set(parts["parcel_id"])
