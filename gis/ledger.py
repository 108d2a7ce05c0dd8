"""Excel ledgers (台账) for upper-level departments, written with openpyxl.

The workbook: a 汇总 sheet (counts and area by town and route), one sheet per route of ``idle_assessment``
(the ledger's facts first — 受让人, 电子监管号, 用途, 面积 also in 亩, 供地日期, 约定开竣工日期, 出让价款, 企业名称, in
the registry's ``ledger_facts`` order — then the assessment; Chinese headers from the registry, enum values in
Chinese, lists joined readably), the village progress sheet
(``village_status``), the disposal cases (处置台账: stage, next step and its deadline, approval, documents,
disposed area; 处置进度: the disposal rates per town and district — :mod:`gis.disposal_export`) and the decisions
(审定记录).  Each sheet has a title row (saying 模拟数据 when the store is
synthetic), a bold filled header row, frozen panes below the header, column widths and ``yyyy-mm-dd`` dates.
Sheets are written in openpyxl's write-only mode so a district-sized ledger stays fast.  Text that Excel/WPS
would take for a formula (starting with ``=``, ``+``, ``-``, ``@``) is written as a text cell (:mod:`gis.cells`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from .cells import looks_like_formula, text_cell
from .crs import AREA_CRS
from .errors import LandRenewError
from .rules import RuleSet
from .schema import Field, Layer, get_layer
from .store.base import Store

__all__ = ["write_ledger", "ledger_values", "town_summary", "route_sheet_frame", "LOCAL_TZ"]

#: Timestamps (审定时间) are shown in Beijing time.
LOCAL_TZ = "Asia/Shanghai"
_HEADER_FILL = PatternFill("solid", fgColor="FFDDEBF7")
_HEADER_FONT = Font(bold=True)
_TITLE_FONT = Font(bold=True, size=13)
_THIN = Side(style="thin", color="FF9E9E9E")
_HEADER_BORDER = Border(bottom=_THIN, top=_THIN, left=_THIN, right=_THIN)
_WRAP = Alignment(wrap_text=True, vertical="top")
_DATE_FMT = "yyyy-mm-dd"
_TS_FMT = "yyyy-mm-dd hh:mm"
_MAX_WIDTH = 60


# ------------------------------------------------------------------------------------------------ values
def _join_list(f: Field) -> Callable[[Any], str]:
    route = get_layer("idle_assessment").field("route")
    sub = get_layer("idle_assessment").field("sub_route")

    def reason(item: Any) -> str:
        if isinstance(item, dict):
            cit = item.get("citation")
            return f"{item.get('rule_id', '')} {item.get('text', '')}" + (f"（{cit}）" if cit else "")
        return str(item)

    def alternative(item: Any) -> str:
        if isinstance(item, dict):
            s = item.get("sub_route")
            return route.label_of(item.get("route")) + (f"（{sub.label_of(s)}）" if s else "")
        return str(item)

    if f.name == "reasons":
        return lambda v: "\n".join(reason(i) for i in v)
    if f.name == "alternatives":
        return lambda v: "；".join(alternative(i) for i in v)
    if f.name == "notes":
        return lambda v: "\n".join(str(i) for i in v)
    return lambda v: "、".join(str(i) for i in v)


def ledger_values(frame: pd.DataFrame, layer: Layer | str) -> pd.DataFrame:
    """The layer's fields as cell values: Chinese enum labels, 是/否, joined lists, Python dates.

    Columns keep the English field names (the headers are the registry labels); missing values are None.
    """
    layer = get_layer(layer) if isinstance(layer, str) else layer
    out: dict[str, pd.Series] = {}
    for f in layer.fields:
        s = frame[f.name] if f.name in frame.columns else pd.Series([None] * len(frame), index=frame.index)
        if f.type == "enum":
            s = s.map(f.value_labels).fillna(s) if f.value_labels else s
        elif f.type == "bool":
            s = s.map({True: "是", False: "否"})
        elif f.type == "list":
            join = _join_list(f)
            s = pd.Series([join(v) if isinstance(v, list) else None for v in s], index=frame.index, dtype=object)
        elif f.type == "date":
            s = pd.Series(np.asarray(s.dt.to_pydatetime(), dtype=object), index=frame.index)
        elif f.type == "timestamp":
            s = pd.Series(
                np.asarray(s.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).dt.to_pydatetime(), dtype=object),
                index=frame.index,
            )
        out[f.name] = s.astype(object).where(s.notna(), None)
    return pd.DataFrame(out, index=frame.index)


def town_summary(assessment: pd.DataFrame, towns: pd.DataFrame | None = None) -> pd.DataFrame:
    """Counts and area (公顷, EPSG:4549) of assessed parcels by town and route, with a 合计 row.

    Columns: 镇街代码, 镇街名称, 宗地数, then ``<route label>(宗)`` and ``<route label>(公顷)`` per route.
    """
    route = get_layer("idle_assessment").field("route")
    frame = pd.DataFrame(
        {
            "town_code": assessment["town_code"].fillna("（未知）").astype(str).to_numpy(),
            "route": assessment["route"].astype(str).to_numpy(),
        }
    )
    if hasattr(assessment, "geometry") and len(assessment):
        frame["ha"] = assessment.geometry.to_crs(AREA_CRS).area.to_numpy() / 1e4
    else:
        frame["ha"] = 0.0
    count = frame.pivot_table(index="town_code", columns="route", values="ha", aggfunc="size", fill_value=0)
    area = frame.pivot_table(index="town_code", columns="route", values="ha", aggfunc="sum", fill_value=0.0)
    names = {}
    if towns is not None and len(towns):
        names = dict(zip(towns["town_code"].astype(str), towns["name"].astype(str)))
    codes = sorted(set(count.index) | set(names)) if names else sorted(count.index)
    out = pd.DataFrame({"镇街代码": codes, "镇街名称": [names.get(c, "") for c in codes]})
    out["宗地数"] = [int(count.loc[c].sum()) if c in count.index else 0 for c in codes]
    for v in route.values:
        label = route.label_of(v)
        col_n = count[v] if v in count.columns else pd.Series(dtype=float)
        col_a = area[v] if v in area.columns else pd.Series(dtype=float)
        out[f"{label}(宗)"] = [int(col_n.get(c, 0)) for c in codes]
        out[f"{label}(公顷)"] = [round(float(col_a.get(c, 0.0)), 2) for c in codes]
    total = {"镇街代码": "合计", "镇街名称": ""}
    for col in out.columns[2:]:
        total[col] = out[col].sum()
        if col.endswith("(公顷)"):
            total[col] = round(float(total[col]), 2)
        else:
            total[col] = int(total[col])
    return pd.concat([out, pd.DataFrame([total])], ignore_index=True)


# ------------------------------------------------------------------------------------------------ sheets
def _width(header: str, values: pd.Series) -> float:
    def w(s: str) -> int:  # CJK characters are about two columns wide
        line = max(s.split("\n"), key=len) if s else ""
        return sum(2 if ord(ch) > 0x2E80 else 1 for ch in line)

    sample = values.dropna().astype(str).head(200)
    longest = max([w(header)] + [w(s) for s in sample]) if len(sample) else w(header)
    return float(min(max(longest + 2, 8), _MAX_WIDTH))


def _title_cell(ws, text: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=text)
    cell.font = _TITLE_FONT
    return cell


def _write_sheet(
    wb: Workbook,
    title: str,
    sheet_title: str,
    headers: list[str],
    values: pd.DataFrame,
    *,
    types: list[str] | None = None,
    freeze: str = "B3",
) -> None:
    """One formatted sheet: title row, header row, data; ``types`` per column (date/timestamp/ratio/wrap)."""
    ws = wb.create_sheet(sheet_title)
    types = types or [""] * len(headers)
    for i, (h, col) in enumerate(zip(headers, values.columns), start=1):
        width = 12.0 if types[i - 1] in ("date", "timestamp") else _width(h, values[col])
        if types[i - 1] == "wrap":
            width = _MAX_WIDTH
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = freeze
    ws.append([_title_cell(ws, title)])
    header_cells = []
    for h in headers:
        c = WriteOnlyCell(ws, value=h)
        c.font, c.fill, c.border = _HEADER_FONT, _HEADER_FILL, _HEADER_BORDER
        c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        header_cells.append(c)
    ws.append(header_cells)
    styled = {i: t for i, t in enumerate(types) if t in ("date", "timestamp", "ratio", "wrap")}
    formats = {"date": _DATE_FMT, "timestamp": _TS_FMT, "ratio": "0.0%"}
    # text that Excel/WPS would take for a formula (=, +, -, @ ...) is written as a text cell
    risky = np.zeros(len(values), bool)
    for col in values.columns:
        s = values[col]
        if s.dtype == object:
            risky |= np.fromiter((looks_like_formula(v) for v in s), bool, len(s))
    for k, row in enumerate(values.itertuples(index=False, name=None)):
        if risky[k]:
            row = [text_cell(ws, v) if looks_like_formula(v) else v for v in row]
        if styled:
            row = list(row)
            for i, t in styled.items():
                if isinstance(row[i], Cell):
                    continue
                c = WriteOnlyCell(ws, value=row[i])
                if t == "wrap":
                    c.alignment = _WRAP
                else:
                    c.number_format = formats[t]
                row[i] = c
        ws.append(row)


def route_sheet_frame(
    assessment: pd.DataFrame, parcels: pd.DataFrame | None, enterprises: pd.DataFrame | None
) -> tuple[pd.DataFrame, Layer]:
    """The rows of a route sheet: the ledger's facts (:mod:`gis.facts`, 台账 order) then the assessment; with the
    layer describing its columns."""
    from dataclasses import replace

    from .facts import fact_fields, ledger_facts

    layer = get_layer("idle_assessment")
    facts = fact_fields()
    taken = {f.name for f in facts}
    rest = [f for f in layer.fields if f.name not in taken]
    frame = pd.concat(
        [ledger_facts(assessment, parcels, enterprises), pd.DataFrame(assessment[[f.name for f in rest]])], axis=1
    )
    return frame, replace(layer, fields=tuple(facts + rest))


def _layer_sheet(wb: Workbook, title: str, sheet_title: str, frame: pd.DataFrame, layer: Layer) -> None:
    values = ledger_values(frame, layer)
    types = []
    for f in layer.fields:
        if f.type in ("date", "timestamp"):
            types.append(f.type)
        elif f.type == "ratio" or f.name == "percent_complete":
            types.append("ratio")
        elif f.name in ("reasons", "notes"):
            types.append("wrap")
        else:
            types.append("")
    _write_sheet(wb, title, sheet_title, [f.label for f in layer.fields], values, types=types)


def _disposal_sheets(wb: Workbook, store: Store, *, town: str | None, as_of: Any, tag: str) -> None:
    """The 处置台账 and 处置进度 sheets (docs/disposal.md §6; columns and headers from
    ``layers/exports/disposal.yaml``), as of ``as_of`` (default today)."""
    import datetime as dt

    from .disposal_export import disposal_ledger, disposal_progress_sheet, export_sheets

    day = pd.Timestamp(as_of).date() if as_of is not None else dt.date.today()
    fmt = {"date": "date", "ratio": "ratio", "wrap": "wrap"}
    for key, frame in (
        ("disposal_ledger", disposal_ledger(store, day, town=town)),
        ("disposal_progress", disposal_progress_sheet(store, day, town=town)),
    ):
        spec = export_sheets()[key]
        scope = f"{town} " if town else ""
        _write_sheet(
            wb,
            f"柯桥区{scope}{spec['title']}（基准日 {day}，{len(frame)} 行）{tag}",
            spec["sheet"],
            [c["label"] for c in spec["columns"]],
            frame,
            types=[fmt.get(c["type"], "") for c in spec["columns"]],
        )


def write_ledger(
    store: Store,
    out: str | os.PathLike,
    *,
    town: str | None = None,
    renewal_rules: RuleSet | None = None,
    disposal_as_of: Any = None,
) -> Path:
    """Write the Excel ledger (台账) of the store's assessment, village progress and decisions.

    Parameters
    ----------
    store
        The source store (needs ``idle_assessment``; ``village_status``, ``decisions`` and ``towns`` are
        added when present).
    out
        The ``.xlsx`` path.
    town
        Only this town's parcels and villages.
    renewal_rules
        Renewal rules whose ``deadline.default`` is named as the goal (default file).
    disposal_as_of
        The day the 处置台账 / 处置进度 sheets are computed for (stages, deadlines, days left; default today).

    Returns
    -------
    Path
        ``out``.

    Examples
    --------
    >>> import tempfile, openpyxl
    >>> from gis.store import open_store
    >>> path = write_ledger(open_store(DEMO_STORE), tempfile.mkdtemp() + "/台账.xlsx")
    >>> openpyxl.load_workbook(path).sheetnames[:3]
    ['汇总', '不纳入', '继续开发']
    """
    out = Path(out)
    if out.suffix.lower() != ".xlsx":
        raise LandRenewError(
            f"台账文件应以 .xlsx 结尾：{out}", detail=f"bad suffix {out.suffix!r}", fix="例如 --out 闲置土地台账.xlsx"
        )
    from .export import read_export_layer  # local: export imports nothing from here
    from .renewal import renewal_deadline

    assessment = read_export_layer(store, "idle_assessment", town=town)
    synthetic = str(store.meta().get("synthetic", "")).lower() == "true"
    tag = "（模拟数据，仅供演示）" if synthetic else ""
    as_of = assessment["as_of"].dropna().max()
    as_of_s = as_of.date().isoformat() if pd.notna(as_of) else "未知"
    versions = "、".join(sorted(str(v) for v in assessment["rules_version"].dropna().unique())) or "未知"
    scope = f"{town} " if town else ""
    towns = store.read_layer("towns") if store.has_layer("towns") else None

    wb = Workbook(write_only=True)
    summary = town_summary(assessment, towns)
    _write_sheet(
        wb,
        f"柯桥区{scope}闲置存量土地处置汇总（研判基准日 {as_of_s}，规则版本 {versions}）{tag}",
        "汇总",
        list(summary.columns),
        summary.astype(object),
    )
    route = get_layer("idle_assessment").field("route")
    parcels = store.read_layer("parcels") if store.has_layer("parcels") else None
    enterprises = store.read_layer("enterprises") if store.has_layer("enterprises") else None
    sheet_frame, sheet_layer = route_sheet_frame(assessment, parcels, enterprises)
    for value in route.values:
        label = route.label_of(value)
        part = sheet_frame[(assessment["route"] == value).to_numpy()]
        _layer_sheet(
            wb, f"闲置存量土地台账 — {label}（{len(part)} 宗，研判基准日 {as_of_s}）{tag}", label, part, sheet_layer
        )
    if store.has_layer("village_status"):
        vs = store.read_layer("village_status", where={"town_code": town} if town else None)
        vs_as_of = vs["as_of"].dropna().max() if len(vs) else pd.NaT
        when = vs_as_of.date().isoformat() if pd.notna(vs_as_of) else "未知"
        _layer_sheet(
            wb,
            f"城中村改造进展（基准日 {when}，目标 {renewal_deadline(renewal_rules).year} 年底）{tag}",
            "城中村改造进展",
            vs,
            get_layer("village_status"),
        )
    _disposal_sheets(wb, store, town=town, as_of=disposal_as_of, tag=tag)
    if store.has_layer("decisions"):
        dec = store.read_layer("decisions")
        if town:
            dec = dec[dec["parcel_id"].isin(set(assessment["parcel_id"]))]
        dec = dec.sort_values("decided_at", kind="stable")
        _layer_sheet(wb, f"审定记录（审定时间为北京时间）{tag}", "审定记录", dec, get_layer("decisions"))
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out
