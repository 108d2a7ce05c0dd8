"""柯桥区存量土地处置与城中村改造 — the planners' map app (``streamlit run app.py``).

The page shows what ``gis`` builds: the map (:func:`gis.maps.map_from_layers`), the dashboard tables
and charts (:mod:`gis.dashboard`), decisions (:mod:`gis.decisions`), users (:mod:`gis.auth`).
Per-user state lives in ``st.session_state``; loaders are cached by store URL + store version.
Store: ``$DATABASE_URL``, else ``$LANDRENEW_STORE``, else ``var/landrenew.gpkg``.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from gis import dashboard as dash
from gis.auth import ROLE_LABELS, ROLES, add_user, authenticate, users_path
from gis.decisions import decision_history, record_decision, sub_routes_of
from gis.errors import ConflictError, LandRenewError
from gis.maps import BASEMAPS, feature_target, map_from_layers
from gis.schema import get_layer
from gis.store import decision_version, default_store_url, open_store

st.set_page_config(page_title="柯桥区存量土地与城中村改造一张图", page_icon="🗺️", layout="wide")

ASSESS = get_layer("idle_assessment")
STATUS = get_layer("village_status")
ROUTE = ASSESS.field("route")
SUB_ROUTE = ASSESS.field("sub_route")


# ------------------------------------------------------------------------------------------ loaders
@st.cache_resource(show_spinner=False)
def _store(url: str):
    return open_store(url)


def _version(store) -> str:
    """Changes whenever the store is written (counts, meta, and the file itself for a GeoPackage)."""
    parts: dict = {"meta": store.meta(), "counts": store.layer_counts()}
    path = getattr(store, "path", None)
    if path is not None and Path(path).exists():
        stat = Path(path).stat()
        parts["file"] = [stat.st_mtime_ns, stat.st_size]
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


@st.cache_data(show_spinner="读取图层…", max_entries=64)
def _layer(url: str, version: str, name: str) -> pd.DataFrame:
    return _store(url).read_layer(name)


@st.cache_data(show_spinner=False, max_entries=8)
def _parcels(url: str, version: str) -> pd.DataFrame:
    return dash.parcel_frame(_layer(url, version, "idle_assessment"), _layer(url, version, "parcels"),
                             _layer(url, version, "decisions"))


@st.cache_data(show_spinner="计算遥感指数…", max_entries=256)
def _imagery(url: str, version: str, parcel_id: str) -> pd.DataFrame:
    from gis.imagery import list_rasters

    store = _store(url)
    one = store.read_layer("parcels", where={"parcel_id": parcel_id})
    return dash.parcel_imagery(one, list_rasters(store))


def _secret(name: str) -> str | None:
    try:
        return st.secrets.get(name) or os.environ.get(name.upper())
    except Exception:  # no secrets.toml
        return os.environ.get(name.upper())


def _opts(field, values=None) -> dict:
    return {"options": list(values if values is not None else field.values), "format_func": field.label_of}


# ------------------------------------------------------------------------------------------- login
URL = default_store_url()
store = _store(URL)
VERSION = _version(store)
META = store.meta()


def _login() -> None:
    st.title("柯桥区存量土地处置与城中村改造一张图")
    path = users_path(store)
    if not path.exists():
        st.warning(f"尚未创建用户。请在服务器上运行：`landrenew users add 用户名 --role admin`（用户文件：{path}）")
        return
    with st.form("login"):
        name = st.text_input("用户名")
        password = st.text_input("密码", type="password")
        if st.form_submit_button("登录", type="primary"):
            try:
                st.session_state.user = authenticate(path, name, password)
                st.rerun()
            except LandRenewError as exc:
                st.error(str(exc))


if "user" not in st.session_state:
    _login()
    st.stop()
USER = st.session_state.user

# ----------------------------------------------------------------------------------------- sidebar
with st.sidebar:
    st.markdown(f"**{USER.name}**（{ROLE_LABELS[USER.role]}）")
    if st.button("退出登录"):
        for key in list(st.session_state):
            del st.session_state[key]
        st.rerun()
    if META.get("synthetic") == "true":
        st.error("模拟数据：本库为演示用的合成数据，不代表真实宗地与村庄", icon="⚠️")
    st.caption(f"存储：{store.url}")
    basemap = st.selectbox("底图", list(BASEMAPS), format_func=BASEMAPS.get, key="basemap")
    xyz_url = st.text_input("本地瓦片地址", "/app/static/tiles/{z}/{x}/{y}.png") if basemap == "xyz" else None
    st.subheader("筛选")
    towns = _layer(URL, VERSION, "towns")
    town_names = dict(zip(towns["town_code"].astype(str), towns["name"].astype(str)))
    flt_towns = st.multiselect("镇街", list(town_names), format_func=town_names.get, key="f_town", placeholder="全部")
    flt_routes = st.multiselect("推荐处置路径", **_opts(ROUTE), key="f_route", placeholder="全部")
    flt_subs = st.multiselect("具体方式", **_opts(SUB_ROUTE), key="f_sub", placeholder="全部")
    flt_idle = st.multiselect("闲置类型", **_opts(ASSESS.field("idle_type")), key="f_idle", placeholder="全部")
    flt_use = st.multiselect("土地用途", **_opts(get_layer("parcels").field("land_use")), key="f_use", placeholder="全部")
    flt_years = st.slider("闲置年限（年）", 0.0, 20.0, (0.0, 20.0), 0.5, key="f_years")
    flt_status = st.multiselect("城中村进展状态", **_opts(STATUS.field("status")), key="f_status", placeholder="全部")
    search = st.text_input("宗地编号查询", key="search", placeholder="输入宗地编号后回车")

FILTER = dash.MapFilter(towns=tuple(flt_towns), routes=tuple(flt_routes), sub_routes=tuple(flt_subs),
                        idle_types=tuple(flt_idle), land_uses=tuple(flt_use),
                        idle_years=None if flt_years == (0.0, 20.0) else tuple(flt_years),
                        village_statuses=tuple(flt_status))
ALL_PARCELS = _parcels(URL, VERSION)
ALL_VILLAGES = _layer(URL, VERSION, "village_status")
PARCELS, VILLAGES = dash.apply_filter(ALL_PARCELS, ALL_VILLAGES, FILTER)
PROJECTS = _layer(URL, VERSION, "projects")


def _select(layer: str, key: str) -> None:
    """Open a feature's detail; the version a decision is based on is captured now (on load)."""
    st.session_state.selected = (layer, key)
    if layer == "idle_assessment":
        st.session_state.setdefault("versions", {})[key] = store.current_version(key)


