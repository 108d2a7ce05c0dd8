"""Coordinate reference systems of the platform (docs/data-contract.md)."""

from __future__ import annotations

import math

import numpy as np
import pyproj

from .district import district, extent_name
from .errors import CRSError

__all__ = [
    "STORE_CRS",
    "AREA_CRS",
    "WEB_CRS",
    "DISTRICT_BOUNDS",
    "check_plausible_crs",
    "gcj02_to_wgs84",
    "wgs84_to_gcj02",
    "guess_projected_crs",
]

#: Geometry in every store: CGCS2000 geographic.
STORE_CRS = "EPSG:4490"
#: Areas, lengths, buffers: CGCS2000 / 3-degree Gauss-Kruger CM 120E (no zone prefix).
AREA_CRS = "EPSG:4549"
#: GeoJSON exports and web maps (RFC 7946).
WEB_CRS = "EPSG:4326"
#: Plausible lon/lat bounds of the district with a margin (minx, miny, maxx, maxy), from
#: ``layers/rules/district.yaml`` (:func:`gis.district.district`; ingest takes ``extent=`` to override).
DISTRICT_BOUNDS = district().extent


# --------------------------------------------------------------------------------------------
# Checks and conversions used by ingest.

_A = 6378245.0
_EE = 0.00669342162296594323


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 105.0, lat - 35.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * math.pi) + 320 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    )
    radlat = lat / 180.0 * math.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * math.pi)
    return dlon, dlat


def wgs84_to_gcj02(coords: np.ndarray) -> np.ndarray:
    """WGS84 lon/lat (n, 2) -> GCJ-02 (the published forward formula)."""
    dlon, dlat = _delta(coords[:, 0], coords[:, 1])
    return np.column_stack([coords[:, 0] + dlon, coords[:, 1] + dlat])


def gcj02_to_wgs84(coords: np.ndarray, *, iterations: int = 6) -> np.ndarray:
    """GCJ-02 lon/lat (n, 2) -> WGS84 by fixed-point iteration of the forward formula (error < 1e-7 deg)."""
    coords = np.asarray(coords, dtype=float)
    guess = coords.copy()
    for _ in range(iterations):
        guess = guess - (wgs84_to_gcj02(guess) - coords)
    return guess


def guess_projected_crs(x: float) -> str | None:
    """Which CGCS2000 Gauss-Kruger CRS eastings of this size suggest near 120E."""
    if 40_000_000 < x < 41_000_000:
        return "EPSG:4528"
    if 100_000 < x < 900_000:
        return "EPSG:4549"
    return None


def check_plausible_crs(
    bounds: tuple[float, float, float, float],
    crs: pyproj.CRS | None,
    *,
    file: str,
    extent: tuple[float, float, float, float] | None = None,
) -> None:
    """Refuse a file whose declared CRS does not fit the district; the message says why and what to do.

    ``bounds`` are the file's own coordinates (minx, miny, maxx, maxy) in its declared ``crs``; ``extent`` the
    lon/lat box they must fall in (default: the district file's, :func:`gis.district.district`).
    """
    if crs is None:
        raise CRSError(
            f"文件 {file} 没有坐标系（缺少 .prj 或 crs 信息）",
            detail=f"{file}: no CRS",
            fix="用 --crs 指定，例如 --crs EPSG:4490 或 --crs EPSG:4549",
        )
    minx, miny, maxx, maxy = bounds
    if not np.all(np.isfinite(bounds)):
        return
    lo_x, lo_y, hi_x, hi_y = extent or district().extent
    place = extent_name(extent)
    if crs.is_geographic:
        if lo_y <= minx and maxx <= hi_y and lo_x <= miny and maxy <= hi_x:
            raise CRSError(
                f"文件 {file} 的经纬度顺序颠倒（x 在 {minx:.3f}–{maxx:.3f}，像纬度；y 在 {miny:.3f}–{maxy:.3f}，像经度）",
                detail=f"{file}: lon/lat swapped",
                fix="把 x、y 对调后重新导出（经度在前、纬度在后）",
            )
        if max(abs(minx), abs(maxx), abs(miny), abs(maxy)) > 360:
            guess = guess_projected_crs(minx)
            hint = f"，看起来是 {guess}" if guess else ""
            raise CRSError(
                f"文件 {file} 声明为经纬度坐标系 {crs.to_string()}，但坐标是米制投影坐标（x 约 {minx:.0f}）{hint}",
                detail=f"{file}: projected coordinates labelled {crs.to_string()}",
                fix=f"用 --crs {guess or 'EPSG:4549'} 指定真实坐标系",
            )
        tb = (minx, miny, maxx, maxy)
    else:
        t = pyproj.Transformer.from_crs(crs, STORE_CRS, always_xy=True)
        tb = t.transform_bounds(*bounds)
    if not np.all(np.isfinite(tb)):
        guess = guess_projected_crs(minx) if not crs.is_geographic else None
        raise CRSError(
            f"文件 {file} 的坐标（x 约 {minx:.0f}）超出声明坐标系 {crs.to_string()} 的有效范围",
            detail=f"{file}: coordinates outside the area of use of {crs.to_string()}",
            fix=f"确认文件的坐标系，用 --crs {guess or 'EPSG:4490'} 指定",
        )
    if not (lo_x <= tb[0] and tb[2] <= hi_x and lo_y <= tb[1] and tb[3] <= hi_y):
        guess = guess_projected_crs(minx) if not crs.is_geographic else None
        hint = f"；坐标大小像 {guess}" if guess and guess != crs.to_string() else ""
        raise CRSError(
            f"文件 {file} 按声明的坐标系 {crs.to_string()} 换算后落在 "
            f"经度 {tb[0]:.3f}–{tb[2]:.3f}、纬度 {tb[1]:.3f}–{tb[3]:.3f}，不在{place}内{hint}",
            detail=f"{file}: bounds {tb} outside district in {crs.to_string()}",
            fix=f"确认文件的坐标系，用 --crs {guess or 'EPSG:4490'} 指定",
        )
