"""Exports for upper-level departments: RFC 7946 GeoJSON and a QGIS-styled GeoPackage, each with a sidecar.

GeoJSON (RFC 7946): WGS84 longitude/latitude, no ``crs`` member, exterior rings counter-clockwise and holes
clockwise, 6 decimals; list fields are real JSON arrays; dates are ISO strings; English field names, or the
registry's Chinese labels (keys and enum values) with ``labels="zh"``.  The text is built column-wise
(pandas' C JSON writer for the properties, GEOS' GeoJSON writer for the geometries) and joined once.

Every exported file gets ``<name>.meta.json``: as-of date, rule version, counts by route/status, source store,
generation time, and ``synthetic: true`` with a Chinese note when the store holds demo data.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

from .errors import LandRenewError
from .frames import encode_lists
from .schema import Field, Layer, get_layer
from .store.base import Store
from .styles import layer_styles_frame

__all__ = [
    "geojson_text",
    "to_geojson",
    "export_geojson",
    "export_gpkg",
    "export_metadata",
    "read_export_layer",
    "labelled_frame",
    "with_ledger_facts",
    "with_case_fields",
    "GPKG_VERSION",
    "DEFAULT_EXPORT_LAYERS",
    "SYNTHETIC_NOTE",
]

#: Layers exported when none is named (the outputs an upper-level department asks for).
DEFAULT_EXPORT_LAYERS = ("idle_assessment", "village_status")
#: The Chinese note carried by every export of synthetic (demo) data.
SYNTHETIC_NOTE = "模拟数据：本文件由演示数据生成，不代表柯桥区真实宗地与城中村情况，不得作为审批或上报依据。"
#: RFC 7946 output CRS.
GEOJSON_CRS = "EPSG:4326"
PRECISION = 6
#: GeoPackage version of exports: 1.4 (GDAL >= 3.7's default) makes GDAL 3.6 / QGIS 3.28 LTR warn "user_version
#: ... may only be partially supported"; 1.3 holds everything an export uses.
GPKG_VERSION = "1.3"

Labels = Literal["en", "zh"]
#: Keys of a ``reasons`` item in Chinese (``labels="zh"``).
_REASON_KEYS_ZH = {"rule_id": "规则号", "text": "理由", "citation": "依据"}


# ----------------------------------------------------------------------------------------------- reading
def read_export_layer(store: Store, name: str, *, town: str | None = None) -> pd.DataFrame:
    """A layer from the store, optionally restricted to one town (``town_code``).

    Raises :class:`gis.errors.LandRenewError` when the layer is empty in the store or the town code is
    unknown (the message lists the known codes).
    """
    layer = get_layer(name)
    if not store.has_layer(name):
        raise LandRenewError(
            f"存储中没有图层 “{name}”（{layer.label}），无法导出",
            detail=f"layer {name!r} is empty or absent in {store.url}",
            fix="先运行 landrenew assess / landrenew renewal，或检查 --store",
        )
    if town is None:
        return store.read_layer(name)
    if "town_code" not in layer.field_names:
        raise LandRenewError(
            f"图层 “{name}” 没有镇街代码字段，不能按镇街导出",
            detail=f"layer {name!r} has no town_code",
            fix="去掉 --town，或换一个图层",
        )
    frame = store.read_layer(name, where={"town_code": town})
    if frame.empty:
        known = _known_towns(store, name)
        raise LandRenewError(
            f"镇街代码 “{town}” 在图层 “{name}” 中没有记录",
            detail=f"no rows with town_code={town!r} in {name}",
            fix=f"可用镇街代码：{'、'.join(known) if known else '（无）'}",
        )
    return frame


def _read_for_json(store: Store, name: str, *, town: str | None) -> pd.DataFrame:
    """Like :func:`read_export_layer`, but list fields may stay JSON text where the store keeps them as text
    (:meth:`Store.read_layer_for_export`): decoding them only to encode them again would dominate the time."""
    layer = get_layer(name)
    if not store.has_layer(name) or (town is not None and "town_code" not in layer.field_names):
        return read_export_layer(store, name, town=town)  # raises the clear error
    frame = store.read_layer_for_export(name, where={"town_code": town} if town is not None else None)
    if frame.empty:
        return read_export_layer(store, name, town=town)  # raises the clear error for an unknown town
    return frame


def _known_towns(store: Store, name: str) -> list[str]:
    towns = store.read_layer("towns") if store.has_layer("towns") else None
    if towns is not None and len(towns):
        return [f"{c}（{n}）" for c, n in zip(towns["town_code"], towns["name"])]
    codes = store.read_layer(name)["town_code"].dropna().unique()
    return sorted(str(c) for c in codes)


# ----------------------------------------------------------------------------------------------- labels
def _alternative_zh(item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    route = get_layer("idle_assessment").field("route").label_of(item.get("route"))
    sub = item.get("sub_route")
    if sub is None or sub == "":
        return route
    return f"{route}（{get_layer('idle_assessment').field('sub_route').label_of(sub)}）"


def _reason_zh(item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    return {_REASON_KEYS_ZH.get(k, k): v for k, v in item.items()}


def labelled_frame(frame: pd.DataFrame, layer: Layer | str) -> pd.DataFrame:
    """The frame with enum values replaced by their Chinese labels and columns renamed to the labels.

    List items are labelled too where the registry knows them: ``alternatives`` route/sub-route pairs
    become e.g. ``市场流通转让（整体转让）`` and ``reasons`` items get Chinese keys (规则号/理由/依据).
    The geometry column keeps its name.
    """
    layer = get_layer(layer) if isinstance(layer, str) else layer
    out = frame.copy()
    for f in layer.fields:
        if f.name not in out.columns:
            continue
        if f.type == "enum" and f.value_labels:
            out[f.name] = out[f.name].map(f.value_labels).fillna(out[f.name]).astype("string")
        elif f.name == "alternatives":
            out[f.name] = pd.Series(
                [[_alternative_zh(i) for i in v] for v in out[f.name]], index=out.index, dtype=object
            )
        elif f.name == "reasons":
            out[f.name] = pd.Series([[_reason_zh(i) for i in v] for v in out[f.name]], index=out.index, dtype=object)
    return out.rename(columns={f.name: f.label for f in layer.fields})


# ----------------------------------------------------------------------------------------------- GeoJSON
def _rfc7946_geometries(geoseries: gpd.GeoSeries, precision: int) -> np.ndarray:
    """Geometries in EPSG:4326, rounded, exteriors CCW and holes CW, as GeoJSON strings (None when missing).

    A single-part MultiPolygon (how GeoPackage stores a polygon layer) is written as a Polygon.
    """
    if geoseries.crs is None:
        raise LandRenewError(
            "几何没有坐标系，无法导出 GeoJSON", detail="geometry without CRS", fix="图层应来自存储（EPSG:4490）"
        )
    geoms = np.asarray(geoseries.array, dtype=object)
    # EPSG:4490 (CGCS2000) -> EPSG:4326 (WGS84) is a no-op (null) transformation at this precision, but we
    # still go through the CRS transformation so any other input CRS is handled correctly.  Reprojection and
    # rounding happen in one pass over the coordinate array.
    transformer = pyproj.Transformer.from_crs(geoseries.crs, GEOJSON_CRS, always_xy=True)

    def project(xy: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.round(np.column_stack([x, y]), precision)

    geoms = shapely.transform(geoms, project)
    single = (shapely.get_type_id(geoms) == 6) & (shapely.get_num_geometries(geoms) == 1)
    if single.any():
        geoms[single] = shapely.get_geometry(geoms[single], 0)
    geoms = shapely.orient_polygons(geoms, exterior_cw=False)
    return shapely.to_geojson(geoms)


_SENTINEL = "__lr__"
_SPLIT = '},{"' + _SENTINEL + '":0,'


def _fragments(series: pd.Series, key: str) -> list[str]:
    """``"key":value`` JSON fragments of a column, one per row, via pandas' C JSON writer in one call.

    A constant sentinel member leads every record, so the records split on a text that cannot occur inside a
    value (quotes inside strings are escaped).
    """
    frame = pd.DataFrame({_SENTINEL: np.zeros(len(series), dtype=np.int8), key: series.to_numpy()})
    text = frame.to_json(orient="records", force_ascii=False, double_precision=10)
    if "\\/" in text:  # pandas escapes "/" as "\/" (valid JSON); other writers keep a plain "/"
        text = text.replace("\\/", "/")
    body = text[len('[{"' + _SENTINEL + '":0,') : -2]
    return body.split(_SPLIT)


def _raw_fragments(series: pd.Series, key: str) -> list[str]:
    """Fragments of a list column already held as JSON text (as stored in GeoPackage)."""
    prefix = json.dumps(key, ensure_ascii=False) + ":"
    return [prefix + (v if isinstance(v, str) and v else "[]") for v in series.tolist()]


def _property_column(frame: pd.DataFrame, f: Field, labels: Labels) -> tuple[pd.Series, bool]:
    """(values ready for the JSON writer, whether they are raw JSON text)."""
    s = frame[f.name]
    if f.type == "list":
        raw = s.dtype != object or any(isinstance(v, str) for v in s.head(50).tolist())
        if raw and labels == "zh" and f.name in ("alternatives", "reasons"):
            s = pd.Series([json.loads(v) if isinstance(v, str) and v else [] for v in s], index=s.index, dtype=object)
            raw = False
        if labels == "zh" and f.name in ("alternatives", "reasons"):
            item = _alternative_zh if f.name == "alternatives" else _reason_zh
            s = pd.Series([[item(i) for i in v] for v in s], index=s.index, dtype=object)
        return s, raw
    if labels == "zh" and f.type == "enum" and f.value_labels:
        return s.map(f.value_labels).fillna(s).astype("string"), False
    return s, False


def _scalar_json(value: Any, ftype: str) -> str:
    if ftype == "date":
        return '"' + value.strftime("%Y-%m-%d") + '"'
    if ftype == "timestamp":
        return '"' + value.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ") + '"'
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return "null"
    return json.dumps(value, ensure_ascii=False)


def _column_fragments(values: pd.Series, key: str, ftype: str, raw: bool) -> list[str]:
    """``"key":value`` fragments of one column.

    Columns with few distinct values (codes, enums, dates, flags) encode each distinct value once and take by
    the factorized codes; the others (ids, measures) go through pandas' C JSON writer in one call.
    """
    if raw:
        return _raw_fragments(values, key)
    n = len(values)
    if ftype != "list":
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        if len(uniques) <= max(64, n // 8):
            prefix = json.dumps(key, ensure_ascii=False) + ":"
            enc = [prefix + _scalar_json(u, ftype) for u in uniques] + [prefix + "null"]
            return np.asarray(enc, dtype=object)[codes].tolist()
        if ftype == "date":
            values = values.dt.strftime("%Y-%m-%d")
        elif ftype == "timestamp":
            values = values.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return _fragments(values, key)


def geojson_text(frame: pd.DataFrame, layer: Layer | str, *, labels: Labels = "en", precision: int = PRECISION) -> str:
    """An RFC 7946 FeatureCollection of a layer frame (canonical types, as read from a store).

    Parameters
    ----------
    frame
        The layer (a GeoDataFrame in any CRS; EPSG:4490 as stored).  List fields hold Python lists, or their
        JSON text as stored in GeoPackage (spliced in unchanged).
    layer
        Its registry layer or name.
    labels
        ``"en"`` (field names and enum codes, default) or ``"zh"`` (Chinese labels for keys and values).
    precision
        Decimal places of the coordinates (RFC 7946 suggests 6, about 0.1 m).

    Returns
    -------
    str
        The GeoJSON text, one feature per line, UTF-8 characters unescaped.
    """
    layer = get_layer(layer) if isinstance(layer, str) else layer
    if labels not in ("en", "zh"):
        raise LandRenewError(f"未知的标签语言 “{labels}”", detail=f"labels={labels!r}", fix="用 en 或 zh")
    n = len(frame)
    columns: list[list[str]] = []
    for f in layer.fields:
        if f.name not in frame.columns:
            continue
        values, raw = _property_column(frame, f, labels)
        key = f.label if labels == "zh" else f.name
        if n:
            columns.append(_column_fragments(values, key, f.type, raw))
    props = ["{" + ",".join(row) + "}" for row in zip(*columns)] if columns else ["{}"] * n
    if layer.is_spatial and isinstance(frame, gpd.GeoDataFrame) and n:
        geoms = _rfc7946_geometries(frame.geometry, precision)
        geoms = np.where(pd.isna(geoms), "null", geoms).tolist()
    else:
        geoms = ["null"] * n
    features = [f'{{"type":"Feature","properties":{p},"geometry":{g}}}' for p, g in zip(props, geoms)]
    name = json.dumps(layer.label if labels == "zh" else layer.name, ensure_ascii=False)
    return '{"type":"FeatureCollection","name":' + name + ',"features":[\n' + ",\n".join(features) + "\n]}\n"


def to_geojson(
    frame: pd.DataFrame,
    path: str | os.PathLike,
    layer: Layer | str,
    *,
    labels: Labels = "en",
    precision: int = PRECISION,
) -> Path:
    """Write :func:`geojson_text` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(geojson_text(frame, layer, labels=labels, precision=precision))
    return path