if search and search != st.session_state.get("last_search"):
    st.session_state.last_search = search
    if (ALL_PARCELS["parcel_id"] == search.strip()).any():
        _select("idle_assessment", search.strip())
    else:
        st.sidebar.error(f"没有宗地编号为“{search}”的研判结果")


# ------------------------------------------------------------------------------------------ detail
def _text(value) -> str:
    if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d}" if value == value.normalize() else f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, (bool, np.bool_)):
        return "是" if value else "否"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _kv_table(row: pd.Series, layer: str, fields: list[str]) -> pd.DataFrame:
    lay = get_layer(layer)
    shown = dash.labelled(row.to_frame().T, layer, fields)
    labels = {f.name: f.label for f in lay.fields}
    parcels = get_layer("parcels")
    for f in fields:
        if f not in labels and f in parcels.field_names:
            labels[f] = parcels.field(f).label
    values = [_text(v) for v in (shown.iloc[0].tolist() if len(shown) else [])]
    return pd.DataFrame({"项目": [labels.get(c, c) for c in shown.columns], "内容": values}).set_index("项目")


def _parcel_detail(pid: str) -> None:
    rows = ALL_PARCELS[ALL_PARCELS["parcel_id"] == pid]
    if rows.empty:
        st.warning(f"宗地 {pid} 不在当前研判结果中")
        return
    row = rows.iloc[0]
    st.subheader(f"宗地 {pid}")
    rec = ROUTE.label_of(row["route"]) + (f"／{SUB_ROUTE.label_of(row['sub_route'])}"
                                           if isinstance(row["sub_route"], str) else "")
    if isinstance(row["decided_route"], str):
        dec = ROUTE.label_of(row["decided_route"]) + (f"／{SUB_ROUTE.label_of(row['decided_sub_route'])}"
                                                      if isinstance(row["decided_sub_route"], str) else "")
        dec += f"（审定人 {row['decided_by']}）"
    else:
        dec = "未审定"
    st.table(pd.DataFrame({"项目": ["推荐处置路径", "审定结果"], "内容": [rec, dec]}).set_index("项目"))
    fields = ["parcel_id", "holder", "land_use", "area_m2", "town_code", "dev_status", "idle_type", "idle_since",
              "idle_years", "cause", "idle_fee_wan", "activity_index", "evidence_conflict", "rules_version", "as_of"]
    st.table(_kv_table(row, "idle_assessment", fields))
    st.markdown("**研判依据**")
    reasons = row["reasons"] or []
    st.table(pd.DataFrame({"规则": [r.get("rule_id", "") for r in reasons],
                           "依据": [r.get("text", "") for r in reasons],
                           "出处": [r.get("citation", "") for r in reasons]}).set_index("规则"))
    alts, measures = row["alternatives"] or [], row["measures"] or []
    if alts or measures:
        st.markdown("**备选路径与配套措施**")
        st.table(pd.DataFrame({"类别": ["备选路径"] * len(alts) + ["配套措施"] * len(measures),
                               "内容": [dash._list_text(a) for a in alts] + [dash._list_text(m) for m in measures]}
                              ).set_index("类别"))
    series = _imagery(URL, VERSION, pid)
    if len(series):
        st.markdown("**遥感指数变化**")
        st.altair_chart(dash.imagery_chart(series), width="stretch")
    linked_p = PROJECTS[PROJECTS["project_id"].isin(list(row["project_ids"] or []))]
    if len(linked_p):
        st.markdown("**关联项目**")
        st.table(dash.labelled(linked_p, "projects", ["project_id", "name", "status", "whitelist", "presold_units"]))
    linked_v = ALL_VILLAGES[ALL_VILLAGES["village_id"].isin(list(row["village_ids"] or []))]
    if len(linked_v):
        st.markdown("**涉及城中村**")
        st.table(dash.labelled(linked_v, "village_status", ["village_id", "name", "status", "percent_complete"]))
    st.markdown("**审定记录**")
    history = decision_history(store, pid)
    if history.empty:
        st.caption("尚无审定记录")
    else:
        hist = history.assign(decided_at=history["decided_at"].dt.tz_convert("Asia/Shanghai").dt.strftime("%Y-%m-%d %H:%M"))
        hist["sub_route"] = hist["sub_route"].map(lambda v: SUB_ROUTE.label_of(v) if isinstance(v, str) else "")
        st.table(dash.labelled(hist, "decisions", ["decided_at", "decided_by", "route", "sub_route", "note"]))
    _decision_form(pid, row)


