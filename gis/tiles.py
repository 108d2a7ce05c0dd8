"""Vector tiles for big map layers: one PMTiles archive of Mapbox Vector Tiles per store version.

Above :func:`tile_threshold` features (default 20,000; ``$LANDRENEW_MAP_TILE_THRESHOLD``) a layer is not
inlined in the page: :func:`build_tileset` writes its MVT tiles once into a PMTiles archive under the
app's static folder (``static/mvt``, served by Streamlit's static serving, which answers HTTP Range
requests), and the page draws them with the vendored protomaps-leaflet plugin (:mod:`gis.maps`).

* zoom levels ``minzoom..maxzoom`` (8..14 by default; the plugin over-zooms past 14);
* geometry snapped to the 4096 grid of the tile at each zoom (shared vertices snap alike, so the
  coverage stays a coverage), and from zoom 12 down simplified as a coverage every second zoom
  (``shapely.coverage_simplify``, half a screen pixel: neighbours stay edge to edge, no gaps, no
  slivers); at 13-14 the grid is 0.5-1 m and the outline is kept as surveyed;
* only the fields the style and the tooltip need (the registry ``popup`` + ``style.by``), enum
  values as strings (one per tile in the value table);
* the MVT feature id is the row of the feature in :attr:`TileSet.keys`, so the page filters and
  highlights by id without any attribute (:meth:`TileSet.mask`);
* a feature the planner must see (``keep``, e.g. every idle parcel) is never dropped: where it
  collapses below the tile grid it is drawn as a one-pixel square at its interior point.  Others
  that collapse are left out at that zoom only.

The tiles follow the MVT 2.1 specification; they are encoded with numpy for all features of a zoom at
once (geometry command streams and protobuf varints), because ``mapbox_vector_tile.encode`` takes about
1 ms a feature (minutes for 10^5 parcels x 7 zooms).  The tests decode them with ``mapbox-vector-tile``
and read the archive with ``pmtiles``' reader, both independent of this module.

>>> import geopandas as gpd, shapely, tempfile, pathlib
>>> f = gpd.GeoDataFrame({"parcel_id": ["A", "B"], "route": ["reclaim", "none"]},
...     geometry=[shapely.box(120.40, 30.00, 120.41, 30.01), shapely.box(120.41, 30.00, 120.42, 30.01)], crs=4490)
>>> ts = build_tileset(f, pathlib.Path(tempfile.mkdtemp()) / "t.pmtiles", key="parcel_id",
...     fields=["parcel_id", "route"], url="/app/static/mvt/t.pmtiles", minzoom=10, maxzoom=12)
>>> ts.keys.tolist(), ts.index_of("B"), ts.mask(["B"])
(['A', 'B'], 1, 'Ag==')
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .assets import APP_STATIC_URL, STATIC_DIR
from .errors import LandRenewError

__all__ = [
    "TILE_THRESHOLD",
    "TileSet",
    "tile_threshold",
    "tile_dir",
    "tile_url",
    "build_tileset",
    "ensure_tileset",
    "key_at",
]

#: Default size above which a layer is drawn from vector tiles instead of inline GeoJSON.
TILE_THRESHOLD = 20_000
#: Bumped when the tile content changes, so archives of an older builder are rebuilt.
TILE_FORMAT = "mvt-2"
EXTENT = 4096
_BUFFER = 8  # tile units (one screen pixel) around a tile in which a feature still counts as inside


def tile_threshold() -> int:
    """Features above which a layer is tiled: ``$LANDRENEW_MAP_TILE_THRESHOLD`` or 20,000."""
    raw = os.environ.get("LANDRENEW_MAP_TILE_THRESHOLD", "").strip()
    if not raw:
        return TILE_THRESHOLD
    try:
        value = int(raw)
    except ValueError:
        raise LandRenewError(
            f"LANDRENEW_MAP_TILE_THRESHOLD 应为整数，当前为“{raw}”",
            detail=f"LANDRENEW_MAP_TILE_THRESHOLD={raw!r}",
            fix="例如 20000",
        ) from None
    return max(value, 0)


def tile_dir() -> Path:
    """Where archives are written: ``$LANDRENEW_TILE_DIR`` or ``gis/static/mvt`` (served at ``/app/static/mvt``)."""
    return Path(os.environ.get("LANDRENEW_TILE_DIR") or STATIC_DIR / "mvt")


def tile_url(path: Path) -> str:
    """The URL of an archive in :func:`tile_dir` as the app serves it."""
    return f"{APP_STATIC_URL}/mvt/{Path(path).name}"


@dataclass(frozen=True, eq=False)
class TileSet:
    """A built archive: where it is, how the page loads it, and which feature id is which key."""

    path: Path
    url: str
    layer: str  # the MVT layer name inside the tiles
    key: str
    keys: np.ndarray = field(repr=False)  # sorted; MVT feature id i is keys[i]
    fields: tuple[str, ...]
    bounds: tuple[float, float, float, float]
    minzoom: int
    maxzoom: int

    def __len__(self) -> int:
        return len(self.keys)

    def index_of(self, key: Any) -> int | None:
        i = int(np.searchsorted(self.keys, str(key)))
        return i if i < len(self.keys) and self.keys[i] == str(key) else None

    def mask(self, keys: Sequence[Any] | pd.Series) -> str | None:
        """Base64 of a little-endian bitset (bit i = feature i shown), or None when all are shown."""
        wanted = pd.unique(pd.Series(list(keys), dtype=object).astype(str)).astype(object)
        idx = np.searchsorted(self.keys, wanted)
        found = idx < len(self.keys)
        found[found] = self.keys[idx[found]] == wanted[found]
        idx = idx[found]
        if len(idx) == len(self.keys):
            return None
        bits = np.zeros(len(self.keys), dtype=bool)
        bits[idx] = True
        return base64.b64encode(np.packbits(bits, bitorder="little").tobytes()).decode("ascii")


# --------------------------------------------------------------------------------------- geometry
def _merc(coords: np.ndarray, z: int) -> np.ndarray:
    """lon/lat -> global tile units at zoom z (x right, y down; EXTENT units a tile)."""
    n = float(EXTENT * 2**z)
    lon, lat = coords[:, 0], np.clip(coords[:, 1], -85.0511, 85.0511)
    x = (lon + 180.0) / 360.0 * n
    y = (1.0 - np.arcsinh(np.tan(np.radians(lat))) / np.pi) / 2.0 * n
    return np.column_stack([x, y])


def _zigzag(v: np.ndarray) -> np.ndarray:
    return ((v << 1) ^ (v >> 63)).astype(np.uint32)


def _streams(geoms: np.ndarray, anchors: np.ndarray, z: int, keep: np.ndarray) -> dict[str, np.ndarray]:
    """MVT polygon command streams for every feature at zoom z, with the first MoveTo absolute.

    Returns ``cmd`` (uint32 stream, first pair of each feature holding 0 to be patched per tile),
    ``start``/``end`` (range of each feature in ``cmd``), ``first`` (global first point), ``lo``/``hi``
    (bbox in global units) and ``ok`` (feature present at this zoom).
    """
    n = len(geoms)
    gtype, coords, offsets = shapely.to_ragged_array(geoms)
    if gtype == shapely.GeometryType.POLYGON:
        ring_off, poly_off = offsets
        geom_off = np.arange(n + 1)
    else:
        ring_off, poly_off, geom_off = offsets
    q = np.round(_merc(coords, z)).astype(np.int64)
    n_rings = len(ring_off) - 1
    ring_of_pt = np.repeat(np.arange(n_rings), np.diff(ring_off))
    # drop the closing point and consecutive duplicates (rounding); then a last point equal to the first
    last = np.zeros(len(q), dtype=bool)
    last[ring_off[1:] - 1] = True
    dup = np.zeros(len(q), dtype=bool)
    dup[1:] = (q[1:] == q[:-1]).all(axis=1) & (ring_of_pt[1:] == ring_of_pt[:-1])
    keep_pt = ~last & ~dup
    first_of_ring = q[ring_off[:-1]]
    pts, rings = q[keep_pt], ring_of_pt[keep_pt]
    counts = np.bincount(rings, minlength=n_rings)
    starts = np.concatenate([[0], np.cumsum(counts)])
    # a last kept point equal to its ring's first point closes the ring early: drop it
    has = counts > 1
    tail = starts[1:][has] - 1
    same = (pts[tail] == first_of_ring[has]).all(axis=1)
    drop = np.zeros(len(pts), dtype=bool)
    drop[tail[same]] = True
    pts, rings = pts[~drop], rings[~drop]
    counts = np.bincount(rings, minlength=n_rings)
    starts = np.concatenate([[0], np.cumsum(counts)])
    # signed area in y-down tile coordinates (MVT: exterior rings positive, holes negative)
    nxt = np.arange(len(pts)) + 1
    nxt[starts[1:][counts > 0] - 1] = starts[:-1][counts > 0]
    cross = (pts[:, 0] * pts[nxt, 1] - pts[nxt, 0] * pts[:, 1]).astype(np.float64)
    area = np.zeros(n_rings)
    np.add.at(area, rings, cross)
    exterior = np.zeros(n_rings, dtype=bool)
    exterior[poly_off[:-1]] = True
    poly_of_ring = np.repeat(np.arange(len(poly_off) - 1), np.diff(poly_off))
    ring_ok = (counts >= 3) & (area != 0)
    poly_ok = np.zeros(len(poly_off) - 1, dtype=bool)
    poly_ok[poly_of_ring[exterior]] = ring_ok[exterior]
    ring_ok &= poly_ok[poly_of_ring]
    # reverse rings of the wrong orientation
    wrong = ring_ok & ((exterior & (area < 0)) | (~exterior & (area > 0)))
    if wrong.any():
        w = wrong[rings]
        pos = np.arange(len(pts))
        s, e = starts[:-1][rings], starts[1:][rings]
        src = np.where(w, s + (e - 1 - pos), pos)
        pts = pts[src]
    feat_of_poly = np.repeat(np.arange(n), np.diff(geom_off))
    feat_of_ring = feat_of_poly[poly_of_ring]
    ok = np.zeros(n, dtype=bool)
    ok[feat_of_ring[ring_ok]] = True
    # collapsed features that must stay: a one-pixel square (8 units) at the interior point
    fill = ~ok & keep
    sq_pts = np.empty((0, 2), dtype=np.int64)
    if fill.any():
        c = np.round(_merc(anchors[fill], z)).astype(np.int64)
        d = np.array([[-4, -4], [4, -4], [4, 4], [-4, 4]])  # clockwise with y down: positive area
        sq_pts = (c[:, None, :] + d[None, :, :]).reshape(-1, 2)
    # the stream: rings of kept rings in feature order, squares appended per feature
    sel = ring_ok[rings]
    r_pts = pts[sel]
    kept_rings = np.flatnonzero(ring_ok)
    m = counts[kept_rings]
    ring_feat = feat_of_ring[kept_rings]
    sq_feat = np.flatnonzero(fill)
    all_feat = np.concatenate([ring_feat, sq_feat])
    all_m = np.concatenate([m, np.full(len(sq_feat), 4)])
    all_pts = np.concatenate([r_pts, sq_pts])
    order = np.argsort(all_feat, kind="stable")  # rings stay in their order within a feature
    ring_starts = np.concatenate([[0], np.cumsum(all_m)])
    # vectorised gather of the points of the reordered rings
    rs, rm = ring_starts[:-1][order], all_m[order]
    rep = np.repeat(rs - np.concatenate([[0], np.cumsum(rm)[:-1]]), rm)
    pt_idx = np.arange(int(rm.sum())) + rep
    P = all_pts[pt_idx]
    feats = all_feat[order]
    k_local = np.arange(len(P)) - np.repeat(np.concatenate([[0], np.cumsum(rm)[:-1]]), rm)
    ring_len = 2 * rm + 3
    ring_pos = np.concatenate([[0], np.cumsum(ring_len)])
    total = int(ring_pos[-1])
    cmd = np.zeros(total, dtype=np.uint32)
    cmd[ring_pos[:-1]] = 9  # MoveTo, count 1
    cmd[ring_pos[:-1] + 3] = (2 | ((rm - 1) << 3)).astype(np.uint32)  # LineTo, count m-1
    cmd[ring_pos[1:] - 1] = 15  # ClosePath
    D = np.diff(P, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    pt_feat = np.repeat(feats, rm)
    feat_first = np.ones(len(P), dtype=bool)
    feat_first[1:] = pt_feat[1:] != pt_feat[:-1]
    D[feat_first] = 0  # patched per tile (relative to the tile origin)
    base = np.repeat(ring_pos[:-1], rm)
    px = base + np.where(k_local == 0, 1, 2 * k_local + 2)
    cmd[px] = _zigzag(D[:, 0])
    cmd[px + 1] = _zigzag(D[:, 1])
    # per feature ranges, first point and bbox
    start = np.full(n, -1, dtype=np.int64)
    end = np.full(n, -1, dtype=np.int64)
    ring_feat_sorted = feats
    first_ring = np.ones(len(ring_feat_sorted), dtype=bool)
    first_ring[1:] = ring_feat_sorted[1:] != ring_feat_sorted[:-1]
    last_ring = np.ones(len(ring_feat_sorted), dtype=bool)
    last_ring[:-1] = first_ring[1:]
    start[ring_feat_sorted[first_ring]] = ring_pos[:-1][first_ring]
    end[ring_feat_sorted[last_ring]] = ring_pos[1:][last_ring]
    first = np.zeros((n, 2), dtype=np.int64)
    first[pt_feat[feat_first]] = P[feat_first]
    lo = np.full((n, 2), np.iinfo(np.int64).max)
    hi = np.full((n, 2), np.iinfo(np.int64).min)
    np.minimum.at(lo, pt_feat, P)
    np.maximum.at(hi, pt_feat, P)
    return {"cmd": cmd, "start": start, "end": end, "first": first, "lo": lo, "hi": hi, "ok": start >= 0}


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _vsize(v: np.ndarray) -> np.ndarray:
    """Bytes of the protobuf varint of each (non-negative) value."""
    size = np.ones(len(v), dtype=np.int64)
    for k in range(1, 10):
        size += v >= (np.uint64(1) << np.uint64(7 * k))
    return size


def _varints(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All values varint-encoded back to back, and the byte offset of each value (plus the end)."""
    v = v.astype(np.uint64)
    size = _vsize(v)
    pos = np.concatenate([[0], np.cumsum(size)])
    out = np.zeros(int(pos[-1]), dtype=np.uint8)
    for k in range(10):
        m = size > k
        if not m.any():
            break
        byte = (v[m] >> np.uint64(7 * k)) & np.uint64(0x7F)
        byte |= np.where(size[m] > k + 1, np.uint64(0x80), np.uint64(0))
        out[pos[:-1][m] + k] = byte.astype(np.uint8)
    return out, pos


