"""Validated ingest: source files -> contract layers, with every input row stored or rejected with a reason.

>>> from pathlib import Path
>>> sources = Path(DEMO_STORE).parent / "demo_sources"
>>> frame, report = read_layer_file("parcels", sources / "供地台账.xlsx", geometry=sources / "宗地图形.shp")
>>> report.balanced, report.stored == len(frame), frame.crs.to_epsg()
(True, True, 4490)

Steps for one layer: read the file (any supported format; in a sheet the table is found first, see
:mod:`gis.sheets`), map Chinese headers and aliases to field names (units in a header or a 单位 row converted),
parse dates/ratios/booleans/enums/numbers, check required fields, ranges, the registry's plausible ranges and
unique ids (a duplicate is named with every row it is on, on both sides of a ledger + geometry join), check
references (an unknown 镇街代码 is replaced by the town the geometry lies in, an unknown 企业代码 reported), fix
the CRS (stored in EPSG:4490), repair geometries where possible, refuse what cannot be stored.  Rows that are
not data (合计, blank, footnotes) are *skipped* and listed: read = stored + rejected + skipped.  A problem with the
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

from .crs import STORE_CRS, check_plausible_crs, gcj02_to_wgs84
from .district import district, extent_name
from .errors import InputFileError, Problem
from .frames import conform
from .geometry import repair_polygons
from .parse import (
    area_factor,
    is_percent_header,
    money_factor,
    parse_bool,
    parse_dates,
    parse_enum,
    parse_number,
    parse_ratio,
    parse_str,
    unit_of_header,
)
from .readers import RawSource, read_source
from .schema import Field, Layer, get_layer, normalize_header, number_text

__all__ = ["IngestReport", "read_layer_file", "ingest_files", "write_rejects", "rejects_frame", "rejects_csv"]

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
    skipped: int = 0
    problems: list[Problem] = field(default_factory=list)
    unmapped_columns: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rejects_path: Path | None = None
    #: per file: (source column, field, Chinese label, conversion) as mapped
    mapping: dict[str, list[tuple[str, str, str, str]]] = field(default_factory=dict)

    @property
    def warnings(self) -> int:
        return len({(p.file, p.row) for p in self.problems if p.severity == "warning"})

    @property
    def balanced(self) -> bool:
        """Nothing lost: every row read is stored, rejected or skipped (合计/blank/footnote rows)."""
        return self.read == self.stored + self.rejected + self.skipped

    def mapping_text(self) -> str:
        """The header mapping, one line per column: ``源列 -> 字段（中文）[换算]``."""
        lines = []
        for file, cols in self.mapping.items():
            lines.append(f"  {file} 表头对应：")
            for col, name, label, conv in cols:
                lines.append(f"    {col} -> {name}（{label}）" + (f"  {conv}" if conv else ""))
        return "\n".join(lines)

    def summary(self) -> str:
        label = get_layer(self.layer).label
        text = (
            f"{label}（{self.layer}）：读取 {self.read} 行，入库 {self.stored} 行，"
            f"修复 {self.repaired} 行，拒收 {self.rejected} 行"
            + (f"，跳过 {self.skipped} 行（合计/空行/说明行）" if self.skipped else "")
            + (f"（另有 {self.warnings} 行入库但需补充信息）" if self.warnings else "")
        )
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
    row_files: np.ndarray | None = None
    problems: list[Problem] = field(default_factory=list)

    def where(self, pos: int) -> tuple[str, int]:
        file = self.file if self.row_files is None else str(self.row_files[pos])
        return file, int(self.row_numbers[pos])

    def add(
        self,
        positions: np.ndarray,
        ids: pd.Series,
        fld: str | None,
        values: pd.Series | list,
        reason: str | Any,
        fix: str,
        severity: str = "reject",
    ) -> None:
        """One problem per position; ``reason`` may be a function of the position."""
        for pos in np.flatnonzero(positions) if positions.dtype == bool else positions:
            rid = ids.iloc[pos] if ids is not None else None
            file, row = self.where(pos)
            self.problems.append(
                Problem(
                    file=file,
                    row=row,
                    record_id=None if rid is None or pd.isna(rid) else str(rid),
                    field=fld,
                    value=None
                    if values is None
                    else _display(values[pos] if isinstance(values, list) else values.iloc[pos]),
                    reason=reason(pos) if callable(reason) else reason,
                    fix=fix,
                    severity=severity,
                    extra={"pos": int(pos)},
                )
            )


def _rows_text(rows: _Rows, positions: Any) -> str:
    """``第 5、9 行`` of a sheet (``柯桥街道 第 5 行、华舍街道 第 9 行`` across sheets), ``要素 2、3`` of a layer."""
    places = [rows.where(int(p)) for p in positions]
    table = rows.source.is_table
    one = (lambda r: f"第 {r} 行") if table else (lambda r: f"要素 {r}")
    if len({f for f, _ in places}) <= 1:
        nums = "、".join(str(r) for _, r in places)
        return f"第 {nums} 行" if table else f"要素 {nums}"
    return "、".join(f"{f} {one(r)}" for f, r in places)


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
                fix="删除或改名其中一列",
            )
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
    return [
        f
        for f in layer.fields
        if f.required and f.name not in mapped and f.default is None and not (has_geometry_key and f.name == layer.key)
    ]


def _conversion(f: Field, header: str, units: Mapping[str, str]) -> tuple[float, str]:
    """(factor, text) of the unit conversion of a numeric column: header unit, else the sheet's 单位 row."""
    if f.unit == "m2":
        factor = area_factor(header, units.get("area"))
        unit = unit_of_header(header) or units.get("area") or ""
        return factor, (f"× {factor:g}（{unit} -> 平方米）" if factor != 1 else "")
    if f.unit == "wan_yuan":
        factor = money_factor(header, units.get("money"))
        unit = unit_of_header(header) or units.get("money") or ""
        return factor, (f"× {factor:g}（{unit} -> 万元）" if factor != 1 else "")
    return 1.0, ""