def _decision_form(pid: str, row: pd.Series) -> None:
    if not USER.can("decide"):
        st.info("当前为浏览角色，不能审定。")
        return
    versions = st.session_state.setdefault("versions", {})
    if pid not in versions:
        versions[pid] = store.current_version(pid)
    subs = [""] + [s for r in ROUTE.values for s in sub_routes_of(r)]
    with st.form(f"decide_{pid}", clear_on_submit=True):
        st.markdown("**记录审定结果**")
        route = st.selectbox("审定路径", list(ROUTE.values), format_func=ROUTE.label_of,
                             index=list(ROUTE.values).index(row["route"]) if row["route"] in ROUTE.values else 0)
        sub = st.selectbox("具体方式", subs, format_func=lambda s: "（无）" if not s else
                           f"{ROUTE.label_of(dict((x, r) for r in ROUTE.values for x in sub_routes_of(r))[s])}／"
                           f"{SUB_ROUTE.label_of(s)}")
        note = st.text_area("说明")
        if st.form_submit_button("保存审定", type="primary"):
            try:
                saved = record_decision(store, parcel_id=pid, route=route, sub_route=sub or None, note=note,
                                        decided_by=USER.name, role=USER.role, based_on_version=versions[pid])
            except ConflictError as exc:
                st.error(str(exc))
            except LandRenewError as exc:
                st.error(str(exc))
            else:
                versions[pid] = decision_version(saved["decision_id"])
                st.session_state.flash = f"已保存宗地 {pid} 的审定结果：{ROUTE.label_of(route)}"
                st.rerun()


