"""Disposal cases in the map app (Streamlit): the case timeline and forms in the parcel detail, the disposal
section of the dashboard.  Called from ``app.py``; all rules live in the library (:mod:`gis.cases`): the page
only offers what :func:`gis.cases.allowed_events` allows and shows the library's refusal when there is one.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from gis.cases import (
    STAGE_LABELS,
    Attachment,
    allowed_events,
    case_events,
    case_stage,
    is_identified,
    open_case,
    record_event,
)
from gis.disposal_export import current_progress, current_warnings, write_warnings_xlsx
from gis.disposal_rules import default_disposal_rules
from gis.errors import LandRenewError
from gis.schema import get_layer
from gis.store import cases_store

RULES = default_disposal_rules()
_IA = get_layer("idle_assessment")


def _route_text(route: str | None, sub: str | None) -> str:
    return _IA.field("route").label_of(route) + (f"／{_IA.field('sub_route').label_of(sub)}" if sub else "")


def case_section(store, pid: str, row: pd.Series, user) -> None:
    """The parcel's cases: timeline, attachments, the form for the next allowed events, open a case, the plan."""
    st.markdown("**处置案件**")
    cases = cases_store.read_cases(store, where={"parcel_id": pid})
    may_record = user is not None and user.role in RULES.roles("record")
    may_approve = user is not None and user.role in RULES.roles("approve")
    current = None
    for _, case in cases.iloc[::-1].iterrows():
        ev = case_events(store, case["case_id"])
        stage = case_stage(RULES, ev["event"].tolist())
        st.caption(
            f"案件 {case['case_id']}：{_route_text(case['route'], case['sub_route'])}，"
            f"{STAGE_LABELS[stage]}（立案 {pd.Timestamp(case['opened_at']).tz_convert('Asia/Shanghai'):%Y-%m-%d}，"
            f"{case['opened_by']}）"
        )
        if len(ev):
            st.table(
                pd.DataFrame(
                    {
                        "序号": ev["seq"].astype(int),
                        "事项": [RULES.label(e) for e in ev["event"]],
                        "日期": ev["event_date"].dt.strftime("%Y-%m-%d"),
                        "送达日期": ev["service_date"].dt.strftime("%Y-%m-%d").fillna(""),
                        "文号": ev["doc_no"].fillna(""),
                        "说明": ev["note"].fillna(""),
                        "登记人": ev["recorded_by"],
                    }
                ).set_index("序号")
            )
        att = cases_store.read_attachments(store, where={"case_id": case["case_id"]})
        for _, a in att.iterrows():
            data = cases_store.read_attachment_content(store, a["attachment_id"])
            st.download_button(
                f"附件：{a['filename']}（{a['size_bytes']} 字节，SHA-256 {a['sha256'][:12]}…）",
                data,
                file_name=a["filename"],
                mime=a["media_type"],
                key=f"att_{a['attachment_id']}",
            )
        if current is None and stage not in ("completed", "closed"):
            current = case
    if cases.empty:
        st.caption("尚未立案")
    if len(cases):
        from gis.plan_doc import write_plan

        if st.button("生成一地一策处置方案（.docx）", key=f"plan_{pid}"):
            import tempfile
            from pathlib import Path

            with tempfile.TemporaryDirectory() as tmp:
                doc = write_plan(store, pid, Path(tmp) / f"{pid}.docx").read_bytes()
            st.download_button(
                "下载处置方案",
                doc,
                file_name=f"{pid}_处置方案.docx",
                mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                key=f"plan_dl_{pid}",
            )
    if not may_record:
        st.info("当前为浏览角色，不能立案或登记处置事项。")
        return
    if current is None:
        _open_form(store, pid, row, user)
        return
    nxt = allowed_events(store, current["case_id"])
    approve = [e for e in nxt if e in (RULES.procedure["approve"], RULES.procedure["return"])]
    record = [e for e in nxt if e not in approve]
    if approve and may_approve:
        _event_form(store, current, approve, user, title="审批处置方案")
    elif approve:
        st.caption("处置方案待分管领导（审批角色）审批。")
    if record:
        _event_form(store, current, record, user, title="登记下一事项")


def _open_form(store, pid: str, row: pd.Series, user) -> None:
    assessed = pd.DataFrame([row])
    if not bool(is_identified(assessed).iloc[0]):
        st.caption("本宗地未认定闲置、不纳入处置，不能立案。")
        return
    routes = RULES.routes()
    rec = (row["route"], row["sub_route"] if isinstance(row["sub_route"], str) else None)
    with st.form(f"open_{pid}", clear_on_submit=True):
        st.markdown("**立案**")
        choice = st.selectbox(
            "采用的处置路径",
            routes,
            index=routes.index(rec) if rec in routes else 0,
            format_func=lambda rs: _route_text(*rs),
        )
        reason = st.text_area("理由（与推荐路径不同时必填）")
        if st.form_submit_button("立案", type="primary"):
            try:
                case = open_case(
                    store,
                    parcel_id=pid,
                    route=choice[0],
                    sub_route=choice[1],
                    reason=reason,
                    opened_by=user.name,
                    role=user.role,
                )
            except LandRenewError as exc:
                st.error(str(exc))
            else:
                st.session_state.flash = f"已立案 {case['case_id']}（宗地 {pid}）"
                st.rerun()