# ----------------------------------------------------------------------------------------------- metadata
def _safe_url(url: str) -> str:
    """The store URL without a password (``postgresql://user:secret@host`` -> ``postgresql://user@host``)."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1@", str(url))


def export_metadata(
    store: Store,
    frames: dict[str, pd.DataFrame],
    *,
    town: str | None = None,
    labels: Labels = "en",
    fmt: str = "geojson",
    generated_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The sidecar content of an export (``<name>.meta.json``).

    Parameters
    ----------
    store
        The source store (its URL, password removed, and ``meta()``'s ``synthetic`` flag).
    frames
        The exported layers by name.
    town
        The town filter, if any.
    labels, fmt
        As exported.
    generated_at
        Generation time (default now, UTC).
    """
    meta = store.meta()
    synthetic = str(meta.get("synthetic", "")).lower() == "true"
    generated_at = generated_at or dt.datetime.now(dt.UTC)
    layers: dict[str, Any] = {}
    for name, frame in frames.items():
        layer = get_layer(name)
        entry: dict[str, Any] = {"label": layer.label, "count": int(len(frame))}
        if "as_of" in frame.columns:
            as_of = frame["as_of"].dropna()
            entry["as_of"] = as_of.max().date().isoformat() if len(as_of) else None
        if "rules_version" in frame.columns:
            entry["rules_version"] = sorted(str(v) for v in frame["rules_version"].dropna().unique())
        by = layer.style.get("by")
        if by in frame.columns and layer.field(by).values:
            fld = layer.field(by)
            counts = frame[by].value_counts()
            entry[f"counts_by_{by}"] = {v: int(counts.get(v, 0)) for v in fld.values}
            entry[f"counts_by_{by}_zh"] = {fld.label_of(v): int(counts.get(v, 0)) for v in fld.values}
        entry["fields"] = [{"name": f.name, "label": f.label, "type": f.type} for f in layer.fields]
        layers[name] = entry
    out: dict[str, Any] = {
        "format": fmt,
        "generated_at": generated_at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "generator": "landrenew",
        "source_store": _safe_url(store.url),
        "town": town,
        "scope": f"town:{town}" if town else "district",
        "labels": labels,
        "crs": "OGC:CRS84 (EPSG:4326, RFC 7946)" if fmt == "geojson" else "EPSG:4490",
        "coordinate_precision": PRECISION if fmt == "geojson" else None,
        "synthetic": synthetic,
        "layers": layers,
    }
    if synthetic:
        out["note"] = SYNTHETIC_NOTE
    return out


