"""Disposal warnings and progress read from a store, and the 预警 list as an Excel sheet a planner can export.

>>> from gis.disposal_export import WARNING_HEADERS
>>> WARNING_HEADERS["due_date"]
'期限日'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .cells import safe_frame
from .deadlines import lookup
from .disposal_rules import DisposalRules, default_disposal_rules
from .schema import get_layer

__all__ = [
    "identified_parcels",
    "current_warnings",
    "current_progress",
    "current_movements",
    "disposal_ledger",
    "stage_fields",
    "write_warnings_xlsx",
    "WARNING_HEADERS",
    "LEDGER_HEADERS",
]

#: the 处置台账 sheet of the upper-level xlsx (one row per parcel identified or with a case)
LEDGER_HEADERS = {
    "parcel_id": "宗地编号",
    "town_code": "镇街代码",
    "route": "处置路径",
    "area_m2": "面积(平方米)",
    "case_id": "案件编号",
    "stage_label": "处置阶段",
    "last_event": "最后事项",
    "last_event_date": "最后事项日期",
    "approved_on": "方案批准日期",
    "completed_on": "处置完成日期",
    "warning": "预警",
    "warning_detail": "预警说明",
}

WARNING_HEADERS = {
    "level_label": "预警等级",
    "parcel_id": "宗地编号",
    "town_code": "镇街代码",
    "case_id": "案件编号",
    "deadline": "期限",
    "citation": "依据",
    "start_date": "起算日",
    "due_date": "期限日",
    "days": "逾期/剩余/停滞天数",
    "message": "说明",
}


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

    return disposal_warnings(
        read_cases(store),
        read_events(store),
        as_of,
        identified=identified_parcels(store),
        rules=rules or default_disposal_rules(),
    )


def current_progress(
    store, as_of: Any, *, by: str | None = "town_code", rules: DisposalRules | None = None
) -> pd.DataFrame:
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
        safe_frame(sheet).to_excel(xw, sheet_name="预警清单", index=False, startrow=1)
        ws = xw.sheets["预警清单"]
        ws.cell(row=1, column=1, value=f"闲置土地处置预警清单（基准日 {pd.Timestamp(as_of).date()}）")
        for col, width in zip("ABCDEFGHIJ", (16, 16, 12, 16, 22, 40, 12, 12, 10, 40)):
            ws.column_dimensions[col].width = width
        ws.freeze_panes = "A3"
    return out


def current_movements(store, as_of: Any, *, rules: DisposalRules | None = None) -> pd.DataFrame:
    """The year's movements (cases opened, plans approved, parcels completed per year) of a store."""
    from .cases import read_cases, read_events
    from .disposal_progress import disposal_movements, parcel_stages

    rules = rules or default_disposal_rules()
    cases, events = read_cases(store), read_events(store)
    stages = parcel_stages(identified_parcels(store), cases, events, as_of, rules=rules)
    return disposal_movements(stages, cases, events, rules=rules)


def stage_fields(store, as_of: Any, *, rules: DisposalRules | None = None) -> pd.DataFrame:
    """Per parcel identified or with a case: ``parcel_id, case_id, disposal_stage, disposal_stage_label,
    warning_level`` (for the GeoJSON export and the map's 预警 colouring)."""
    from .cases import STAGE_LABELS, read_cases, read_events
    from .disposal_progress import parcel_stages
    from .disposal_warnings import parcel_warning_level

    rules = rules or default_disposal_rules()
    cases, events = read_cases(store), read_events(store)
    stages = parcel_stages(identified_parcels(store), cases, events, as_of, rules=rules)
    worst = parcel_warning_level(current_warnings(store, as_of, rules=rules))
    return pd.DataFrame(
        {
            "parcel_id": stages["parcel_id"],
            "case_id": stages["case_id"],
            "disposal_stage": stages["stage"],
            "disposal_stage_label": stages["stage"].map(STAGE_LABELS),
            "warning_level": stages["parcel_id"].map(worst),
        }
    )