def _value_message(v: Any) -> bytes:
    """A ``Layer.values`` entry (field 4): string, double or bool ``Value``."""
    if isinstance(v, (bool, np.bool_)):
        inner = b"\x38" + (b"\x01" if v else b"\x00")
    elif isinstance(v, (float, np.floating)):
        inner = b"\x19" + struct.pack("<d", float(v))
    else:
        raw = str(v).encode("utf-8")
        inner = b"\x0a" + _varint(len(raw)) + raw
    return b"\x22" + _varint(len(inner)) + inner


def _codes(frame: pd.DataFrame, fields: Sequence[str]) -> tuple[np.ndarray, list[list[bytes]]]:
    """Per field the code of each row's value (-1 = empty) and the encoded ``Value`` of each code."""
    codes = np.full((len(fields), len(frame)), -1, dtype=np.int64)
    messages = []
    for j, f in enumerate(fields):
        s = frame[f]
        if pd.api.types.is_bool_dtype(s):
            vals = s.astype(object).where(s.notna(), None).map(lambda v: None if v is None else bool(v))
        elif pd.api.types.is_numeric_dtype(s):
            vals = s.astype("float64").round(1).astype(object).where(s.notna(), None)
        else:
            vals = s.astype(object).where(s.notna(), None).map(lambda v: None if v in (None, "") else str(v))
        c, uniques = pd.factorize(vals.astype(object), use_na_sentinel=True)
        codes[j] = c
        messages.append([_value_message(u) for u in uniques])
    return codes, messages