def _village_detail(vid: str) -> None:
    rows = ALL_VILLAGES[ALL_VILLAGES["village_id"] == vid]
    if rows.empty:
        st.warning(f"城中村 {vid} 不在当前进展结果中")
        return
    row = rows.iloc[0]
    st.subheader(f"城中村 {row['name']}（{vid}）")
    st.table(_kv_table(row, "village_status", ["status", "stage", "percent_complete", "monthly_rate",
                                               "required_monthly_rate", "projected_completion",
                                               "months_to_deadline", "households", "needs_resettlement_units"]))
    villages = _layer(URL, VERSION, "villages")
    burnup = dash.village_burnup(vid, villages, _layer(URL, VERSION, "village_progress"))
    st.markdown("**改造进度（燃尽/累计图，对照完成期限）**")
    st.altair_chart(dash.burnup_chart(burnup), width="stretch")
    sites = _layer(URL, VERSION, "resettlement_sites")
    sites = sites[sites["village_id"] == vid]
    st.markdown("**安置房选址建议**")
    if sites.empty:
        st.caption("无建议（不需要安置房，或附近没有合适的闲置地块）")
    else:
        st.table(dash.labelled(sites, "resettlement_sites", ["rank", "parcel_id", "distance_m", "area_m2", "fit",
                                                               "score", "reason"]))
    for note in row["notes"] or []:
        st.caption(str(note))


# -------------------------------------------------------------------------------------------- tabs
st.title("柯桥区存量土地处置与城中村改造一张图")
if flash := st.session_state.pop("flash", None):
    st.success(flash)
tab_names = ["一张图", "统计看板"] + (["数据管理"] if USER.can("run_pipelines") else [])
tabs = st.tabs(tab_names)

with tabs[0]:
    area_ha = float(PARCELS["area_m2"].astype(float).sum()) / 10_000
    st.markdown(f"地图显示 **{len(PARCELS)}** 宗地块（{area_ha:,.1f} 公顷）、**{len(VILLAGES)}** 个城中村")
    left, right = st.columns([3, 2])
    with left:
        try:
            fmap = map_from_layers({"towns": towns, "village_status": VILLAGES, "projects": PROJECTS,
                                    "idle_assessment": PARCELS}, basemap=basemap,
                                   tianditu_key=_secret("tianditu_key"), xyz_url=xyz_url)
        except LandRenewError as exc:
            st.error(str(exc))
            fmap = map_from_layers({"towns": towns, "village_status": VILLAGES, "projects": PROJECTS,
                                    "idle_assessment": PARCELS})
        result = st_folium(fmap, key="map", height=620, use_container_width=True,
                           returned_objects=["last_active_drawing"])
        clicked = (result or {}).get("last_active_drawing")
        props = (clicked or {}).get("properties")
        if props and props != st.session_state.get("last_click"):
            st.session_state.last_click = props
            target = feature_target(props)
            if target and target[0] in ("idle_assessment", "village_status"):
                _select(*target)
        st.markdown("**按推荐处置路径统计（当前筛选）**")
        st.table(dash.route_counts(PARCELS).set_index("推荐处置路径"))
    with right:
        selected = st.session_state.get("selected")
        if selected is None:
            st.info("点击地图上的宗地或城中村查看详情，或在左侧输入宗地编号。")
        elif selected[0] == "idle_assessment":
            _parcel_detail(selected[1])
        else:
            _village_detail(selected[1])