def _parse_column(
    f: Field, series: pd.Series, header: str, units: Mapping[str, str] | None = None
) -> tuple[pd.Series, pd.Series, str, str]:
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
        factor, _ = _conversion(f, header, units or {})
        if factor != 1:
            values = values * factor
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


def _geometry_to_store(
    source: RawSource, geoms: gpd.GeoSeries, *, crs: str | None, from_gcj02: bool, extent: tuple | None
) -> gpd.GeoSeries:
    file = source.path.name
    declared = (
        pyproj.CRS.from_user_input(crs)
        if crs
        else (pyproj.CRS.from_user_input(source.crs) if source.crs is not None else None)
    )
    valid = geoms[~geoms.is_empty & geoms.notna()] if len(geoms) else geoms
    if len(valid):
        b = valid.bounds
        # the file-level check looks at the typical row (median bounds): a few stray rows are rejected
        # one by one below, a wrong CRS shows in every row
        med = np.nanmedian(b[["minx", "miny", "maxx", "maxy"]].to_numpy(), axis=0)
        bounds = tuple(float(v) for v in med)
    else:
        bounds = (np.nan,) * 4
    check_plausible_crs(bounds, declared, file=file, extent=extent)
    out = gpd.GeoSeries(geoms.to_numpy(), index=geoms.index, crs=declared)
    if not declared.equals(pyproj.CRS.from_user_input(STORE_CRS)):
        out = out.to_crs(STORE_CRS)
    if from_gcj02:
        out = gpd.GeoSeries(shapely.transform(out.to_numpy(), gcj02_to_wgs84), index=out.index, crs=STORE_CRS)
    return out


def _prefer(layer: Layer):
    """Which layer of a multi-layer dataset stands for ``layer`` (``宗地``, ``parcels`` in its name)."""
    keys = {normalize_header(layer.name), normalize_header(layer.label)}
    return lambda name: any(k in normalize_header(name) for k in keys)


def _resolver(layer: Layer):
    return lambda header: layer.resolve_header(header) or _resolve_truncated(layer, str(header))