def _write_meta(path: Path, meta: dict[str, Any]) -> Path:
    path.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def _meta_path(path: Path) -> Path:
    return path.with_name(path.stem + ".meta.json")


def _layer_names(layers: Iterable[str] | None) -> list[str]:
    names = list(layers) if layers else list(DEFAULT_EXPORT_LAYERS)
    for n in names:
        get_layer(n)  # clear error for unknown names
    return names


# ----------------------------------------------------------------------------------------------- exports
def with_ledger_facts(store: Store, frame: pd.DataFrame) -> tuple[pd.DataFrame, Layer]:
    """``idle_assessment`` rows with the ledger's facts (:mod:`gis.facts`) added as properties after the
    assessment's fields; and the layer describing them."""
    from dataclasses import replace

    from .facts import fact_fields, ledger_facts

    layer = get_layer("idle_assessment")
    extra = [f for f in fact_fields() if f.name not in layer.field_names]
    parcels = store.read_layer("parcels") if store.has_layer("parcels") else None
    enterprises = store.read_layer("enterprises") if store.has_layer("enterprises") else None
    facts = ledger_facts(frame, parcels, enterprises)
    out = frame.copy()
    for f in extra:
        out[f.name] = facts[f.name].to_numpy()
    return out, replace(layer, fields=layer.fields + tuple(extra))


