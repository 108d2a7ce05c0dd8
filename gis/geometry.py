"""Polygon hygiene for ingest: repair what can be repaired, say so, refuse what cannot."""

from __future__ import annotations

import numpy as np
import shapely
from shapely import GeometryType

__all__ = ["repair_polygons", "POLYGONAL"]

POLYGONAL = (GeometryType.POLYGON, GeometryType.MULTIPOLYGON)


def _polygon_parts(geom: shapely.Geometry) -> shapely.Geometry | None:
    """The polygonal parts of a geometry (collections from make_valid keep only their polygons)."""
    if geom is None or geom.is_empty:
        return None
    kind = shapely.get_type_id(geom)
    if kind in POLYGONAL:
        return geom
    if kind == GeometryType.GEOMETRYCOLLECTION:
        parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in POLYGONAL and not p.is_empty]
        if not parts:
            return None
        return shapely.unary_union(parts)
    return None


def repair_polygons(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check and repair an array of geometries meant to be areal.

    Returns ``(fixed, status, note)``: status per row is ``ok``, ``repaired`` (note says how), ``missing``,
    ``empty`` or ``non_areal`` (note names the type); the last three are refused by ingest.
    """
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    status = np.full(n, "ok", dtype=object)
    note = np.full(n, "", dtype=object)
    fixed = geoms.copy()
    missing = shapely.is_missing(geoms)
    status[missing] = "missing"
    present = ~missing
    empty = np.zeros(n, bool)
    empty[present] = shapely.is_empty(geoms[present])
    status[empty] = "empty"
    live = present & ~empty
    if not live.any():
        return fixed, status, note
    # drop Z (3D ledgers from CAD/desktop GIS)
    has_z = np.zeros(n, bool)
    has_z[live] = shapely.has_z(geoms[live])
    if has_z.any():
        fixed[has_z] = shapely.force_2d(fixed[has_z])
        note[has_z] = "去除了 Z 坐标（三维转二维）"
        status[has_z] = "repaired"
    types = np.full(n, -1)
    types[live] = shapely.get_type_id(fixed[live])
    collection = types == GeometryType.GEOMETRYCOLLECTION
    areal = np.isin(types, POLYGONAL)
    non_areal = live & ~areal & ~collection
    status[non_areal] = "non_areal"
    for i in np.flatnonzero(non_areal):
        note[i] = shapely.geometry_type_name(fixed[i]) if hasattr(shapely, "geometry_type_name") else fixed[i].geom_type
    check = live & (areal | collection)
    invalid = np.zeros(n, bool)
    invalid[check] = ~shapely.is_valid(fixed[check]) | collection[check]
    for i in np.flatnonzero(invalid):
        before = fixed[i]
        reason = shapely.is_valid_reason(before) if not collection[i] else "几何集合"
        repaired = _polygon_parts(shapely.make_valid(before))
        if repaired is None or repaired.is_empty or repaired.area == 0:
            status[i] = "non_areal"
            note[i] = f"修复后没有面（原因：{reason}）"
            continue
        fixed[i] = repaired
        status[i] = "repaired"
        text = f"已修复无效图形（{reason}）" if not collection[i] else "几何集合中只保留了面部分"
        note[i] = f"{note[i]}；{text}" if note[i] else text
    return fixed, status, note