def _join_geometry(
    layer: Layer,
    table: RawSource,
    ids: pd.Series,
    geometry_path: str | Path,
    rows: _Rows,
    *,
    encoding: str | None,
    geometry_layer: str | None = None,
) -> tuple[gpd.GeoSeries, RawSource, list[Problem]]:
    """Attach geometry from another file by the layer key; returns (geometry per table row, geometry source,
    problems of geometry features that joined no single table row)."""
    geo = read_source(geometry_path, encoding=encoding, layer=geometry_layer, prefer=_prefer(layer))
    key_label = layer.field(layer.key).label
    if not geo.has_geometry:
        raise InputFileError(
            f"图形文件 {Path(geometry_path).name} 没有图形", fix="提供含宗地图形的 .shp/.gpkg/.geojson/.zip"
        )
    key_col = next((c for c in geo.frame.columns if _resolver(layer)(c) == layer.key), None)
    if key_col is None:
        raise InputFileError(
            f"图形文件 {geo.path.name} 中找不到 {key_label} 列，无法与台账连接",
            fix=f"在图形属性表中加入 {key_label} 列（可用列名："
            f"{'、'.join([key_label, *layer.field(layer.key).aliases])}）",
        )
    gkeys, _ = parse_str(geo.frame[key_col])
    gkeys = gkeys.reset_index(drop=True)
    gnum, gfiles = geo.numbers(), geo.files()
    present = gkeys.notna()
    dup = gkeys.duplicated(keep=False) & present
    feats: dict[str, list[int]] = {}
    for pos in np.flatnonzero(dup.to_numpy()):
        feats.setdefault(gkeys.iloc[pos], []).append(int(pos))

    def feat_text(positions: list[int]) -> str:
        if len({gfiles[p] for p in positions}) <= 1:
            return f"要素 {'、'.join(str(int(gnum[p])) for p in positions)}"
        return "、".join(f"{gfiles[p]} 要素 {int(gnum[p])}" for p in positions)

    single = present & ~dup
    lookup = pd.Series(geo.frame.geometry.to_numpy()[single.to_numpy()], index=gkeys[single].to_numpy())
    matched = ids.map(lambda k: lookup.get(k) if pd.notna(k) else None)
    geoms = gpd.GeoSeries(matched.to_numpy(), index=ids.index, crs=geo.crs)
    gname = geo.path.name
    # table rows whose key has several geometries: named as a duplicate, not as "no geometry"
    ledger_dup = ids.isin(set(feats)).to_numpy() & ids.notna().to_numpy()
    rows.add(
        ledger_dup,
        ids,
        key_label,
        ids,
        lambda pos: (
            f"图形文件 {gname} 中{key_label} {ids.iloc[pos]} 有 {len(feats[ids.iloc[pos]])} 个图形"
            f"（{feat_text(feats[ids.iloc[pos]])}），无法判断用哪个"
        ),
        "在图形文件中删除多余的图形或更正其编号（同一宗地的多块图形请合并为一个多部分图形）",
    )
    nomatch = geoms.isna().to_numpy() & ids.notna().to_numpy() & ~ledger_dup
    rows.add(
        nomatch,
        ids,
        key_label,
        ids,
        f"台账记录在图形文件 {gname} 中找不到对应图形",
        "在图形文件中补绘该宗地，或核对编号是否一致",
    )
    known = set(ids.dropna())
    problems: list[Problem] = []
    for pos in range(len(gkeys)):
        key = gkeys.iloc[pos]
        if pd.notna(key) and not dup.iloc[pos] and key in known:
            continue
        if pd.isna(key):
            reason, fix = f"图形没有{key_label}，无法与台账连接", f"在图形属性表中填写{key_label}"
        elif dup.iloc[pos]:
            reason = (
                f"{key_label} {key} 在图形文件中重复出现 {len(feats[key])} 次（{feat_text(feats[key])}），"
                "无法判断用哪个图形"
            )
            fix = "删除多余的图形或更正其编号（同一宗地的多块图形请合并为一个多部分图形）"
        else:
            reason, fix = "图形在台账中没有对应记录", f"在台账 {rows.file} 中补录该{key_label}，或删除多余图形"
        problems.append(
            Problem(
                file=str(gfiles[pos]),
                row=int(gnum[pos]),
                record_id=None if pd.isna(key) else str(key),
                field=key_label,
                value=None if pd.isna(key) else key,
                reason=reason,
                fix=fix,
            )
        )
    return geoms, geo, problems


