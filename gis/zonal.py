"""Imagery evidence: zonal means of an index over dated rasters (docs/rules.md §4 E1).

One raster per acquisition date (docs/data-contract.md "Rasters"), any CRS.  The method follows
docs/architecture.md "Performance habits":

1. The parcels are prepared once: invalid polygons repaired (:func:`shapely.make_valid`), the
   rings of all polygon parts extracted as flat vertex arrays.  Rasters are grouped by grid
   (same CRS, transform and shape); per grid the vertices are reprojected to the raster CRS
   **once** (pyproj, as ``GeoSeries.to_crs``) and converted to pixel coordinates.
2. Per grid, **once**, every parcel gets exact coverage weights — the definition of
   ``exactextract``'s ``mean``: weight 1 for the pixels entirely inside, the covered fraction
   for the pixels its boundary crosses.  Vectorised, without GEOS per pixel: the boundary
   segments are cut where they cross a grid line (pieces inside one pixel), each piece adds its
   signed area-to-the-right to its pixel and the rest of its height to the next pixel of the
   row (the accumulation of font rasterizers), and a cumulative sum along each
   (parcel, row) gives the exact fraction of every boundary pixel and the constant weight of
   the run of pixels up to the next boundary pixel.  Weights are kept as
   ``(parcel, row, col, weight)`` for boundary cells and ``(parcel, row, col0, col1, weight)``
   for interior runs, so a pixel shared by adjacent (or overlapping) parcels counts for each of
   them with its own fraction.  The work grows with the parcels' perimeters, not their areas;
   parcels are processed in chunks of ``_EXACT_CELLS`` boundary pieces.
3. Per date the band is read over the bounding window of the weighted pixels (row strips of at
   most ``_STRIP_PIXELS`` pixels, so memory stays bounded) and the mean per parcel is
   ``sum(weight * value) / sum(weight)`` over the valid pixels (nodata, internal mask and
   non-finite values are excluded from both) with :func:`numpy.bincount`.  So every parcel
   that overlaps valid data gets a value, sub-pixel ones included; parcels outside the raster
   or only on nodata get NaN.

``method="centre"`` gives the plain mean of the pixels whose centre is inside the parcel
instead, with the same machinery: a piece that crosses the centre line of its row adds +-1 to
the first pixel whose centre lies right of the crossing (a scanline rasterization).

Several files with the same date are treated as tiles of one mosaic: their sums and weights are
added (a pixel in an overlap of two tiles is counted twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.enums import MaskFlags
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from .errors import CRSError, InputFileError
from .imagery import raster_date

__all__ = ["zonal_means", "activity_index"]

#: Largest value window (pixels) held in memory at once; larger windows go in row strips.
_STRIP_PIXELS = 1 << 24
#: Boundary pieces (about pixels crossed by parcel boundaries) handled at once.
_EXACT_CELLS = 1 << 19
#: Coverage fractions at or below this are rounding noise (pixels only touched by a boundary).
_MIN_WEIGHT = 1e-12


# ---------------------------------------------------------------------------------------------
# coverage weights (geometry only, once per grid)
# ---------------------------------------------------------------------------------------------
def _rings(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The polygon rings of ``geoms`` as flat arrays (invalid geometries are repaired first,
    multi-parts and collections flattened, non-polygonal parts dropped).

    Returns ``(xy, ring, owner, exterior)``: the vertices (m, 2), the ring of each vertex, and per
    ring the position of its geometry and whether it is an exterior ring.  Rings are grouped by
    geometry, in order.
    """
    geoms = geoms.copy()
    usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    geoms[~usable] = None
    bad = np.flatnonzero(usable & ~shapely.is_valid(geoms))
    if len(bad):
        geoms[bad] = shapely.make_valid(geoms[bad])
    parts, owner = shapely.get_parts(geoms, return_index=True)
    while True:
        kind = shapely.get_type_id(parts)
        nested = (kind == shapely.GeometryType.MULTIPOLYGON) | (kind == shapely.GeometryType.GEOMETRYCOLLECTION)
        if not nested.any():
            break
        sub, where = shapely.get_parts(parts[nested], return_index=True)
        owner = np.concatenate((owner[~nested], owner[nested][where]))
        parts = np.concatenate((parts[~nested], sub))
    polygon = np.flatnonzero((shapely.get_type_id(parts) == shapely.GeometryType.POLYGON) & ~shapely.is_empty(parts))
    polygon = polygon[np.argsort(owner[polygon], kind="stable")]  # grouped by geometry
    rings, ring_part = shapely.get_rings(parts[polygon], return_index=True)
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    exterior = np.r_[True, ring_part[1:] != ring_part[:-1]][: len(rings)]
    return xy, ring, owner[polygon][ring_part], exterior


