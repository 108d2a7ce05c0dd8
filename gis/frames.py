"""Conform frames to the layer registry: canonical in-memory types, column order, list encoding.

Canonical types in memory (what every store returns and every writer accepts):
``str``/``enum`` -> pandas string, ``int`` -> Int64, ``float``/``ratio`` -> float64, ``bool`` -> boolean,
``date`` -> datetime64[ms] (naive, midnight), ``timestamp`` -> datetime64[ms, UTC], ``list`` -> Python lists,
geometry -> GeoSeries in EPSG:4490.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .crs import STORE_CRS
from .schema import Layer, get_layer

__all__ = ["conform", "empty_frame", "encode_lists", "decode_lists", "to_json_list"]

DATE_DTYPE = "datetime64[ms]"
TS_DTYPE = "datetime64[ms, UTC]"


def _json_default(value: Any) -> Any:
    if isinstance(value, (pd.Timestamp,)):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_json_list(value: Any) -> str:
    """A list (or NA) as a JSON array string, Chinese kept readable."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        value = []
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return json.dumps(value, ensure_ascii=False, default=_json_default, separators=(",", ":"))


def _from_json(value: Any) -> list:
    if isinstance(value, list):
        return value
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return []
    if isinstance(value, str):
        return json.loads(value) if value else []
    return list(value)


def encode_lists(frame: pd.DataFrame, layer: Layer | str) -> pd.DataFrame:
    """JSON-encode the list fields (GeoPackage / GeoJSON properties / CSV)."""
    layer = get_layer(layer) if isinstance(layer, str) else layer
    out = frame.copy()
    for name in layer.fields_of_type("list"):
        if name in out.columns:
            out[name] = pd.Series([to_json_list(v) for v in out[name]], index=out.index, dtype=object)
    return out


def decode_lists(frame: pd.DataFrame, layer: Layer | str) -> pd.DataFrame:
    """JSON text -> lists, one ``json.loads`` per column (not per row) when every cell is JSON text."""
    layer = get_layer(layer) if isinstance(layer, str) else layer
    out = frame
    for name in layer.fields_of_type("list"):
        if name not in out.columns:
            continue
        col = out[name]
        text = col.astype("string")
        if len(col) and text.notna().all() and not any(isinstance(v, list) for v in col.head(1)):
            values = json.loads("[" + ",".join(text.replace("", "[]").tolist()) + "]")
        else:
            values = [_from_json(v) for v in col]
        out[name] = pd.Series(values, index=out.index, dtype=object)
    return out


def _cast(series: pd.Series, ftype: str) -> pd.Series:
    if ftype in ("str", "enum"):
        if series.dtype == object:
            series = series.map(lambda v: pd.NA if v is None or (isinstance(v, float) and np.isnan(v)) else v)
        s = series.astype("string")
        return s.where(s.str.len() > 0, pd.NA) if len(s) else s
    if ftype == "int":
        if series.dtype == object:
            series = series.map(lambda v: np.nan if v is None or v is pd.NA else v)
        return pd.to_numeric(series, errors="raise").round().astype("Int64")
    if ftype in ("float", "ratio"):
        if series.dtype == object:
            series = series.map(lambda v: np.nan if v is None or v is pd.NA else v)
        return pd.to_numeric(series, errors="raise").astype("float64")
    if ftype == "bool":
        if series.dtype == object:
            series = series.map(
                lambda v: pd.NA if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else bool(v)
            )
        return series.astype("boolean")
    if ftype == "date":
        if series.dtype == object:
            series = series.map(lambda v: None if v is pd.NA else v)
        s = pd.to_datetime(series, errors="raise")
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_localize(None)
        return s.dt.normalize().astype(DATE_DTYPE)
    if ftype == "timestamp":
        if series.dtype == object:
            series = series.map(lambda v: None if v is pd.NA else v)
        s = pd.to_datetime(series, errors="raise", utc=True)
        return s.astype(TS_DTYPE)
    if ftype == "list":
        if series.dtype == object and all(isinstance(v, list) for v in series):
            return series
        return pd.Series([_from_json(v) for v in series], index=series.index, dtype=object)
    raise ValueError(f"unknown field type {ftype!r}")


def empty_frame(layer: Layer | str) -> pd.DataFrame:
    """An empty frame with the layer's columns and canonical types (a GeoDataFrame for spatial layers)."""
    layer = get_layer(layer) if isinstance(layer, str) else layer
    data = {f.name: _cast(pd.Series([], dtype=object), f.type) for f in layer.fields}
    if layer.is_spatial:
        return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=STORE_CRS))
    return pd.DataFrame(data)


def conform(
    frame: pd.DataFrame, layer: Layer | str, *, keep_extra: bool = False, trusted: Collection[str] = ()
) -> pd.DataFrame:
    """Cast a frame to the layer's canonical types and column order; missing optional columns become NA.

    ``trusted`` columns are taken as they are: the caller knows they come from a frame conformed before (same
    canonical dtype), so casting them again would change nothing and costs a pass per column.
    Raises ``KeyError`` naming the missing required columns (ingest reports these to users before this point).
    """
    layer = get_layer(layer) if isinstance(layer, str) else layer
    missing = [f.name for f in layer.fields if f.required and f.name not in frame.columns]
    if missing:
        raise KeyError(f"layer {layer.name!r}: missing required columns {missing}")
    out = {}
    n = len(frame)
    for f in layer.fields:
        if f.name in trusted:
            out[f.name] = frame[f.name]
        elif f.name in frame.columns:
            out[f.name] = _cast(frame[f.name], f.type)
        else:
            out[f.name] = _cast(pd.Series([None] * n, index=frame.index, dtype=object), f.type)
    extra = [c for c in frame.columns if c not in out and c != getattr(frame, "_geometry_column_name", "geometry")]
    if keep_extra:
        for c in extra:
            out[c] = frame[c]
    df = pd.DataFrame(out, index=frame.index)
    if layer.is_spatial:
        geom = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else frame["geometry"]
        gs = gpd.GeoSeries(geom, index=frame.index)
        if gs.crs is None:
            gs = gs.set_crs(STORE_CRS)
        elif not gs.crs.equals(STORE_CRS):
            gs = gs.to_crs(STORE_CRS)
        return gpd.GeoDataFrame(df, geometry=gs, crs=STORE_CRS)
    return df
