"""Validated ingest: source files -> contract layers, with every input row stored or rejected with a reason.

>>> from pathlib import Path
>>> sources = Path(DEMO_STORE).parent / "demo_sources"
>>> frame, report = read_layer_file("parcels", sources / "供地台账.xlsx", geometry=sources / "宗地图形.shp")
>>> report.balanced, report.stored == len(frame), frame.crs.to_epsg()
(True, True, 4490)

Steps for one layer: read the file (any supported format), map Chinese headers and aliases to field names,
parse dates/ratios/booleans/enums/numbers, check required fields, ranges and unique ids, fix the CRS
(stored in EPSG:4490), repair geometries where possible, refuse what cannot be stored.  A problem with the
whole file (no CRS, a required column missing, points given as parcels) raises :class:`InputFileError`;
a problem with a row sends that row to the rejects report.  The store is written in one transaction.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from .crs import DISTRICT_BOUNDS, STORE_CRS, check_plausible_crs, gcj02_to_wgs84
from .errors import InputFileError, Problem
from .frames import conform
from .geometry import repair_polygons
from .parse import (area_factor, is_percent_header, parse_bool, parse_dates, parse_enum,
                    parse_number, parse_ratio, parse_str)
from .readers import RawSource, read_source
from .schema import Field, Layer, get_layer

__all__ = ["IngestReport", "read_layer_file", "ingest_files", "write_rejects"]

_FIX_BY_TYPE = {
    "date": "写成 2021-06-01、2021年6月1日、2021/6/1 或 2021.06.01 之一",
    "ratio": "写成 0 到 1 之间的小数（如 0.3）或百分数（如 30%）",
    "bool": "写成 是/否",
    "int": "写成整数",
    "float": "写成数字",
}


@dataclass
class IngestReport:
    """What happened to the rows of one layer's files."""

    layer: str
    files: list[str]
    read: int = 0
    stored: int = 0
    repaired: int = 0
    rejected: int = 0
    problems: list[Problem] = field(default_factory=list)
    unmapped_columns: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rejects_path: Path | None = None

    @property
    def warnings(self) -> int:
        return len({(p.file, p.row) for p in self.problems if p.severity == "warning"})

    @property
    def balanced(self) -> bool:
        """Nothing lost: every row read is stored or rejected."""
        return self.read == self.stored + self.rejected

    def summary(self) -> str:
        label = get_layer(self.layer).label
        text = (f"{label}（{self.layer}）：读取 {self.read} 行，入库 {self.stored} 行，"
                f"修复 {self.repaired} 行，拒收 {self.rejected} 行"
                + (f"（另有 {self.warnings} 行入库但需补充信息）" if self.warnings else ""))
        lines = [text]
        for file, cols in self.unmapped_columns.items():
            if cols:
                lines.append(f"  {file} 中未能对应的列（未导入）：{', '.join(cols)}")
        lines.extend(f"  {n}" for n in self.notes)
        if self.rejects_path:
            lines.append(f"  拒收清单：{self.rejects_path}")
        return "\n".join(lines)


@dataclass
class _Rows:
    """Working state for one file's rows."""

    source: RawSource
    file: str
    row_numbers: np.ndarray
    problems: list[Problem] = field(default_factory=list)

    def add(self, positions: np.ndarray, ids: pd.Series, fld: str | None, values: pd.Series | list,
            reason: str, fix: str, severity: str = "reject") -> None:
        for pos in np.flatnonzero(positions) if positions.dtype == bool else positions:
            rid = ids.iloc[pos] if ids is not None else None
            self.problems.append(Problem(
                file=self.file, row=int(self.row_numbers[pos]),
                record_id=None if rid is None or pd.isna(rid) else str(rid), field=fld,
                value=None if values is None else _display(values[pos] if isinstance(values, list) else values.iloc[pos]),
                reason=reason, fix=fix, severity=severity, extra={"pos": int(pos)}))


