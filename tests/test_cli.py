"""The `landrenew` command line: thin over gis, counts printed, errors in Chinese with exit code 2."""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner

from pipelines.cli import main
from tests.ingest_fixtures import parcels_frame, write


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return invoke


def test_info_lists_layers_and_synthetic_label(run, demo_store):
    result = run("info", "--store", demo_store.url)
    assert result.exit_code == 0
    assert "parcels" in result.output and "宗地" in result.output
    assert "模拟演示数据" in result.output


def test_ingest_prints_counts_and_rejects_path(run, tmp_path):
    frame = parcels_frame()
    frame.loc[2, "出让面积"] = -1.0
    src = write(frame, tmp_path / "宗地.gpkg")
    store = tmp_path / "s.gpkg"
    result = run("ingest", "--store", store, "--parcels", src)
    assert result.exit_code == 0, result.output
    assert "宗地（parcels）：读取 3 行，入库 2 行，修复 0 行，拒收 1 行" in result.output
    assert "合计：读取 3，入库 2，修复 0，拒收 1" in result.output
    assert "拒收清单：" in result.output and len(list((tmp_path / "reports").glob("rejects-*.csv"))) == 1


def test_bad_file_exits_2_with_chinese_message(run, tmp_path):
    frame = parcels_frame().drop(columns=["受让人"])
    src = write(frame, tmp_path / "缺列.gpkg")
    result = run("ingest", "--store", tmp_path / "s.gpkg", "--parcels", src)
    assert result.exit_code == 2
    assert "错误：文件 缺列.gpkg 缺少必填列：受让人" in result.output
    assert not (tmp_path / "s.gpkg").exists()  # nothing written


def test_assess_file_mode_writes_one_row_per_parcel(run, demo_store, tmp_path):
    sources = demo_store.files_dir  # the demo's source files live beside the master store only
    parcels = demo_store.read_layer("parcels").head(200)
    pfile = tmp_path / "parcels.gpkg"
    pyogrio.write_dataframe(parcels, pfile)
    efile = tmp_path / "enterprises.csv"
    demo_store.read_layer("enterprises").to_csv(efile, index=False)
    for suffix in (".gpkg", ".csv", ".geojson"):
        out = tmp_path / f"assessment{suffix}"
        result = run("assess", "--parcels", pfile, "--enterprises", efile, "--as-of", "2026-11-01", "--out", out)
        assert result.exit_code == 0, result.output
        assert "处置路径：" in result.output
        back = pd.read_csv(out) if suffix == ".csv" else gpd.read_file(out)
        assert len(back) == 200 and set(back["parcel_id"]) == set(parcels["parcel_id"])
    assert sources.exists()


def test_bad_as_of_is_a_clear_usage_error(run, demo_store):
    result = CliRunner().invoke(main, ["assess", "--store", demo_store.url, "--as-of", "明天"])
    assert result.exit_code == 2 and "不是日期" in result.output


def test_demo_refuses_to_overwrite_without_force(run, demo_store):
    result = CliRunner().invoke(main, ["demo", "--store", demo_store.url])
    assert result.exit_code == 2 and "--force" in result.output


def test_assess_and_renewal_on_the_store(run, demo_store):
    result = run("assess", "--store", demo_store.url, "--as-of", "2026-11-01")
    assert result.exit_code == 0 and "已写入" in result.output
    result = run("renewal", "--store", demo_store.url, "--as-of", "2026-11-01")
    assert result.exit_code == 0 and "城中村：" in result.output
    assert demo_store.layer_counts()["village_status"] == demo_store.layer_counts()["villages"]