def _split(a0: np.ndarray, b0: np.ndarray, a1: np.ndarray, b1: np.ndarray) -> tuple[np.ndarray, ...]:
    """Split segments (a0, b0) -> (a1, b1) where ``a`` crosses an integer.

    Returns the pieces in travel order (``a0, b0, a1, b1``) and the segment each comes from.
    The crossing points are computed from the segment's start, so consecutive pieces share
    their end points exactly.
    """
    forward = a1 > a0
    crossings = np.ceil(np.maximum(a0, a1)) - np.floor(np.minimum(a0, a1)) - 1
    count = np.maximum(crossings, 0).astype(np.int64) + 1
    step = np.where(forward, 1.0, -1.0)
    base = np.where(forward, np.floor(a0), np.ceil(a0))  # + step: the first integer crossed
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(count > 1, (b1 - b0) / (a1 - a0), 0.0)
    seg = np.repeat(np.arange(len(a0)), count)
    starts = np.cumsum(count) - count  # first piece of each segment
    j = np.arange(len(seg), dtype=np.float64) - np.repeat(starts.astype(np.float64), count)
    step_s = step[seg]
    pa0 = base[seg] + step_s * j  # the integer where the piece starts (j > 0)
    pb0 = b0[seg] + (pa0 - a0[seg]) * slope[seg]
    pa0[starts] = a0
    pb0[starts] = b0
    ends = starts + count - 1  # a piece ends where the next one starts, the last at the segment's end
    pa1 = np.empty_like(pa0)
    pb1 = np.empty_like(pb0)
    pa1[:-1], pb1[:-1] = pa0[1:], pb0[1:]
    pa1[ends], pb1[ends] = a1, b1
    return pa0, pb0, pa1, pb1, seg


_EMPTY_CELLS = (np.empty(0, np.int64),) * 3 + (np.empty(0),)
_EMPTY_RUNS = (np.empty(0, np.int64),) * 4 + (np.empty(0),)


