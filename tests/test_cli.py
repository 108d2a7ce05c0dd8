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


def test_renewal_file_mode_reads_monthly_excel(run, demo_store, tmp_path):
    villages = tmp_path / "villages.gpkg"
    pyogrio.write_dataframe(demo_store.read_layer("villages"), villages)
    progress = demo_store.read_layer("village_progress")
    sheet = progress.rename(
        columns={
            "village_id": "村编号",
            "report_date": "填报日期",
            "stage": "阶段",
            "signed_households": "已签约户数",
            "relocated_households": "已搬迁户数",
            "demolished_m2": "已拆除面积",
            "resettlement_units_delivered": "已交付安置房套数",
            "works_progress": "整治工程进度",
        }
    )
    xlsx = tmp_path / "月度填报.xlsx"
    sheet.to_excel(xlsx, index=False, sheet_name="填报")
    out = tmp_path / "status.csv"
    result = run("renewal", "--villages", villages, "--progress", xlsx, "--as-of", "2026-11-01", "--out", out)
    assert result.exit_code == 0, result.output
    assert f"读取 {len(progress)} 行，入库 {len(progress)} 行" in result.output
    status = pd.read_csv(out)
    expected = demo_store.read_layer("village_status").set_index("village_id")["status"]
    assert status.set_index("village_id")["status"].to_dict() == expected.to_dict()


def test_renewal_on_store_prints_district_view(run, demo_store):
    result = run("renewal", "--store", demo_store.url, "--as-of", "2026-11-01")
    assert result.exit_code == 0
    assert "全区：" in result.output and "距 2027 年底期限" in result.output
    assert "决定全区能否按期完成的村" in result.output
