"""Disposal warnings and progress read from a store, and the 预警 list as an Excel sheet a planner can export.

>>> from gis.disposal_export import WARNING_HEADERS
>>> WARNING_HEADERS["due_date"]
'期限日'
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from .cells import safe_frame
from .disposal_rules import DisposalRules, default_disposal_rules
from .errors import LandRenewError
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
    "PROGRESS_HEADERS",
    "export_sheets",
    "sheet_headers",
    "case_status",
    "disposal_progress_sheet",
]

EXPORT_SHEETS_FILE = Path(__file__).resolve().parent.parent / "layers" / "exports" / "disposal.yaml"


@cache
def export_sheets() -> dict[str, dict]:
    """The column definitions of the disposal sheets and GeoJSON fields (``layers/exports/disposal.yaml``):
    sheet key -> ``{sheet, title, columns: [{name, label, type}]}``."""
    raw = yaml.safe_load(EXPORT_SHEETS_FILE.read_text(encoding="utf-8"))
    out = {}
    for key, spec in raw["sheets"].items():
        cols = [{"name": c["name"], "label": c["label"], "type": c.get("type", "str")} for c in spec["columns"]]
        out[key] = {**spec, "columns": cols}
    return out


def sheet_headers(key: str) -> dict[str, str]:
    """English column name -> Chinese header of a sheet of :func:`export_sheets`."""
    return {c["name"]: c["label"] for c in export_sheets()[key]["columns"]}


#: the 处置台账 sheet of the upper-level xlsx (one row per parcel identified or with a case)
LEDGER_HEADERS = sheet_headers("disposal_ledger")
#: the 处置进度 sheet (per town, then the district's 合计 row)
PROGRESS_HEADERS = sheet_headers("disposal_progress")

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
        return pd.DataFrame(columns=["parcel_id", "town_code", "route", "sub_route", "area_m2"])
    area = store.read_layer("parcels")[["parcel_id", "area_m2"]]
    out = pd.DataFrame(assessment.loc[is_identified(assessment), ["parcel_id", "town_code", "route", "sub_route"]])
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


def _next_steps(rules: DisposalRules, route: Any, sub_route: Any, codes: list[str]) -> str | None:
    """The procedure's next step(s) of a case (labels joined with 或), without the events allowed at any time
    (return, pause, close) unless nothing else is; None once completed."""
    from .procedure import next_events

    p = rules.procedure
    try:
        allowed = next_events(rules, route, sub_route if isinstance(sub_route, str) else None, codes)
    except LandRenewError:
        return None
    steps = [e for e in allowed if e not in (p["return"], p["pause"], p["close"])] or allowed
    return "或".join(rules.label(e) for e in steps) if steps else None


def _pick(keys: pd.Series, mapping: pd.Series) -> pd.Series:
    """``mapping`` (uniquely indexed) at ``keys``, missing -> NA, any dtype (ints become floats or objects)."""
    picked = mapping.reindex(keys.fillna("").to_numpy())
    return pd.Series(picked.to_numpy(), index=keys.index)


def case_status(store, as_of: Any, *, rules: DisposalRules | None = None) -> pd.DataFrame:
    """Per parcel identified or with a case (its latest case), as of a date: the adopted and recommended
    route, stage, last event, next step with the deadline it must meet (the earliest running one: label,
    due date, days left — negative when overdue), the worst warning, the plan's approval (who, when), the
    documents served (文号 and dates), completion and the area (m²).  English column names; the sheets and
    the GeoJSON fields are built from it."""
    from .cases import read_cases, read_events
    from .deadlines import case_deadlines, visible_events
    from .disposal_progress import parcel_stages
    from .disposal_warnings import disposal_warnings, parcel_warning_level, visible_cases

    rules = rules or default_disposal_rules()
    at = pd.Timestamp(pd.Timestamp(as_of).date())
    identified = identified_parcels(store)
    cases, events = read_cases(store), read_events(store)
    stages = parcel_stages(identified, cases, events, at, rules=rules)
    cases = visible_cases(cases, at).set_index("case_id")
    ev = visible_events(events, at)
    ev = ev.loc[ev["case_id"].isin(set(stages["case_id"].dropna()))]
    last = ev.drop_duplicates("case_id", keep="last").set_index("case_id")
    approvals = ev.loc[ev["event"] == rules.procedure["approve"]].drop_duplicates("case_id", keep="last")
    approvals = approvals.set_index("case_id")
    dl = case_deadlines(ev, at, rules=rules)
    running = dl.loc[~dl["met"]].sort_values(["case_id", "due_date"], kind="stable").drop_duplicates("case_id")
    running = running.set_index("case_id")
    warnings = disposal_warnings(read_cases(store), events, at, identified=identified, rules=rules)
    worst = parcel_warning_level(warnings)
    codes_of = ev.groupby("case_id", sort=False)["event"].agg(list)
    docs = ev.loc[ev["doc_no"].notna()]
    doc_text = {}
    for cid, part in docs.groupby("case_id", sort=False):
        lines = []
        for e, no, day, served in part[["event", "doc_no", "event_date", "service_date"]].itertuples(index=False):
            when = f"{pd.Timestamp(day).date()}" + (f"，送达 {pd.Timestamp(served).date()}" if pd.notna(served) else "")
            lines.append(f"{rules.label(e)} {no}（{when}）")
        doc_text[cid] = "\n".join(lines)

    layer = get_layer("idle_assessment")
    route_f, sub_f = layer.field("route"), layer.field("sub_route")
    case_id = stages["case_id"]
    has_case = case_id.notna().to_numpy()
    ident_sub = identified.drop_duplicates("parcel_id").set_index("parcel_id")["sub_route"]
    sub = np.where(
        has_case,
        _pick(case_id, cases["sub_route"]).to_numpy(dtype=object) if len(cases) else None,
        stages["parcel_id"].map(ident_sub).to_numpy(dtype=object),
    )
    rec_route = _pick(case_id, cases["recommended_route"]) if len(cases) else case_id
    rec_sub = _pick(case_id, cases["recommended_sub_route"]) if len(cases) else case_id

    def text(v):
        return v if isinstance(v, str) and v else None

    recommended, next_step = [], []
    for i, (cid, route, s_, rr, rs) in enumerate(zip(case_id, stages["route"], sub, rec_route, rec_sub)):
        if not has_case[i]:
            recommended.append(None)
            seq = rules.sequence(route, s_) if isinstance(route, str) and rules.has_route(route, text(s_)) else []
            next_step.append(rules.label(seq[0]) if seq else None)
            continue
        differs = (route, text(s_)) != (text(rr), text(rs))
        recommended.append(
            (route_f.label_of(rr) + (f"/{sub_f.label_of(rs)}" if text(rs) else "")) if differs and text(rr) else None
        )
        next_step.append(_next_steps(rules, route, s_, codes_of.get(cid, [])))
    area = stages["area_m2"].astype("float64")
    done = (stages["stage"] == "completed").to_numpy()
    # a deadline runs only while the case is open (closed another way: it waits for a reopening)
    running = running.loc[~running.index.isin(stages.loc[stages["stage"].isin(["completed", "closed"]), "case_id"])]
    paused = _pick(case_id, running["paused"]).fillna(False).astype(bool).to_numpy()
    deadline = _pick(case_id, running["label"]).to_numpy(dtype=object)
    deadline = np.where(paused & pd.notna(deadline), [f"{d}（复议/诉讼中，暂停计算）" for d in deadline], deadline)
    return pd.DataFrame(
        {
            "parcel_id": stages["parcel_id"],
            "town_code": stages["town_code"],
            "case_id": case_id,
            "route": stages["route"],
            "sub_route": pd.Series(sub, dtype=object),
            "recommended": recommended,
            "reason": _pick(case_id, cases["reason"]) if len(cases) else None,
            "stage": stages["stage"],
            "last_event": case_id.map(last["event"]),
            "last_event_date": pd.to_datetime(_pick(case_id, last["event_date"])),
            "next_step": next_step,
            "deadline": deadline,
            "due_date": pd.to_datetime(_pick(case_id, running["due_date"])),
            "days_left": _pick(case_id, running["days_left"]).astype("Int64"),
            "warning_level": stages["parcel_id"].map(worst),
            "approved_by": case_id.map(approvals["recorded_by"]),
            "approved_on": pd.to_datetime(_pick(case_id, approvals["event_date"])),
            "documents": case_id.map(doc_text),
            "completed_on": pd.to_datetime(stages["completed_on"]),
            "area_m2": area,
            "disposed_m2": area.where(done),
        }
    )


def stage_fields(store, as_of: Any, *, rules: DisposalRules | None = None) -> pd.DataFrame:
    """Per parcel identified or with a case: the fields of ``case_fields`` in ``layers/exports/disposal.yaml``
    (``case_id, disposal_stage, disposal_stage_label, next_step, due_date, days_left, warning_level,
    warning_label``) — for the GeoJSON export (``--with-cases``) and the map's 预警 colouring."""
    from .cases import STAGE_LABELS
    from .disposal_warnings import LEVEL_LABELS

    st = case_status(store, as_of, rules=rules)
    out = pd.DataFrame(
        {
            "parcel_id": st["parcel_id"],
            "case_id": st["case_id"],
            "disposal_stage": st["stage"],
            "disposal_stage_label": st["stage"].map(STAGE_LABELS),
            "next_step": st["next_step"],
            "due_date": st["due_date"],
            "days_left": st["days_left"],
            "warning_level": st["warning_level"],
            "warning_label": st["warning_level"].map(LEVEL_LABELS),
        }
    )
    return out[["parcel_id", *sheet_headers("case_fields")]]