def _check_plausible(
    layer: Layer, parsed: dict[str, pd.Series], rows: _Rows, ids: pd.Series, raw: Mapping[str, pd.Series]
) -> None:
    """Values outside the registry's plausible ranges: rejected or flagged, naming the range."""
    for f in layer.fields:
        if f.plausible_min is None and f.plausible_max is None or f.name not in parsed:
            continue
        v = pd.to_numeric(parsed[f.name], errors="coerce")
        out = pd.Series(False, index=v.index)
        if f.plausible_min is not None:
            out |= v < f.plausible_min
        if f.plausible_max is not None:
            out |= v > f.plausible_max
        if f.min is not None:  # below the hard minimum: already rejected with its own reason
            out &= (v > f.min) if f.exclusive_min else (v >= f.min)
        out = out.fillna(False).to_numpy(bool)
        if out.any():
            unit = {"m2": "平方米", "wan_yuan": "万元"}.get(f.unit or "", "")
            severity = "reject" if f.plausible_action == "reject" else "warning"
            tail = "" if severity == "reject" else "，已入库，请核实"
            rows.add(
                out,
                ids,
                f.label,
                raw.get(f.name, parsed[f.name]),
                f"数值超出合理范围（{f.plausible_text}{unit}）{tail}",
                f"核对{f.label}的数值和单位（表头或单位行可写明 万元/元、平方米/亩/公顷）",
                severity=severity,
            )
    for check in layer.checks:
        num, den = check["numerator"], check["denominator"]
        if num not in parsed or den not in parsed:
            continue
        a = pd.to_numeric(parsed[num], errors="coerce")
        b = pd.to_numeric(parsed[den], errors="coerce")
        for fname, v in ((num, a), (den, b)):  # a value already out of its own range says enough
            f = layer.field(fname)
            if f.plausible_max is not None:
                v.mask(v > f.plausible_max, inplace=True)
            if f.plausible_min is not None:
                v.mask(v < f.plausible_min, inplace=True)
        q = a * float(check.get("factor", 1)) / b.where(b > 0)
        lo, hi = check.get("min"), check.get("max")
        out = pd.Series(False, index=q.index)
        if lo is not None:
            out |= q < lo
        if hi is not None:
            out |= q > hi
        out = out.fillna(False).to_numpy(bool)
        if out.any():
            severity = "reject" if check.get("action", "flag") == "reject" else "warning"
            rng = f"{number_text(lo)} – {number_text(hi)}"
            la, lb = layer.field(num).label, layer.field(den).label
            rows.add(
                out,
                ids,
                check["label"],
                [None if pd.isna(x) else round(float(x), 2) for x in q],
                f"{check['label']}（{la} ÷ {lb}）超出合理范围 {rng}"
                + ("" if severity == "reject" else "，已入库，请核实"),
                f"核对{la}和{lb}及其单位",
                severity=severity,
            )