def _display(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value


def _map_headers(layer: Layer, raw: pd.DataFrame, file: str) -> tuple[dict[str, str], list[str]]:
    mapping: dict[str, str] = {}
    unmapped: list[str] = []
    for col in raw.columns:
        if col in ("geometry", "__wkt_bad__"):
            continue
        name = layer.resolve_header(col)
        if name is None:
            name = _resolve_truncated(layer, str(col))
        if name is None:
            unmapped.append(str(col))
            continue
        if name in mapping.values():
            other = next(c for c, n in mapping.items() if n == name)
            raise InputFileError(
                f"文件 {file} 中列“{other}”和“{col}”都对应字段 {name}（{layer.field(name).label}）",
                detail=f"{file}: columns {other!r} and {col!r} both map to {name}",
                fix="删除或改名其中一列")
        mapping[col] = name
    return mapping, unmapped


def _resolve_truncated(layer: Layer, header: str) -> str | None:
    """A DBF truncates field names to 10 bytes (5 Chinese characters in GBK): match a unique prefix."""
    from .schema import normalize_header

    norm = normalize_header(header)
    if len(norm) < 3:
        return None
    names = {name for key, name in layer.header_index.items() if key.startswith(norm)}
    return names.pop() if len(names) == 1 else None


def _missing_required(layer: Layer, mapped: set[str], *, has_geometry_key: bool) -> list[Field]:
    return [f for f in layer.fields
            if f.required and f.name not in mapped and f.default is None
            and not (has_geometry_key and f.name == layer.key)]


def _parse_column(f: Field, series: pd.Series, header: str) -> tuple[pd.Series, pd.Series, str, str]:
    """Parsed values, bad mask, reason and fix for one mapped column."""
    if f.type == "date":
        values, bad = parse_dates(series)
        return values, bad, "无法识别的日期", _FIX_BY_TYPE["date"]
    if f.type == "ratio":
        values, bad = parse_ratio(series, percent_column=is_percent_header(header))
        return values, bad, "比例无法识别或不在 0–1（0%–100%）之间", _FIX_BY_TYPE["ratio"]
    if f.type == "bool":
        values, bad = parse_bool(series)
        return values, bad, "无法识别的是/否值", _FIX_BY_TYPE["bool"]
    if f.type in ("int", "float"):
        values, bad = parse_number(series)
        if f.unit == "m2":
            values = values * area_factor(header)
        if f.type == "int":
            frac = values.notna() & (values != np.floor(values.fillna(0)))
            bad = bad | frac
        return values, bad, "不是有效的数字", _FIX_BY_TYPE[f.type]
    if f.type == "enum":
        values, bad = parse_enum(series, f.values, f.value_labels)
        allowed = "、".join(f.value_labels.get(v, v) for v in f.values)
        return values, bad, "不是允许的取值", f"改为以下之一：{allowed}"
    values, bad = parse_str(series)
    return values, bad, "无法识别", "检查该值"


def _geometry_to_store(source: RawSource, geoms: gpd.GeoSeries, *, crs: str | None,
                       from_gcj02: bool) -> gpd.GeoSeries:
    file = source.path.name
    declared = pyproj.CRS.from_user_input(crs) if crs else (pyproj.CRS.from_user_input(source.crs)
                                                            if source.crs is not None else None)
    valid = geoms[~geoms.is_empty & geoms.notna()] if len(geoms) else geoms
    if len(valid):
        b = valid.bounds
        # the file-level check looks at the typical row (median bounds): a few stray rows are rejected
        # one by one below, a wrong CRS shows in every row
        med = np.nanmedian(b[["minx", "miny", "maxx", "maxy"]].to_numpy(), axis=0)
        bounds = tuple(float(v) for v in med)
    else:
        bounds = (np.nan,) * 4
    check_plausible_crs(bounds, declared, file=file)
    out = gpd.GeoSeries(geoms.to_numpy(), index=geoms.index, crs=declared)
    if not declared.equals(pyproj.CRS.from_user_input(STORE_CRS)):
        out = out.to_crs(STORE_CRS)
    if from_gcj02:
        out = gpd.GeoSeries(shapely.transform(out.to_numpy(), gcj02_to_wgs84), index=out.index, crs=STORE_CRS)
    return out


def _join_geometry(layer: Layer, table: RawSource, ids: pd.Series, geometry_path: str | Path,
                   rows: _Rows, *, encoding: str | None) -> tuple[gpd.GeoSeries, RawSource, pd.DataFrame]:
    """Attach geometry from another file by the layer key; returns (geometry per table row, geometry source,
    geometry rows that matched no table row)."""
    geo = read_source(geometry_path, encoding=encoding)
    if not geo.has_geometry:
        raise InputFileError(f"图形文件 {Path(geometry_path).name} 没有图形", fix="提供含宗地图形的 .shp/.gpkg/.geojson")
    key_col = next((c for c in geo.frame.columns if layer.resolve_header(c) == layer.key), None)
    if key_col is None:
        raise InputFileError(
            f"图形文件 {geo.path.name} 中找不到 {layer.field(layer.key).label} 列，无法与台账连接",
            fix=f"在图形属性表中加入 {layer.field(layer.key).label} 列（可用列名："
                f"{'、'.join([layer.field(layer.key).label, *layer.field(layer.key).aliases])}）")
    gkeys, _ = parse_str(geo.frame[key_col])
    gframe = gpd.GeoDataFrame({"key": gkeys.to_numpy()}, geometry=geo.frame.geometry.to_numpy(), crs=geo.crs)
    dup = gframe["key"].duplicated(keep=False) & gframe["key"].notna()
    lookup = gframe[~dup & gframe["key"].notna()].set_index("key").geometry
    matched = ids.map(lambda k: lookup.get(k) if pd.notna(k) else None)
    geoms = gpd.GeoSeries(matched.to_numpy(), index=ids.index, crs=geo.crs)
    orphan = gframe[gframe["key"].isna() | dup | ~gframe["key"].isin(set(ids.dropna()))]
    return geoms, geo, orphan


def read_layer_file(
    layer_name: str,
    path: str | Path,
    *,
    geometry: str | Path | None = None,
    crs: str | None = None,
    from_gcj02: bool = False,
    sheet: str | int | None = None,
    encoding: str | None = None,
    existing_keys: set | None = None,
    known_refs: Mapping[str, set] | None = None,
) -> tuple[pd.DataFrame, IngestReport]:
    """Read and validate one source file as a contract layer.

    Parameters
    ----------
    layer_name
        ``towns``, ``parcels``, ``projects``, ``enterprises``, ``villages`` or ``village_progress``.
    path
        Any supported file; an Excel ledger of a spatial layer takes its geometry from ``geometry``.
    geometry
        A vector file with the same key column (宗地编号 for parcels) holding the polygons.
    crs
        The CRS of a file that has none (CSV/WKT, a Shapefile without ``.prj``) or overrides a wrong one.
    from_gcj02
        The coordinates were digitised on Amap/Gaode (GCJ-02): convert them to CGCS2000/WGS84.
    existing_keys
        Keys already in the store that this file must not repeat (append mode).
    known_refs
        For references: ``{"village_id": {...}}`` — rows pointing at unknown ids are rejected.

    Returns
    -------
    (frame, report)
        The rows to store (canonical types, EPSG:4490) and the report with every rejected row.
    """
    layer = get_layer(layer_name)
    source = read_source(path, sheet=sheet, encoding=encoding)
    file = source.path.name
    raw = source.frame.reset_index(drop=True)
    n = len(raw)
    is_table = source.path.suffix.lower() in (".csv", ".xlsx", ".xlsm")
    row_numbers = np.arange(n) + (2 if is_table else 1)
    rows = _Rows(source, file, row_numbers)
    report = IngestReport(layer=layer.name, files=[str(source.path)], read=n, notes=list(source.notes))

    mapping, unmapped = _map_headers(layer, raw, file)
    report.unmapped_columns[file] = unmapped
    mapped = set(mapping.values())
    missing = _missing_required(layer, mapped, has_geometry_key=False)
    if missing:
        names = "；".join(f"{f.label}（{f.name}，可用列名：{'、'.join([f.label, *f.aliases])}）" for f in missing)
        raise InputFileError(
            f"文件 {file} 缺少必填列：{names}",
            detail=f"{file}: missing required columns {[f.name for f in missing]}; unmapped: {unmapped}",
            fix="在表头加入这些列（中文名或别名均可）")

    parsed: dict[str, pd.Series] = {}
    key_fields = layer.key_fields
    key_col = next((c for c, nme in mapping.items() if nme == key_fields[0]), None)
    ids = parse_str(raw[key_col])[0] if key_col is not None else pd.Series([None] * n, dtype=object)
    for col, name in mapping.items():
        f = layer.field(name)
        values, bad, reason, fix = _parse_column(f, raw[col], str(col))
        if bad.any():
            rows.add(bad.to_numpy(), ids, f.label, raw[col], reason, fix)
        parsed[name] = values
    for f in layer.fields:
        if f.name not in parsed:
            parsed[f.name] = pd.Series([pd.NA] * n, dtype=object)
        if f.default is not None:
            default = pd.Timestamp(f.default) if f.type == "date" else f.default
            blank = parsed[f.name].isna()
            parsed[f.name] = parsed[f.name].astype(object).where(~blank, default)
            if f.type == "date":
                parsed[f.name] = pd.to_datetime(parsed[f.name]).astype("datetime64[ms]")
    already_bad = np.zeros(n, bool)
    for p in rows.problems:
        already_bad[p.extra["pos"]] = True
    for f in layer.fields:
        values = parsed[f.name]
        if f.required:
            blank = (values.isna().to_numpy() & ~already_bad) if f.name in mapped else np.zeros(n, bool)
            if blank.any() and f.blank_ok:
                rows.add(blank, ids, f.label, None, f"{f.label}为空，已入库，研判时列为待研判",
                         f"补填{f.label}后重新导入", severity="warning")
            elif blank.any():
                rows.add(blank, ids, f.label, None, "必填字段为空", f"填写{f.label}")
        if f.min is not None and f.type in ("int", "float"):
            v = pd.to_numeric(values, errors="coerce")
            low = (v <= f.min) if f.exclusive_min else (v < f.min)
            low = low.fillna(False).to_numpy()
            if low.any():
                rel = "大于" if f.exclusive_min else "不小于"
                rows.add(low, ids, f.label, values, f"数值应{rel} {f.min:g}", f"核对{f.label}（不能为负数或零）"
                         if f.exclusive_min else f"核对{f.label}（不能为负数）")
    # unique keys within the file
    if key_fields and all(k in parsed for k in key_fields):
        keys = pd.DataFrame({k: parsed[k] for k in key_fields})
        present = keys.notna().all(axis=1)
        dup = keys.duplicated(keep=False) & present
        if dup.any():
            label = "、".join(layer.field(k).label for k in key_fields)
            rows.add(dup.to_numpy(), ids, layer.field(key_fields[0]).label, ids,
                     f"{label}在文件中重复出现（共 {int(dup.sum())} 行），无法判断哪一行有效",
                     f"保证每个{label}只出现一次，删除或更正重复行后重新导入")
        if existing_keys:
            tuples = list(keys.itertuples(index=False, name=None)) if len(key_fields) > 1 else list(keys.iloc[:, 0])
            exists = np.array([present.iloc[i] and _norm_key(t) in existing_keys for i, t in enumerate(tuples)], bool)
            if exists.any():
                label = "、".join(layer.field(k).label for k in key_fields)
                rows.add(exists, ids, layer.field(key_fields[0]).label, ids,
                         f"库中已有相同{label}的记录，历史记录不可覆盖",
                         "如为新一期填报请使用新的日期；如需更正，请联系管理员")
    for ref, known in (known_refs or {}).items():
        if ref in parsed and known is not None:
            v = parsed[ref]
            unknown = (v.notna() & ~v.isin(known)).to_numpy()
            if unknown.any():
                label = layer.field(ref).label
                rows.add(unknown, ids, label, v, f"{label}在库中不存在", f"先导入对应图层，或更正{label}")

    geom = None
    unmatched = np.zeros(n, bool)
    if layer.is_spatial:
        if source.has_geometry and geometry is None:
            geoms = gpd.GeoSeries(source.frame.geometry.to_numpy(), crs=source.crs)
            if "__wkt_bad__" in raw.columns:
                bad_wkt = raw["__wkt_bad__"].to_numpy(bool)
                rows.add(bad_wkt, ids, "WKT", None, "WKT 图形文本无法解析", "检查 WKT 文本（如 POLYGON((x y, ...))）")
        elif geometry is not None:
            geoms, geo_source, orphans = _join_geometry(layer, source, ids, geometry, rows, encoding=encoding)
            report.files.append(str(geo_source.path))
            report.notes.extend(geo_source.notes)
            source = RawSource(source.path, source.frame, crs=geo_source.crs, has_geometry=True)
            report.read += len(orphans)
            for key in orphans["key"]:
                report.problems.append(Problem(
                    file=geo_source.path.name, row=None, record_id=None if pd.isna(key) else str(key),
                    field=layer.field(layer.key).label, value=None if pd.isna(key) else key,
                    reason="图形在台账中没有对应记录（或编号为空/重复）",
                    fix=f"在台账 {file} 中补录该{layer.field(layer.key).label}，或删除多余图形"))
            report.rejected += len(orphans)
            nomatch = geoms.isna().to_numpy() & ids.notna().to_numpy()
            unmatched = nomatch
            rows.add(nomatch, ids, layer.field(layer.key).label, ids,
                     f"台账记录在图形文件 {Path(geometry).name} 中找不到对应图形",
                     "在图形文件中补绘该宗地，或核对编号是否一致")
        else:
            raise InputFileError(
                f"{layer.label}图层需要图形，文件 {file} 中没有图形",
                detail=f"{file}: layer {layer.name} needs geometry",
                fix="提供含图形的文件（.gpkg/.shp/.geojson/含 WKT 列的 CSV），或用 --geometry 指定图形文件按编号连接")
        present = ~shapely.is_missing(geoms.to_numpy())
        kinds = geoms[present][~geoms[present].is_empty].geom_type.unique() if present.any() else []
        if len(kinds) and not any(k in ("Polygon", "MultiPolygon", "GeometryCollection") for k in kinds):
            raise InputFileError(
                f"文件 {file} 是{'/'.join(kinds)}图层，{layer.label}需要面图形",
                detail=f"{file}: geometry types {list(kinds)} but {layer.name} needs polygons",
                fix=f"提供{layer.label}的面图层（点位或线不能作为{layer.label}范围）")
        fixed, status, note = repair_polygons(geoms.to_numpy())
        for st, reason, fix in (("missing", "缺少图形", "补绘图形"), ("empty", "图形为空", "补绘图形"),
                                ("non_areal", "不是面图形", "改为面（多边形）图形")):
            mask = (status == st) & ~unmatched
            if mask.any():
                rows.add(mask, ids, "图形", list(note), reason, fix)
        repaired = status == "repaired"
        geom = gpd.GeoSeries(fixed, crs=geoms.crs)
        geom = _geometry_to_store(source, geom.where(~pd.Series(np.isin(status, ["missing", "empty", "non_areal"]))),
                                  crs=crs, from_gcj02=from_gcj02)
        ok = geom.notna() & ~geom.is_empty
        b = geom.bounds
        lo_x, lo_y, hi_x, hi_y = DISTRICT_BOUNDS
        outside = ok & ~((b.minx >= lo_x) & (b.maxx <= hi_x) & (b.miny >= lo_y) & (b.maxy <= hi_y))
        if outside.any():
            rows.add(outside.to_numpy(), ids, "图形", None, "坐标超出柯桥区范围", "核对该图形的坐标和坐标系")
        for i in np.flatnonzero(repaired):
            rows.problems.append(Problem(file=file, row=int(row_numbers[i]),
                                         record_id=None if pd.isna(ids.iloc[i]) else str(ids.iloc[i]),
                                         field="图形", value=None, reason=str(note[i]), fix="无需处理，已自动修复",
                                         severity="repair", extra={"pos": int(i)}))

    reject_pos = sorted({p.extra["pos"] for p in rows.problems if p.severity == "reject"})
    repair_pos = {p.extra["pos"] for p in rows.problems if p.severity == "repair"}
    keep = np.ones(n, bool)
    keep[reject_pos] = False
    frame = pd.DataFrame({f.name: parsed[f.name] for f in layer.fields})
    if layer.is_spatial:
        frame = gpd.GeoDataFrame(frame, geometry=geom.to_numpy(), crs=STORE_CRS)
    frame = conform(frame.iloc[keep], layer).reset_index(drop=True)
    report.problems = rows.problems + report.problems
    report.rejected += len(reject_pos)
    report.repaired = len(repair_pos - set(reject_pos))
    report.stored = len(frame)
    return frame, report


def _norm_key(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_norm_key(v) for v in value)
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value


def write_rejects(reports: list[IngestReport], directory: Path, *, stamp: str | None = None) -> Path | None:
    """One CSV (UTF-8 with BOM, opens in Excel) of every rejected and repaired row, beside the store."""
    rows = [p.as_dict() | {"图层": r.layer} for r in reports for p in r.problems]
    if not rows:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    stamp = stamp or dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    path = directory / f"rejects-{stamp}.csv"
    cols = ["图层", "文件", "行号", "编号", "字段", "值", "问题", "处理办法", "级别"]
    pd.DataFrame(rows)[cols].to_csv(path, index=False, encoding="utf-8-sig")
    for r in reports:
        if r.problems:
            r.rejects_path = path
    return path


_ORDER = ("towns", "enterprises", "parcels", "projects", "villages", "village_progress")


def ingest_files(
    store: Any,
    sources: Mapping[str, str | Path | Mapping[str, Any]],
    *,
    crs: str | None = None,
    from_gcj02: bool = False,
    append: tuple[str, ...] = ("village_progress",),
    meta: Mapping[str, str] | None = None,
    **batch: Any,
) -> list[IngestReport]:
    """Ingest several layers into a store in one transaction.

    ``sources`` maps a layer name to a path, or to ``{"path": ..., "geometry": ..., "sheet": ..., "crs": ...}``.
    Layers named in ``append`` add rows (the history of progress reports is never overwritten); the others
    replace their layer.  A failure anywhere leaves the store exactly as it was.  ``batch`` options go to
    :func:`gis.batches.write_batch` (``mode``, ``scope``, ``effective``, ``confirm``, ``user``, ``reason``).
    """
    reports: list[IngestReport] = []
    frames: dict[str, pd.DataFrame] = {}
    for name in sorted(sources, key=lambda n: _ORDER.index(n) if n in _ORDER else 99):
        spec = sources[name]
        opts = dict(spec) if isinstance(spec, Mapping) else {"path": spec}
        path = opts.pop("path")
        existing: set | None = None
        refs: dict[str, set] = {}
        layer = get_layer(name)
        if name in append:
            old = store.read_layer(name)
            if len(old):
                existing = {_norm_key(t if len(layer.key_fields) > 1 else t[0])
                            for t in old[list(layer.key_fields)].itertuples(index=False, name=None)}
        if name == "village_progress":
            villages = frames.get("villages")
            if villages is None:
                villages = store.read_layer("villages")
            refs["village_id"] = set(villages["village_id"].dropna())
        frame, report = read_layer_file(name, path, crs=opts.pop("crs", crs), from_gcj02=from_gcj02,
                                        existing_keys=existing, known_refs=refs, **opts)
        frames[name] = frame
        reports.append(report)
    # the batch layer (gis.batches, HISTORY.md §1) decides how the rows go in: mode, scope, effective, guard
    from .batches import write_batch

    write_batch(store, frames, reports, sources=sources, append=tuple(a for a in append if a in frames),
                meta=meta, **batch)
    return reports