with tabs[1]:
    as_of = META.get("assess_as_of") or META.get("renewal_as_of")
    as_of_date = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
    cd = dash.countdown(as_of_date)
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("距 2027 年底期限", f"{cd['days']} 天", help=f"约 {cd['months']} 个月（期限 {cd['deadline']:%Y-%m-%d}）")
    m2.metric("闲置/研判宗地（当前筛选）", f"{len(PARCELS)}")
    m3.metric("城中村（当前筛选）", f"{len(VILLAGES)}")
    m4.metric("已审定宗地", f"{int(ALL_PARCELS['decided_route'].notna().sum())}")
    st.caption(f"研判基准日 {as_of_date:%Y-%m-%d}")
    by_town = dash.route_by_town(PARCELS, towns)
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**各镇街宗地面积（按推荐处置路径；灰色为不纳入存量处置的宗地）**")
        st.altair_chart(dash.route_chart(by_town), width="stretch")
    with c2:
        st.markdown("**城中村按进展状态**")
        by_status = dash.villages_by_status(VILLAGES)
        st.altair_chart(dash.status_chart(by_status), width="stretch")
        trend = dash.progress_trend(_layer(URL, VERSION, "villages"), _layer(URL, VERSION, "village_progress"))
        st.markdown("**全区改造进度趋势**")
        st.altair_chart(dash.trend_chart(trend), width="stretch")
    tables = {"按路径统计": dash.route_counts(PARCELS), "按镇街与路径": by_town,
              "城中村按状态": by_status, "白名单项目": dash.whitelist_projects(PROJECTS)}
    for title, table in tables.items():
        with st.expander(title, expanded=title == "白名单项目"):
            st.dataframe(table, hide_index=True, width="stretch")
            st.download_button(f"下载“{title}”（CSV）", table.to_csv(index=False).encode("utf-8-sig"),
                               file_name=f"{title}.csv", mime="text/csv", key=f"dl_{title}")



# ----------------------------------------------------------------------------------------- history
def _history_panel() -> None:
    """Import batches and kept runs (read-only), with the diff of two runs (HISTORY.md §1, §3)."""
    from gis.batches import list_batches
    from gis.runs import diff_runs, list_runs

    with st.expander("导入批次"):
        batches = list_batches(store)
        st.dataframe(batches[["batch_id", "mode", "scope", "effective", "late", "imported_by", "same_as",
                              "rejects_path"]], hide_index=True, width="stretch")
    with st.expander("研判批次（保留的历次研判，只读）"):
        runs = list_runs(store, kind="assess")
        st.dataframe(runs[["run_id", "as_of", "rules_version", "current", "what_if", "created_by", "label"]],
                     hide_index=True, width="stretch")
        if len(runs) >= 2:
            r1, r2 = st.columns(2)
            a = r1.selectbox("批次 A", list(runs["run_id"]), index=0)
            b = r2.selectbox("批次 B", list(runs["run_id"]), index=1)
            diff = diff_runs(store, a, b)
            st.caption(f"{len(diff)} 宗地的存量范围、闲置类型、路径、具体方式或闲置费不同")
            st.dataframe(diff.assign(changed=diff["changed"].map("、".join))[
                ["parcel_id", "changed", "route_a", "route_b", "idle_type_a", "idle_type_b"]],
                hide_index=True, width="stretch")


# ------------------------------------------------------------------------------------------- admin
def _run_ingest(uploads: dict, **batch) -> None:
    from gis.ingest import ingest_files

    folder = store.files_dir / "uploads" / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    sources = {}
    for layer, up in uploads.items():
        target = folder / Path(up.name).name
        target.write_bytes(up.getvalue())
        sources[layer] = target
    bar = st.progress(0.0, text="校验导入…")
    reports = ingest_files(store, sources, meta={"ingested_at": dt.datetime.now(dt.timezone.utc).isoformat()},
                           user=USER.name, **batch)  # mode / scope / effective / confirm: gis.batches
    bar.progress(1.0, text="导入完成")
    st.session_state.admin_result = ("导入", pd.DataFrame(
        [{"图层": get_layer(r.layer).label, "读取": r.read, "入库": r.stored, "修复": r.repaired, "拒收": r.rejected}
         for r in reports]), pd.DataFrame([p.as_dict() for r in reports for p in r.problems]),
        next((str(r.rejects_path) for r in reports if r.rejects_path), None))