def with_case_fields(
    store: Store, frame: pd.DataFrame, layer: Layer, *, as_of: Any = None
) -> tuple[pd.DataFrame, Layer]:
    """``idle_assessment`` rows with each parcel's disposal case fields (``case_fields`` of
    ``layers/exports/disposal.yaml``: case, stage, next step, its deadline, days left, warning) as of ``as_of``
    (default today) added after the layer's fields; blank for a parcel neither identified nor with a case."""
    from dataclasses import replace

    from .disposal_export import export_sheets, stage_fields

    day = pd.Timestamp(as_of).date() if as_of is not None else dt.date.today()
    fields = stage_fields(store, day).drop_duplicates("parcel_id").set_index("parcel_id")
    types = {"date": "date", "int": "int", "float": "float"}
    extra = [
        Field(name=c["name"], type=types.get(c["type"], "str"), label=c["label"])
        for c in export_sheets()["case_fields"]["columns"]
        if c["name"] not in layer.field_names
    ]
    out = frame.copy()
    keys = out["parcel_id"].astype(object).to_numpy()
    for f in extra:
        col = fields[f.name].reindex(keys)
        if f.type == "date":
            col = pd.to_datetime(col).astype("datetime64[ms]")
        elif f.type == "int":
            col = col.astype("Int64")
        else:
            col = col.astype(object).where(col.notna(), None)
        out[f.name] = col.to_numpy()
    return out, replace(layer, fields=layer.fields + tuple(extra))


