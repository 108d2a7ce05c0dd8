"""Disposal warnings and progress read from a store, and the 预警 list as an Excel sheet a planner can export.

>>> from gis.disposal_export import WARNING_HEADERS
>>> WARNING_HEADERS["due_date"]
'期限日'
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .disposal_rules import DisposalRules, default_disposal_rules

__all__ = ["identified_parcels", "current_warnings", "current_progress", "write_warnings_xlsx", "WARNING_HEADERS"]

WARNING_HEADERS = {"level_label": "预警等级", "parcel_id": "宗地编号", "town_code": "镇街代码", "case_id": "案件编号",
                   "deadline": "期限", "citation": "依据", "start_date": "起算日", "due_date": "期限日",
                   "days": "逾期/剩余/停滞天数", "message": "说明"}


def identified_parcels(store) -> pd.DataFrame:
    """Assessment rows identified for disposal, with the ledger area (``area_m2``)."""
    from .cases import is_identified

    assessment = store.read_layer("idle_assessment")
    if assessment.empty:
        return pd.DataFrame(columns=["parcel_id", "town_code", "route", "area_m2"])
    area = store.read_layer("parcels")[["parcel_id", "area_m2"]]
    out = pd.DataFrame(assessment.loc[is_identified(assessment), ["parcel_id", "town_code", "route"]])
    return out.merge(area, on="parcel_id", how="left")


def current_warnings(store, as_of: Any, *, rules: DisposalRules | None = None) -> pd.DataFrame:
    """:func:`gis.disposal_warnings.disposal_warnings` for a store's cases and identified parcels."""
    from .cases import read_cases, read_events
    from .disposal_warnings import disposal_warnings

    return disposal_warnings(read_cases(store), read_events(store), as_of, identified=identified_parcels(store),
                             rules=rules or default_disposal_rules())


def current_progress(store, as_of: Any, *, by: str | None = "town_code",
                     rules: DisposalRules | None = None) -> pd.DataFrame:
    """:func:`gis.disposal_progress.disposal_progress` for a store."""
    from .cases import read_cases, read_events
    from .disposal_progress import disposal_progress, parcel_stages

    rules = rules or default_disposal_rules()
    stages = parcel_stages(identified_parcels(store), read_cases(store), read_events(store), as_of, rules=rules)
    return disposal_progress(stages, as_of, by=by, rules=rules)


def write_warnings_xlsx(warnings: pd.DataFrame, out: str | Path, *, as_of: Any) -> Path:
    """The warnings as ``预警清单`` sheet (Chinese headers, dates as dates), worst first."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet = warnings[list(WARNING_HEADERS)].rename(columns=WARNING_HEADERS).copy()
    for col in ("起算日", "期限日"):
        sheet[col] = pd.to_datetime(sheet[col]).dt.date
    with pd.ExcelWriter(out, engine="openpyxl") as xw:
        sheet.to_excel(xw, sheet_name="预警清单", index=False, startrow=1)
        ws = xw.sheets["预警清单"]
        ws.cell(row=1, column=1, value=f"闲置土地处置预警清单（基准日 {pd.Timestamp(as_of).date()}）")
        for col, width in zip("ABCDEFGHIJ", (16, 16, 12, 16, 22, 40, 12, 12, 10, 40)):
            ws.column_dimensions[col].width = width
        ws.freeze_panes = "A3"
    return out