def disposal_ledger(store, as_of: Any, *, town: str | None = None, rules: DisposalRules | None = None) -> pd.DataFrame:
    """The 处置台账 sheet (Chinese headers :data:`LEDGER_HEADERS`): stage, last event, approval and completion
    dates and the worst warning of every parcel identified or with a case."""
    from .cases import STAGE_LABELS, read_cases, read_events
    from .disposal_progress import parcel_stages
    from .disposal_warnings import LEVEL_LABELS

    rules = rules or default_disposal_rules()
    cases, events = read_cases(store), read_events(store)
    stages = parcel_stages(identified_parcels(store), cases, events, as_of, rules=rules)
    ev = events.loc[pd.to_datetime(events["event_date"]) <= pd.Timestamp(pd.Timestamp(as_of).date())]
    ev = ev.sort_values(["case_id", "seq"])
    last = ev.drop_duplicates("case_id", keep="last").set_index("case_id")
    approved = (
        ev.loc[ev["event"] == rules.procedure["approve"]]
        .drop_duplicates("case_id", keep="last")
        .set_index("case_id")["event_date"]
    )
    warnings = current_warnings(store, as_of, rules=rules).drop_duplicates("parcel_id").set_index("parcel_id")
    route = stages["route"].map(
        lambda r: get_layer("idle_assessment").field("route").label_of(r) if isinstance(r, str) else None
    )
    out = pd.DataFrame(
        {
            "parcel_id": stages["parcel_id"],
            "town_code": stages["town_code"],
            "route": route,
            "area_m2": stages["area_m2"],
            "case_id": stages["case_id"],
            "stage_label": stages["stage"].map(STAGE_LABELS),
            "last_event": stages["case_id"]
            .map(last["event"])
            .map(lambda e: rules.label(e) if isinstance(e, str) else None),
            "last_event_date": pd.to_datetime(lookup(stages["case_id"], last["event_date"])).dt.date,
            "approved_on": pd.to_datetime(lookup(stages["case_id"], approved)).dt.date,
            "completed_on": pd.to_datetime(stages["completed_on"]).dt.date,
            "warning": stages["parcel_id"].map(warnings["level"]).map(LEVEL_LABELS),
            "warning_detail": stages["parcel_id"].map(warnings["message"]),
        }
    )
    if town:
        out = out.loc[out["town_code"] == town]
    return out.sort_values("parcel_id").rename(columns=LEDGER_HEADERS).reset_index(drop=True)


def report_section(store, year: int, *, rules: DisposalRules | None = None) -> str:
    """The annual report's disposal section (HTML): the year's movements and the progress per town at the
    year's end (or today, for the current year)."""
    import datetime as dt
    import html

    from .cases import read_cases
    from .report import _kpis, _table

    rules = rules or default_disposal_rules()
    head = f"<section><h2>六、{year}年闲置土地处置（一地一策案件）</h2>"
    if read_cases(store).empty:
        return head + "<p>存储中尚无处置案件（landrenew case open）。</p></section>"
    as_of = min(dt.date(year, 12, 31), dt.date.today())
    mv = current_movements(store, as_of, rules=rules).set_index("year")
    row = mv.loc[year] if year in mv.index else None

    def n(k):
        return int(row[k]) if row is not None else 0

    def ha(k):
        return float(row[f"{k}_ha"]) if row is not None else 0.0

    prog = current_progress(store, as_of, by="town_code", rules=rules)
    total = prog.iloc[-1]
    kp = [
        ("本年立案", f"{n('opened')} 宗 / {ha('opened'):.1f} 公顷"),
        ("本年批准方案", f"{n('approved')} 宗 / {ha('approved'):.1f} 公顷"),
        ("本年处置完成", f"{n('completed')} 宗 / {ha('completed'):.1f} 公顷"),
        ("累计处置率", f"{total['rate']:.1%}（面积 {total['rate_area']:.1%}）"),
    ]
    proj = total["projected_date"]
    text = (
        f"截至 {as_of}，已认定 {int(total['identified'])} 宗（{total['identified_ha']:.1f} 公顷），已立案 "
        f"{int(total['with_case'])} 宗，方案已批准 {int(total['approved'])} 宗，处置完成 {int(total['completed'])} 宗。"
        f"近 {rules.rate_months} 个月平均每月完成 {total['monthly_rate']:.2f} 宗，按此速度预计"
        + (f" {proj:%Y-%m-%d} " if pd.notna(proj) else "无法")
        + f"全部处置完成（目标 {rules.target_date}）。"
    )
    cols = {
        "town_code": "镇街代码",
        "identified": "已认定",
        "with_case": "已立案",
        "approved": "方案已批准",
        "executing": "执行中",
        "completed": "处置完成",
        "completed_ha": "完成面积(公顷)",
        "rate": "处置率",
    }
    table = prog[list(cols)].rename(columns=cols)
    return (
        head
        + _kpis(kp)
        + f"<p>{html.escape(text)}</p>"
        + _table(table)
        + "<h3>各年度变动</h3>"
        + _table(
            mv.reset_index().rename(
                columns={
                    "year": "年度",
                    "opened": "立案",
                    "opened_ha": "立案面积(公顷)",
                    "approved": "批准方案",
                    "approved_ha": "批准面积(公顷)",
                    "completed": "处置完成",
                    "completed_ha": "完成面积(公顷)",
                }
            )
        )
        + "</section>"
    )
