"""Dated index rasters (遥感影像) kept beside the store: validate, register, list."""
from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import rasterio

from .errors import InputFileError
from .zonal import raster_date

__all__ = ["register_rasters", "list_rasters", "check_raster"]


def check_raster(path: str | Path) -> None:
    """Refuse a raster that is not a single-band, georeferenced, dated image."""
    path = Path(path)
    try:
        with rasterio.open(path) as src:
            if src.count != 1:
                raise InputFileError(f"影像 {path.name} 有 {src.count} 个波段，只接受单波段指数影像",
                                     fix="先计算出单一指数（如 NDVI、建筑指数）再导入")
            if src.crs is None:
                raise InputFileError(f"影像 {path.name} 没有坐标系", fix="用 gdal_edit.py -a_srs 设置坐标系后再导入")
    except rasterio.errors.RasterioIOError as exc:
        raise InputFileError(f"无法读取影像 {path.name}：{exc}", fix="确认为 GeoTIFF 文件") from exc
    raster_date(path)


def register_rasters(store, paths: Iterable[str | Path]) -> list[Path]:
    """Validate every raster first, then copy them into ``store.rasters_dir`` (all or none)."""
    paths = [Path(p) for p in paths]
    for p in paths:
        check_raster(p)
    target = store.rasters_dir
    target.mkdir(parents=True, exist_ok=True)
    out = []
    for p in paths:
        dest = target / p.name
        if p.resolve() != dest.resolve():
            shutil.copy2(p, dest)
        out.append(dest)
    return out


def list_rasters(store) -> list[Path]:
    """The store's rasters, oldest first."""
    folder = store.rasters_dir
    if not folder.exists():
        return []
    return sorted(folder.glob("*.tif"), key=raster_date)