def _run_assess(as_of: dt.date) -> None:
    from gis.workflow import assess_store

    bar = st.progress(0.0, text="闲置土地研判…")

    def step(i: int, total: int, label: str) -> None:
        bar.progress(min(1.0, i / max(total, 1)), text=str(label))

    result = assess_store(store, as_of=as_of, on_progress=step)
    bar.progress(1.0, text="研判完成")
    st.session_state.admin_result = ("研判", dash.route_counts(dash.parcel_frame(result, store.read_layer("parcels"))),
                                     pd.DataFrame(), None)


def _run_renewal(as_of: dt.date) -> None:
    from gis.workflow import renewal_store

    bar = st.progress(0.0, text="城中村改造进展…")
    status, sites = renewal_store(store, as_of=as_of)
    bar.progress(1.0, text=f"完成：{len(status)} 个城中村，{len(sites)} 条安置房选址建议")
    st.session_state.admin_result = ("城中村改造进展", dash.villages_by_status(status), pd.DataFrame(), None)


if USER.can("run_pipelines"):
    with tabs[2]:
        st.markdown("**运行数据流程**（结果写入存储，一次事务，失败则不改动）")
        default_as_of = META.get("assess_as_of")
        run_as_of = st.date_input("研判基准日", dt.date.fromisoformat(default_as_of) if default_as_of else dt.date.today())
        inputs = ("towns", "enterprises", "parcels", "projects", "villages", "village_progress")
        with st.expander("导入源文件（GeoPackage / GeoJSON / Excel / CSV）"):
            uploads = {name: st.file_uploader(f"{get_layer(name).label}（{name}）", key=f"up_{name}",
                                              type=["gpkg", "geojson", "json", "xlsx", "csv"]) for name in inputs}
            uploads = {k: v for k, v in uploads.items() if v is not None}
            i1, i2, i3, i4 = st.columns(4)  # HISTORY.md §1: every import is a batch
            mode = i1.selectbox("导入方式", ["replace", "upsert"],
                                format_func={"replace": "替换（以文件为准）", "upsert": "新增或更新（按编号）"}.get)
            scope = i2.text_input("范围（可选，如 town_code=330603001）")
            effective = i3.date_input("台账日期", dt.date.today())
            confirm = i4.checkbox("确认退出台账的记录")
            if st.button("导入", disabled=not uploads):
                try:
                    _run_ingest(uploads, mode=mode, scope=scope or None, effective=effective, confirm=confirm)
                except LandRenewError as exc:
                    st.error(str(exc))
        _history_panel()
        b1, b2 = st.columns(2)
        try:
            if b1.button("运行闲置土地研判", type="primary"):
                _run_assess(run_as_of)
            if b2.button("运行城中村改造进展"):
                _run_renewal(run_as_of)
        except LandRenewError as exc:
            st.error(str(exc))
        if result := st.session_state.get("admin_result"):
            title, counts, problems, rejects = result
            st.markdown(f"**{title}结果**")
            st.table(counts)
            if len(problems):
                st.markdown(f"**拒收/修复清单**（共 {len(problems)} 条）")
                st.dataframe(problems, hide_index=True, width="stretch")
            if rejects:
                st.caption(f"拒收清单文件：{rejects}")
        st.divider()
        st.markdown("**用户管理**")
        with st.form("add_user", clear_on_submit=True):
            new_name = st.text_input("新用户名")
            new_role = st.selectbox("角色", list(ROLES), format_func=ROLE_LABELS.get)
            new_pwd = st.text_input("初始密码（至少 8 位）", type="password")
            replace = st.checkbox("已存在则重设")
            if st.form_submit_button("添加用户"):
                try:
                    add_user(users_path(store), new_name, new_pwd, role=new_role, replace=replace)
                    st.success(f"已添加用户 {new_name}（{ROLE_LABELS[new_role]}）")
                except LandRenewError as exc:
                    st.error(str(exc))