def _towns_at(geom: gpd.GeoSeries, towns: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(town_code, name) of the town each geometry lies in (its point on surface), None outside every town."""
    n = len(geom)
    codes = np.full(n, None, dtype=object)
    names = np.full(n, None, dtype=object)
    ok = (geom.notna() & ~geom.is_empty).to_numpy()
    if not ok.any() or towns is None or not len(towns):
        return codes, names
    t = towns.to_crs(STORE_CRS) if towns.crs is not None else towns
    pts = shapely.point_on_surface(geom.to_numpy()[ok])
    tree = shapely.STRtree(t.geometry.to_numpy())
    ip, it = tree.query(pts, predicate="within")
    where = np.flatnonzero(ok)[ip]
    codes[where] = t["town_code"].astype(str).to_numpy()[it]
    names[where] = t["name"].astype(str).to_numpy()[it] if "name" in t.columns else None
    return codes, names


def _check_references(
    layer: Layer,
    parsed: dict[str, pd.Series],
    rows: _Rows,
    ids: pd.Series,
    geom: gpd.GeoSeries | None,
    towns: gpd.GeoDataFrame | None,
    enterprise_ids: set | None,
    notes: list[str],
) -> None:
    """镇街代码 and 企业代码 that name no town/enterprise: reported; the town replaced by the geometry's."""
    if "town_code" in parsed and layer.name != "towns":
        v = parsed["town_code"]
        if towns is None or not len(towns):
            if v.notna().any():
                notes.append("库中还没有镇街图层，未核对镇街代码（先导入镇街图层可核对）")
        else:
            known = set(towns["town_code"].astype(str))
            unknown = (v.notna() & ~v.astype("string").isin(known)).fillna(False).to_numpy(bool)
            if unknown.any():
                codes, names = _towns_at(geom, towns) if geom is not None else (np.full(len(v), None),) * 2
                label = layer.field("town_code").label
                fixed = v.astype(object).copy()
                with_town = unknown & pd.notna(codes)
                without = unknown & ~pd.notna(codes)
                fixed[with_town] = codes[with_town]
                fixed[without] = None
                rows.add(
                    with_town,
                    ids,
                    label,
                    v,
                    lambda pos: (
                        f"{label}“{v.iloc[pos]}”不是任何镇街的代码，已按图形所在位置改为 {codes[pos]}（{names[pos]}）"
                    ),
                    f"核对并更正台账中的{label}",
                    severity="repair",
                )
                rows.add(
                    without,
                    ids,
                    label,
                    v,
                    f"{label}不是任何镇街的代码，图形也不在任何镇街内，已置空",
                    f"核对{label}和图形位置",
                    severity="warning",
                )
                parsed["town_code"] = fixed.astype("string")
    if "enterprise_id" in parsed and layer.name != "enterprises":
        v = parsed["enterprise_id"]
        if enterprise_ids is None:
            if v.notna().any():
                notes.append("库中还没有企业表，未核对企业代码（先导入企业表可核对）")
        else:
            unknown = (v.notna() & ~v.astype("string").isin(enterprise_ids)).fillna(False).to_numpy(bool)
            if unknown.any():
                label = layer.field("enterprise_id").label
                rows.add(
                    unknown,
                    ids,
                    label,
                    v,
                    lambda pos: (
                        f"{label} {v.iloc[pos]} 在企业表中不存在，已入库；研判时该宗地列为待研判"
                        "（无法判断企业开发能力）"
                    ),
                    f"核对{label}，或在企业表中补录该企业后重新导入",
                    severity="warning",
                )


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
    towns: gpd.GeoDataFrame | None = None,
    enterprise_ids: set | None = None,
    source_layer: str | None = None,
    geometry_layer: str | None = None,
    extent: tuple[float, float, float, float] | None = None,
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
    sheet
        The Excel sheet (name or index), or ``"all"`` for every sheet of the same shape.
    existing_keys
        Keys already in the store that this file must not repeat (append mode).
    known_refs
        For references: ``{"village_id": {...}}`` — rows pointing at unknown ids are rejected.
    towns
        The towns layer: a 镇街代码 no town has is reported and replaced by the town the geometry lies in.
    enterprise_ids
        The known 企业代码: an unknown one is reported (the parcel is stored and goes to review).
    source_layer, geometry_layer
        The layer to read from a multi-layer file (GeoPackage, FileGDB, KML, zip of shapefiles).
    extent
        (min_lon, min_lat, max_lon, max_lat) the geometry must fall in; default the district's
        (``layers/rules/district.yaml``) — a province's ledger passes the province's.

    Returns
    -------
    (frame, report)
        The rows to store (canonical types, EPSG:4490) and the report with every rejected row.
    """
    layer = get_layer(layer_name)
    source = read_source(
        path, sheet=sheet, encoding=encoding, layer=source_layer, resolve=_resolver(layer), prefer=_prefer(layer)
    )
    file = source.path.name
    raw = source.frame.reset_index(drop=True)
    n = len(raw)
    row_numbers = source.numbers()
    rows = _Rows(source, file, row_numbers, source.files())
    report = IngestReport(
        layer=layer.name,
        files=[str(source.path)],
        read=n + len(source.skipped),
        notes=list(source.notes),
        skipped=len(source.skipped),
    )
    if source.ignored_columns:
        report.notes.append(f"{file}：已忽略序号列（{'、'.join(source.ignored_columns)}）")
    skip_fix = {
        "合计/小计行": "无需处理（合计行不导入）",
        "空行": "无需处理",
        "表尾说明行": "无需处理",
        "重复的表头行": "无需处理",
    }
    skips = [
        Problem(
            file=f,
            row=int(r),
            record_id=None,
            field=None,
            value=None,
            reason=f"{why}，不是数据行，已跳过",
            fix=skip_fix.get(why, "无需处理"),
            severity="skip",
        )
        for f, r, why in source.skipped
    ]

    mapping, unmapped = _map_headers(layer, raw, file)
    report.unmapped_columns[file] = unmapped
    mapped = set(mapping.values())
    missing = _missing_required(layer, mapped, has_geometry_key=False)
    if missing:
        names = "；".join(f"{f.label}（{f.name}，可用列名：{'、'.join([f.label, *f.aliases])}）" for f in missing)
        where = "；".join(f"{k} 表头在{v}" for k, v in source.header_rows.items())
        raise InputFileError(
            f"文件 {file} 缺少必填列：{names}"
            + (f"（{where}，找到的列：{'、'.join(map(str, raw.columns))}）" if where else ""),
            detail=f"{file}: missing required columns {[f.name for f in missing]}; unmapped: {unmapped}",
            fix="在表头加入这些列（中文名或别名均可）",
        )

    units = next(iter(source.units.values()), {}) if source.units else {}
    parsed: dict[str, pd.Series] = {}
    key_fields = layer.key_fields
    key_col = next((c for c, nme in mapping.items() if nme == key_fields[0]), None)
    ids = parse_str(raw[key_col])[0] if key_col is not None else pd.Series([None] * n, dtype=object)
    report.mapping[file] = []
    raw_by_field: dict[str, pd.Series] = {}
    for col, name in mapping.items():
        f = layer.field(name)
        values, bad, reason, fix = _parse_column(f, raw[col], str(col), units)
        conv = _conversion(f, str(col), units)[1] if f.type in ("int", "float") else ""
        if f.type == "ratio" and is_percent_header(str(col)):
            conv = "百分数 -> 比例"
        report.mapping[file].append((str(col), name, f.label, conv))
        if bad.any():
            rows.add(bad.to_numpy(), ids, f.label, raw[col], reason, fix)
        parsed[name] = values
        raw_by_field[name] = raw[col]
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
                rows.add(
                    blank,
                    ids,
                    f.label,
                    None,
                    f"{f.label}为空，已入库，研判时列为待研判",
                    f"补填{f.label}后重新导入",
                    severity="warning",
                )
            elif blank.any():
                rows.add(blank, ids, f.label, None, "必填字段为空", f"填写{f.label}")
        if f.min is not None and f.type in ("int", "float"):
            v = pd.to_numeric(values, errors="coerce")
            low = (v <= f.min) if f.exclusive_min else (v < f.min)
            low = low.fillna(False).to_numpy()
            if low.any():
                rel = "大于" if f.exclusive_min else "不小于"
                rows.add(
                    low,
                    ids,
                    f.label,
                    values,
                    f"数值应{rel} {f.min:g}",
                    f"核对{f.label}（不能为负数或零）" if f.exclusive_min else f"核对{f.label}（不能为负数）",
                )
    _check_plausible(layer, parsed, rows, ids, raw_by_field)
    # unique keys within the file
    if key_fields and all(k in parsed for k in key_fields):
        keys = pd.DataFrame({k: parsed[k] for k in key_fields})
        present = keys.notna().all(axis=1)
        dup = keys.duplicated(keep=False) & present
        if dup.any():
            label = "、".join(layer.field(k).label for k in key_fields)
            groups: dict[tuple, list[int]] = {}
            for pos, t in zip(np.flatnonzero(dup.to_numpy()), keys[dup].itertuples(index=False, name=None)):
                groups.setdefault(t, []).append(int(pos))
            where = {pos: g for g in groups.values() for pos in g}
            rows.add(
                dup.to_numpy(),
                ids,
                layer.field(key_fields[0]).label,
                ids,
                lambda pos: (
                    f"{label} {' / '.join(str(x) for x in keys.iloc[pos])} 在文件中重复出现 "
                    f"{len(where[pos])} 次（{_rows_text(rows, where[pos])}），无法判断哪一行有效"
                ),
                f"保证每个{label}只出现一次，删除或更正重复行后重新导入",
            )
        if existing_keys:
            tuples = list(keys.itertuples(index=False, name=None)) if len(key_fields) > 1 else list(keys.iloc[:, 0])
            exists = np.array([present.iloc[i] and _norm_key(t) in existing_keys for i, t in enumerate(tuples)], bool)
            if exists.any():
                label = "、".join(layer.field(k).label for k in key_fields)
                rows.add(
                    exists,
                    ids,
                    layer.field(key_fields[0]).label,
                    ids,
                    f"库中已有相同{label}的记录，历史记录不可覆盖",
                    "如为新一期填报请使用新的日期；如需更正，请联系管理员",
                )
    for ref, known in (known_refs or {}).items():
        if ref in parsed and known is not None:
            v = parsed[ref]
            unknown = (v.notna() & ~v.isin(known)).to_numpy()
            if unknown.any():
                label = layer.field(ref).label
                rows.add(unknown, ids, label, v, f"{label}在库中不存在", f"先导入对应图层，或更正{label}")

    geom = None
    unmatched = np.zeros(n, bool)
    geo_problems: list[Problem] = []
    if layer.is_spatial:
        if source.has_geometry and geometry is None:
            geoms = gpd.GeoSeries(source.frame.geometry.to_numpy(), crs=source.crs)
            if "__wkt_bad__" in raw.columns:
                bad_wkt = raw["__wkt_bad__"].to_numpy(bool)
                rows.add(bad_wkt, ids, "WKT", None, "WKT 图形文本无法解析", "检查 WKT 文本（如 POLYGON((x y, ...))）")
        elif geometry is not None:
            geoms, geo_source, geo_problems = _join_geometry(
                layer, source, ids, geometry, rows, encoding=encoding, geometry_layer=geometry_layer
            )
            report.files.append(str(geo_source.path))
            report.notes.extend(geo_source.notes)
            source = RawSource(source.path, source.frame, crs=geo_source.crs, has_geometry=True)
            report.read += len(geo_problems)
            report.rejected += len(geo_problems)
            unmatched = geoms.isna().to_numpy() & ids.notna().to_numpy()
        else:
            raise InputFileError(
                f"{layer.label}图层需要图形，文件 {file} 中没有图形",
                detail=f"{file}: layer {layer.name} needs geometry",
                fix="提供含图形的文件（.gpkg/.shp/.zip/.gdb/.kml/.geojson/含 WKT 列的 CSV），"
                "或同时提供按编号连接的图形文件（命令行 --parcel-geometry，数据页“宗地图形”）",
            )
        present = ~shapely.is_missing(geoms.to_numpy())
        kinds = geoms[present][~geoms[present].is_empty].geom_type.unique() if present.any() else []
        if len(kinds) and not any(k in ("Polygon", "MultiPolygon", "GeometryCollection") for k in kinds):
            raise InputFileError(
                f"文件 {file} 是{'/'.join(kinds)}图层，{layer.label}需要面图形",
                detail=f"{file}: geometry types {list(kinds)} but {layer.name} needs polygons",
                fix=f"提供{layer.label}的面图层（点位或线不能作为{layer.label}范围）",
            )
        fixed, status, note = repair_polygons(geoms.to_numpy())
        for st, reason, fix in (
            ("missing", "缺少图形", "补绘图形"),
            ("empty", "图形为空", "补绘图形"),
            ("non_areal", "不是面图形", "改为面（多边形）图形"),
        ):
            mask = (status == st) & ~unmatched
            if mask.any():
                rows.add(mask, ids, "图形", list(note), reason, fix)
        repaired = status == "repaired"
        geom = gpd.GeoSeries(fixed, crs=geoms.crs)
        geom = _geometry_to_store(
            source,
            geom.where(~pd.Series(np.isin(status, ["missing", "empty", "non_areal"]))),
            crs=crs,
            from_gcj02=from_gcj02,
            extent=extent,
        )
        ok = geom.notna() & ~geom.is_empty
        b = geom.bounds
        lo_x, lo_y, hi_x, hi_y = extent or district().extent
        outside = ok & ~((b.minx >= lo_x) & (b.maxx <= hi_x) & (b.miny >= lo_y) & (b.maxy <= hi_y))
        if outside.any():
            fix = "核对该图形的坐标和坐标系；辖区以外的数据用 --extent 指定范围"
            rows.add(outside.to_numpy(), ids, "图形", None, f"坐标超出{extent_name(extent)}", fix)
        for i in np.flatnonzero(repaired):
            f_, r_ = rows.where(int(i))
            rows.problems.append(
                Problem(
                    file=f_,
                    row=r_,
                    record_id=None if pd.isna(ids.iloc[i]) else str(ids.iloc[i]),
                    field="图形",
                    value=None,
                    reason=str(note[i]),
                    fix="无需处理，已自动修复",
                    severity="repair",
                    extra={"pos": int(i)},
                )
            )
    _check_references(layer, parsed, rows, ids, geom, towns, enterprise_ids, report.notes)

    reject_pos = sorted({p.extra["pos"] for p in rows.problems if p.severity == "reject"})
    repair_pos = {p.extra["pos"] for p in rows.problems if p.severity == "repair"}
    keep = np.ones(n, bool)
    keep[reject_pos] = False
    frame = pd.DataFrame({f.name: parsed[f.name] for f in layer.fields})
    if layer.is_spatial:
        frame = gpd.GeoDataFrame(frame, geometry=geom.to_numpy(), crs=STORE_CRS)
    frame = conform(frame.iloc[keep], layer).reset_index(drop=True)
    report.problems = rows.problems + geo_problems + skips
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


REJECT_COLUMNS = ["图层", "文件", "行号", "编号", "字段", "值", "问题", "处理办法", "级别"]


def rejects_frame(reports: list[IngestReport]) -> pd.DataFrame:
    """Every problem of the reports as rows (行号 an integer, as a person sees it in Excel/QGIS)."""
    rows = [p.as_dict() | {"图层": r.layer} for r in reports for p in r.problems]
    frame = pd.DataFrame(rows, columns=REJECT_COLUMNS) if rows else pd.DataFrame(columns=REJECT_COLUMNS)
    frame["行号"] = pd.array(frame["行号"].tolist(), dtype="Int64")
    return frame


def rejects_csv(reports: list[IngestReport], path: Path | None = None) -> Path | bytes:
    """The rejects report as CSV (UTF-8 with BOM, opens in Excel; formula-looking text written as text):
    to ``path``, or its bytes when no path is given."""
    from .cells import safe_frame

    frame = safe_frame(rejects_frame(reports))
    if path is None:
        return frame.to_csv(index=False).encode("utf-8-sig")
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    return path


def write_rejects(reports: list[IngestReport], directory: Path, *, stamp: str | None = None) -> Path | None:
    """One CSV (UTF-8 with BOM, opens in Excel) of every rejected and repaired row, beside the store."""
    rows = [p.as_dict() | {"图层": r.layer} for r in reports for p in r.problems]
    if not rows:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    stamp = stamp or dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    path = directory / f"rejects-{stamp}.csv"
    path = rejects_csv(reports, path)
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
    check: bool = False,
    extent: tuple[float, float, float, float] | None = None,
    **batch: Any,
) -> list[IngestReport]:
    """Ingest several layers into a store in one transaction.

    ``sources`` maps a layer name to a path, or to ``{"path": ..., "geometry": ..., "sheet": ..., "crs": ...,
    "source_layer": ..., "geometry_layer": ...}``.  Layers named in ``append`` add rows (the history of progress
    reports is never overwritten); the others replace their layer.  A failure anywhere leaves the store exactly
    as it was.  With ``check=True`` everything is read, mapped and validated and the rejects report written,
    but nothing is written to the store (``landrenew ingest --check``): the counts are those a real run gives.
    ``extent`` is the lon/lat box the geometry must fall in (default the district file's).
    ``batch`` options go to :func:`gis.batches.write_batch` (``mode``, ``scope``, ``effective``, ``confirm``,
    ``user``, ``reason``).
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
        if name in append and store.has_layer(name):
            old = store.read_layer(name)
            if len(old):
                existing = {
                    _norm_key(t if len(layer.key_fields) > 1 else t[0])
                    for t in old[list(layer.key_fields)].itertuples(index=False, name=None)
                }
        if name == "village_progress":
            villages = frames.get("villages")
            if villages is None:
                villages = store.read_layer("villages") if store.has_layer("villages") else None
            refs["village_id"] = set(villages["village_id"].dropna()) if villages is not None else set()
        towns = enterprise_ids = None
        if "town_code" in layer.field_names and name != "towns":
            towns = frames.get("towns")
            if towns is None and store.has_layer("towns"):
                towns = store.read_layer("towns")
        if "enterprise_id" in layer.field_names and name != "enterprises":
            ent = frames.get("enterprises")
            if ent is None and store.has_layer("enterprises"):
                ent = store.read_layer("enterprises")
            enterprise_ids = set(ent["enterprise_id"].dropna().astype(str)) if ent is not None else None
        frame, report = read_layer_file(
            name,
            path,
            crs=opts.pop("crs", crs),
            from_gcj02=from_gcj02,
            existing_keys=existing,
            known_refs=refs,
            towns=towns,
            enterprise_ids=enterprise_ids,
            extent=extent,
            **opts,
        )
        frames[name] = frame
        reports.append(report)
    if check:
        write_rejects(reports, store.reports_dir, stamp=dt.datetime.now().strftime("%Y%m%dT%H%M%S") + "-check")
        return reports
    # the batch layer (gis.batches, docs/history.md §1) decides how the rows go in: mode, scope, effective, guard
    from .batches import write_batch

    write_batch(
        store, frames, reports, sources=sources, append=tuple(a for a in append if a in frames), meta=meta, **batch
    )
    return reports