def _weights_chunk(
    seg: np.ndarray, owner: np.ndarray, height: int, width: int, centre: bool
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Pixel weights of the geometries whose boundary segments are ``seg`` (pixel coordinates,
    columns x0, y0, x1, y1, sign; owner = parcel position of each segment).

    Coverage: the segments are cut where they cross grid lines, so that every piece lies in one
    pixel; a piece adds ``A = dy * (part of its pixel right of it)`` to its pixel and ``D = dy``
    to every later pixel of the row (signed: the area right of the boundary integrates to 1
    inside a parcel).  After sorting the pieces by (parcel, row, column), the coverage of a
    boundary pixel is its ``A`` plus the sum of ``D`` before it in its (parcel, row) — the
    accumulation of font rasterizers — and every pixel up to the next boundary pixel has the
    full sum of ``D`` (0 outside, 1 inside, a fraction under a horizontal edge).

    Centre: a piece crossing the centre line of its row adds ``D = +-1`` to the first pixel
    whose centre is right of the crossing; the sums of ``D`` are then 1 exactly for the pixels
    whose centre is inside.

    Returns ``cells = (owner, row, col, weight)`` and ``runs = (owner, row, col0, col1, weight)``
    (pixels ``col0 <= col < col1``), restricted to the raster and to weights > 0.
    """
    x0, y0, x1, y1, sub = _split(seg[:, 0], seg[:, 1], seg[:, 2], seg[:, 3])  # one column per piece
    y0, x0, y1, x1, sub2 = _split(y0, x0, y1, x1)  # one pixel per piece
    sub = sub[sub2]
    row = np.floor((y0 + y1) / 2).astype(np.int64)
    dy = y1 - y0
    keep = (dy != 0) & (row >= 0) & (row < height)  # rows are independent: drop those off the raster
    if centre:
        mid = row + 0.5
        keep &= (y0 <= mid) != (y1 <= mid)  # crosses the centre line (half-open: counted once)
    sub, row, x0, y0, x1, dy = sub[keep], row[keep], x0[keep], y0[keep], x1[keep], dy[keep]
    sign = seg[sub, 4]
    if centre:
        xc = x0 + (row + 0.5 - y0) * (x1 - x0) / dy
        col = np.floor(xc + 0.5).astype(np.int64)  # first pixel whose centre is right of xc
        d = np.where(dy > 0, sign, -sign)
        a = d
    else:
        xm = (x0 + x1) / 2
        col = np.floor(xm).astype(np.int64)
        d = dy * sign
        a = d * (1 - (xm - col))
    keep = col < width  # pixels right of the raster do not matter; left of it -> column -1
    own, row, col, a, d = owner[sub[keep]], row[keep], np.maximum(col[keep], -1), a[keep], d[keep]
    if len(own) == 0:
        return _EMPTY_CELLS, _EMPTY_RUNS
    wide = width + 1
    group = (own - own.min()) * height + row  # (parcel, row)
    if group.max() >= 2**62 // wide:  # pragma: no cover - beyond ~10^18 (parcel, pixel) keys
        group = np.unique(group, return_inverse=True)[1]
    key = group * wide + (col + 1)
    order = np.argsort(key)
    key, own, row, a, d = key[order], own[order], row[order], a[order], d[order]
    # one cell per distinct key: its entries are starts[i]:ends[i]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    cell_key = key[starts]
    cell_group = cell_key // wide
    c = cell_key - cell_group * wide - 1
    o, r = own[starts], row[starts]
    new_group = np.r_[True, cell_group[1:] != cell_group[:-1]]
    prefix = np.zeros(len(d) + 1)
    np.cumsum(d, out=prefix[1:])
    before, through = prefix[starts], prefix[ends]  # sum of D before / through each cell
    base = before[np.maximum.accumulate(np.where(new_group, np.arange(len(starts)), 0))]  # at its row's start
    cover = np.clip(before - base + np.add.reduceat(a, starts), 0.0, 1.0)
    gap = np.clip(through - base, 0.0, 1.0)
    is_cell = (c >= 0) & (cover > _MIN_WEIGHT)
    cells = (o[is_cell], r[is_cell], c[is_cell], cover[is_cell])
    last = np.r_[new_group[1:], True]  # last cell of its (parcel, row): a run to the raster edge
    end = np.where(last, width, np.r_[c[1:], 0])
    start = np.maximum(c + 1, 0)
    is_run = np.flatnonzero((end > start) & (gap > _MIN_WEIGHT))  # few: indices are cheaper
    runs = (o[is_run], r[is_run], start[is_run], end[is_run], gap[is_run])
    return cells, runs


def _weights(
    rings: tuple[np.ndarray, ...], transform: Affine, height: int, width: int, *, centre: bool = False
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Pixel weights of all parcels on a ``height x width`` grid (see :func:`_weights_chunk`).

    ``rings`` is :func:`_rings` with the vertices already in the raster CRS; ``transform`` the
    raster's affine transform.  Returns ``cells`` and ``runs`` (not sorted by row).  Parcels go
    in chunks of about ``_EXACT_CELLS`` boundary pieces.
    """
    xy, ring, ring_owner, exterior = rings
    a, b, c, d, e, f = tuple(~transform)[:6]
    px = np.column_stack((a * xy[:, 0] + b * xy[:, 1] + c, d * xy[:, 0] + e * xy[:, 1] + f))
    same = ring[1:] == ring[:-1]
    seg = np.column_stack((px[:-1], px[1:]))[same]
    seg_ring = ring[:-1][same]
    # sign: +1 for an exterior ring oriented so that "right of the boundary" is inside, holes -1
    origin = px[np.searchsorted(ring, seg_ring)]  # shoelace about the ring's first vertex
    u0, u1 = seg[:, :2] - origin, seg[:, 2:] - origin
    twice_area = np.bincount(seg_ring, u0[:, 0] * u1[:, 1] - u1[:, 0] * u0[:, 1], minlength=len(exterior))
    ring_sign = -np.sign(twice_area) * np.where(exterior, 1.0, -1.0)
    seg = np.column_stack((seg, ring_sign[seg_ring]))
    owner = ring_owner[seg_ring]
    # rows are independent and pixels right of the raster do not matter: drop those segments
    # (and non-finite ones: failed reprojection); segments left of it only carry their height
    x_lo, x_hi = np.minimum(seg[:, 0], seg[:, 2]), np.maximum(seg[:, 0], seg[:, 2])
    y_lo, y_hi = np.minimum(seg[:, 1], seg[:, 3]), np.maximum(seg[:, 1], seg[:, 3])
    keep = np.isfinite(seg[:, :4]).all(axis=1) & (y_hi > 0) & (y_lo < height) & (x_lo < width)
    left = keep & (x_hi <= 0)
    seg[left, 0] = seg[left, 2] = -0.5  # into column -1, which stands for all columns left of 0
    seg, owner = seg[keep], owner[keep]
    # chunks: pieces per segment ~ 1 + grid lines crossed; segments are grouped by parcel
    cost = 1 + np.abs(np.floor(seg[:, 2]) - np.floor(seg[:, 0])) + np.abs(np.floor(seg[:, 3]) - np.floor(seg[:, 1]))
    per_owner = np.bincount(owner, cost)
    chunk = ((np.cumsum(per_owner) - per_owner) // _EXACT_CELLS)[owner]
    bounds = np.r_[0, np.flatnonzero(chunk[1:] != chunk[:-1]) + 1, len(owner)]
    parts = [
        _weights_chunk(seg[lo:hi], owner[lo:hi], height, width, centre)
        for lo, hi in zip(bounds[:-1], bounds[1:])
        if hi > lo
    ]
    cells = [np.concatenate(x) for x in zip(_EMPTY_CELLS, *(p[0] for p in parts))]
    runs = [np.concatenate(x) for x in zip(_EMPTY_RUNS, *(p[1] for p in parts))]
    return cells, runs


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

    def __init__(self, src, window: Window, buffers: dict | None = None):
        if buffers is None:
            self.data = src.read(1, window=window).ravel()
        else:  # reuse one array per band type for the dates of a strip (no new pages per date)
            dtype = np.dtype(src.dtypes[0])
            shape = (int(window.height), int(window.width))
            if dtype not in buffers or buffers[dtype].shape != shape:
                buffers[dtype] = np.empty(shape, dtype)
            self.data = src.read(1, window=window, out=buffers[dtype]).ravel()
        flags = src.mask_flag_enums[0]
        self.mask = None
        self.nodata = None
        if MaskFlags.per_dataset in flags or MaskFlags.alpha in flags:
            self.mask = src.read_masks(1, window=window).ravel()
        elif src.nodata is not None and not np.isnan(src.nodata):
            self.nodata = np.asarray(src.nodata).astype(self.data.dtype)  # compare in band type

    def take(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values (in the band type) at flat positions ``index`` and whether they are valid."""
        raw = self.data[index]
        valid = np.isfinite(raw) if raw.dtype.kind in "fc" else np.ones(len(raw), bool)
        if self.mask is not None:
            valid &= self.mask[index] > 0
        elif self.nodata is not None:
            valid &= raw != self.nodata
        return raw, valid


def _accumulate_grid(
    cells: list[np.ndarray],
    runs: list[np.ndarray],
    sources: list[tuple[rasterio.io.DatasetReader, int]],
    sums: np.ndarray,
    weights: np.ndarray,
) -> None:
    """Add one grid's per-parcel weighted sums and weights (columns = date positions) in place."""
    n = len(sums)
    if len(cells[0]) + len(runs[0]) == 0:
        return  # no parcel overlaps this grid
    c0 = int(min(cells[2].min(initial=2**62), runs[2].min(initial=2**62)))
    c1 = int(max(cells[2].max(initial=-1) + 1, runs[3].max(initial=-1)))
    r0 = int(min(cells[1].min(initial=2**62), runs[1].min(initial=2**62)))
    r1 = int(max(cells[1].max(initial=-1), runs[1].max(initial=-1))) + 1
    ncols = c1 - c0
    step = max(1, _STRIP_PIXELS // ncols)
    if r1 - r0 > step:  # several strips: sort by row to slice them
        cells = [x[np.argsort(cells[1], kind="stable")] for x in cells]
        runs = [x[np.argsort(runs[1], kind="stable")] for x in runs]
    for s0 in range(r0, r1, step):
        s1 = min(s0 + step, r1)
        if r1 - r0 > step:
            lo, hi = np.searchsorted(cells[1], [s0, s1])
            o, r, c, w = (x[lo:hi] for x in cells)
            lo, hi = np.searchsorted(runs[1], [s0, s1])
            ro, rr, ra, rb, rw = (x[lo:hi] for x in runs)
        else:
            (o, r, c, w), (ro, rr, ra, rb, rw) = cells, runs
        # (parcel, flat position in the window, weight): boundary cells, then the runs' pixels
        length = rb - ra
        flat = np.concatenate(
            (
                (r - s0) * ncols + (c - c0),
                np.arange(int(length.sum()))
                + np.repeat((rr - s0) * ncols + (ra - c0) - (np.cumsum(length) - length), length),
            )
        )
        if len(flat) == 0:
            continue
        owner = np.concatenate((o, np.repeat(ro, length)))
        wgt = np.concatenate((w, np.repeat(rw, length)))
        window = Window(c0, s0, ncols, s1 - s0)
        buffers: dict = {}
        for src, d in sources:
            values, ok = _Band(src, window, buffers).take(flat)
            if ok.all():
                sums[:, d] += np.bincount(owner, wgt * values, minlength=n)
                weights[:, d] += np.bincount(owner, wgt, minlength=n)
            else:  # nodata: out of both sums (zeroed rather than compacted: faster)
                wk = wgt * ok
                sums[:, d] += np.bincount(owner, wk * np.where(ok, values, 0), minlength=n)
                weights[:, d] += np.bincount(owner, wk, minlength=n)


# ---------------------------------------------------------------------------------------------
# public
# ---------------------------------------------------------------------------------------------
def zonal_means(
    parcels: gpd.GeoDataFrame,
    rasters: Sequence[str | Path],
    *,
    id_field: str = "parcel_id",
    method: str = "coverage",
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
    method
        ``"coverage"`` (default): every pixel is weighted by the fraction of it that the parcel
        covers, exactly (1 inside, the clipped area on the boundary) — the definition of
        ``exactextract``'s ``mean``, so parcels smaller than a pixel get a value too.
        ``"centre"``: the plain mean of the pixels whose centre is inside the parcel (as
        ``rasterstats`` or a GDAL rasterization; parcels without a pixel centre get NaN).

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
    ValueError
        ``method`` is neither ``"coverage"`` nor ``"centre"``.

    Notes
    -----
    See the module docstring for the method and several files per date.  Overlapping parcels
    each get their own mean (weights are kept per parcel, not one label per pixel).
    """
    if id_field not in parcels.columns:
        raise InputFileError(
            f"宗地图层缺少编号字段“{id_field}”",
            detail=f"id_field {id_field!r} not in columns {list(parcels.columns)}",
            fix="检查字段名，或用 id_field= 指定编号字段",
        )
    if parcels.crs is None:
        raise CRSError(
            "宗地图层没有坐标系，无法与遥感影像叠加",
            detail="parcels.crs is None",
            fix="为宗地图层设置坐标系（如 EPSG:4490）后重试",
        )
    if method not in ("coverage", "centre"):
        raise ValueError(f"method must be 'coverage' or 'centre', got {method!r}")
    paths = [Path(p) for p in rasters]
    dates = [raster_date(p) for p in paths]
    columns = sorted(set(dates))
    position = {d: i for i, d in enumerate(columns)}

    n = len(parcels)
    sums = np.zeros((n, len(columns)))
    weights = np.zeros((n, len(columns)))
    with ExitStack() as stack:
        grids: dict[tuple, list[tuple[rasterio.io.DatasetReader, int]]] = {}
        for path, date in zip(paths, dates):
            src = stack.enter_context(_open(path))
            if src.crs is None:
                raise CRSError(
                    f"遥感影像“{path.name}”没有坐标系",
                    detail=f"{path}: no CRS",
                    fix="为影像设置坐标系（如 gdal_edit.py -a_srs EPSG:4549 文件名.tif）",
                )
            key = (src.crs.to_wkt(), tuple(src.transform)[:6], src.height, src.width)
            grids.setdefault(key, []).append((src, position[date]))

        xy, *rings = _rings(np.asarray(parcels.geometry.array, dtype=object))  # once for all grids
        for (wkt, transform, height, width), sources in grids.items():
            target = CRS.from_wkt(wkt)
            grid_xy = xy
            if not parcels.crs.equals(target) and len(xy):
                x, y = Transformer.from_crs(parcels.crs, target, always_xy=True).transform(xy[:, 0], xy[:, 1])
                grid_xy = np.column_stack((x, y))
            cells, runs = _weights((grid_xy, *rings), Affine(*transform), height, width, centre=method == "centre")
            _accumulate_grid(cells, runs, sources, sums, weights)

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
    end points, and the conflict rule (docs/rules.md E1) asks whether anything changed over the
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
