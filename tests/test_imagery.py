"""Registering dated index rasters beside the store: every raster checked before any is copied."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.transform import from_origin

from gis.errors import InputFileError
from gis.imagery import list_rasters, register_rasters
from gis.store import GeoPackageStore
from pipelines.cli import main


def _tif(path, *, bands=1, crs="EPSG:4549", tags=None):
    data = np.full((bands, 8, 8), 0.2, dtype="float32")
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=8,
        height=8,
        count=bands,
        dtype="float32",
        crs=crs,
        transform=from_origin(548_000, 3_330_000, 20, 20),
        nodata=-9999,
    ) as dst:
        dst.write(data)
        if tags:
            dst.update_tags(**tags)
    return path


def test_rasters_registered_and_listed_by_date(tmp_path):
    store = GeoPackageStore(tmp_path / "s.gpkg")
    late = _tif(tmp_path / "ndbi_20250615.tif")
    early = _tif(tmp_path / "ndbi_early.tif", tags={"ACQUISITION_DATE": "2023-06-15"})
    register_rasters(store, [late, early])
    assert [p.name for p in list_rasters(store)] == ["ndbi_early.tif", "ndbi_20250615.tif"]


@pytest.mark.parametrize(
    ("kwargs", "name", "message"),
    [
        ({"bands": 3}, "rgb_20250615.tif", "有 3 个波段，只接受单波段指数影像"),
        ({"crs": None}, "nocrs_20250615.tif", "没有坐标系"),
        ({}, "nodate.tif", "nodate.tif"),
    ],
)
def test_bad_raster_refused_and_nothing_copied(tmp_path, kwargs, name, message):
    store = GeoPackageStore(tmp_path / "s.gpkg")
    good = _tif(tmp_path / "ok_20250615.tif")
    bad = _tif(tmp_path / name, **kwargs)
    with pytest.raises(InputFileError, match=message):
        register_rasters(store, [good, bad])
    assert list_rasters(store) == []


def test_ingest_command_registers_rasters(tmp_path):
    tif = _tif(tmp_path / "idx_20240615.tif")
    result = CliRunner().invoke(main, ["ingest", "--store", str(tmp_path / "s.gpkg"), "--rasters", str(tif)])
    assert result.exit_code == 0, result.output
    assert "影像：登记 1 景" in result.output
    assert (tmp_path / "rasters" / "idx_20240615.tif").exists()


def test_known_at_leaves_out_rasters_registered_later(tmp_path):
    """docs/history.md §4: as known at T = the rasters registered by T (whatever their acquisition date)."""
    import datetime as dt
    import shutil

    from gis.runs import ledger_inputs
    from tests import case_fixtures

    store = GeoPackageStore(tmp_path / "s.gpkg")
    case_fixtures.fill(store)
    march = _tif(tmp_path / "ndbi_20240315.tif")
    sept = _tif(tmp_path / "ndbi_20240915.tif")
    register_rasters(store, [march], at="2026-01-10T08:00:00+08:00")
    register_rasters(store, [sept], at="2026-03-01T00:00:00Z")
    register_rasters(store, [march], at="2026-05-01T00:00:00Z")  # the same file again keeps its first time
    names = lambda paths: [p.name for p in paths]  # noqa: E731
    assert names(list_rasters(store)) == ["ndbi_20240315.tif", "ndbi_20240915.tif"]
    assert names(list_rasters(store, known_at="2026-01-10T00:00:00Z")) == ["ndbi_20240315.tif"]  # 08:00 CST = 00:00Z
    assert names(list_rasters(store, known_at="2026-01-09T23:59:59Z")) == []
    assert names(list_rasters(store, known_at="2026-02-28T23:59:59Z")) == ["ndbi_20240315.tif"]
    assert len(list_rasters(store, known_at="2026-03-01T00:00:00Z")) == 2
    # a raster copied in before registration times were kept is known since ever
    (tmp_path / "src").mkdir()
    shutil.copy2(_tif(tmp_path / "src" / "ndbi_20230601.tif"), store.rasters_dir / "ndbi_20230601.tif")
    assert names(list_rasters(store, known_at="2020-01-01")) == ["ndbi_20230601.tif"]
    # a run's inputs: dated on or before as_of AND registered by known_at
    inputs = ledger_inputs(store, as_of=dt.date(2026, 6, 30), known_at="2026-02-01T00:00:00Z")
    assert names(inputs["rasters"]) == ["ndbi_20230601.tif", "ndbi_20240315.tif"]
    inputs = ledger_inputs(store, as_of=dt.date(2024, 6, 30), known_at="2026-06-01T00:00:00Z")
    assert names(inputs["rasters"]) == ["ndbi_20230601.tif", "ndbi_20240315.tif"]
