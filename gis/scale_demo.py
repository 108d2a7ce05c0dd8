"""Synthetic inputs at province / national scale (模拟数据) as partitioned GeoParquet, written tile by tile.

The synthetic Keqiao district of :mod:`gis.demo` is the *tile*: a few templates are built with
:func:`gis.demo.build_demo_layers` (different seeds), and copies of them are laid out on a ``2^k x 2^k`` grid of
tiles in EPSG:4490 (each tile the district's bounding box plus a gap), so towns, villages and projects repeat
across a large extent the way districts do across a province.  Every id gets the tile's prefix (``T0042-``).

Only the templates and the small layers stay in memory: each tile's parcels are shifted, sorted along the
Hilbert curve and written as one partition (``parcels/part.NNNNN.parquet``) before the next tile is made, so
10^7 parcels never sit in one process.  The tiles are visited in Hilbert order of the tile grid and the grid is a
power of two on each side, so every tile is exactly one cell of the curve's quadtree: the concatenated
partitions are in global Hilbert order (level 16 over the grid's extent), and the dataset's marker says so.

Imagery: per template the four demo rasters (:func:`gis.demo.write_demo_rasters`) are warped once to EPSG:4490;
each tile gets, per date, a small VRT pointing at its template's GeoTIFF with the geotransform shifted by the
tile's offset (and the ``ACQUISITION_DATE`` tag), so a tile's parcels sit on exactly the pixels of their template.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .crs import STORE_CRS
from .demo import DEMO_RASTER_DATES, DEMO_SEED, build_demo_layers, write_demo_rasters
from .frames import conform
from .partitioned import MARKER, write_marker, write_partition

__all__ = ["write_scale_demo", "TILE_PARCELS"]

Progress = Callable[[int, int, str], None]

#: Target parcels per tile (= per partition).
TILE_PARCELS = 50_000
#: Gap between tiles (degrees): no parcel lies under two tiles' rasters.
_GAP_DEG = 0.02
_ID_FIELDS = {
    "parcels": ("parcel_id", "town_code", "enterprise_id", "supervision_no"),
    "towns": ("town_code",),
    "projects": ("project_id", "parcel_id", "enterprise_id"),
    "enterprises": ("enterprise_id",),
    "villages": ("village_id", "town_code"),
    "village_progress": ("village_id",),
}
_SMALL = ("towns", "projects", "enterprises", "villages", "village_progress")


def _hilbert_order(side: int) -> np.ndarray:
    """Cells (row-major index) of a ``side x side`` grid in Hilbert-curve order (the geopandas curve)."""
    ij = np.arange(side * side)
    x, y = ij % side + 0.5, ij // side + 0.5
    pts = gpd.GeoSeries(shapely.points(x, y))
    dist = pts.hilbert_distance(total_bounds=(0, 0, side, side), level=16).to_numpy()
    return ij[np.argsort(dist, kind="stable")]


def _prefix(frame: pd.DataFrame, layer: str, tag: str) -> pd.DataFrame:
    out = frame.copy()
    for col in _ID_FIELDS[layer]:
        if col in out.columns:
            s = out[col].astype("string")
            out[col] = (tag + s).where(s.notna(), pd.NA)
    return out


def _shift(frame: gpd.GeoDataFrame, dx: float, dy: float) -> gpd.GeoDataFrame:
    moved = shapely.transform(frame.geometry.to_numpy(), lambda xy: xy + np.array([dx, dy]))
    return frame.set_geometry(gpd.GeoSeries(moved, index=frame.index, crs=STORE_CRS))


def _warp_to_store_crs(src_path: Path, dst_path: Path) -> None:
    """One demo raster (EPSG:4549) warped to EPSG:4490 (bilinear), tags kept."""
    import rasterio
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    with rasterio.open(src_path) as src:
        transform, width, height = calculate_default_transform(src.crs, STORE_CRS, src.width, src.height, *src.bounds)
        profile = {
            "driver": "GTiff",
            "width": width,
            "height": height,
            "count": 1,
            "dtype": "float32",
            "crs": STORE_CRS,
            "transform": transform,
            "nodata": -9999.0,
            "compress": "deflate",
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
        }
        with rasterio.open(dst_path, "w", **profile) as dst:
            reproject(
                rasterio.band(src, 1),
                rasterio.band(dst, 1),
                resampling=Resampling.bilinear,
                src_nodata=-9999.0,
                dst_nodata=-9999.0,
            )
            dst.update_tags(**src.tags())


def _vrt(template: Path, target: Path, dx: float, dy: float, date: str) -> None:
    """A VRT of ``template`` with its geotransform shifted by (dx, dy) degrees."""
    import rasterio

    with rasterio.open(template) as src:
        t = src.transform
        gt = (t.c + dx, t.a, t.b, t.f + dy, t.d, t.e)
        width, height, crs = src.width, src.height, src.crs.to_wkt()
    rel = Path("..") / template.parent.name / template.name if template.parent != target.parent else template.name
    iso = f"{date[:4]}-{date[4:6]}-{date[6:]}"
    target.write_text(
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">\n'
        f"  <SRS>{escape(crs)}</SRS>\n"
        f"  <GeoTransform>{', '.join(repr(float(v)) for v in gt)}</GeoTransform>\n"
        f'  <Metadata><MDI key="ACQUISITION_DATE">{iso}</MDI><MDI key="SYNTHETIC">yes</MDI></Metadata>\n'
        f'  <VRTRasterBand dataType="Float32" band="1">\n'
        f"    <NoDataValue>-9999</NoDataValue>\n"
        f"    <SimpleSource>\n"
        f'      <SourceFilename relativeToVRT="1">{escape(str(rel))}</SourceFilename>\n'
        f"      <SourceBand>1</SourceBand>\n"
        f'      <SrcRect xOff="0" yOff="0" xSize="{width}" ySize="{height}"/>\n'
        f'      <DstRect xOff="0" yOff="0" xSize="{width}" ySize="{height}"/>\n'
        f"    </SimpleSource>\n"
        f"  </VRTRasterBand>\n"
        f"</VRTDataset>\n",
        encoding="utf-8",
    )


def write_scale_demo(
    folder: str | Path,
    *,
    n_parcels: int,
    seed: int = DEMO_SEED,
    as_of: dt.date = dt.date(2026, 11, 1),
    tile_parcels: int = TILE_PARCELS,
    templates: int = 4,
    rasters: bool = True,
    raster_resolution: float = 40.0,
    on_progress: Progress | None = None,
) -> dict[str, Path]:
    """Write ``n_parcels`` synthetic parcels (partitioned GeoParquet) and their small layers into ``folder``.

    Returns the paths: ``parcels`` (folder of partitions, Hilbert-ordered, with marker), ``towns``,
    ``projects``, ``enterprises``, ``villages``, ``village_progress`` (single GeoParquet files) and ``rasters``
    (folder of per-tile VRTs over the templates' GeoTIFFs), as ``landrenew assess --engine dask`` takes them.
    """
    folder = Path(folder)
    step = on_progress or (lambda i, total, label: None)
    n_tiles = max(1, math.ceil(n_parcels / tile_parcels))
    per_tile = math.ceil(n_parcels / n_tiles)
    k = min(templates, n_tiles)
    side = 1 << max(0, math.ceil(math.log2(math.sqrt(n_tiles))))
    total_steps = k + n_tiles + 1
    step(0, total_steps, "生成模板区县")
    temps = []
    raster_dir = folder / "rasters"
    for i in range(k):
        layers = build_demo_layers(n_parcels=max(per_tile, 500), seed=seed + i, as_of=as_of)
        tifs: dict[str, Path] = {}
        if rasters:
            tmp = folder / "_templates" / f"t{i}_4549"
            written = write_demo_rasters(layers["parcels"], tmp, seed=seed + i, resolution=raster_resolution)
            (folder / "_templates").mkdir(parents=True, exist_ok=True)
            for path, date in zip(written, sorted(DEMO_RASTER_DATES)):
                out = folder / "_templates" / f"template{i}_index_{date}.tif"
                _warp_to_store_crs(path, out)
                path.unlink()
                tifs[date] = out
            tmp.rmdir()
        temps.append((layers, tifs))
        step(i + 1, total_steps, f"模板区县 {i + 1}/{k}")
    per_tile = min(per_tile, min(len(t[0]["parcels"]) for t in temps))
    n_tiles = math.ceil(n_parcels / per_tile)
    side = max(side, 1 << max(0, math.ceil(math.log2(math.sqrt(n_tiles)))))
    total_steps = k + n_tiles + 1
    # the tile grid: a template's bounding box plus the gap; origin so the grid is centred on the district
    bx0, by0, bx1, by1 = np.array([t[0]["towns"].total_bounds for t in temps]).T
    x0, y0, x1, y1 = bx0.min(), by0.min(), bx1.max(), by1.max()
    w, h = (x1 - x0) + _GAP_DEG, (y1 - y0) + _GAP_DEG
    ox, oy = x0 - (side // 2) * w, y0 - (side // 2) * h
    extent = (ox, oy, ox + side * w, oy + side * h)
    cells = _hilbert_order(side)[:n_tiles]
    parcels_dir = folder / "parcels"
    parcels_dir.mkdir(parents=True, exist_ok=True)
    for old in parcels_dir.glob("part.*.parquet"):
        old.unlink()
    if rasters:
        raster_dir.mkdir(parents=True, exist_ok=True)
    small: dict[str, list[pd.DataFrame]] = {name: [] for name in _SMALL}
    rng = np.random.default_rng([seed, 99])
    written = 0
    for t, cell in enumerate(cells):
        col, row = int(cell % side), int(cell // side)
        template, tifs = temps[t % k]
        dx, dy = ox + col * w - x0, oy + row * h - y0
        tag = f"T{t:04d}-"
        take = min(per_tile, n_parcels - written)
        parcels = template["parcels"]
        if take < len(parcels):
            parcels = parcels.iloc[np.sort(rng.choice(len(parcels), take, replace=False))]
        parcels = _prefix(_shift(parcels, dx, dy), "parcels", tag)
        order = np.argsort(parcels.geometry.hilbert_distance(total_bounds=extent, level=16).to_numpy(), kind="stable")
        write_partition(parcels.iloc[order], "parcels", parcels_dir, t, conformed=True)  # template: conformed
        kept = set(parcels["parcel_id"].dropna())
        for name in _SMALL:
            frame = template[name]
            frame = _shift(frame, dx, dy) if isinstance(frame, gpd.GeoDataFrame) else frame
            frame = _prefix(frame, name, tag)
            if name == "projects":  # projects on parcels this (last, partial) tile does not have are dropped
                frame = frame[frame["parcel_id"].isna() | frame["parcel_id"].isin(kept)]
            small[name].append(frame)
        for date, tif in tifs.items():
            _vrt(tif, raster_dir / f"{tag}index_{date}.vrt", dx, dy, date)
        written += len(parcels)
        step(k + t + 1, total_steps, f"分区 {t + 1}/{n_tiles}（{written} 宗）")
    paths: dict[str, Path] = {"parcels": parcels_dir}
    for name, frames in small.items():
        frame = pd.concat(frames, ignore_index=True)
        if isinstance(frames[0], gpd.GeoDataFrame):
            frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=STORE_CRS)
        path = folder / f"{name}.parquet"
        conform(frame, name).to_parquet(path, index=False)
        paths[name] = path
    write_marker(
        parcels_dir,
        layer="parcels",
        order="hilbert",
        partitions=n_tiles,
        rows=written,
        hilbert_extent=[float(v) for v in extent],
        hilbert_level=16,
        synthetic=True,
        seed=seed,
        written_by="gis.scale_demo.write_scale_demo",
    )
    if rasters:
        paths["rasters"] = raster_dir
    (folder / "README.txt").write_text(
        f"模拟数据（synthetic）：{written} 宗合成宗地，由 {k} 个柯桥区演示模板按 {side}x{side} 网格平铺而成"
        f"（landrenew demo --format parquet 生成），仅供规模测试，不代表真实宗地、企业或村庄。\n"
        f"parcels/ 为按希尔伯特曲线排序的 GeoParquet 分区（{n_tiles} 个，见 {MARKER}）。\n",
        encoding="utf-8",
    )
    step(total_steps, total_steps, "完成")
    return paths
