"""Imagery evidence: zonal means of an index over dated rasters (RULES.md §4 E1).

One raster per acquisition date (DATA_CONTRACT.md "Rasters"), any CRS.  The method follows
DESIGN.md "Performance habits":

1. Rasters are grouped by grid (same CRS, transform and shape).  Per grid the parcels are
   reprojected to the raster CRS **once** and converted to pixel coordinates.
2. The ordinal ids of the parcels are rasterized **once** per grid
   (:func:`rasterio.features.rasterize`, ``all_touched=False``: a pixel belongs to a parcel when
   its centre is inside) into an ``int32`` label image covering only the bounding box of the
   parcels (a windowed read).  Large windows are processed in row strips of at most
   ``_STRIP_PIXELS`` pixels, so memory stays bounded; with more than one strip the labels are
   rasterized a second time instead of being kept (the only exception to "once").
3. Per date the band is read (nodata and non-finite values masked) and the mean per parcel is
   ``np.bincount(labels, weights=values) / np.bincount(labels)`` over the valid pixels.
4. Parcels with fewer than ``small_pixels`` pixel centres (including none) get an **exact**
   coverage-weighted mean instead: the fraction of every pixel of their bounding box that they
   cover (vectorised shapely: pixels off the boundary are in or out by their centre, pixels on
   the boundary are clipped to the pixel square), then
   ``sum(fraction * value) / sum(fraction)`` over valid pixels — the same definition as
   ``exactextract``'s ``mean``.  The same applies per date to a larger parcel left with fewer
   than ``small_pixels`` *valid* centres on that date (nodata, clouds): its pixels are re-read
   and its exact mean is used for that date.  So every parcel that overlaps valid data gets a
   value; parcels outside the raster or only on nodata get NaN.

Overlapping parcels: in a rasterization a pixel centre carries one label only — GDAL burns the
shapes in input order, so a later parcel takes the shared centres from an earlier one.  A parcel
left with fewer than ``small_pixels`` centres (e.g. entirely inside a later parcel) falls back to
the exact path, which does not depend on labels, so it still gets its own value.  Parcels of one
layer do not normally overlap (DATA_CONTRACT.md).

Several files with the same date are treated as tiles of one mosaic: their sums and weights are
added (a pixel in an overlap of two tiles is counted twice).
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine
from pyproj import CRS
from rasterio.enums import MaskFlags
from rasterio.errors import RasterioIOError
from rasterio.features import rasterize
from rasterio.windows import Window

from .errors import CRSError, InputFileError

__all__ = ["raster_date", "zonal_means", "activity_index"]

#: Largest label/value window (pixels) held in memory at once; larger windows go in row strips.
_STRIP_PIXELS = 1 << 24
#: Largest number of (parcel, pixel) pairs intersected at once on the exact path.
_EXACT_CELLS = 1 << 20

_NAME_DATE = re.compile(r"_(\d{8})\.tiff?$", re.IGNORECASE)
_RENAME_FIX = (
    "将文件重命名为“名称_YYYYMMDD.tif”（如 ndvi_20240315.tif），或在影像元数据中写入拍摄日期"
    "（如 gdal_edit.py -mo ACQUISITION_DATE=2024-03-15 文件名.tif）"
)


# ---------------------------------------------------------------------------------------------
# dates
# ---------------------------------------------------------------------------------------------
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
        detail=f"{path}: no date in the file name (*_YYYYMMDD.tif) nor in the tags "
        "ACQUISITION_DATE / TIFFTAG_DATETIME",
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


# ---------------------------------------------------------------------------------------------
# geometry helpers
# ---------------------------------------------------------------------------------------------
def _to_pixels(geoms: np.ndarray, transform: Affine) -> np.ndarray:
    """Geometries in the raster CRS -> pixel coordinates (x = column, y = row, 1 unit = 1 pixel)."""
    a, b, c, d, e, f = tuple(~transform)[:6]

    def apply(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        return np.column_stack((a * x + b * y + c, d * x + e * y + f))

    return shapely.transform(geoms, apply)


def _shapes(geoms: np.ndarray, values: np.ndarray):
    """(GeoJSON-like dict, value) pairs for rasterio, built from ragged arrays (no per-geometry
    ``__geo_interface__``, 3x faster for 10^5 polygons)."""
    try:
        kind, coords, offsets = shapely.to_ragged_array(geoms)
    except (ValueError, NotImplementedError):  # mixed / collection types: the slow generic path
        return zip(geoms, values.tolist())
    pts = coords.tolist()
    if kind == shapely.GeometryType.POLYGON:
        ring, part = (o.tolist() for o in offsets)
        shapes = [
            {"type": "Polygon", "coordinates": [pts[ring[k] : ring[k + 1]] for k in range(part[i], part[i + 1])]}
            for i in range(len(part) - 1)
        ]
    elif kind == shapely.GeometryType.MULTIPOLYGON:
        ring, part, geom = (o.tolist() for o in offsets)
        shapes = [
            {
                "type": "MultiPolygon",
                "coordinates": [
                    [pts[ring[k] : ring[k + 1]] for k in range(part[p], part[p + 1])]
                    for p in range(geom[i], geom[i + 1])
                ],
            }
            for i in range(len(geom) - 1)
        ]
    else:
        return zip(geoms, values.tolist())
    return zip(shapes, values.tolist())


def _bbox_cells(px: np.ndarray, members: np.ndarray, height: int, width: int):
    """The pixels of the bounding boxes of ``px[members]`` (pixel coordinates) inside the raster.

    Returns ``(owner, row, col)`` with owner = parcel ordinal, sorted by row.
    """
    if len(members) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
    bounds = shapely.bounds(px[members])
    c0 = np.clip(np.floor(bounds[:, 0]), 0, width).astype(np.int64)
    c1 = np.clip(np.ceil(bounds[:, 2]), 0, width).astype(np.int64)
    r0 = np.clip(np.floor(bounds[:, 1]), 0, height).astype(np.int64)
    r1 = np.clip(np.ceil(bounds[:, 3]), 0, height).astype(np.int64)
    ncol = np.maximum(c1 - c0, 0)
    counts = ncol * np.maximum(r1 - r0, 0)
    which = np.repeat(np.arange(len(members)), counts)
    local = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    row = r0[which] + local // ncol[which]
    col = c0[which] + local % ncol[which]
    order = np.argsort(row, kind="stable")
    return members[which[order]], row[order], col[order]


def _clipped_area(geoms: np.ndarray, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """Area of ``geoms[i]`` inside the unit pixel ``(row[i], col[i])``.

    Each geometry is moved so that its pixel is ``[0, 1]^2`` and clipped with GEOS's rectangle
    clipping (one scalar rectangle for all: ``clip_by_rect`` is ~5x faster than a general
    ``intersection`` with the pixel boxes).
    """
    if len(geoms) == 0:
        return np.zeros(0)
    offset = np.repeat(np.column_stack((col, row)).astype(np.float64), shapely.get_num_coordinates(geoms), axis=0)
    moved = shapely.transform(geoms, lambda xy: xy - offset)
    return shapely.area(shapely.clip_by_rect(moved, 0.0, 0.0, 1.0, 1.0))


def _coverage(px: np.ndarray, owner: np.ndarray, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """Fraction of pixel ``(row, col)`` covered by ``px[owner]`` (pixel coordinates, area 1).

    Pixels that do not meet the parcel boundary are fully inside or outside (decided by their
    centre); only those on the boundary are clipped (:func:`_clipped_area`).  Done in chunks of
    ``_EXACT_CELLS``.
    """
    frac = np.zeros(len(owner))
    if len(owner) == 0:
        return frac
    used = np.unique(owner)
    geoms = np.full(len(px), None, dtype=object)
    geoms[used] = px[used]
    bad = used[~shapely.is_valid(geoms[used])]
    if len(bad):
        geoms[bad] = shapely.make_valid(geoms[bad])
    edges = np.full(len(px), None, dtype=object)
    edges[used] = shapely.boundary(geoms[used])
    shapely.prepare(geoms[used])
    shapely.prepare(edges[used])
    for lo in range(0, len(owner), _EXACT_CELLS):
        sl = slice(lo, lo + _EXACT_CELLS)
        o, r, c = owner[sl], row[sl], col[sl]
        boxes = shapely.box(c, r, c + 1, r + 1)
        edge = shapely.intersects(edges[o], boxes)
        part = frac[sl]
        part[~edge] = shapely.contains_xy(geoms[o[~edge]], c[~edge] + 0.5, r[~edge] + 0.5)
        part[edge] = _clipped_area(geoms[o[edge]], r[edge], c[edge])
    return frac


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
def _open(path: Path) -> rasterio.io.DatasetReader:
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise InputFileError(
            f"遥感影像“{path.name}”无法打开",
            detail=f"{path}: {exc}",
            fix="确认文件存在且为单波段 GeoTIFF",
        ) from exc


class _Band:
    """Band 1 of a window of a raster, with validity (nodata, internal mask, non-finite)."""

    def __init__(self, src, window: Window):
        self.data = src.read(1, window=window).ravel()
        flags = src.mask_flag_enums[0]
        self.mask = None
        self.nodata = None
        if MaskFlags.per_dataset in flags or MaskFlags.alpha in flags:
            self.mask = src.read_masks(1, window=window).ravel()
        elif src.nodata is not None and not np.isnan(src.nodata):
            self.nodata = np.asarray(src.nodata).astype(self.data.dtype)  # compare in band type

    def take(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values (float64) at flat positions ``index`` and whether they are valid."""
        raw = self.data[index]
        values = raw.astype(np.float64)
        valid = np.isfinite(values)
        if self.mask is not None:
            valid &= self.mask[index] > 0
        elif self.nodata is not None:
            valid &= raw != self.nodata
        return values, valid


