"""Tiny source files for the ingest tests: a valid parcel ledger and ways to spoil it."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import shapely

# three small parcels in 柯桥街道 (EPSG:4490 lon/lat), ~100 m squares
CENTRES = [(120.49, 30.08), (120.50, 30.08), (120.51, 30.08)]


def square(x: float, y: float, d: float = 0.001) -> shapely.Polygon:
    return shapely.box(x - d / 2, y - d / 2, x + d / 2, y + d / 2)


def ledger_rows(n: int = 3) -> dict[str, list]:
    """Columns under their Chinese labels, as a bureau ledger has them."""
    return {
        "宗地编号": [f"KQ2020-{i:04d}" for i in range(1, n + 1)],
        "受让人": ["绍兴某某置业有限公司", "柯桥某某房地产开发有限公司", "浙江某某实业有限公司"][:n],
        "土地用途": ["住宅用地", "商服用地", "工业用地"][:n],
        "出让面积": [10000.0, 12000.5, 8000.0][:n],
        "供地日期": ["2020-01-15", "2020-02-15", "2020-03-15"][:n],
        "约定动工日期": ["2020-06-30", "2020-07-30", "2020-08-30"][:n],
        "约定竣工日期": ["2023-06-30", "2023-07-30", "2023-08-30"][:n],
        "出让价款(万元)": [5000.0, 6000.0, 1200.0][:n],
    }


def parcels_frame(n: int = 3, *, crs: str | None = "EPSG:4490") -> gpd.GeoDataFrame:
    geoms = [square(x, y) for x, y in CENTRES[:n]]
    return gpd.GeoDataFrame(ledger_rows(n), geometry=geoms, crs=crs)


def write(frame: gpd.GeoDataFrame, path: Path, **kwargs) -> Path:
    frame.to_file(path, **kwargs)
    return path