def export_geojson(
    store: Store,
    out: str | os.PathLike,
    *,
    layers: Sequence[str] | None = None,
    town: str | None = None,
    labels: Labels = "en",
    with_ledger: bool = False,
    with_cases: bool = False,
    as_of: Any = None,
) -> list[Path]:
    """Export layers from the store as RFC 7946 GeoJSON, each with a ``.meta.json`` sidecar.

    Parameters
    ----------
    store
        The source store.
    out
        A folder (one ``<layer>[_<town>].geojson`` per layer) or, for a single layer, a ``.geojson``/``.json``
        file path.
    layers
        Spatial layer names (default :data:`DEFAULT_EXPORT_LAYERS`).
    town
        Only this town (``town_code``); default the whole district.
    labels
        ``"en"`` or ``"zh"`` (Chinese keys and enum values).
    with_ledger
        ``idle_assessment`` features also carry the ledger's facts (受让人, 电子监管号, 用途, 面积 and 亩, dates,
        出让价款, 企业名称; see :mod:`gis.facts`).
    with_cases
        ``idle_assessment`` features also carry their disposal case fields (案件编号, 处置阶段, 下一步, 期限日,
        剩余天数, 预警; see :func:`with_case_fields`) as of ``as_of`` (default today).

    Returns
    -------
    list of Path
        The GeoJSON files written (each sidecar sits beside its file).

    Examples
    --------
    >>> import json, tempfile
    >>> from gis.store import open_store
    >>> paths = export_geojson(open_store(DEMO_STORE), tempfile.mkdtemp(), layers=["village_status"])
    >>> [p.name for p in paths]
    ['village_status.geojson']
    >>> meta = json.loads(paths[0].with_name("village_status.meta.json").read_text(encoding="utf-8"))
    >>> meta["synthetic"], meta["layers"]["village_status"]["count"]
    (True, 40)
    """
    names = _layer_names(layers)
    for n in names:
        if not get_layer(n).is_spatial:
            raise LandRenewError(
                f"图层 “{n}” 没有几何，不能导出为 GeoJSON",
                detail=f"{n} is not spatial",
                fix="改用 --format xlsx 或 gpkg",
            )
    out = Path(out)
    single_file = out.suffix.lower() in (".geojson", ".json")
    if single_file and len(names) > 1:
        raise LandRenewError(
            "导出多个图层时 --out 应为文件夹",
            detail=f"{len(names)} layers to one file {out}",
            fix="用 --layer 只选一个图层，或把 --out 设为文件夹",
        )
    written = []
    for name in names:
        frame = _read_for_json(store, name, town=town)
        path = out if single_file else out / (f"{name}_{town}.geojson" if town else f"{name}.geojson")
        layer: Layer | str = name
        if with_ledger and name == "idle_assessment":
            frame, layer = with_ledger_facts(store, frame)
        if with_cases and name == "idle_assessment":
            frame, layer = with_case_fields(
                store, frame, get_layer(layer) if isinstance(layer, str) else layer, as_of=as_of
            )
        to_geojson(frame, path, layer, labels=labels)
        _write_meta(_meta_path(path), export_metadata(store, {name: frame}, town=town, labels=labels))
        written.append(path)
    return written