def _read_cells(src, row: np.ndarray, col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values and validity at pixels ``(row, col)`` (sorted by row), read in bounded row strips
    of the bounding window of the pixels."""
    values = np.empty(len(row))
    valid = np.zeros(len(row), bool)
    if len(row) == 0:
        return values, valid
    c0, c1 = int(col.min()), int(col.max()) + 1
    step = max(1, _STRIP_PIXELS // (c1 - c0))
    for s0 in range(int(row[0]), int(row[-1]) + 1, step):
        lo, hi = np.searchsorted(row, [s0, s0 + step])
        if lo == hi:
            continue
        s1 = int(row[hi - 1]) + 1
        flat = (row[lo:hi] - s0) * (c1 - c0) + (col[lo:hi] - c0)
        values[lo:hi], valid[lo:hi] = _Band(src, Window(c0, s0, c1 - c0, s1 - s0)).take(flat)
    return values, valid


def _accumulate_grid(
    px: np.ndarray,
    sources: list[tuple[Path, int]],
    height: int,
    width: int,
    sums: np.ndarray,
    weights: np.ndarray,
    small_pixels: int,
) -> None:
    """Add this grid's per-parcel sums and weights (columns = date positions) in place."""
    n = len(px)
    usable = ~(shapely.is_missing(px) | shapely.is_empty(px))
    bounds = shapely.bounds(px)
    if not usable.any():
        return
    c0 = max(0, int(np.floor(np.nanmin(bounds[usable, 0]))))
    c1 = min(width, int(np.ceil(np.nanmax(bounds[usable, 2]))))
    r0 = max(0, int(np.floor(np.nanmin(bounds[usable, 1]))))
    r1 = min(height, int(np.ceil(np.nanmax(bounds[usable, 3]))))
    if c0 >= c1 or r0 >= r1:
        return  # no parcel overlaps this grid
    ncols = c1 - c0
    step = max(1, _STRIP_PIXELS // ncols)
    strips = [(s, min(s + step, r1)) for s in range(r0, r1, step)]
    labels_of = np.arange(1, n + 1, dtype=np.int32)

    def burn(s0: int, s1: int) -> tuple[np.ndarray, np.ndarray]:
        """Labelled pixels of a strip: flat positions and parcel ordinals."""
        sel = usable & (bounds[:, 3] > s0) & (bounds[:, 1] < s1) & (bounds[:, 2] > c0) & (bounds[:, 0] < c1)
        if not sel.any():
            return np.empty(0, np.int64), np.empty(0, np.int64)
        flat = rasterize(
            _shapes(px[sel], labels_of[sel]),
            out_shape=(s1 - s0, ncols),
            transform=Affine(1, 0, c0, 0, 1, s0),  # pixel coordinates of the strip
            fill=0,
            all_touched=False,
            dtype="int32",
        ).ravel()
        inside = np.flatnonzero(flat)
        return inside, flat[inside].astype(np.int64) - 1

    # pass 1: pixel centres per parcel -> the small parcels (exact path for every date)
    centres = np.zeros(n, np.int64)
    kept = None
    for s0, s1 in strips:
        inside, lab = burn(s0, s1)
        centres += np.bincount(lab, minlength=n)
        if len(strips) == 1:
            kept = inside, lab
    large = centres >= small_pixels
    owner, crow, ccol = _bbox_cells(px, np.flatnonzero(usable & ~large), height, width)
    frac = _coverage(px, owner, crow, ccol)
    keep = frac > 0
    owner, crow, ccol, frac = owner[keep], crow[keep], ccol[keep], frac[keep]

    k = len(sources)
    csum, cnum = np.zeros((n, k)), np.zeros((n, k))  # centre path
    xsum, xwgt = np.zeros((n, k)), np.zeros((n, k))  # exact path
    short = np.zeros((n, k), bool)  # large parcels with too few valid centres on a date

    def exact_short(j: int, reader) -> None:
        """Pass 3 for date j: large parcels left with fewer than small_pixels VALID centres
        (nodata, clouds) get the exact mean of their valid pixels instead."""
        short[:, j] = large & (cnum[:, j] < small_pixels)
        if not short[:, j].any():
            return
        o, r, c = _bbox_cells(px, np.flatnonzero(short[:, j]), height, width)
        values, ok = reader(r, c)
        o, r, c, values = o[ok], r[ok], c[ok], values[ok]
        w = _coverage(px, o, r, c)  # only the valid pixels are intersected
        xsum[:, j] += np.bincount(o, weights=w * values, minlength=n)
        xwgt[:, j] += np.bincount(o, weights=w, minlength=n)

    # pass 2: per strip, per date: centre sums of the large parcels, exact sums of the small ones
    with ExitStack() as stack:
        opened = [stack.enter_context(_open(path)) for path, _ in sources]
        for s0, s1 in strips:
            inside, lab = kept if kept is not None else burn(s0, s1)
            keep = large[lab]
            inside, lab = inside[keep], lab[keep]
            lo, hi = np.searchsorted(crow, [s0, s1])
            cells = (crow[lo:hi] - s0) * ncols + (ccol[lo:hi] - c0)
            cell_owner, cell_frac = owner[lo:hi], frac[lo:hi]
            window = Window(c0, s0, ncols, s1 - s0)
            for j, src in enumerate(opened):
                band = _Band(src, window)
                v, ok = band.take(inside)
                csum[:, j] += np.bincount(lab[ok], weights=v[ok], minlength=n)
                cnum[:, j] += np.bincount(lab[ok], minlength=n)
                v, ok = band.take(cells)
                w = cell_frac[ok]
                xsum[:, j] += np.bincount(cell_owner[ok], weights=w * v[ok], minlength=n)
                xwgt[:, j] += np.bincount(cell_owner[ok], weights=w, minlength=n)
                if kept is not None:  # one strip: the counts are final, the band is in memory
                    exact_short(j, lambda r, c: band.take((r - s0) * ncols + (c - c0)))
        if kept is None:  # several strips: re-read the pixels of the short parcels
            for j, src in enumerate(opened):
                exact_short(j, lambda r, c: _read_cells(src, r, c))

    use_centre = large[:, None] & ~short
    for j, (_, d) in enumerate(sources):
        sums[:, d] += np.where(use_centre[:, j], csum[:, j], xsum[:, j])
        weights[:, d] += np.where(use_centre[:, j], cnum[:, j], xwgt[:, j])


# ---------------------------------------------------------------------------------------------
# public
# ---------------------------------------------------------------------------------------------
def zonal_means(
    parcels: gpd.GeoDataFrame,
    rasters: Sequence[str | Path],
    *,
    id_field: str = "parcel_id",
    small_pixels: int = 4,
) -> pd.DataFrame:
    """Mean of the index over every parcel, for every raster date.

    Parameters
    ----------
    parcels
        Parcel polygons with a CRS (any; reprojected to each raster's CRS).
    rasters
        Single-band rasters, one per date (see :func:`raster_date`); any CRS, any grid.
        Band 1 is read; nodata (or an internal mask) and non-finite values are ignored.
    id_field
        Column of ``parcels`` whose values become the row index.
    small_pixels
        Parcels with fewer (valid) pixel centres than this get the exact coverage-weighted
        mean; the others the plain mean of the valid pixels whose centre they contain.
        ``0`` uses pixel centres only (parcels without a centre get NaN).

    Returns
    -------
    pandas.DataFrame
        One row per parcel in input order (index = ``id_field`` values), one column per date
        (ISO ``YYYY-MM-DD`` strings, sorted), float means; NaN where the parcel has no valid
        pixel (outside the raster or only nodata).

    Raises
    ------
    InputFileError
        ``id_field`` missing, a raster unreadable or without a date.
    CRSError
        The parcels or a raster have no CRS.

    Notes
    -----
    See the module docstring for the method, overlapping parcels and several files per date.
    """
    if id_field not in parcels.columns:
        raise InputFileError(
            f"宗地图层缺少编号字段“{id_field}”",
            detail=f"id_field {id_field!r} not in columns {list(parcels.columns)}",
            fix=f"检查字段名，或用 id_field= 指定编号字段",
        )
    if parcels.crs is None:
        raise CRSError(
            "宗地图层没有坐标系，无法与遥感影像叠加",
            detail="parcels.crs is None",
            fix="为宗地图层设置坐标系（如 EPSG:4490）后重试",
        )
    if small_pixels < 0:
        raise ValueError(f"small_pixels must be >= 0, got {small_pixels}")
    paths = [Path(p) for p in rasters]
    dates = [raster_date(p) for p in paths]
    columns = sorted(set(dates))
    position = {d: i for i, d in enumerate(columns)}

    grids: dict[tuple, list[tuple[Path, int]]] = {}
    for path, date in zip(paths, dates):
        with _open(path) as src:
            if src.crs is None:
                raise CRSError(
                    f"遥感影像“{path.name}”没有坐标系",
                    detail=f"{path}: no CRS",
                    fix="为影像设置坐标系（如 gdal_edit.py -a_srs EPSG:4549 文件名.tif）",
                )
            key = (src.crs.to_wkt(), tuple(src.transform)[:6], src.height, src.width)
        grids.setdefault(key, []).append((path, position[date]))

    n = len(parcels)
    sums = np.zeros((n, len(columns)))
    weights = np.zeros((n, len(columns)))
    for (wkt, transform, height, width), sources in grids.items():
        target = CRS.from_wkt(wkt)
        geoms = parcels.geometry
        if not geoms.crs.equals(target):
            geoms = geoms.to_crs(target)
        px = _to_pixels(np.asarray(geoms.array, dtype=object), Affine(*transform))
        _accumulate_grid(px, sources, height, width, sums, weights, small_pixels)

    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(weights > 0, sums / weights, np.nan)
    frame = pd.DataFrame(
        means,
        index=pd.Index(parcels[id_field], name=id_field),
        columns=pd.Index([d.isoformat() for d in columns], name="date"),
    )
    return frame


def activity_index(means: pd.DataFrame) -> pd.Series:
    """Change of the index between the earliest and the latest date with a value.

    NaN-aware: per parcel the earliest and latest *dated columns that hold a value* are used.
    With three or more dates the result is still latest minus earliest — deliberately not a
    fitted trend: a trend over few noisy (cloud, season) dates is less robust than the two
    end points, and the conflict rule (RULES.md E1) asks whether anything changed over the
    whole period.  Fewer than two dates with a value -> NaN.

    Parameters
    ----------
    means
        Output of :func:`zonal_means` (columns = ISO dates, in any order).

    Returns
    -------
    pandas.Series
        Named ``activity_index``, same index as ``means``.

    Examples
    --------
    >>> import pandas as pd
    >>> means = pd.DataFrame({"2021-05-01": [0.7, None, 0.5], "2023-05-01": [0.2, 0.4, None],
    ...                       "2022-05-01": [0.6, 0.3, None]}, index=["A", "B", "C"])
    >>> activity_index(means).round(2).tolist()
    [-0.5, 0.1, nan]
    """
    order = sorted(means.columns, key=lambda c: pd.Timestamp(c))
    values = means[order].to_numpy(dtype=np.float64, na_value=np.nan)
    result = np.full(len(means), np.nan)
    if values.shape[1] >= 2:
        has = ~np.isnan(values)
        first = np.argmax(has, axis=1)
        last = values.shape[1] - 1 - np.argmax(has[:, ::-1], axis=1)
        rows = np.arange(len(values))
        enough = has.sum(axis=1) >= 2
        result[enough] = values[rows, last][enough] - values[rows, first][enough]
    return pd.Series(result, index=means.index, name="activity_index")
