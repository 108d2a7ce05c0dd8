"""柯桥区存量土地处置与城中村改造 — the planners' map app (``streamlit run app.py``).

The page shows what ``gis`` builds: the map (:func:`gis.maps.map_from_layers`), the dashboard tables
and charts (:mod:`gis.dashboard`), decisions (:mod:`gis.decisions`), users (:mod:`gis.auth`).
Per-user state lives in ``st.session_state``; loaders are cached by store URL + store version.
Store: ``$DATABASE_URL``, else ``$LANDRENEW_STORE``, else ``var/landrenew.gpkg``.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from app_cases import case_section, disposal_dashboard, warnings_for_map
from gis import accounts
from gis import dashboard as dash
from gis.auth import ROLE_LABELS, ROLES, User, authenticate, record_event, session_expired, session_user
from gis.cells import safe_frame
from gis.decisions import decision_history, record_decision, sub_routes_of
from gis.district import district
from gis.errors import ConflictError, LandRenewError
from gis.history_view import decision_items, decisions_table, version_items, versions_table
from gis.map_marks import changed_marks, mark_layer, mark_style
from gis.maps import BASEMAPS, feature_target, map_from_layers, map_overlay, tile_fields, tile_keep
from gis.redact import mask_url
from gis.schema import get_layer
from gis.settings import security_settings
from gis.store import decision_version, default_store_url, open_store
from gis.store.accounts import login_events
from gis.tiles import ensure_tileset, key_at, tile_threshold

st.set_page_config(page_title=f"{district().name}存量土地与城中村改造一张图", page_icon="🗺️", layout="wide")

ASSESS = get_layer("idle_assessment")
STATUS = get_layer("village_status")
ROUTE = ASSESS.field("route")
SUB_ROUTE = ASSESS.field("sub_route")


# ------------------------------------------------------------------------------------------ loaders
@st.cache_resource(show_spinner=False)
def _store(url: str):
    return open_store(url)


def _version(store) -> str:
    """Changes whenever a layer of the store is written (counts, meta, and for a GeoPackage the layers'
    ``gpkg_contents.last_change``, which GDAL sets on every write — not the file's mtime, which also moves
    when a sign-in is recorded in ``login_events`` and would empty every session's cache)."""
    parts: dict = {"meta": store.meta(), "counts": store.layer_counts()}
    path = getattr(store, "path", None)
    if path is not None and Path(path).exists():
        import contextlib
        import sqlite3

        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
            parts["file"] = con.execute("SELECT table_name, last_change FROM gpkg_contents ORDER BY 1").fetchall()
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _layers_version(store) -> str:
    """Changes when a layer other than ``decisions`` is written; a saved decision leaves it as it was, so
    the layers, the tiles and the map stay cached.  A GeoPackage write replaces the file (new inode) and
    GDAL stamps the layer's ``gpkg_contents.last_change``; a decision is an in-place insert."""
    parts: dict = {"meta": store.meta(), "counts": {k: v for k, v in store.layer_counts().items() if k != "decisions"}}
    path = getattr(store, "path", None)
    if path is not None and Path(path).exists():
        stat = Path(path).stat()
        parts["file"] = [stat.st_dev, stat.st_ino]
        with (
            contextlib.suppress(sqlite3.Error),
            contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con,
        ):
            parts["changes"] = con.execute(
                "SELECT table_name, last_change FROM gpkg_contents WHERE table_name != 'decisions' ORDER BY table_name"
            ).fetchall()
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


@st.cache_data(show_spinner="读取图层…", max_entries=64)
def _layer(url: str, version: str, name: str) -> pd.DataFrame:
    return _store(url).read_layer(name)


def _read(name: str) -> pd.DataFrame:
    """A layer of the store, cached until it is written (decisions by the full version, others by
    :func:`_layers_version`)."""
    return _layer(URL, VERSION if name == "decisions" else LAYERS_VERSION, name)


@st.cache_data(show_spinner=False, max_entries=8)
def _parcels(url: str, layers_version: str, version: str) -> pd.DataFrame:
    return dash.parcel_frame(
        _layer(url, layers_version, "idle_assessment"),
        _layer(url, layers_version, "parcels"),
        _layer(url, version, "decisions"),
    )


@st.cache_resource(show_spinner="生成矢量瓦片（每个数据版本一次）…", max_entries=2)
def _tileset(url: str, layers_version: str):
    """The PMTiles archive of the parcels for this store version (:mod:`gis.tiles`)."""
    frame = _layer(url, layers_version, "idle_assessment")
    return ensure_tileset(
        frame,
        store_id=url,
        version=layers_version,
        layer="idle_assessment",
        key="parcel_id",
        fields=tile_fields("idle_assessment"),
        keep=tile_keep(frame),
    )


@st.cache_resource(show_spinner=False, max_entries=2)
def _parcel_index(url: str, layers_version: str):
    """Spatial index of the parcels (degrees) and their ids, for answering a map click."""
    import shapely

    frame = _layer(url, layers_version, "idle_assessment")
    geoms = frame.geometry.to_crs("EPSG:4326").to_numpy() if frame.crs else frame.geometry.to_numpy()
    return shapely.STRtree(geoms), frame["parcel_id"].astype(str).to_numpy(dtype=object)


@st.cache_resource(show_spinner="绘制地图…", max_entries=16)
def _map(url: str, layers_version: str, flt: dash.MapFilter, basemap: str, xyz_url: str | None, tiled: bool):
    """The map for a store version and filter (shared by the sessions; each run draws a copy)."""
    towns = _layer(url, layers_version, "towns")
    parcels, villages = dash.apply_filter(
        dash.parcel_frame(_layer(url, layers_version, "idle_assessment"), _layer(url, layers_version, "parcels")),
        _layer(url, layers_version, "village_status"),
        flt,
    )
    layers = {
        "towns": towns,
        "village_status": villages,
        "projects": _layer(url, layers_version, "projects"),
        "idle_assessment": parcels,
    }
    tiles = {"idle_assessment": _tileset(url, layers_version)} if tiled else None
    try:
        return map_from_layers(
            layers, basemap=basemap, tianditu_key=_secret("tianditu_key"), xyz_url=xyz_url, tiles=tiles
        ), None
    except LandRenewError as exc:
        return map_from_layers(layers, tiles=tiles), str(exc)


@st.cache_data(show_spinner=False, max_entries=8)
def _changed(url: str, layers_version: str, history: str) -> pd.DataFrame:
    """Parcels whose ledger changed since the current run (docs/history.md §2), per store and history state."""
    from gis.runs import changed_since_run

    return changed_since_run(_store(url))


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
LAYERS_VERSION = _layers_version(store)
META = store.meta()


SETTINGS = security_settings()
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _client() -> str:
    """The client's address (X-Forwarded-For only when the settings trust the reverse proxy)."""
    ctx = getattr(st, "context", None)
    if SETTINGS.trust_forwarded_for and ctx is not None:
        forwarded = (ctx.headers.get("X-Forwarded-For") or "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return str(getattr(ctx, "ip_address", None) or "localhost")  # Streamlit gives None for 127.0.0.1 / ::1


def _sign_out(notice: str | None = None, outcome: str | None = None) -> None:
    name = st.session_state.get("user_name")
    if name and outcome:
        record_event(store, name, _client(), outcome)
    for key in list(st.session_state):
        del st.session_state[key]
    if notice:
        st.session_state.login_notice = notice


def _sso_claims() -> dict | None:
    if not SETTINGS.sso_enabled:
        return None
    try:
        return st.user.to_dict() if st.user.is_logged_in else None
    except Exception:  # st.user unavailable (no [auth] section or no Authlib)
        return None


def _login() -> None:
    """The login page: the title and the form, nothing else."""
    st.title(f"{district().name}存量土地处置与城中村改造一张图")
    if notice := st.session_state.get("login_notice"):  # kept until the next sign-in
        st.info(notice)
    with st.form("login"):
        name = st.text_input("用户名")
        password = st.text_input("密码", type="password")
        if st.form_submit_button("登录", type="primary"):
            try:
                user = authenticate(store, name, password, client=_client(), settings=SETTINGS)
            except LandRenewError as exc:
                st.error(str(exc))
            else:
                st.session_state.user_name, st.session_state.last_seen = user.name, _now()
                st.session_state.pop("login_notice", None)
                st.rerun()
    if SETTINGS.sso_enabled and st.button("统一身份认证登录"):
        st.login(SETTINGS.sso_provider or None)


def _signed_in() -> User | None:
    """The user of this session, read from the store on every rerun (role, disabled); None: not signed in."""
    from gis.sso import sso_user

    ss = st.session_state
    claims = _sso_claims()
    if "user_name" not in ss and claims is not None:  # just back from the identity service
        user = sso_user(claims, SETTINGS, store)
        name = str(claims.get(SETTINGS.sso_name_claim) or claims.get("email") or "?")
        record_event(store, name, _client(), "sso" if user else "sso_denied")
        if user is None:
            st.error("统一身份认证账号未获授权使用本系统，请联系管理员")
            if st.button("退出统一身份认证"):
                st.logout()
            st.stop()
        ss.user_name, ss.sso, ss.last_seen = user.name, True, _now()
    if "user_name" not in ss:
        return None
    if session_expired(ss.get("last_seen"), now=_now(), idle=SETTINGS.idle):
        sso = ss.get("sso")
        _sign_out(f"已超过 {SETTINGS.idle_minutes} 分钟无操作，请重新登录", "expired")
        if sso:
            st.logout()
        return None
    user = sso_user(claims, SETTINGS, store) if ss.get("sso") and claims else session_user(store, ss.user_name)
    if user is None:
        _sign_out("账号已停用或已删除，请联系管理员")
        return None
    ss.last_seen = _now()
    return user


USER = _signed_in()
if USER is None:
    _login()
    st.stop()

# ----------------------------------------------------------------------------------------- sidebar
with st.sidebar:
    st.markdown(f"**{USER.name}**（{ROLE_LABELS[USER.role]}）")
    if st.button("退出登录"):
        sso = st.session_state.get("sso")
        _sign_out(outcome="logout")
        if sso:
            st.logout()
        st.rerun()
    if not st.session_state.get("sso"):
        with st.expander("修改密码"):
            with st.form("change_password", clear_on_submit=True):
                current = st.text_input("当前密码", type="password")
                new1 = st.text_input(f"新密码（至少 {SETTINGS.min_password_length} 位）", type="password")
                new2 = st.text_input("再次输入新密码", type="password")
                if st.form_submit_button("修改密码"):
                    try:
                        if new1 != new2:
                            raise LandRenewError("两次输入的新密码不一致")
                        accounts.change_password(store, USER.name, current, new1, settings=SETTINGS)
                    except LandRenewError as exc:
                        st.error(str(exc))
                    else:
                        record_event(store, USER.name, _client(), "password_changed")
                        st.success("密码已修改")
    if META.get("synthetic") == "true":
        st.error("模拟数据：本库为演示用的合成数据，不代表真实宗地与村庄", icon="⚠️")
    if USER.can("manage_users"):
        st.caption(f"存储：{mask_url(store.url)}")
    basemap = st.selectbox("底图", list(BASEMAPS), format_func=BASEMAPS.get, key="basemap")
    xyz_url = st.text_input("本地瓦片地址", "/app/static/tiles/{z}/{x}/{y}.png") if basemap == "xyz" else None
    st.subheader("筛选")
    towns = _read("towns")
    town_names = dict(zip(towns["town_code"].astype(str), towns["name"].astype(str)))
    flt_towns = st.multiselect("镇街", list(town_names), format_func=town_names.get, key="f_town", placeholder="全部")
    flt_routes = st.multiselect("推荐处置路径", **_opts(ROUTE), key="f_route", placeholder="全部")
    flt_subs = st.multiselect("具体方式", **_opts(SUB_ROUTE), key="f_sub", placeholder="全部")
    flt_idle = st.multiselect("闲置类型", **_opts(ASSESS.field("idle_type")), key="f_idle", placeholder="全部")
    flt_use = st.multiselect(
        "土地用途", **_opts(get_layer("parcels").field("land_use")), key="f_use", placeholder="全部"
    )
    flt_years = st.slider("闲置年限（年）", 0.0, 20.0, (0.0, 20.0), 0.5, key="f_years")
    flt_status = st.multiselect("城中村进展状态", **_opts(STATUS.field("status")), key="f_status", placeholder="全部")
    search = st.text_input("宗地编号查询", key="search", placeholder="输入宗地编号后回车")
    st.subheader("地图标注")
    show_warnings = st.checkbox(mark_style("warnings")["label"], key="mark_warnings")
    show_changed = st.checkbox(mark_style("changed")["label"], value=True, key="mark_changed")

FILTER = dash.MapFilter(
    towns=tuple(flt_towns),
    routes=tuple(flt_routes),
    sub_routes=tuple(flt_subs),
    idle_types=tuple(flt_idle),
    land_uses=tuple(flt_use),
    idle_years=None if flt_years == (0.0, 20.0) else tuple(flt_years),
    village_statuses=tuple(flt_status),
)
ALL_PARCELS = _parcels(URL, LAYERS_VERSION, VERSION)
ALL_VILLAGES = _read("village_status")
PARCELS, VILLAGES = dash.apply_filter(ALL_PARCELS, ALL_VILLAGES, FILTER)
PROJECTS = _read("projects")
CHANGED = _changed(URL, LAYERS_VERSION, json.dumps(store.history_counts(), sort_keys=True))


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
    rec = ROUTE.label_of(row["route"]) + (
        f"／{SUB_ROUTE.label_of(row['sub_route'])}" if isinstance(row["sub_route"], str) else ""
    )
    if isinstance(row["decided_route"], str):
        dec = ROUTE.label_of(row["decided_route"]) + (
            f"／{SUB_ROUTE.label_of(row['decided_sub_route'])}" if isinstance(row["decided_sub_route"], str) else ""
        )
        dec += f"（审定人 {row['decided_by']}）"
    else:
        dec = "未审定"
    st.table(pd.DataFrame({"项目": ["推荐处置路径", "审定结果"], "内容": [rec, dec]}).set_index("项目"))
    changed = CHANGED[CHANGED["parcel_id"] == pid]
    if len(changed):
        st.warning(f"本次研判以来该宗地台账已{changed['text'].iloc[0]}，建议重新研判")
    fields = [
        "parcel_id",
        "holder",
        "land_use",
        "area_m2",
        "town_code",
        "dev_status",
        "idle_type",
        "idle_since",
        "idle_years",
        "cause",
        "idle_fee_wan",
        "activity_index",
        "evidence_conflict",
        "rules_version",
        "as_of",
    ]
    st.table(_kv_table(row, "idle_assessment", fields))
    st.markdown("**研判依据**")
    reasons = row["reasons"] or []
    st.table(
        pd.DataFrame(
            {
                "规则": [r.get("rule_id", "") for r in reasons],
                "依据": [r.get("text", "") for r in reasons],
                "出处": [r.get("citation", "") for r in reasons],
            }
        ).set_index("规则")
    )
    alts, measures = row["alternatives"] or [], row["measures"] or []
    if alts or measures:
        st.markdown("**备选路径与配套措施**")
        st.table(
            pd.DataFrame(
                {
                    "类别": ["备选路径"] * len(alts) + ["配套措施"] * len(measures),
                    "内容": [dash.list_text(a) for a in alts] + [dash.list_text(m) for m in measures],
                }
            ).set_index("类别")
        )
    series = _imagery(URL, LAYERS_VERSION, pid)
    if len(series):
        st.markdown("**遥感指数变化**")
        st.altair_chart(dash.imagery_chart(series), width="stretch")
    linked_p = PROJECTS[PROJECTS["project_id"].isin(list(row["project_ids"] or []))]
    if len(linked_p):
        st.markdown("**关联项目**")
        st.table(dash.labelled(linked_p, "projects", list(get_layer("projects").popup)))
    linked_v = ALL_VILLAGES[ALL_VILLAGES["village_id"].isin(list(row["village_ids"] or []))]
    if len(linked_v):
        st.markdown("**涉及城中村**")
        st.table(dash.labelled(linked_v, "village_status", list(STATUS.popup)))
    st.markdown("**审定记录**")
    history = decision_history(store, pid)
    if history.empty:
        st.caption("尚无审定记录")
    else:
        hist = history.assign(
            decided_at=history["decided_at"].dt.tz_convert("Asia/Shanghai").dt.strftime("%Y-%m-%d %H:%M")
        )
        hist["sub_route"] = hist["sub_route"].map(lambda v: SUB_ROUTE.label_of(v) if isinstance(v, str) else "")
        st.table(dash.labelled(hist, "decisions", ["decided_at", "decided_by", "route", "sub_route", "note"]))
    _decision_form(pid, row)
    _parcel_history(pid)
    case_section(store, pid, row, USER)


def _parcel_history(pid: str) -> None:
    """Every version of the parcel and the decisions with what they were based on (docs/history.md §2, §5)."""
    with st.expander("变更历史"):
        versions = version_items(store, pid)
        st.markdown(f"**台账版本**（{len(versions)} 个）")
        if versions:
            st.table(versions_table(versions))
        else:
            st.caption("台账中没有该宗地的历史版本")
        st.markdown("**历次审定及其依据**")
        decisions = decision_items(store, pid)
        if decisions:
            st.table(decisions_table(decisions))
        else:
            st.caption("该宗地尚无审定")


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
        route = st.selectbox(
            "审定路径",
            list(ROUTE.values),
            format_func=ROUTE.label_of,
            index=list(ROUTE.values).index(row["route"]) if row["route"] in ROUTE.values else 0,
        )
        sub = st.selectbox(
            "具体方式",
            subs,
            format_func=lambda s: (
                "（无）"
                if not s
                else f"{ROUTE.label_of(dict((x, r) for r in ROUTE.values for x in sub_routes_of(r))[s])}／"
                f"{SUB_ROUTE.label_of(s)}"
            ),
        )
        note = st.text_area("说明")
        if st.form_submit_button("保存审定", type="primary"):
            try:
                saved = record_decision(
                    store,
                    parcel_id=pid,
                    route=route,
                    sub_route=sub or None,
                    note=note,
                    decided_by=USER.name,
                    role=USER.role,
                    based_on_version=versions[pid],
                )
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
    st.table(
        _kv_table(
            row,
            "village_status",
            [
                "status",
                "stage",
                "percent_complete",
                "monthly_rate",
                "required_monthly_rate",
                "projected_completion",
                "months_to_deadline",
                "households",
                "needs_resettlement_units",
            ],
        )
    )
    villages = _read("villages")
    burnup = dash.village_burnup(vid, villages, _read("village_progress"))
    st.markdown("**改造进度（燃尽/累计图，对照完成期限）**")
    st.altair_chart(dash.burnup_chart(burnup), width="stretch")
    sites = _read("resettlement_sites")
    sites = sites[sites["village_id"] == vid]
    st.markdown("**安置房选址建议**")
    if sites.empty:
        st.caption("无建议（不需要安置房，或附近没有合适的闲置地块）")
    else:
        st.table(
            dash.labelled(
                sites, "resettlement_sites", ["rank", "parcel_id", "distance_m", "area_m2", "fit", "score", "reason"]
            )
        )
    for note in row["notes"] or []:
        st.caption(str(note))


# ------------------------------------------------------------------------------------- map clicks
def _handle_map_click(value: dict | None, tiled: bool) -> None:
    """Open what the planner clicked; runs before the map is drawn, so the map shows it highlighted.

    Inline layers report the clicked feature (``last_active_drawing``).  Tiles report nothing but the
    point: the parcel under it is found with the spatial index of the store's parcels, among those the
    filters show; parcels lie above villages, as on the map.  A mark (预警, 台账已变更) is found the same way."""
    value = value or {}
    point = None
    for name in ("last_object_clicked", "last_clicked"):
        v = value.get(name)
        if v and v != st.session_state.get(f"prev_{name}"):
            st.session_state[f"prev_{name}"] = v
            point = v
    props = (value.get("last_active_drawing") or {}).get("properties")
    drawing_changed = bool(props) and props != st.session_state.get("last_click")
    if drawing_changed:
        st.session_state.last_click = props
    if tiled and point is not None:
        tree, keys = _parcel_index(URL, LAYERS_VERSION)
        shown = np.isin(keys, PARCELS["parcel_id"].astype(str).to_numpy())
        pid = key_at(tree, keys, point["lat"], point["lng"], shown=shown)
        if pid is not None:
            _select("idle_assessment", pid)
            return
    if drawing_changed:
        target = feature_target(props)
        if target and target[0] in ("idle_assessment", "village_status"):
            _select(*target)
    elif point is not None and (show_warnings or show_changed):
        # a click on a mark (it lies above its parcel and carries no feature): open the parcel under it
        tree, keys = _parcel_index(URL, LAYERS_VERSION)
        shown = np.isin(keys, PARCELS["parcel_id"].astype(str).to_numpy())
        pid = key_at(tree, keys, point["lat"], point["lng"], shown=shown)
        if pid is not None and st.session_state.get("selected") != ("idle_assessment", pid):
            _select("idle_assessment", pid)


def _selected_shape():
    """The selected parcel or village as a one-row frame (for its outline on the map), or None."""
    selected = st.session_state.get("selected")
    if not selected:
        return None
    frame, key = (ALL_PARCELS, "parcel_id") if selected[0] == "idle_assessment" else (ALL_VILLAGES, "village_id")
    rows = frame[frame[key] == selected[1]]
    return rows if len(rows) else None


# -------------------------------------------------------------------------------------------- tabs
st.title(f"{district().name}存量土地处置与城中村改造一张图")
if flash := st.session_state.pop("flash", None):
    st.success(flash)
tab_names = ["一张图", "统计看板"] + (["数据管理"] if USER.can("run_pipelines") else [])
tabs = st.tabs(tab_names)

AS_OF = META.get("assess_as_of") or META.get("renewal_as_of")
AS_OF_DATE = dt.date.fromisoformat(AS_OF) if AS_OF else dt.date.today()


def _marks() -> list:
    """The point marks the side bar's check boxes ask for, on the parcels the filters show."""
    shown = PARCELS["parcel_id"].astype(str)
    marks = []
    if show_warnings:
        w = warnings_for_map(store, AS_OF_DATE, VERSION)
        marks.append(mark_layer(w[w["parcel_id"].isin(shown)], "warnings"))
    if show_changed and len(CHANGED):
        marks.append(mark_layer(changed_marks(CHANGED[CHANGED["parcel_id"].isin(shown)], ALL_PARCELS), "changed"))
    return marks


with tabs[0]:
    area_ha = float(PARCELS["area_m2"].astype(float).sum()) / 10_000
    st.markdown(f"地图显示 **{len(PARCELS)}** 宗地块（{area_ha:,.1f} 公顷）、**{len(VILLAGES)}** 个城中村")
    if len(CHANGED):
        st.warning(f"自本次研判以来有 {len(CHANGED)} 宗地块台账已变更，建议重新研判")
        with st.expander(f"台账已变更的地块（{len(CHANGED)} 宗）"):
            st.dataframe(
                CHANGED[["parcel_id", "text"]].rename(columns={"parcel_id": "宗地编号", "text": "台账变化"}),
                hide_index=True,
                width="stretch",
            )
    left, right = st.columns([3, 2])
    with left:
        tiled = len(ALL_PARCELS) > tile_threshold()
        _handle_map_click(st.session_state.get("map"), tiled)
        cached, map_error = _map(URL, LAYERS_VERSION, FILTER, basemap, xyz_url, tiled)
        if map_error:
            st.error(map_error)
        fmap = copy.deepcopy(cached)
        overlay = map_overlay(
            {"idle_assessment": PARCELS},
            tiles={"idle_assessment": _tileset(URL, LAYERS_VERSION)} if tiled else None,
            selected=_selected_shape(),
            marks=_marks(),
        )
        st_folium(
            fmap,
            key="map",
            height=620,
            use_container_width=True,
            feature_group_to_add=overlay,
            returned_objects=["last_active_drawing", "last_clicked", "last_object_clicked"],
        )
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
    as_of_date = AS_OF_DATE
    cd = dash.countdown(as_of_date)
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(
        f"距 {cd['deadline'].year} 年底期限",
        f"{cd['days']} 天",
        help=f"约 {cd['months']} 个月（期限 {cd['deadline']:%Y-%m-%d}）",
    )
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
        trend = dash.progress_trend(_read("villages"), _read("village_progress"))
        st.markdown("**全区改造进度趋势**")
        st.altair_chart(dash.trend_chart(trend), width="stretch")
    disposal_dashboard(store, as_of_date, VERSION)
    tables = {
        "按路径统计": dash.route_counts(PARCELS),
        "按镇街与路径": by_town,
        "城中村按状态": by_status,
        "白名单项目": dash.whitelist_projects(PROJECTS),
    }
    for title, table in tables.items():
        with st.expander(title, expanded=title == "白名单项目"):
            st.dataframe(table, hide_index=True, width="stretch")
            st.download_button(
                f"下载“{title}”（CSV）",
                safe_frame(table).to_csv(index=False).encode("utf-8-sig"),
                file_name=f"{title}.csv",
                mime="text/csv",
                key=f"dl_{title}",
            )


# ----------------------------------------------------------------------------------------- history
def _history_panel() -> None:
    """Import batches and kept runs (read-only), with the diff of two runs (docs/history.md §1, §3)."""
    from gis.batches import list_batches
    from gis.runs import diff_runs, list_runs, read_run

    with st.expander("导入批次"):
        batches = list_batches(store)
        st.dataframe(
            batches[["batch_id", "mode", "scope", "effective", "late", "imported_by", "same_as", "rejects_path"]],
            hide_index=True,
            width="stretch",
        )
    with st.expander("研判批次（保留的历次研判，只读）"):
        runs = list_runs(store, kind="assess")
        st.dataframe(
            runs[["run_id", "as_of", "rules_version", "current", "what_if", "created_by", "label"]],
            hide_index=True,
            width="stretch",
        )
        if len(runs):
            shown = st.selectbox("查看某次研判的结果（只读）", list(runs["run_id"]), index=0, key="run_view")
            kept = read_run(store, shown)
            st.caption(f"研判批次 {shown}：{len(kept)} 宗地（保留时的结果，之后的导入和研判不会改变它）")
            st.dataframe(
                dash.labelled(kept, "idle_assessment", ["parcel_id", "town_code", "idle_type", "route", "sub_route"]),
                hide_index=True,
                width="stretch",
            )
        if len(runs) >= 2:
            r1, r2 = st.columns(2)
            a = r1.selectbox("批次 A", list(runs["run_id"]), index=0)
            b = r2.selectbox("批次 B", list(runs["run_id"]), index=1)
            diff = diff_runs(store, a, b)
            st.caption(f"{len(diff)} 宗地的存量范围、闲置类型、路径、具体方式或闲置费不同")
            st.dataframe(
                diff.assign(changed=diff["changed"].map("、".join))[
                    ["parcel_id", "changed", "route_a", "route_b", "idle_type_a", "idle_type_b"]
                ],
                hide_index=True,
                width="stretch",
            )


# ------------------------------------------------------------------------------------------- admin
#: what the data page accepts: vector layers (a zipped shapefile or FileGDB, KML/KMZ) and ledgers
UPLOAD_TYPES = ["gpkg", "geojson", "json", "zip", "kml", "kmz", "xlsx", "xlsm", "xls", "et", "ods", "csv"]


def _save_uploads(uploads: dict) -> dict:
    """Uploaded files saved under the store's files; ``{layer: {"path": ..., "geometry": ...}}``."""
    from gis.uploads import check_uploads

    check_uploads([(up.name, up.size) for up in uploads.values()], SETTINGS)
    folder = store.files_dir / "uploads" / dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    folder.mkdir(parents=True, exist_ok=True)
    sources: dict = {}
    for key, up in uploads.items():
        layer, _, part = key.partition(":")
        target = (folder / part if part else folder) / Path(up.name).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(up.getvalue())
        sources.setdefault(layer, {})["geometry" if part == "geometry" else "path"] = str(target)
    for layer, spec in sources.items():
        if "path" not in spec:
            raise LandRenewError(
                f"只上传了{get_layer(layer).label}的图形文件，缺少台账",
                fix=f"同时上传{get_layer(layer).label}台账（.xlsx/.xls/.et/.csv）",
            )
    return sources


def _run_ingest(sources: dict, *, check: bool, **batch) -> None:
    from gis.ingest import ingest_files, rejects_csv, rejects_frame

    bar = st.progress(0.0, text="读取、对应表头、校验…" if check else "校验导入…")
    reports = ingest_files(
        store,
        sources,
        check=check,
        user=USER.name,  # mode / scope / effective: gis.batches
        meta={"ingested_at": dt.datetime.now(dt.UTC).isoformat()},
        **batch,
    )
    bar.progress(1.0, text="检查完成（未入库）" if check else "导入完成")
    verb = "将入库" if check else "入库"
    st.session_state.admin_result = (
        "导入预览（未写入存储）" if check else "导入",
        pd.DataFrame(
            [
                {
                    "图层": get_layer(r.layer).label,
                    "读取": r.read,
                    verb: r.stored,
                    "修复": r.repaired,
                    "拒收": r.rejected,
                    "跳过": r.skipped,
                }
                for r in reports
            ]
        ),
        rejects_frame(reports),
        next((str(r.rejects_path) for r in reports if r.rejects_path), None),
    )
    st.session_state.ingest_extra = {
        "mapping": pd.DataFrame(
            [
                {"文件": file, "源列": col, "字段": name, "中文名": label, "单位换算": conv}
                for r in reports
                for file, cols in r.mapping.items()
                for col, name, label, conv in cols
            ]
        ),
        "unmapped": [
            f"{file}：{'、'.join(cols)}" for r in reports for file, cols in r.unmapped_columns.items() if cols
        ],
        "notes": [n for r in reports for n in r.notes],
        "csv": rejects_csv(reports) if any(r.problems for r in reports) else None,
    }
    st.session_state.ingest_pending = sources if check else None


def _run_assess(as_of: dt.date) -> None:
    from gis.workflow import assess_store

    bar = st.progress(0.0, text="闲置土地研判…")

    def step(i: int, total: int, label: str) -> None:
        bar.progress(min(1.0, i / max(total, 1)), text=str(label))

    result = assess_store(store, as_of=as_of, on_progress=step)
    bar.progress(1.0, text="研判完成")
    st.session_state.admin_result = (
        "研判",
        dash.route_counts(dash.parcel_frame(result, store.read_layer("parcels"))),
        pd.DataFrame(),
        None,
    )


def _run_renewal(as_of: dt.date) -> None:
    from gis.workflow import renewal_store

    bar = st.progress(0.0, text="城中村改造进展…")
    status, sites = renewal_store(store, as_of=as_of)
    bar.progress(1.0, text=f"完成：{len(status)} 个城中村，{len(sites)} 条安置房选址建议")
    st.session_state.admin_result = ("城中村改造进展", dash.villages_by_status(status), pd.DataFrame(), None)


_OUTCOMES = {
    "success": "登录成功",
    "failure": "失败",
    "locked": "已锁定",
    "disabled": "账号停用",
    "sso": "统一身份认证",
    "sso_denied": "统一认证无权限",
    "password_changed": "修改密码",
    "logout": "退出",
    "expired": "超时退出",
}


def _user_admin() -> None:
    """Users (add, role, disable/enable, reset, delete) and the login audit — admins only."""
    if not USER.can("manage_users"):
        return
    st.markdown("**用户管理**")
    users = accounts.list_users(store)
    st.dataframe(
        pd.DataFrame(
            {
                "用户名": [u.name for u in users],
                "角色": [ROLE_LABELS[u.role] for u in users],
                "状态": ["停用" if u.disabled else "启用" for u in users],
                "更新时间": [f"{u.updated_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M}" for u in users],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    c1, c2 = st.columns(2)
    with c1, st.form("add_user", clear_on_submit=True):
        new_name = st.text_input("新用户名")
        new_role = st.selectbox("角色", list(ROLES), format_func=ROLE_LABELS.get)
        new_pwd = st.text_input(f"初始密码（至少 {SETTINGS.min_password_length} 位）", type="password")
        if st.form_submit_button("添加用户"):
            try:
                accounts.add_user(store, new_name, new_pwd, role=new_role, settings=SETTINGS)
                st.success(f"已添加用户 {new_name}（{ROLE_LABELS[new_role]}）")
            except LandRenewError as exc:
                st.error(str(exc))
    with c2, st.form("edit_user", clear_on_submit=True):
        who = st.selectbox("用户", [u.name for u in users])
        action = st.selectbox(
            "操作",
            ["role", "disable", "enable", "reset", "delete"],
            format_func={
                "role": "修改角色",
                "disable": "停用",
                "enable": "启用",
                "reset": "重设密码",
                "delete": "删除",
            }.get,
        )
        role = st.selectbox("新角色（修改角色时）", list(ROLES), format_func=ROLE_LABELS.get)
        pwd = st.text_input("新密码（重设密码时）", type="password")
        if st.form_submit_button("执行"):
            try:
                if who == USER.name and action in ("role", "disable", "delete"):
                    raise LandRenewError("不能修改、停用或删除自己的管理员账号", fix="请另一位管理员操作")
                {
                    "role": lambda: accounts.set_role(store, who, role),
                    "disable": lambda: accounts.set_disabled(store, who, True),
                    "enable": lambda: accounts.set_disabled(store, who, False),
                    "reset": lambda: accounts.reset_password(store, who, pwd, settings=SETTINGS),
                    "delete": lambda: accounts.delete_user(store, who),
                }[action]()
                st.success(f"已完成：{who}")
            except LandRenewError as exc:
                st.error(str(exc))
    st.markdown("**登录审计**（最近 100 条；全部：landrenew users events）")
    events = login_events(store, limit=100)
    st.table(
        pd.DataFrame(
            {
                "时间": [f"{e['at'].astimezone(SHANGHAI):%Y-%m-%d %H:%M:%S}" for e in events],
                "用户名": [e["user_name"] for e in events],
                "客户端": [e["client"] for e in events],
                "结果": [_OUTCOMES.get(e["outcome"], e["outcome"]) for e in events],
            }
        ).set_index("时间")
    )


if USER.can("run_pipelines"):
    with tabs[2]:
        st.markdown("**运行数据流程**（结果写入存储，一次事务，失败则不改动）")
        default_as_of = META.get("assess_as_of")
        run_as_of = st.date_input(
            "研判基准日", dt.date.fromisoformat(default_as_of) if default_as_of else dt.date.today()
        )
        inputs = ("towns", "enterprises", "parcels", "projects", "villages", "village_progress")
        with st.expander("导入源文件（GeoPackage / Shapefile 压缩包 / FileGDB 压缩包 / KML / Excel / WPS / CSV）"):
            st.caption(
                "先“预览”：显示表头对应、单位换算和将入库/拒收/跳过的行数（不写入存储），确认无误后再“确认导入”。"
                "Shapefile 请把 .shp/.shx/.dbf/.prj 压缩为一个 .zip 上传。"
            )
            uploads = {
                name: st.file_uploader(f"{get_layer(name).label}（{name}）", key=f"up_{name}", type=UPLOAD_TYPES)
                for name in inputs
            }
            uploads["parcels:geometry"] = st.file_uploader(
                "宗地图形（台账为 Excel/CSV 时，按宗地编号连接的图形：.zip/.gpkg/.geojson/.kml）",
                key="up_parcels_geometry",
                type=["gpkg", "geojson", "json", "zip", "kml", "kmz"],
            )
            uploads = {k: v for k, v in uploads.items() if v is not None}
            i1, i2, i3, i4 = st.columns(4)  # docs/history.md §1: every import is a batch
            mode = i1.selectbox(
                "导入方式",
                ["replace", "upsert"],
                format_func={"replace": "替换（以文件为准）", "upsert": "新增或更新（按编号）"}.get,
            )
            scope = i2.text_input("范围（可选，如 town_code=330603001）")
            effective = i3.date_input("台账日期", dt.date.today())
            confirm = i4.checkbox("确认退出台账的记录")
            batch = {"mode": mode, "scope": scope or None, "effective": effective, "confirm": confirm}
            c1, c2 = st.columns(2)
            chosen = tuple(sorted((k, up.name, up.size) for k, up in uploads.items()))
            try:
                if c1.button("预览（不入库）", disabled=not uploads):
                    _run_ingest(_save_uploads(uploads), check=True, **batch)
                    st.session_state.ingest_previewed = chosen
                # only what was previewed can be confirmed: a changed upload needs a new preview
                pending = st.session_state.get("ingest_pending")
                same = st.session_state.get("ingest_previewed") == chosen
                if c2.button("确认导入", type="primary", disabled=not (pending and same)):
                    _run_ingest(pending, check=False, **batch)
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
            extra = st.session_state.get("ingest_extra") if title.startswith("导入") else None
            if extra:
                for note in extra["notes"]:
                    st.caption(note)
                if len(extra["mapping"]):
                    st.markdown("**表头对应**")
                    st.dataframe(extra["mapping"], hide_index=True, width="stretch")
                for line in extra["unmapped"]:
                    st.warning(f"未能对应的列（不导入）：{line}")
                if extra["csv"]:
                    st.download_button(
                        "下载拒收/修复清单（CSV）",
                        extra["csv"],
                        file_name="拒收清单.csv",
                        mime="text/csv",
                        key="dl_rejects",
                    )
            if rejects:
                st.caption(f"拒收清单文件：{rejects}")
        st.divider()
        _user_admin()


st.session_state.last_seen = _now()  # idle time counts from the end of the last page run