def _town_rows(store: Store, name: str, town: str) -> pd.DataFrame:
    """Rows of a table without ``town_code`` that belong to a town (via its parcels or villages)."""
    layer = get_layer(name)
    if "parcel_id" in layer.field_names and store.has_layer("idle_assessment"):
        ids = store.read_layer("idle_assessment", where={"town_code": town})["parcel_id"].tolist()
        return store.read_layer(name, where={"parcel_id": ids})
    if "village_id" in layer.field_names and store.has_layer("village_status"):
        ids = store.read_layer("village_status", where={"town_code": town})["village_id"].tolist()
        return store.read_layer(name, where={"village_id": ids})
    return store.read_layer(name)


def _gpkg_frame(frame: pd.DataFrame, layer: Layer) -> pd.DataFrame:
    """Lists as JSON text (as in the store) and dates as GeoPackage DATE columns (not DATETIME)."""
    out = encode_lists(frame, layer)
    for name in layer.fields_of_type("date"):
        if name in out.columns:
            out[name] = out[name].astype("date32[pyarrow]")
    return out


def export_gpkg(
    store: Store,
    out: str | os.PathLike,
    *,
    layers: Sequence[str] | None = None,
    town: str | None = None,
    with_towns: bool = True,
) -> Path:
    """Export layers to a GeoPackage that opens in QGIS styled like the app.

    The layers are written with pyogrio (EPSG:4490, list fields as JSON text as in the store), and QGIS's
    ``layer_styles`` table gets one default style per spatial layer (QML + SLD from the registry colours,
    Chinese field aliases).  A ``.meta.json`` sidecar is written beside the file.

    Parameters
    ----------
    store
        The source store.
    out
        The ``.gpkg`` file (replaced if it exists).
    layers
        Layer names (default :data:`DEFAULT_EXPORT_LAYERS`); non-spatial tables are written as attribute tables.
    town
        Only this town.
    with_towns
        Also write the ``towns`` outlines (for context) when the store has them.
    """
    names = _layer_names(layers)
    if with_towns and "towns" not in names and store.has_layer("towns"):
        names.append("towns")
    out = Path(out)
    if out.suffix.lower() != ".gpkg":
        raise LandRenewError(
            f"GeoPackage 输出文件应以 .gpkg 结尾：{out}",
            detail=f"bad suffix {out.suffix!r}",
            fix="例如 --out 柯桥区闲置土地.gpkg",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    frames: dict[str, pd.DataFrame] = {}
    created = False
    for name in names:
        layer = get_layer(name)
        if name == "towns" and town is not None:
            frame = store.read_layer("towns", where={"town_code": town})
        elif town is not None and "town_code" not in layer.field_names:
            frame = _town_rows(store, name, town)
        else:
            frame = read_export_layer(store, name, town=town)
        frames[name] = frame
        kwargs: dict[str, Any] = {"layer": name, "driver": "GPKG", "use_arrow": True}
        if not created:  # a GeoPackage version that GDAL 3.6 / QGIS 3.28 LTR read without a warning
            kwargs["dataset_options"] = {"VERSION": GPKG_VERSION}
            created = True
        if layer.is_spatial:
            kwargs.update(promote_to_multi=True, geometry_type="MultiPolygon")
        pyogrio.write_dataframe(_gpkg_frame(frame, layer), out, **kwargs)
    spatial = [n for n in names if get_layer(n).is_spatial]
    if spatial:
        pyogrio.write_dataframe(
            layer_styles_frame(spatial), out, layer="layer_styles", driver="GPKG", layer_options={"FID": "id"}
        )
    _write_meta(_meta_path(out), export_metadata(store, frames, town=town, fmt="gpkg"))
    return out
