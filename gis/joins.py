"""Vectorised spatial joins: parcels to towns, projects and urban villages.

Inputs are GeoDataFrames stored in ``STORE_CRS`` (EPSG:4490); every area and distance is computed in
``AREA_CRS`` (EPSG:4549, metres).  Each function returns a Series/DataFrame indexed exactly like its left
input: nothing is dropped, rows without an answer get ``<NA>`` (keys) or ``[]`` (lists).

How the largest-overlap join works (docs/architecture.md, "Performance habits"):

1. one spatial-index query ``STRtree.query(left)`` (bounding boxes) gives the candidate pairs;
2. the pairs are tested with ``covers(right, left)`` against the *prepared* right polygons (towns are few and
   large, so preparing them once makes this test cheap).  A left row covered by a right polygon lies entirely
   in it: its overlap is the whole left area and no intersection is computed.  This is how rows meeting
   exactly one polygon (the vast majority) are settled without any intersection area;
3. only the pairs of rows that no candidate covers (rows straddling two or more polygons, lying partly
   outside all of them, or merely touching one) are tested with the prepared ``intersects`` and then measured
   with ``shapely.intersection`` + ``area``.

Why not ``STRtree.query(left, predicate="intersects")``: shapely then prepares each *left* geometry and tests
it against the unprepared right polygon, which costs O(vertices of the town boundary) per pair; at 1e5
parcels against surveyed town boundaries (~1600 vertices each) that one query took 1.9 s, while the
bounding-box query plus prepared-right ``covers`` takes 0.1 s (bench/bench_joins.py).

Why ``covers`` and not "one candidate -> take it": ``intersects`` is also true for polygons that only share a
boundary (zero-area contact).  A parcel lying outside every town but touching one town's edge would be
assigned to that town if a single candidate were accepted blindly.  The ``covers`` test keeps the fast path
exact; a zero-area contact always ends up in step 3, where it is discarded: an overlap must exceed
``MIN_OVERLAP_M2`` (0.01 m²), because edges shared in the source data rarely stay bit-identical after
reprojection and meet in slivers of 1e-9..1e-3 m².  The cost of ``covers`` on every candidate pair is small next
to an intersection; the bench (bench/bench_joins.py) measures the whole join.

Ties: areas equal within a relative ``1e-9`` are ties, broken by the smallest key (string order), so the
result never depends on row order.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.errors import GEOSException

from gis.crs import AREA_CRS
from gis.errors import CRSError, InputFileError

__all__ = [
    "largest_overlap",
    "link_projects",
    "intersecting_ids",
    "ids_within_distance",
    "attribute_parcels",
    "MIN_OVERLAP_M2",
    "TIE_RTOL",
]

#: Relative tolerance under which two intersection areas count as equal (tie -> smallest key).
TIE_RTOL = 1e-9
#: Overlaps up to this area (m²) are slivers, not overlaps: polygons that share an edge digitised or
#: reprojected separately meet in a film of ~1e-9..1e-3 m² instead of a clean line.
MIN_OVERLAP_M2 = 0.01

_EMPTY_GEOMS = np.empty(0, dtype=object)


# --------------------------------------------------------------------------------------------------------------
# inputs: reproject once, keep row positions
# --------------------------------------------------------------------------------------------------------------
def _n_rows(frame: pd.DataFrame | None) -> int:
    return 0 if frame is None else len(frame)


def _geoms_in_area_crs(frame: gpd.GeoDataFrame | None, what: str) -> np.ndarray:
    """Geometries of ``frame`` as an object array in AREA_CRS (None where missing), one per row."""
    n = _n_rows(frame)
    if n == 0:
        return _EMPTY_GEOMS
    if not isinstance(frame, gpd.GeoDataFrame) or frame.active_geometry_name not in frame.columns:
        return np.full(n, None, dtype=object)  # no geometry column at all: every row is "missing geometry"
    geoms = frame.geometry
    if geoms.isna().all():
        return np.full(n, None, dtype=object)
    if geoms.crs is None:
        raise CRSError(
            f"图层“{what}”缺少坐标参考系，无法计算面积和距离",
            detail=f"layer {what!r} has no CRS; spatial joins need EPSG:4490 input (reprojected to {AREA_CRS})",
            fix="读入时用 --crs 指定坐标系（例如 EPSG:4490），或先执行 set_crs()",
        )
    if not geoms.crs.equals(AREA_CRS):
        geoms = geoms.to_crs(AREA_CRS)
    out = np.asarray(geoms.array, dtype=object).copy()
    out[shapely.is_empty(out)] = None  # to_crs of an empty geometry stays empty: treat like missing
    return out


def _keys(frame: pd.DataFrame, column: str, what: str) -> np.ndarray:
    """``frame[column]`` as an object array of str, None where missing."""
    if column not in frame.columns:
        raise InputFileError(
            f"图层“{what}”缺少字段“{column}”，无法进行空间关联",
            detail=f"layer {what!r} has no column {column!r}; columns: {list(frame.columns)}",
            fix=f"检查字段映射，确保“{what}”含有“{column}”字段",
        )
    return frame[column].astype("string").to_numpy(dtype=object, na_value=None)


class _Right:
    """The right side of a join: valid rows only, their keys ranked in string order, one STRtree."""

    def __init__(self, geoms: np.ndarray, keys: np.ndarray):
        ok = ~pd.isna(keys) & ~shapely.is_missing(geoms)
        if len(geoms):
            ok &= ~shapely.is_empty(geoms)
        self.geoms = geoms[ok]
        codes, uniques = pd.factorize(pd.Series(keys[ok], dtype=object), sort=True)
        self.rank = codes.astype(np.int64)  # string order of the key of each valid right row
        self.uniques = np.asarray(uniques, dtype=object)  # sorted distinct keys
        self.tree = shapely.STRtree(self.geoms)
        self._prepared = False

    def __len__(self) -> int:
        return len(self.geoms)

    def query(self, left: np.ndarray, predicate: str | None = None, **kwargs) -> tuple[np.ndarray, np.ndarray]:
        if len(self) == 0 or len(left) == 0:
            return np.empty(0, np.intp), np.empty(0, np.intp)
        li, ri = self.tree.query(left, predicate=predicate, **kwargs)
        return li, ri

    def _prepare(self) -> None:
        if not self._prepared:
            shapely.prepare(self.geoms)
            self._prepared = True

    def covers(self, ri: np.ndarray, left: np.ndarray) -> np.ndarray:
        """``covers(right[ri], left)`` with the right polygons prepared once."""
        self._prepare()
        try:
            return shapely.covers(self.geoms[ri], left)
        except GEOSException:  # invalid input: say "not covered", the exact path decides
            return np.zeros(len(ri), dtype=bool)

    def intersects(self, ri: np.ndarray, left: np.ndarray) -> np.ndarray:
        """``intersects(right[ri], left)`` with the right polygons prepared once."""
        self._prepare()
        try:
            return shapely.intersects(self.geoms[ri], left)
        except GEOSException:  # invalid input: keep the pair, its intersection area decides
            return np.ones(len(ri), dtype=bool)


def _right_side(frame: gpd.GeoDataFrame | None, key: str, what: str) -> _Right:
    if _n_rows(frame) == 0:
        return _Right(_EMPTY_GEOMS, _EMPTY_GEOMS)
    return _Right(_geoms_in_area_crs(frame, what), _keys(frame, key, what))


def _intersection_area(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0:
        return np.empty(0, dtype=float)
    try:
        return shapely.area(shapely.intersection(a, b))
    except GEOSException:  # self-intersecting rings etc.: repair, then measure
        return shapely.area(shapely.intersection(shapely.make_valid(a), shapely.make_valid(b)))


# --------------------------------------------------------------------------------------------------------------
# array-level joins (left geometries already in AREA_CRS)
# --------------------------------------------------------------------------------------------------------------
def _largest(left: np.ndarray, right: _Right, min_area_m2: float = MIN_OVERLAP_M2) -> np.ndarray:
    """Per left row: position in ``right.uniques`` of the key with the largest overlap, -1 when none."""
    n = len(left)
    best = np.full(n, -1, dtype=np.int64)
    li, ri = right.query(left)  # bounding boxes only, see _candidates
    if len(li) == 0:
        return best
    covered = right.covers(ri, left[li])
    row_covered = np.zeros(n, dtype=bool)
    row_covered[li[covered]] = True
    # Pairs of a covered row: the covering polygons share the whole left area (inf marks "all of it"), the
    # others can only add zero area.  Pairs of the remaining rows get their exact intersection area.
    area = np.zeros(len(li), dtype=float)
    area[covered] = np.inf
    exact = np.flatnonzero(~row_covered[li])
    exact = exact[right.intersects(ri[exact], left[li[exact]])]
    area[exact] = _intersection_area(left[li[exact]], right.geoms[ri[exact]])
    keep = area > min_area_m2
    li, ri, area = li[keep], ri[keep], area[keep]
    if len(li) == 0:
        return best
    top = np.zeros(n, dtype=float)
    np.maximum.at(top, li, area)
    near = area >= top[li] * (1.0 - TIE_RTOL)  # inf >= inf holds: covering polygons tie among themselves
    smallest = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(smallest, li[near], right.rank[ri[near]])
    hit = smallest != np.iinfo(np.int64).max
    best[hit] = smallest[hit]
    return best


def _positive_pairs(
    left: np.ndarray, right: _Right, min_area_m2: float = MIN_OVERLAP_M2
) -> tuple[np.ndarray, np.ndarray]:
    """(left position, right position) of the pairs whose overlap has a positive area."""
    li, ri = right.query(left)  # bounding boxes only, see _candidates
    if len(li) == 0:
        return li, ri
    keep = right.covers(ri, left[li])
    rest = np.flatnonzero(~keep)
    rest = rest[right.intersects(ri[rest], left[li[rest]])]
    keep[rest] = _intersection_area(left[li[rest]], right.geoms[ri[rest]]) > min_area_m2
    return li[keep], ri[keep]


def _lists(li: np.ndarray, codes: np.ndarray, uniques: np.ndarray, n: int) -> list[list[str]]:
    """One sorted, duplicate-free list of ``uniques[codes]`` per left row (``[]`` where none)."""
    if len(li) == 0:
        return [[] for _ in range(n)]
    order = np.lexsort((codes, li))
    li, codes = li[order], codes[order]
    first = np.ones(len(li), dtype=bool)
    first[1:] = (li[1:] != li[:-1]) | (codes[1:] != codes[:-1])
    li, codes = li[first], codes[first]
    bounds = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(li, minlength=n), out=bounds[1:])
    values = uniques[codes].tolist()
    bounds = bounds.tolist()
    return [values[a:b] for a, b in zip(bounds[:-1], bounds[1:])]  # slices: a fresh list per row


def _key_series(best: np.ndarray, uniques: np.ndarray, index: pd.Index, name: str) -> pd.Series:
    values = np.full(len(best), None, dtype=object)
    hit = best >= 0
    values[hit] = uniques[best[hit]]
    return pd.Series(values, index=index, dtype="string", name=name)


def _list_series(lists: list[list[str]], index: pd.Index, name: str) -> pd.Series:
    return pd.Series(lists, index=index, dtype=object, name=name)


def _index(frame: pd.DataFrame | None) -> pd.Index:
    return pd.RangeIndex(0) if frame is None else frame.index


# --------------------------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------------------------
def largest_overlap(
    left: gpd.GeoDataFrame, right: gpd.GeoDataFrame, *, right_key: str, min_area_m2: float = MIN_OVERLAP_M2
) -> pd.Series:
    """Key of the right polygon that overlaps each left row with the largest area.

    Parameters
    ----------
    left, right
        Polygon layers in EPSG:4490 (any CRS is accepted; areas are measured in EPSG:4549).
    right_key
        Column of ``right`` whose value is returned, e.g. ``"town_code"``.
    min_area_m2
        Overlaps of at most this area are slivers and do not count (default ``MIN_OVERLAP_M2`` = 0.01 m²).

    Returns
    -------
    pandas.Series
        ``string`` dtype, indexed like ``left``, named ``right_key``; ``<NA>`` where a row overlaps no right
        polygon with positive area (outside all, only touching an edge, or missing geometry).  Ties (areas
        equal within a relative 1e-9) go to the smallest key in string order.

    Examples
    --------
    >>> from gis.store import open_store
    >>> store = open_store(DEMO_STORE)
    >>> parcels, towns = store.read_layer("parcels"), store.read_layer("towns")
    >>> filled = largest_overlap(parcels, towns, right_key="town_code")
    >>> bool(filled.notna().all()), set(filled) <= set(towns["town_code"])
    (True, True)
    """
    index = _index(left)
    right_side = _right_side(right, right_key, "右侧图层")
    best = _largest(_geoms_in_area_crs(left, "左侧图层"), right_side, min_area_m2)
    return _key_series(best, right_side.uniques, index, right_key)


def intersecting_ids(
    left: gpd.GeoDataFrame, right: gpd.GeoDataFrame, *, right_key: str, min_area_m2: float = MIN_OVERLAP_M2
) -> pd.Series:
    """Keys of the right polygons that overlap each left row with a positive area.

    Zero-area contact (a shared edge or corner) does not count, nor do slivers of at most ``min_area_m2``
    square metres; e.g. the urban villages a parcel lies in.

    Returns
    -------
    pandas.Series
        Object dtype, one sorted list of str per left row (``[]`` when none), indexed like ``left``, named
        ``right_key + "s"``.
    """
    index = _index(left)
    right_side = _right_side(right, right_key, "右侧图层")
    geoms = _geoms_in_area_crs(left, "左侧图层")
    li, ri = _positive_pairs(geoms, right_side, min_area_m2)
    return _list_series(_lists(li, right_side.rank[ri], right_side.uniques, len(geoms)), index, f"{right_key}s")


def ids_within_distance(
    left: gpd.GeoDataFrame, right: gpd.GeoDataFrame, *, right_key: str, distance_m: float
) -> pd.Series:
    """Keys of the right geometries within ``distance_m`` metres (EPSG:4549) of each left row.

    Touching and overlapping geometries are at distance 0 and therefore included.

    Returns
    -------
    pandas.Series
        Object dtype, one sorted list of str per left row (``[]`` when none), indexed like ``left``, named
        ``"near_" + right_key + "s"``.
    """
    index = _index(left)
    right_side = _right_side(right, right_key, "右侧图层")
    geoms = _geoms_in_area_crs(left, "左侧图层")
    li, ri = _near_pairs(geoms, right_side, distance_m)
    return _list_series(_lists(li, right_side.rank[ri], right_side.uniques, len(geoms)), index, f"near_{right_key}s")


def _near_pairs(left: np.ndarray, right: _Right, distance_m: float) -> tuple[np.ndarray, np.ndarray]:
    distance_m = float(distance_m)
    if not distance_m >= 0:  # also refuses NaN
        raise ValueError(f"distance_m must be >= 0 metres, got {distance_m!r}")
    return right.query(left, "dwithin", distance=distance_m)


def _link(projects: gpd.GeoDataFrame, project_geoms: np.ndarray, parcel_ids: np.ndarray, parcels: _Right) -> np.ndarray:
    """parcel_id per project (object array, None when unknown)."""
    n = len(projects)
    out = np.full(n, None, dtype=object)
    if n == 0:
        return out
    known = pd.unique(parcel_ids[~pd.isna(parcel_ids)])
    if "parcel_id" in projects.columns:
        given = _keys(projects, "parcel_id", "项目")
        explicit = pd.Series(given, dtype=object).isin(known).to_numpy() & ~pd.isna(given)
        out[explicit] = given[explicit]
    else:
        explicit = np.zeros(n, dtype=bool)
    rest = np.flatnonzero(~explicit)
    if len(rest) and len(parcels):
        best = _largest(project_geoms[rest], parcels)
        hit = best >= 0
        out[rest[hit]] = parcels.uniques[best[hit]]
    return out


def link_projects(projects: gpd.GeoDataFrame, parcels: gpd.GeoDataFrame) -> pd.Series:
    """The parcel each project is on.

    A project's own ``parcel_id`` wins when it is given and names a parcel in ``parcels``; otherwise (absent,
    empty or unknown id) the parcel is the one its polygon overlaps most (see :func:`largest_overlap`).

    Returns
    -------
    pandas.Series
        ``string`` dtype named ``parcel_id``, indexed like ``projects``; ``<NA>`` when neither applies.
    """
    index = _index(projects)
    if _n_rows(projects) == 0:
        return pd.Series([], index=index, dtype="string", name="parcel_id")
    if _n_rows(parcels) == 0:
        parcel_ids, right_side = _EMPTY_GEOMS, _Right(_EMPTY_GEOMS, _EMPTY_GEOMS)
    else:
        parcel_ids = _keys(parcels, "parcel_id", "宗地")
        right_side = _Right(_geoms_in_area_crs(parcels, "宗地"), parcel_ids)
    linked = _link(projects, _geoms_in_area_crs(projects, "项目"), parcel_ids, right_side)
    return pd.Series(linked, index=index, dtype="string", name="parcel_id")


def attribute_parcels(
    parcels: gpd.GeoDataFrame,
    *,
    towns: gpd.GeoDataFrame | None = None,
    projects: gpd.GeoDataFrame | None = None,
    villages: gpd.GeoDataFrame | None = None,
    need_distance_m: float = 2000.0,
    min_area_m2: float = MIN_OVERLAP_M2,
) -> pd.DataFrame:
    """Everything the idle-land assessment needs to know about each parcel's surroundings, in one pass.

    Each layer is reprojected to EPSG:4549 once and each right layer gets one spatial index.

    Parameters
    ----------
    parcels
        Layer ``parcels`` (``parcel_id`` needed when ``projects`` is given).
    towns
        Layer ``towns``; fills ``town_code`` where the parcel's own ``town_code`` is missing.
    projects
        Layer ``projects``; linked to parcels as in :func:`link_projects`.
    villages
        Layer ``villages``.
    need_distance_m
        Radius in metres for ``near_village_ids`` (e.g. resettlement need around a parcel).
    min_area_m2
        Sliver threshold for ``town_code`` and ``village_ids`` (see :func:`largest_overlap`).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``parcels``, columns ``town_code`` (string, ``<NA>`` when unknown), ``project_ids``,
        ``village_ids`` (positive-area overlap) and ``near_village_ids`` (within ``need_distance_m``): sorted
        lists of str, ``[]`` when none.
    """
    index = _index(parcels)
    n = len(index)
    geoms = _geoms_in_area_crs(parcels, "宗地")

    # town_code: keep the ledger's value, fill the rest by largest overlap
    town = np.full(n, None, dtype=object)
    if n and "town_code" in parcels.columns:
        town = _keys(parcels, "town_code", "宗地")
    todo = np.flatnonzero(pd.isna(town))
    if len(todo) and _n_rows(towns):
        town_side = _right_side(towns, "town_code", "镇街")
        best = _largest(geoms[todo], town_side, min_area_m2)
        hit = best >= 0
        town[todo[hit]] = town_side.uniques[best[hit]]

    # project_ids: projects linked to parcels, gathered per parcel
    project_ids: list[list[str]] | None = None
    if n and _n_rows(projects):
        parcel_ids = _keys(parcels, "parcel_id", "宗地")
        parcel_side = _Right(geoms, parcel_ids)
        linked = _link(projects, _geoms_in_area_crs(projects, "项目"), parcel_ids, parcel_side)
        pid = _keys(projects, "project_id", "项目")
        ok = ~pd.isna(linked) & ~pd.isna(pid)
        if ok.any():
            ids = pd.Index(parcel_ids)
            first = np.flatnonzero(~ids.duplicated())  # parcel_id is unique by contract; else first row wins
            found_at = ids[first].get_indexer(linked[ok])
            rows = np.where(found_at >= 0, first[found_at], -1)
            codes, uniques = pd.factorize(pd.Series(pid[ok], dtype=object), sort=True)
            found = rows >= 0
            project_ids = _lists(rows[found], codes[found].astype(np.int64), np.asarray(uniques, dtype=object), n)

    # village_ids and near_village_ids
    village_ids = near_ids = None
    if n and _n_rows(villages):
        village_side = _right_side(villages, "village_id", "城中村")
        li, ri = _positive_pairs(geoms, village_side, min_area_m2)
        village_ids = _lists(li, village_side.rank[ri], village_side.uniques, n)
        li, ri = _near_pairs(geoms, village_side, need_distance_m)
        near_ids = _lists(li, village_side.rank[ri], village_side.uniques, n)

    def none() -> list[list[str]]:
        return [[] for _ in range(n)]

    return pd.DataFrame(
        {
            "town_code": pd.Series(town, index=index, dtype="string"),
            "project_ids": _list_series(project_ids or none(), index, "project_ids"),
            "village_ids": _list_series(village_ids or none(), index, "village_ids"),
            "near_village_ids": _list_series(near_ids or none(), index, "near_village_ids"),
        },
        index=index,
    )
