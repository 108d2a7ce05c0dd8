"""Versions of the ledger with two times (docs/history.md §2): valid time (when the ledger says a state held) and
transaction time (when the platform learned it).

Each version row is a piece of a key's timeline ``[valid_from, valid_to)`` believed from ``recorded_at`` until
``superseded_at``.  A batch with effective date E says "on E the row is X": the piece holding E is superseded
and replaced by its head ``[valid_from, E)`` and the new piece ``[E, valid_to)``; nothing is ever deleted, so the
ledger as known at any time T is still there (:func:`ledger_at`).  A new piece is made only when the row's
content hash changed (:func:`row_hashes`): an identical re-import adds no version.

>>> import pandas as pd
>>> from gis.schema import get_layer
>>> a = pd.DataFrame({"town_code": ["330603001"], "name": ["柯桥街道"], "kind": ["街道"], "geometry": [None]})
>>> row_hashes(a, get_layer("towns"))[0] == row_hashes(a.copy(), get_layer("towns"))[0]
True
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .crs import AREA_CRS
from .frames import conform, to_json_list
from .schema import Layer, get_layer
from .store.history_schema import LEDGER_LAYERS, NEVER, OPEN_END, SINCE_EVER, HistoryWrite, conformed, versions_layer

__all__ = [
    "row_hashes",
    "ledger_at",
    "plan_layer",
    "LayerPlan",
    "parcel_history",
    "changes_since",
    "current_pieces",
    "versions_of",
    "VERSION_COLUMNS",
]

VERSION_COLUMNS = (
    "version_id",
    "valid_from",
    "valid_to",
    "recorded_at",
    "superseded_at",
    "batch_id",
    "superseded_by",
    "retired",
    "reason",
    "change",
    "row_hash",
)


# -- content hash ---------------------------------------------------------------------------------------
def row_hashes(frame: pd.DataFrame, layer: Layer) -> np.ndarray:
    """The content hash of each row (16 hex digits): every field in its canonical type and the geometry as a
    normalised MultiPolygon's WKB, hashed by pandas' vectorised SipHash (``hash_pandas_object``, fixed key)."""
    frame = conformed(frame, layer)
    if not len(frame):
        return np.array([], dtype=object)
    cols: dict[str, Any] = {}
    for f in layer.fields:
        s = frame[f.name].reset_index(drop=True)
        if f.type == "list":
            s = pd.Series([to_json_list(v) for v in s], dtype=object)
        # text columns are hashed as they are: pandas hashes a string column's values as it hashes the same
        # values as Python str (None for a blank), so no conversion to object is needed
        cols[f.name] = s
    if layer.is_spatial:
        geoms = np.asarray(frame.geometry.array, dtype=object)
        single = shapely.get_type_id(geoms) == 3
        if single.any():
            geoms = geoms.copy()
            geoms[single] = shapely.multipolygons(geoms[single], indices=np.arange(int(single.sum())))
        missing = shapely.is_missing(geoms)
        # the hex WKB (upper case, as shapely's hex=True writes it), from the binary WKB: 5x faster
        wkb = shapely.to_wkb(shapely.normalize(geoms))
        cols["__geometry"] = pd.Series([None if m else b.hex().upper() for b, m in zip(wkb, missing)], dtype=object)
    hashed = pd.util.hash_pandas_object(pd.DataFrame(cols), index=False).to_numpy()
    # 16 hex digits per row: one hex string of the big-endian words, cut into 16-character pieces
    return np.frombuffer(hashed.astype(">u8").tobytes().hex().encode(), dtype="S16").astype("U16").astype(object)


# -- reading versions -----------------------------------------------------------------------------------
def _open_ends_to_nat(frame: pd.DataFrame) -> pd.DataFrame:
    if "valid_from" in frame.columns:
        frame["valid_from"] = frame["valid_from"].where(frame["valid_from"] != SINCE_EVER)
    if "valid_to" in frame.columns:
        frame["valid_to"] = frame["valid_to"].where(frame["valid_to"] != OPEN_END)
    if "superseded_at" in frame.columns:
        frame["superseded_at"] = frame["superseded_at"].where(frame["superseded_at"] != NEVER)
    return frame


def _day(value: Any) -> pd.Timestamp:
    return (
        pd.Timestamp(value).normalize().tz_localize(None)
        if pd.Timestamp(value).tzinfo is None
        else pd.Timestamp(value).tz_convert("Asia/Shanghai").tz_localize(None).normalize()
    )


def _ts(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def has_versions(store, name: str) -> bool:
    return bool(store.history_counts().get(f"{name}_versions"))


def ledger_at(store, name: str, *, as_of: Any = None, known_at: Any = None) -> pd.DataFrame:
    """A ledger layer as it was valid on ``as_of`` (default: its latest state) as known at ``known_at``
    (default: now) — same columns and types as ``store.read_layer(name)``.

    A layer whose rows were never versioned (a store without history) is returned as it is now.
    """
    layer = get_layer(name)
    if name not in LEDGER_LAYERS:
        return store.read_layer(name)
    if not has_versions(store, name):
        return store.read_layer(name)
    filters: list[tuple[str, str, Any]] = []
    if as_of is None:
        filters.append(("valid_to", "=", OPEN_END))
    else:
        day = _day(as_of)
        filters += [("valid_to", ">", day), ("valid_from", "<=", day)]
    if known_at is not None and _nothing_recorded_after(store, _ts(known_at)):
        known_at = None  # as known then = as known now (no batch since): the believed rows, by the index
    if known_at is None:
        filters.insert(0, ("superseded_at", "=", NEVER))
    else:
        t = _ts(known_at)
        filters += [("superseded_at", ">", t), ("recorded_at", "<=", t)]
    filters.append(("retired", "=", False))
    return store.read_history(f"{name}_versions", filters=filters, columns=layer.field_names)


def _nothing_recorded_after(store, t: pd.Timestamp) -> bool:
    """No batch recorded after ``t``: then nothing was superseded after it either (only batches supersede)."""
    later = store.read_history("batches", filters=[("recorded_at", ">", t)], columns=["batch_id"])
    return later.empty


def versions_of(
    store, name: str, keys: Iterable[Any] | None = None, *, believed: bool = True, geometry: bool = True
) -> pd.DataFrame:
    """The versions of some keys (all keys when None); ``believed``: only those not superseded."""
    key = get_layer(name).key_fields[0]
    filters: list[tuple[str, str, Any]] = []
    if keys is not None:
        filters.append((key, "in", [str(k) for k in keys]))
    if believed:
        filters.append(("superseded_at", "=", NEVER))
    frame = store.read_history(f"{name}_versions", filters=filters, geometry=geometry)
    return frame


def current_pieces(store, name: str, *, after: pd.Timestamp, keys: Iterable[Any] | None = None) -> pd.DataFrame:
    """Believed pieces ending after ``after`` (the ones a batch effective on ``after`` may touch), no geometry."""
    layer = get_layer(name)
    key = layer.key_fields[0]
    filters: list[tuple[str, str, Any]] = [("superseded_at", "=", NEVER), ("valid_to", ">", after)]
    if keys is not None:
        filters.insert(0, (key, "in", [str(k) for k in keys]))
    cols = [key, "version_id", "valid_from", "valid_to", "retired", "row_hash"]
    extra = [c for c in ("town_code",) if c in layer.field_names and c not in cols]
    return store.read_history(f"{name}_versions", filters=filters, columns=cols + extra, geometry=False)


# -- planning a batch ----------------------------------------------------------------------------------
def _key_texts(keys: pd.Series) -> list[str]:
    """``[str(k) for k in keys]`` without iterating an Arrow-backed column element by element in Python."""
    return [str(k) for k in keys.to_numpy(dtype=object)]


@dataclass
class LayerPlan:
    """What a batch does to one ledger layer."""

    layer: str
    added: list = field(default_factory=list)
    changed: list = field(default_factory=list)
    retired: list = field(default_factory=list)
    unchanged: int = 0
    late: int = 0  # pieces inserted before versions already recorded (a late correction)
    superseded: list = field(default_factory=list)
    new_versions: pd.DataFrame | None = None
    current_delete: list = field(default_factory=list)
    current_insert: pd.DataFrame | None = None
    hash_fill: dict = field(default_factory=dict)
    replace_whole: bool = False
    #: per row of ``new_versions``: True where its content is the row the current layer holds for its key (a
    #: store may then copy those rows from the layer it has just written instead of serialising them twice)
    mirror: np.ndarray | None = None

    @property
    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "changed": len(self.changed),
            "retired": len(self.retired),
            "unchanged": self.unchanged,
            "late": self.late,
        }

    def to_write(
        self, tx: HistoryWrite, *, at: pd.Timestamp, batch_id: str, store_current: pd.DataFrame | None
    ) -> None:
        table = f"{self.layer}_versions"
        if self.superseded:
            tx.supersede[table] = (list(self.superseded), at, batch_id)
        if self.hash_fill:
            tx.row_hashes[table] = dict(self.hash_fill)
        if self.new_versions is not None and len(self.new_versions):
            if table not in tx.append and self.mirror is not None and self.mirror.all():
                tx.mirrors[table] = self.layer
            tx.add(table, self.new_versions)
        if self.replace_whole and store_current is not None:
            tx.layer_replace[self.layer] = store_current
        elif self.current_delete or (self.current_insert is not None and len(self.current_insert)):
            tx.layer_rows[self.layer] = (
                list(self.current_delete),
                self.current_insert if self.current_insert is not None else store_current.iloc[:0],
            )


def plan_layer(
    store,
    name: str,
    frame: pd.DataFrame,
    *,
    mode: str,
    effective: pd.Timestamp,
    effective_given: bool,
    batch_id: str,
    at: pd.Timestamp,
    scope: tuple[str, str] | None = None,
    retire_reason: str | None = None,
    next_version_id: int,
) -> LayerPlan:
    """Compare a batch's rows of one layer with the believed versions and plan the new versions.

    ``mode``: ``replace`` (in ``scope`` the layer becomes the file; keys absent are retired on ``effective``)
    or ``upsert`` (rows are added or updated; absent keys untouched).
    """
    layer = get_layer(name)
    key = layer.key_fields[0]
    vlayer = versions_layer(name)
    frame = conformed(frame, layer).reset_index(drop=True)
    plan = LayerPlan(layer=name)
    e = _day(effective)
    keys = frame[key].astype(str).to_numpy()
    hashes = row_hashes(frame, layer)
    pieces = current_pieces(store, name, after=e, keys=None if mode == "replace" else keys)
    # pieces of old stores carry no hash yet: compute from their content once, store it with this batch
    missing = pieces["row_hash"].isna().to_numpy()
    if missing.any():
        ids = pieces.loc[missing, "version_id"].astype(int).tolist()
        full = store.read_history(f"{name}_versions", filters=[("version_id", "in", ids)])
        fill = dict(zip(full["version_id"].astype(int), row_hashes(full, layer)))
        plan.hash_fill = fill
        pieces.loc[missing, "row_hash"] = pieces.loc[missing, "version_id"].astype(int).map(fill)
    pieces = pieces.assign(_key=pieces[key].astype(str))
    holds = (pieces["valid_from"] <= e) & (pieces["valid_to"] > e)
    at_e = pieces[holds].drop_duplicates("_key", keep="last").set_index("_key")
    later = (
        pieces[pieces["valid_from"] > e]
        .sort_values("valid_from")
        .drop_duplicates("_key", keep="first")
        .set_index("_key")
    )

    holder = at_e.reindex(keys)
    known = holder["version_id"].notna().to_numpy()
    old_hash = holder["row_hash"].astype(object).where(holder["row_hash"].notna(), "").to_numpy()
    same = known & (old_hash == hashes) & ~holder["retired"].fillna(False).to_numpy(bool)
    plan.unchanged = int(same.sum())
    changed_pos = np.flatnonzero(known & ~same)
    new_pos = np.flatnonzero(~known)

    # retirements: believed, not retired, in scope, absent from the file
    retire_keys: list[str] = []
    if mode == "replace":
        alive = at_e[~at_e["retired"].fillna(False).astype(bool)]
        if scope is not None:
            field_name, value = scope
            alive = alive[alive[field_name].astype("string") == str(value)]
        retire_keys = sorted(set(alive.index) - set(keys))

    touched_ids = [int(v) for v in holder["version_id"].to_numpy()[changed_pos]] + [
        int(at_e.loc[k, "version_id"]) for k in retire_keys
    ]
    old_rows = (
        store.read_history(f"{name}_versions", filters=[("version_id", "in", touched_ids)]) if touched_ids else None
    )
    old_by_id = old_rows.set_index(old_rows["version_id"].astype(int)) if old_rows is not None else None

    new_parts: list[pd.DataFrame] = []
    mirror_parts: list[np.ndarray] = []  # per new version: its content is the current layer's row of its key
    current_delete: list[str] = []
    current_rows: list[pd.DataFrame] = []
    next_id = next_version_id

    def _ids(n: int) -> np.ndarray:
        nonlocal next_id
        out = np.arange(next_id, next_id + n)
        next_id += n
        return out

    def _stamp(
        rows: pd.DataFrame, *, valid_from, valid_to, change, retired=False, reason=None, hash_=None, batch=batch_id
    ) -> pd.DataFrame:
        rows = rows.copy()
        rows["version_id"] = _ids(len(rows))
        rows["valid_from"] = valid_from
        rows["valid_to"] = valid_to
        rows["recorded_at"] = at
        rows["superseded_at"] = NEVER
        rows["batch_id"] = batch
        rows["superseded_by"] = None
        rows["retired"] = retired
        rows["reason"] = reason
        rows["change"] = change
        if hash_ is not None:
            rows["row_hash"] = hash_
        return rows

    # heads: the part of a superseded piece before E keeps its content (and its batch)
    if touched_ids:
        olds = old_by_id.loc[touched_ids]
        head = olds[olds["valid_from"] < e]
        if len(head):
            h = head.copy()
            h["valid_to"] = e
            h = _stamp(
                h,
                valid_from=h["valid_from"].to_numpy(),
                valid_to=e,
                change=h["change"].to_numpy(),
                retired=h["retired"].to_numpy(),
                reason=h["reason"].to_numpy(),
                batch=h["batch_id"].to_numpy(),
            )
            new_parts.append(h)
            mirror_parts.append(np.zeros(len(h), bool))
        plan.superseded = touched_ids

    # changed (or restored) keys: the new content from E to where the superseded piece ended
    if len(changed_pos):
        rows = frame.iloc[changed_pos].reset_index(drop=True)
        hold = holder.iloc[changed_pos]
        ends = pd.to_datetime(hold["valid_to"].to_numpy())
        kinds = np.where(
            hold["retired"].fillna(False).to_numpy(bool),
            "restored",
            np.where(ends != OPEN_END, "correction", "changed"),
        )
        starts = np.where(
            hold["valid_from"].to_numpy() == np.datetime64(e), hold["valid_from"].to_numpy(), np.datetime64(e)
        )
        part = _stamp(rows, valid_from=pd.to_datetime(starts), valid_to=ends, change=kinds, hash_=hashes[changed_pos])
        new_parts.append(part)
        mirror_parts.append(np.asarray(ends == OPEN_END, bool))
        plan.changed = _key_texts(rows[key])
        plan.late += int((ends != OPEN_END).sum())
        opened = ends == OPEN_END
        current_delete += _key_texts(rows[key][opened])
        current_rows.append(rows[opened])

    # new keys: since ever (first import without an explicit date), else from E; late ones end at the next piece
    if len(new_pos):
        rows = frame.iloc[new_pos].reset_index(drop=True)
        nxt = later.reindex(rows[key].astype(str).to_numpy())
        ends = pd.to_datetime(nxt["valid_from"].to_numpy()).fillna(OPEN_END) if len(nxt) else pd.DatetimeIndex([])
        ends = pd.DatetimeIndex(np.where(nxt["version_id"].notna().to_numpy(), ends, np.datetime64(OPEN_END)))
        start = e if effective_given else SINCE_EVER
        starts = np.where(ends != OPEN_END, np.datetime64(e), np.datetime64(start))
        part = _stamp(
            rows,
            valid_from=pd.to_datetime(starts),
            valid_to=ends,
            change=np.where(ends != OPEN_END, "correction", "added"),
            hash_=hashes[new_pos],
        )
        new_parts.append(part)
        mirror_parts.append(np.asarray(ends == OPEN_END, bool))
        plan.added = _key_texts(rows[key])
        plan.late += int((ends != OPEN_END).sum())
        opened = ends == OPEN_END
        current_delete += _key_texts(rows[key][opened])
        current_rows.append(rows[opened])

    # retired keys: a tombstone from E (it keeps the last content, for the history and the change report)
    if retire_keys:
        olds = old_by_id.loc[[int(at_e.loc[k, "version_id"]) for k in retire_keys]]
        ends = pd.to_datetime(olds["valid_to"].to_numpy())
        part = _stamp(
            olds.reset_index(drop=True),
            valid_from=e,
            valid_to=ends,
            change="retired",
            retired=True,
            reason=retire_reason or "台账中已无此记录",
            hash_=olds["row_hash"].to_numpy(),
        )
        new_parts.append(part)
        mirror_parts.append(np.zeros(len(part), bool))
        plan.retired = list(retire_keys)
        plan.late += int((ends != OPEN_END).sum())
        current_delete += [str(k) for k, end in zip(retire_keys, ends) if end == OPEN_END]

    if new_parts:
        cols = vlayer.field_names + (["geometry"] if layer.is_spatial else [])
        parts = [p[[c for c in cols if c in p.columns]] for p in new_parts]
        merged = pd.concat(parts, ignore_index=True)
        if layer.is_spatial:
            merged = gpd.GeoDataFrame(merged, geometry="geometry", crs=frame.crs)
        # the layer's own columns came from conformed frames (the file's, or versions read back): cast only
        # the stamps (list columns are cast anyway: their canonical dtype, object, proves nothing)
        trusted = [
            f.name
            for f in layer.fields
            if f.type != "list" and f.name in merged.columns and merged[f.name].dtype == frame[f.name].dtype
        ]
        plan.new_versions = conform(merged, vlayer, trusted=trusted)
        plan.mirror = np.concatenate(mirror_parts)
    plan.current_delete = current_delete
    plan.current_insert = conformed(pd.concat(current_rows, ignore_index=True), layer) if current_rows else None
    # an unscoped replace: the current layer becomes exactly the file, in the file's order
    # (not for a late batch: the file is the ledger of a past day, the current layer stays the latest state)
    plan.replace_whole = (
        mode == "replace" and scope is None and plan.late == 0 and bool(plan.changed or plan.added or plan.retired)
    )
    plan._next_id = next_id  # type: ignore[attr-defined]
    return plan


# -- reports ---------------------------------------------------------------------------------------------
def parcel_history(store, parcel_id: str, *, layer: str = "parcels") -> list[dict]:
    """Every believed version of a row, oldest first, with the fields that changed from the one before.

    Each item: ``valid_from``, ``valid_to`` (None = since ever / still valid), ``recorded_at``, ``batch_id``,
    ``change``, ``retired``, ``reason``, ``diff`` (``[(field, old, new)]``, the geometry as its area in m²),
    ``area_m2_delta``, ``corrected`` (``[(batch_id, superseded_by)]`` of versions of that time a later batch
    corrected).
    """
    lay = get_layer(layer)
    key = lay.key_fields[0]
    rows = store.history_rows(f"{layer}_versions", filters=[(key, "=", str(parcel_id))])
    if not rows:
        return []
    never = NEVER
    believed = sorted(
        (r for r in rows if r["superseded_at"] == never), key=lambda r: (r["valid_from"], r["version_id"])
    )
    superseded = [r for r in rows if r["superseded_at"] != never]
    areas = {}
    if lay.is_spatial:
        geoms = gpd.GeoSeries([r["geometry"] for r in believed], crs="EPSG:4490")
        areas = dict(zip((r["version_id"] for r in believed), _areas(geoms).tolist()))
    out: list[dict] = []
    prev = None
    for row in believed:
        diff = [] if prev is None or row["retired"] else field_diff(prev, row, lay)
        area_delta = None
        if (
            lay.is_spatial
            and prev is not None
            and not row["retired"]
            and not _same_geometry(prev["geometry"], row["geometry"])
        ):
            a0, a1 = areas[prev["version_id"]], areas[row["version_id"]]
            if not (_isna(a0) or _isna(a1)):
                area_delta = a1 - a0
                diff.append(("geometry", round(a0, 1), round(a1, 1)))
        corrected = sorted(
            {
                (str(r["batch_id"]), str(r["superseded_by"]))
                for r in superseded
                if r["valid_from"] < row["valid_to"]
                and r["valid_to"] > row["valid_from"]
                and r["row_hash"] != row["row_hash"]
            }
        )
        out.append(
            {
                "version_id": int(row["version_id"]),
                "valid_from": None if row["valid_from"] == SINCE_EVER else row["valid_from"],
                "valid_to": None if row["valid_to"] == OPEN_END else row["valid_to"],
                "recorded_at": row["recorded_at"],
                "batch_id": row["batch_id"],
                "change": row["change"],
                "retired": bool(row["retired"]),
                "reason": row["reason"],
                "diff": diff,
                "area_m2_delta": area_delta,
                "corrected": corrected,
            }
        )
        if not row["retired"]:
            prev = row
    return out


def _same_geometry(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return bool(shapely.equals(a, b))


def _areas(geoms: gpd.GeoSeries) -> pd.Series:
    """Areas in m² (EPSG:4549) of many geometries in one transformation."""
    if not len(geoms):
        return pd.Series([], dtype="float64")
    return gpd.GeoSeries(geoms, crs="EPSG:4490").to_crs(AREA_CRS).area.where(~geoms.is_empty & geoms.notna())


def _area(geom) -> float | None:
    if geom is None or geom.is_empty:
        return None
    return float(gpd.GeoSeries([geom], crs="EPSG:4490").to_crs(AREA_CRS).area.iloc[0])


def field_diff(old: Mapping, new: Mapping, layer: Layer) -> list[tuple[str, Any, Any]]:
    """``[(field, old, new)]`` for the fields whose values differ (NA equal to NA)."""
    out = []
    for f in layer.fields:
        a, b = old[f.name], new[f.name]
        if f.type == "list":
            if list(a or []) != list(b or []):
                out.append((f.name, a, b))
            continue
        na_a, na_b = _isna(a), _isna(b)
        if na_a and na_b:
            continue
        if na_a != na_b or a != b:
            out.append((f.name, None if na_a else a, None if na_b else b))
    return out


def _isna(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def changes_since(store, since: Any, *, layer: str = "parcels", town: str | None = None) -> pd.DataFrame:
    """What changed in a ledger layer since a day or a batch: its latest state as known then vs. now.

    ``since``: a date (``YYYY-MM-DD``, the start of that day in Shanghai), a batch id (changes after it) or a
    timestamp (changes recorded after that moment).
    Returns one row per key: ``key``, ``change`` (added / changed / retired), ``field``, ``old``, ``new``
    (one row per changed field; ``geometry`` with the areas and ``area_delta_m2``).
    """
    lay = get_layer(layer)
    key = lay.key_fields[0]
    t0 = _since_time(store, since)
    before = ledger_at(store, layer, known_at=t0)
    now = ledger_at(store, layer)
    if town is not None and "town_code" in lay.field_names:
        before = before[before["town_code"] == town]
        now = now[now["town_code"] == town]
    b = before.set_index(before[key].astype(str))
    n = now.set_index(now[key].astype(str))
    rows: list[dict] = []
    for k in sorted(set(n.index) - set(b.index)):
        rows.append({"key": k, "change": "added", "field": None, "old": None, "new": None, "area_delta_m2": None})
    for k in sorted(set(b.index) - set(n.index)):
        rows.append({"key": k, "change": "retired", "field": None, "old": None, "new": None, "area_delta_m2": None})
    common = sorted(set(b.index) & set(n.index))
    if common:
        hb = pd.Series(row_hashes(b.loc[common].reset_index(drop=True), lay), index=common)
        hn = pd.Series(row_hashes(n.loc[common].reset_index(drop=True), lay), index=common)
        for k in hb.index[hb.to_numpy() != hn.to_numpy()]:
            old, new = b.loc[k], n.loc[k]
            for fname, o, v in field_diff(old, new, lay):
                rows.append({"key": k, "change": "changed", "field": fname, "old": o, "new": v, "area_delta_m2": None})
            if lay.is_spatial and not _same_geometry(old.geometry, new.geometry):
                a0, a1 = _area(old.geometry), _area(new.geometry)
                rows.append(
                    {
                        "key": k,
                        "change": "changed",
                        "field": "geometry",
                        "old": None if a0 is None else round(a0, 1),
                        "new": None if a1 is None else round(a1, 1),
                        "area_delta_m2": None if a0 is None or a1 is None else round(a1 - a0, 1),
                    }
                )
    return pd.DataFrame(rows, columns=["key", "change", "field", "old", "new", "area_delta_m2"])


def _since_time(store, since: Any) -> pd.Timestamp:
    if isinstance(since, (pd.Timestamp, dt.datetime)):  # a moment (e.g. a run's known_at): changes recorded after it
        return _ts(since)
    text = str(since)
    batches = store.read_history("batches", filters=[("batch_id", "=", text)])
    if len(batches):
        return _ts(batches["recorded_at"].iloc[0])
    try:
        day = pd.Timestamp(text)
    except ValueError:
        from .errors import LandRenewError

        raise LandRenewError(
            f"“{text}” 既不是日期也不是导入批次编号",
            detail=f"--since {text!r}",
            fix="写成 YYYY-MM-DD，或用 landrenew ingest 输出的批次编号",
        ) from None
    return _ts(day.tz_localize("Asia/Shanghai") if day.tzinfo is None else day) - pd.Timedelta(milliseconds=1)
