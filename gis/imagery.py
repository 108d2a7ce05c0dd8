"""Dated index rasters (遥感影像) kept beside the store: the acquisition date, validate, register, list."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import rasterio
from rasterio.errors import RasterioIOError

from .batches import file_sha256
from .errors import InputFileError

__all__ = ["raster_date", "register_rasters", "list_rasters", "check_raster"]

_NAME_DATE = re.compile(r"_(\d{8})\.tiff?$", re.IGNORECASE)
_RENAME_FIX = (
    "将文件重命名为“名称_YYYYMMDD.tif”（如 ndvi_20240315.tif），或在影像元数据中写入拍摄日期"
    "（如 gdal_edit.py -mo ACQUISITION_DATE=2024-03-15 文件名.tif）"
)


def _date_from_tag(name: str, key: str, value: str) -> dt.date:
    text = value.strip()
    try:
        if key == "TIFFTAG_DATETIME":  # "YYYY:MM:DD HH:MM:SS" (TIFF 6.0)
            return dt.datetime.strptime(text[:10], "%Y:%m:%d").date()
        return dt.date.fromisoformat(text[:10])
    except ValueError as exc:
        raise InputFileError(
            f"遥感影像“{name}”元数据 {key} 的值“{value}”不是有效日期",
            detail=f"{name}: metadata {key}={value!r} is not a date ({exc})",
            fix=_RENAME_FIX,
        ) from exc


def raster_date(path: str | Path) -> dt.date:
    """The acquisition date of a raster.

    Taken from the file name (``*_YYYYMMDD.tif``), else from the metadata tag
    ``ACQUISITION_DATE`` (``YYYY-MM-DD``), else from ``TIFFTAG_DATETIME``
    (``YYYY:MM:DD HH:MM:SS``).

    Parameters
    ----------
    path
        A raster file readable by rasterio.

    Returns
    -------
    datetime.date

    Raises
    ------
    InputFileError
        Neither the name nor the metadata carries a valid date, or the file cannot be opened.
        The Chinese message names the file and says how to fix it.
    """
    path = Path(path)
    name = path.name
    match = _NAME_DATE.search(name)
    if match:
        digits = match.group(1)
        try:
            return dt.datetime.strptime(digits, "%Y%m%d").date()
        except ValueError as exc:
            raise InputFileError(
                f"遥感影像“{name}”文件名中的日期“{digits}”不是有效日期",
                detail=f"{name}: {digits!r} in the file name is not a YYYYMMDD date",
                fix=_RENAME_FIX,
            ) from exc
    tags = _tags(path)
    for key in ("ACQUISITION_DATE", "TIFFTAG_DATETIME"):
        if tags.get(key):
            return _date_from_tag(name, key, tags[key])
    raise InputFileError(
        f"遥感影像“{name}”无法确定拍摄日期：文件名不是“*_YYYYMMDD.tif”格式，"
        "元数据中也没有 ACQUISITION_DATE 或 TIFFTAG_DATETIME",
        detail=f"{path}: no date in the file name (*_YYYYMMDD.tif) nor in the tags ACQUISITION_DATE / TIFFTAG_DATETIME",
        fix=_RENAME_FIX,
    )


def _tags(path: Path) -> dict[str, str]:
    try:
        with rasterio.open(path) as src:
            return dict(src.tags())
    except RasterioIOError as exc:
        raise InputFileError(
            f"遥感影像“{path.name}”无法打开",
            detail=f"{path}: {exc}",
            fix="确认文件存在且为单波段 GeoTIFF",
        ) from exc


def check_raster(path: str | Path) -> None:
    """Refuse a raster that is not a single-band, georeferenced, dated image."""
    path = Path(path)
    try:
        with rasterio.open(path) as src:
            if src.count != 1:
                raise InputFileError(
                    f"影像 {path.name} 有 {src.count} 个波段，只接受单波段指数影像",
                    fix="先计算出单一指数（如 NDVI、建筑指数）再导入",
                )
            if src.crs is None:
                raise InputFileError(f"影像 {path.name} 没有坐标系", fix="用 gdal_edit.py -a_srs 设置坐标系后再导入")
    except rasterio.errors.RasterioIOError as exc:
        raise InputFileError(f"无法读取影像 {path.name}：{exc}", fix="确认为 GeoTIFF 文件") from exc
    raster_date(path)


#: when each raster of a store was registered (docs/history.md §4: ``--known-at`` leaves out later ones)
REGISTRY = "registered.json"


def _registry(folder: Path) -> dict[str, dict]:
    path = folder / REGISTRY
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def register_rasters(store, paths: Iterable[str | Path], *, at: Any = None) -> list[Path]:
    """Validate every raster first, then copy them into ``store.rasters_dir`` (all or none), recording when
    each was registered (UTC, ``at`` default now) and its SHA-256 in ``registered.json`` beside them.  A file
    registered again with the same content keeps its first time."""
    paths = [Path(p) for p in paths]
    for p in paths:
        check_raster(p)
    target = store.rasters_dir
    target.mkdir(parents=True, exist_ok=True)
    when = (pd.Timestamp.now(tz="UTC") if at is None else _utc(at)).isoformat()
    registry = _registry(target)
    out = []
    for p in paths:
        dest = target / p.name
        sha = file_sha256(p)
        if p.resolve() != dest.resolve():
            shutil.copy2(p, dest)
        if registry.get(p.name, {}).get("sha256") != sha:
            registry[p.name] = {"registered_at": when, "sha256": sha}
        out.append(dest)
    tmp = target / f".{REGISTRY}.tmp"
    tmp.write_text(json.dumps(registry, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, target / REGISTRY)
    return out


def _utc(value: Any) -> pd.Timestamp:
    t = pd.Timestamp(value)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def list_rasters(store, *, known_at: Any = None) -> list[Path]:
    """The store's rasters, oldest first; with ``known_at``, only those registered by then (a raster copied in
    before registration times were kept counts as known since ever)."""
    folder = store.rasters_dir
    if not folder.exists():
        return []
    paths = sorted(folder.glob("*.tif"), key=raster_date)
    if known_at is None:
        return paths
    t = _utc(known_at)
    registry = _registry(folder)
    return [p for p in paths if p.name not in registry or _utc(registry[p.name]["registered_at"]) <= t]