def _event_form(store, case: pd.Series, events: list[str], user, *, title: str) -> None:
    with st.form(f"event_{case['case_id']}_{title}", clear_on_submit=True):
        st.markdown(f"**{title}**")
        event = st.selectbox("事项", events, format_func=RULES.label)
        c1, c2 = st.columns(2)
        day = c1.date_input("事项日期", value=dt.date.today(), max_value=dt.date.today())
        served = c2.date_input("送达日期（无则留空）", value=None, max_value=dt.date.today())
        doc_no = st.text_input("文号")
        note = st.text_area("说明")
        fields = {}
        for name, spec in {k: v for e in events for k, v in (RULES.events[e].get("fields") or {}).items()}.items():
            label = spec.get("label", name) + "（仅相应事项填写）"
            if spec["type"] == "date":
                fields[name] = st.date_input(label, value=None)
            elif spec["type"] == "float":
                fields[name] = st.number_input(label, value=None, min_value=0.0)
            else:
                fields[name] = st.text_input(label)
        files = st.file_uploader(
            "附件（PDF、图片、docx、xlsx）",
            accept_multiple_files=True,
            type=["pdf", "png", "jpg", "jpeg", "tif", "tiff", "docx", "xlsx"],
        )
        if st.form_submit_button("保存", type="primary"):
            own = set(RULES.events[event].get("fields") or {})
            data = {k: v for k, v in fields.items() if k in own and v not in (None, "")}
            try:
                saved = record_event(
                    store,
                    case_id=case["case_id"],
                    event=event,
                    event_date=day,
                    service_date=served,
                    doc_no=doc_no,
                    note=note,
                    data=data,
                    attachments=[Attachment(f.name, f.getvalue()) for f in files or []],
                    recorded_by=user.name,
                    role=user.role,
                )
            except LandRenewError as exc:
                st.error(str(exc))
            else:
                st.session_state.flash = f"已登记 {case['case_id']} 第 {saved['seq']} 项：{RULES.label(event)}"
                st.rerun()


@st.cache_data(show_spinner=False, max_entries=8)
def _dashboard_data(url: str, version: str, n_cases: int, n_events: int, as_of: dt.date):
    """Progress, warnings and the warnings workbook, cached per store state (cases and events counted, since
    appending them leaves the layer counts of a PostGIS store unchanged)."""
    import tempfile
    from pathlib import Path

    from gis.store import open_store

    store = open_store(url)
    by_town = current_progress(store, as_of, by="town_code")
    w = current_warnings(store, as_of)
    with tempfile.TemporaryDirectory() as tmp:
        data = write_warnings_xlsx(w, Path(tmp) / "warnings.xlsx", as_of=as_of).read_bytes()
    return by_town, w, data


@st.cache_data(show_spinner=False, max_entries=8)
def _warning_marks(url: str, version: str, n_cases: int, n_events: int, as_of: dt.date) -> pd.DataFrame:
    """One mark per warned parcel (:func:`gis.map_marks.warning_marks`) with its case's stage."""
    from gis.cases import read_cases, read_events
    from gis.disposal_export import identified_parcels
    from gis.disposal_progress import parcel_stages
    from gis.map_marks import warning_marks
    from gis.store import open_store

    store = open_store(url)
    _, w, _ = _dashboard_data(url, version, n_cases, n_events, as_of)
    stages = parcel_stages(identified_parcels(store), read_cases(store), read_events(store), as_of, rules=RULES)
    return warning_marks(w, store.read_layer("idle_assessment"), stages)


def warnings_for_map(store, as_of: dt.date, version: str = "") -> pd.DataFrame:
    """The map's 预警 marks as of a date (the dashboard's warnings, cached with them)."""
    n_cases = len(cases_store.read_cases(store))
    n_events = len(cases_store.read_events(store))
    return _warning_marks(store.url, version, n_cases, n_events, as_of)


def disposal_dashboard(store, as_of: dt.date, version: str = "") -> None:
    """Disposal progress per town and route, the warnings (with an xlsx download)."""
    st.markdown("**闲置土地处置进展（一地一策案件）**")
    try:
        n_cases = len(cases_store.read_cases(store))
        n_events = len(cases_store.read_events(store))
        by_town, w, data = _dashboard_data(store.url, version, n_cases, n_events, as_of)
    except LandRenewError as exc:
        st.error(str(exc))
        return
    total = by_town.iloc[-1]
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("已认定（宗/公顷）", f"{int(total['identified'])} / {total['identified_ha']:.1f}")
    m2.metric("已立案", f"{int(total['with_case'])}")
    m3.metric("方案已批准", f"{int(total['approved'])}")
    m4.metric("处置完成", f"{int(total['completed'])}（{total['rate']:.1%}）" if total["identified"] else "0")
    proj = total["projected_date"]
    st.caption(
        f"近 {RULES.rate_months} 个月平均每月完成 {total['monthly_rate']:.2f} 宗；按此速度预计 "
        + (f"{proj:%Y-%m-%d}" if pd.notna(proj) else "无法")
        + f" 全部处置完成（目标 {RULES.target_date}）"
    )
    st.dataframe(by_town, hide_index=True, width="stretch")
    counts = w["level_label"].value_counts()
    st.markdown("**处置预警**：" + ("，".join(f"{k} {v}" for k, v in counts.items()) or "无"))
    st.dataframe(w.loc[w["level"] != "no_case"], hide_index=True, width="stretch")
    st.download_button(
        "下载预警清单（xlsx）",
        data,
        file_name=f"处置预警_{as_of}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key="dl_warnings",
    )