def _encode_zoom(
    z: int,
    name: str,
    fields: Sequence[str],
    s: dict[str, np.ndarray],
    fid: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    codes: np.ndarray,
    messages: list[list[bytes]],
) -> dict[int, bytes]:
    """Every tile of zoom z as gzip-compressed MVT bytes, {tile id: bytes}, encoded with numpy.

    A feature message is a run of varints only (field tags below 128 are their own varint), so the
    features of all tiles are built as one integer array and varint-encoded at once."""
    from pmtiles.tile import zxy_to_tileid

    tile_key = ty.astype(np.int64) * (1 << z) + tx.astype(np.int64)
    order = np.lexsort((fid, tile_key))
    fid, tx, ty, tile_key = fid[order], tx[order], ty[order], tile_key[order]
    tiles_u, tile_first, tile_of_pair = np.unique(tile_key, return_index=True, return_inverse=True)
    n_pairs, n_tiles, n_fields = len(fid), len(tiles_u), len(fields)
    # tags: per field, the value index within the tile's value table (values grouped by field)
    tag_idx = np.full((n_pairs, n_fields), -1, dtype=np.int64)
    offset = np.zeros(n_tiles, dtype=np.int64)
    uniq_per_field = []
    for j in range(n_fields):
        c = codes[j][fid]
        ok = c >= 0
        width = int(codes[j].max()) + 1 if len(codes[j]) else 1
        key = tile_of_pair[ok] * max(width, 1) + c[ok]
        uk, inv = np.unique(key, return_inverse=True)
        t_u = uk // max(width, 1)
        first = np.searchsorted(t_u, t_u, side="left")
        local = inv - first[inv]
        tag_idx[ok, j] = offset[tile_of_pair[ok]] + local
        counts = np.bincount(t_u, minlength=n_tiles)
        offset += counts
        uniq_per_field.append((uk % max(width, 1), np.concatenate([[0], np.cumsum(counts)])))
    has = tag_idx >= 0
    nt = 2 * has.sum(axis=1)
    tags = (
        np.column_stack([np.broadcast_to(np.arange(n_fields), tag_idx.shape), tag_idx])
        .reshape(n_pairs, 2, n_fields)
        .transpose(0, 2, 1)[has]
        .ravel()
        if n_fields
        else np.zeros(0, dtype=np.int64)
    )
    # geometry of each pair, with the first MoveTo relative to the pair's tile
    start, end = s["start"][fid], s["end"][fid]
    ng = end - start
    gpos = np.concatenate([[0], np.cumsum(ng)])
    gidx = np.repeat(start - gpos[:-1], ng) + np.arange(int(gpos[-1]))
    geom = s["cmd"][gidx].astype(np.uint64)
    geom[gpos[:-1] + 1] = _zigzag(s["first"][fid, 0] - tx.astype(np.int64) * EXTENT)
    geom[gpos[:-1] + 2] = _zigzag(s["first"][fid, 1] - ty.astype(np.int64) * EXTENT)
    tpos = np.concatenate([[0], np.cumsum(nt)])
    lt = np.add.reduceat(_vsize(tags.astype(np.uint64)), tpos[:-1]) if len(tags) else np.zeros(n_pairs, dtype=np.int64)
    lt = np.where(nt > 0, lt, 0)
    lg = np.add.reduceat(_vsize(geom), gpos[:-1])
    fid_u = fid.astype(np.uint64)
    lf = 1 + _vsize(fid_u) + 1 + _vsize(lt.astype(np.uint64)) + lt + 2 + 1 + _vsize(lg.astype(np.uint64)) + lg
    # [0x12, lf, 8, fid, 0x12, lt, tags.., 0x18, 3, 0x22, lg, geom..] per pair
    seq = 10 + nt + ng
    base = np.concatenate([[0], np.cumsum(seq)])
    flat = np.zeros(int(base[-1]), dtype=np.uint64)
    b = base[:-1]
    flat[b], flat[b + 1], flat[b + 2], flat[b + 3], flat[b + 4], flat[b + 5] = 0x12, lf, 8, fid_u, 0x12, lt
    if len(tags):
        flat[np.repeat(b + 6 - tpos[:-1], nt) + np.arange(len(tags))] = tags
    after = b + 6 + nt
    flat[after], flat[after + 1], flat[after + 2], flat[after + 3] = 0x18, 3, 0x22, lg
    flat[np.repeat(after + 4 - gpos[:-1], ng) + np.arange(len(geom))] = geom
    data, pos = _varints(flat)
    pair_byte = pos[base]
    tile_byte = np.concatenate([pair_byte[tile_first], [pair_byte[-1]]])
    head = b"\x78\x02" + b"\x0a" + _varint(len(name.encode())) + name.encode()
    keys = b"".join(b"\x1a" + _varint(len(f.encode())) + f.encode() for f in fields)
    tail = b"\x28" + _varint(EXTENT)
    raw = data.tobytes()
    out = {}
    for t in range(n_tiles):
        values = b"".join(
            messages[j][c]
            for j, (uk, bounds) in enumerate(uniq_per_field)
            for c in uk[bounds[t] : bounds[t + 1]].tolist()
        )
        layer = head + raw[tile_byte[t] : tile_byte[t + 1]] + keys + values + tail
        tile = b"\x1a" + _varint(len(layer)) + layer
        key = int(tiles_u[t])
        out[zxy_to_tileid(z, key % (1 << z), key // (1 << z))] = gzip.compress(tile, compresslevel=6, mtime=0)
    return out


def build_tileset(
    frame: gpd.GeoDataFrame,
    path: str | Path,
    *,
    key: str,
    fields: Sequence[str],
    url: str | None = None,
    layer_name: str = "features",
    keep: np.ndarray | pd.Series | None = None,
    minzoom: int = 8,
    maxzoom: int = 14,
    pixel: float = 0.5,
) -> TileSet:
    """Write the PMTiles archive of a polygon layer and return its :class:`TileSet`.

    Parameters
    ----------
    frame
        Polygons with a CRS; ``key`` identifies a row (unique).
    path
        The ``.pmtiles`` file (written to a temporary name, then moved in place).
    fields
        Attributes carried by each feature (missing ones are skipped).
    url
        How the page loads the archive (default: :func:`tile_url`).
    keep
        Rows never dropped at any zoom (default: all).
    minzoom, maxzoom
        Data zoom levels written (the plugin draws data zoom z at display zoom z + 1).
    pixel
        Simplification tolerance in screen pixels at each zoom (coverage-preserving).
    """
    from pmtiles.tile import Compression, TileType
    from pmtiles.writer import Writer

    if frame.crs is None:
        raise LandRenewError(
            "图层没有坐标系，无法生成瓦片",
            detail="build_tileset: frame.crs is None",
            fix="导入时为图层设置坐标系（如 EPSG:4490）",
        )
    path = Path(path)
    fields = tuple(f for f in fields if f in frame.columns)
    valid = ~(frame.geometry.isna() | frame.geometry.is_empty).to_numpy()
    keys_all = frame[key].astype(str).to_numpy(dtype=object)
    if pd.Series(keys_all).duplicated().any():
        raise LandRenewError(f"字段 {key} 有重复值，无法生成瓦片", detail=f"duplicate {key}", fix="检查编号唯一性")
    keep_all = np.ones(len(frame), dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    order = np.argsort(keys_all[valid], kind="stable")
    sub = frame[valid].iloc[order]
    keys = keys_all[valid][order]
    keep_arr = keep_all[valid][order]
    geoms = np.asarray(sub.geometry.to_crs("EPSG:4326").array, dtype=object)
    geoms = (
        shapely.orient_polygons(shapely.make_valid(geoms))
        if not shapely.is_valid(geoms).all()
        else shapely.orient_polygons(geoms)
    )
    poly = shapely.get_type_id(geoms)
    if not np.isin(poly, (3, 6)).all():
        geoms = np.array(
            [
                shapely.MultiPolygon([p for p in shapely.get_parts(g) if p.geom_type == "Polygon"])
                if shapely.get_type_id(g) not in (3, 6)
                else g
                for g in geoms
            ],
            dtype=object,
        )
    anchors = shapely.get_coordinates(shapely.point_on_surface(geoms))
    codes, messages = _codes(sub, fields)
    b = shapely.total_bounds(geoms)
    bounds = (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
    tiles: dict[int, bytes] = {}
    current = geoms
    coverage = bool(len(geoms)) and bool(np.isin(shapely.get_type_id(geoms), (3, 6)).all())
    done_tol = 0.0
    for z in range(maxzoom, minzoom - 1, -1):
        # degrees of longitude per screen pixel (512 px data tile); a whole pixel below zoom 12, where the
        # district is in view and every parcel is a few pixels wide
        tol = (pixel if z >= 12 else 2 * pixel) * 360.0 / (2**z) / 512.0
        # simplify from zoom 12 down, again when the tolerance has grown 4x (every second zoom); between,
        # and at 13-14 (a grid of 0.6-1.2 m), the snap to the tile grid removes what is below a pixel
        if coverage and len(current) and z <= 12 and tol >= 3.9 * done_tol:
            simplified = shapely.coverage_simplify(current, tol, simplify_boundary=True)
            current = np.where(shapely.is_empty(simplified), current, simplified)
            done_tol = tol
        s = _streams(current, anchors, z, keep_arr)
        present = np.flatnonzero(s["ok"])
        lo = (s["lo"][present] - _BUFFER) // EXTENT
        hi = (s["hi"][present] + _BUFFER) // EXTENT
        nx, ny = hi[:, 0] - lo[:, 0] + 1, hi[:, 1] - lo[:, 1] + 1
        cnt = nx * ny
        fid = np.repeat(present, cnt)
        k = np.arange(int(cnt.sum())) - np.repeat(np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt)
        tx = np.repeat(lo[:, 0], cnt) + k % np.repeat(nx, cnt)
        ty = np.repeat(lo[:, 1], cnt) + k // np.repeat(nx, cnt)
        tiles.update(_encode_zoom(z, layer_name, fields, s, fid, tx, ty, codes, messages))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            writer = Writer(fh)
            for tileid in sorted(tiles):
                writer.write_tile(tileid, tiles[tileid])
            e7 = [int(round(v * 10_000_000)) for v in bounds]
            writer.finalize(
                {
                    "tile_type": TileType.MVT,
                    "tile_compression": Compression.GZIP,
                    "min_lon_e7": e7[0],
                    "min_lat_e7": e7[1],
                    "max_lon_e7": e7[2],
                    "max_lat_e7": e7[3],
                    "center_zoom": minzoom,
                    "center_lon_e7": (e7[0] + e7[2]) // 2,
                    "center_lat_e7": (e7[1] + e7[3]) // 2,
                },
                {
                    "name": layer_name,
                    "format": TILE_FORMAT,
                    "vector_layers": [
                        {
                            "id": layer_name,
                            "fields": {f: "String" for f in fields},
                            "minzoom": minzoom,
                            "maxzoom": maxzoom,
                        }
                    ],
                },
            )
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return TileSet(
        path=path,
        url=url or tile_url(path),
        layer=layer_name,
        key=key,
        keys=np.asarray(keys, dtype=object),
        fields=fields,
        bounds=bounds,
        minzoom=minzoom,
        maxzoom=maxzoom,
    )


def ensure_tileset(
    frame: gpd.GeoDataFrame,
    *,
    store_id: str,
    version: str,
    layer: str,
    key: str,
    fields: Sequence[str],
    keep: np.ndarray | pd.Series | None = None,
    folder: Path | None = None,
    **kwargs: Any,
) -> TileSet:
    """The archive of ``layer`` for this store version: built when missing, reused otherwise.

    The file name carries the store, the version and :data:`TILE_FORMAT`; archives of older versions of
    the same store and layer are removed after a build.
    """
    folder = Path(folder or tile_dir())
    prefix = f"{hashlib.sha1(store_id.encode()).hexdigest()[:8]}-{layer}"
    recipe = f"{version}|{TILE_FORMAT}|{','.join(fields)}|{sorted(kwargs.items())}"
    digest = hashlib.sha1(recipe.encode()).hexdigest()[:12]
    path = folder / f"{prefix}-{digest}.pmtiles"
    if path.exists():
        valid = ~(frame.geometry.isna() | frame.geometry.is_empty).to_numpy()
        keys = np.sort(frame[key].astype(str).to_numpy(dtype=object)[valid])
        b = frame.geometry.to_crs("EPSG:4326").total_bounds
        return TileSet(
            path=path,
            url=tile_url(path),
            layer=layer,
            key=key,
            keys=keys,
            fields=tuple(f for f in fields if f in frame.columns),
            bounds=tuple(float(v) for v in b),
            minzoom=kwargs.get("minzoom", 8),
            maxzoom=kwargs.get("maxzoom", 14),
        )
    ts = build_tileset(frame, path, key=key, fields=fields, layer_name=layer, keep=keep, **kwargs)
    for old in folder.glob(f"{prefix}-*.pmtiles"):
        if old != path:
            old.unlink(missing_ok=True)
    return ts


def key_at(
    tree: shapely.STRtree, keys: np.ndarray, lat: float, lng: float, shown: np.ndarray | None = None
) -> str | None:
    """The key of the feature under a clicked point (spatial index query, exact intersects test);
    the smallest one where several overlap.  ``tree`` indexes geometries in EPSG:4326/4490 degrees,
    ``keys[i]`` is the key of its geometry i; ``shown`` (booleans like ``keys``) limits the answer to
    the features the map draws.

    >>> import shapely
    >>> tree = shapely.STRtree([shapely.box(0, 0, 2, 2), shapely.box(0.5, 0.5, 1, 1)])
    >>> keys = np.array(["big", "small"], dtype=object)
    >>> key_at(tree, keys, 0.7, 0.7), key_at(tree, keys, 1.5, 1.5), key_at(tree, keys, 5, 5)
    ('small', 'big', None)
    >>> key_at(tree, keys, 0.7, 0.7, shown=np.array([True, False]))
    'big'
    """
    point = shapely.Point(float(lng), float(lat))
    hits = tree.query(point, predicate="intersects")
    if shown is not None and len(hits):
        hits = hits[np.asarray(shown, dtype=bool)[hits]]
    if len(hits) == 0:
        return None
    if len(hits) > 1:
        hits = hits[np.argsort(shapely.area(tree.geometries.take(hits)))]
    return str(keys[hits[0]])