def _towns(store) -> dict[str, str]:
    if not store.has_layer("towns"):
        return {}
    towns = store.read_layer("towns")
    return dict(zip(towns["town_code"].astype(str), towns["name"].astype(str)))


def disposal_ledger(
    store, as_of: Any, *, town: str | None = None, rules: DisposalRules | None = None, labels: bool = True
) -> pd.DataFrame:
    """The 处置台账 sheet: one row per parcel identified or with a case, columns of ``disposal_ledger`` in
    ``layers/exports/disposal.yaml`` (Chinese headers :data:`LEDGER_HEADERS`; ``labels=False``: the English
    names).  Routes and stages as their Chinese labels, dates as dates, areas in 公顷 and 亩."""
    from .cases import STAGE_LABELS
    from .disposal_warnings import LEVEL_LABELS
    from .facts import MU_PER_M2

    rules = rules or default_disposal_rules()
    st = case_status(store, as_of, rules=rules)
    if town:
        st = st.loc[st["town_code"] == town]
    layer = get_layer("idle_assessment")
    route_f, sub_f = layer.field("route"), layer.field("sub_route")
    names = _towns(store)

    def label(field):
        return lambda v: field.label_of(v) if isinstance(v, str) else None

    def day(col):
        return pd.Series([d.date() if pd.notna(d) else None for d in st[col]], index=st.index, dtype=object)

    out = pd.DataFrame(
        {
            "parcel_id": st["parcel_id"],
            "town_code": st["town_code"],
            "town_name": st["town_code"].map(names),
            "case_id": st["case_id"],
            "route": st["route"].map(label(route_f)),
            "sub_route": st["sub_route"].map(label(sub_f)),
            "recommended": st["recommended"],
            "reason": st["reason"],
            "stage": st["stage"].map(STAGE_LABELS),
            "last_event": st["last_event"].map(lambda e: rules.label(e) if isinstance(e, str) else None),
            "last_event_date": day("last_event_date"),
            "next_step": st["next_step"],
            "deadline": st["deadline"],
            "due_date": day("due_date"),
            "days_left": st["days_left"].astype(object).where(st["days_left"].notna(), None),
            "warning": st["warning_level"].map(LEVEL_LABELS),
            "approved_by": st["approved_by"],
            "approved_on": day("approved_on"),
            "documents": st["documents"],
            "completed_on": day("completed_on"),
            "area_ha": (st["area_m2"] / 10_000).round(4),
            "area_mu": (st["area_m2"] * MU_PER_M2).round(2),
            "disposed_ha": (st["disposed_m2"] / 10_000).round(4),
            "disposed_mu": (st["disposed_m2"] * MU_PER_M2).round(2),
        }
    )
    out = out[list(LEDGER_HEADERS)].sort_values("parcel_id", kind="stable").reset_index(drop=True)
    out = out.astype(object).where(out.notna(), None)
    return out.rename(columns=LEDGER_HEADERS) if labels else out


def disposal_progress_sheet(
    store, as_of: Any, *, town: str | None = None, rules: DisposalRules | None = None, labels: bool = True
) -> pd.DataFrame:
    """The 处置进度 sheet: :func:`gis.disposal_progress.disposal_progress` per town with the district's 合计
    row last (docs/disposal.md §6), columns of ``disposal_progress`` in ``layers/exports/disposal.yaml``."""
    prog = current_progress(store, as_of, by="town_code", rules=rules)
    if town:
        prog = prog.loc[prog["town_code"] == town]
    names = _towns(store)
    out = prog.assign(
        town_name=prog["town_code"].map(names).where(prog["town_code"] != "合计", "全区"),
        on_track=prog["on_track"].map({True: "是", False: "否"}),
        projected_date=[d.date() if pd.notna(d) else None for d in prog["projected_date"]],
        target_date=[d.date() if pd.notna(d) else None for d in prog["target_date"]],
    )
    out = out[list(PROGRESS_HEADERS)].reset_index(drop=True)
    out = out.astype(object).where(out.notna(), None)
    return out.rename(columns=PROGRESS_HEADERS) if labels else out


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
