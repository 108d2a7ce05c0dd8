"""What the app's filters, counts, tables and charts show — built here, shown by the page.

Tables come back with Chinese column headers (ready to show and to download); charts are Altair
(Vega is bundled with Streamlit, so they work offline); colours and labels come from the layer
registry (``layers/*.yaml``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import altair as alt
import geopandas as gpd
import numpy as np
import pandas as pd

from .decisions import latest_decisions
from .errors import LandRenewError
from .renewal import renewal_deadline
from .schema import get_layer

__all__ = [
    "MapFilter",
    "parcel_frame",
    "apply_filter",
    "route_counts",
    "route_by_town",
    "route_chart",
    "countdown",
    "villages_by_status",
    "status_chart",
    "whitelist_projects",
    "progress_trend",
    "trend_chart",
    "village_burnup",
    "burnup_chart",
    "parcel_imagery",
    "imagery_chart",
    "labelled",
    "list_text",
]

_ROUTE = get_layer("idle_assessment").field("route")
_STATUS = get_layer("village_status").field("status")


def _labels(layer: str, field_name: str) -> dict[str, str]:
    return dict(get_layer(layer).field(field_name).value_labels)


#: Filter attribute -> (layer, field) whose registry values it takes.
_FILTER_ENUMS = {
    "routes": ("idle_assessment", "route"),
    "sub_routes": ("idle_assessment", "sub_route"),
    "idle_types": ("idle_assessment", "idle_type"),
    "land_uses": ("parcels", "land_use"),
    "village_statuses": ("village_status", "status"),
}


@dataclass(frozen=True)
class MapFilter:
    """The linked filters of the map page; empty = no restriction.  Values are registry codes.

    Raises :class:`~gis.errors.LandRenewError` naming the field and the valid choices for a value that
    the registry does not know.
    """

    towns: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()
    sub_routes: tuple[str, ...] = ()
    idle_types: tuple[str, ...] = ()
    land_uses: tuple[str, ...] = ()
    idle_years: tuple[float, float] | None = None
    village_statuses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for attr, (layer, name) in _FILTER_ENUMS.items():
            f = get_layer(layer).field(name)
            bad = [v for v in getattr(self, attr) if v not in f.values]
            if bad:
                raise LandRenewError(
                    f"筛选条件“{f.label}”的取值无效：{'、'.join(map(str, bad))}",
                    detail=f"{attr}: {bad} not in {f.values}",
                    fix=f"可选：{'、'.join(f.values)}",
                )
        if self.idle_years is not None and self.idle_years[0] > self.idle_years[1]:
            raise LandRenewError("闲置年限下限大于上限", detail=f"idle_years={self.idle_years}", fix="调整闲置年限范围")


def parcel_frame(
    assessment: gpd.GeoDataFrame, parcels: pd.DataFrame, decisions: pd.DataFrame | None = None
) -> gpd.GeoDataFrame:
    """The assessment with the parcel fields the map and tables need (holder, land use, area) and
    the latest decision (``decided_route``, ``decided_sub_route``, ``decided_by``)."""
    extra = parcels[["parcel_id", "holder", "land_use", "area_m2"]]
    out = assessment.merge(extra, on="parcel_id", how="left")
    if decisions is not None and len(decisions):
        last = latest_decisions(decisions)[["parcel_id", "route", "sub_route", "decided_by"]].rename(
            columns={"route": "decided_route", "sub_route": "decided_sub_route"}
        )
        out = out.merge(last, on="parcel_id", how="left")
    else:
        for c in ("decided_route", "decided_sub_route", "decided_by"):
            out[c] = pd.Series(pd.NA, index=out.index, dtype="string")
    return gpd.GeoDataFrame(out, geometry=assessment.geometry.name, crs=assessment.crs)


def _isin(series: pd.Series, values: tuple) -> np.ndarray:
    return series.isin(list(values)).fillna(False).to_numpy(dtype=bool) if values else np.ones(len(series), bool)


def apply_filter(
    parcels: gpd.GeoDataFrame, villages: gpd.GeoDataFrame, flt: MapFilter
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Parcels and villages that pass the filter (town applies to both, village status to villages,
    the other fields to parcels)."""
    keep = (
        _isin(parcels["town_code"], flt.towns)
        & _isin(parcels["route"], flt.routes)
        & _isin(parcels["sub_route"], flt.sub_routes)
        & _isin(parcels["idle_type"], flt.idle_types)
        & _isin(parcels["land_use"], flt.land_uses)
    )
    if flt.idle_years is not None:
        years = parcels["idle_years"].astype(float).fillna(0.0).to_numpy()
        keep &= (years >= flt.idle_years[0]) & (years <= flt.idle_years[1])
    vkeep = _isin(villages["town_code"], flt.towns) & _isin(villages["status"], flt.village_statuses)
    return parcels[keep], villages[vkeep]


def labelled(frame: pd.DataFrame, layer: str, columns: list[str] | None = None) -> pd.DataFrame:
    """A layer's frame for display: enum codes -> Chinese labels, Chinese headers, lists joined."""
    lay = get_layer(layer)
    columns = [c for c in (columns or lay.field_names) if c in frame.columns]
    out = pd.DataFrame(index=frame.index)
    for c in columns:
        s = frame[c]
        if c in lay.field_names:
            f = lay.field(c)
            if f.value_labels:
                s = s.map(lambda v, f=f: f.label_of(v) if isinstance(v, str) else v)
            elif f.type == "list":
                s = s.map(lambda v: "；".join(list_text(x) for x in (v or [])))
            elif f.type == "date" and pd.api.types.is_datetime64_any_dtype(s):
                s = s.dt.strftime("%Y-%m-%d").astype(object).where(s.notna(), None)
            elif f.type == "bool":
                s = s.map(lambda v: None if pd.isna(v) else ("是" if v else "否"))
            out[f.label] = (
                s.astype(object).where(s.notna(), "") if s.dtype == object or f.type in ("str", "enum") else s
            )
        else:
            out[c] = s
    return out.reset_index(drop=True)


def list_text(item: Any) -> str:
    """One item of a list field as shown: an alternative as 路径（具体方式）, a reason as its text."""
    if isinstance(item, dict):
        if "route" in item:
            sub = get_layer("idle_assessment").field("sub_route").label_of(item.get("sub_route"))
            return _ROUTE.label_of(item["route"]) + (f"（{sub}）" if sub else "")
        return str(item.get("text", item))
    return str(item)


def route_counts(parcels: pd.DataFrame) -> pd.DataFrame:
    """Count and area (公顷) of the parcels by recommended route, in the registry's route order."""
    area = parcels["area_m2"].astype(float).fillna(0.0) / 10_000
    grp = pd.DataFrame({"route": parcels["route"].astype(str), "area": area}).groupby("route")
    table = pd.DataFrame({"宗数": grp.size(), "面积(公顷)": grp["area"].sum()}).reindex(list(_ROUTE.values))
    table = table.fillna(0).astype({"宗数": int})
    table.insert(0, "推荐处置路径", [_ROUTE.label_of(v) for v in table.index])
    table["面积(公顷)"] = table["面积(公顷)"].round(2)
    return table.reset_index(drop=True)


def route_by_town(parcels: pd.DataFrame, towns: pd.DataFrame) -> pd.DataFrame:
    """Count and area (公顷) per town and route (long form, for the stacked chart and the table)."""
    names = dict(zip(towns["town_code"].astype(str), towns["name"].astype(str))) if len(towns) else {}
    df = pd.DataFrame(
        {
            "town": parcels["town_code"]
            .astype(object)
            .map(lambda c: names.get(c, c) if isinstance(c, str) else "未分配"),
            "route": parcels["route"].astype(str),
            "area": parcels["area_m2"].astype(float).fillna(0.0) / 10_000,
        }
    )
    grp = df.groupby(["town", "route"], sort=True)
    out = pd.DataFrame({"宗数": grp.size(), "面积(公顷)": grp["area"].sum().round(2)}).reset_index()
    out["推荐处置路径"] = out["route"].map(_ROUTE.label_of)
    return out.rename(columns={"town": "镇街", "route": "路径代码"})[
        ["镇街", "路径代码", "推荐处置路径", "宗数", "面积(公顷)"]
    ]


def _scale(field_obj) -> alt.Scale:
    colors = get_layer("idle_assessment" if field_obj is _ROUTE else "village_status").style["colors"]
    return alt.Scale(domain=[field_obj.label_of(v) for v in colors], range=list(colors.values()))


def route_chart(by_town: pd.DataFrame, *, measure: str = "面积(公顷)") -> alt.Chart:
    """Stacked bars: idle area (or count) per town, coloured by route (registry colours)."""
    return (
        alt.Chart(by_town)
        .mark_bar()
        .encode(
            x=alt.X(f"{measure}:Q", title=measure),
            y=alt.Y("镇街:N", sort="-x", title=None),
            color=alt.Color("推荐处置路径:N", scale=_scale(_ROUTE), title="推荐处置路径"),
            tooltip=["镇街", "推荐处置路径", "宗数", "面积(公顷)"],
        )
        .properties(height=alt.Step(22))
    )


def countdown(as_of: dt.date, *, deadline: dt.date | None = None) -> dict[str, Any]:
    """Days and months (365.25/12 days) from ``as_of`` to the deadline; negative when passed.

    The deadline is the renewal rule file's ``deadline.default`` (the district goal, Plan §二(五)) unless given.

    >>> countdown(dt.date(2026, 11, 1))["days"]
    425
    """
    deadline = renewal_deadline() if deadline is None else deadline
    days = (deadline - as_of).days
    return {"deadline": deadline, "days": days, "months": round(days / (365.25 / 12), 1)}


def villages_by_status(status: pd.DataFrame) -> pd.DataFrame:
    """Villages and households per renewal status, in the registry's status order."""
    hh = status["households"].astype(float).fillna(0.0)
    grp = pd.DataFrame({"status": status["status"].astype(str), "hh": hh}).groupby("status")
    table = pd.DataFrame({"村数": grp.size(), "户数": grp["hh"].sum()}).reindex(list(_STATUS.values)).fillna(0)
    table = table.astype({"村数": int, "户数": int})
    table.insert(0, "进展状态", [_STATUS.label_of(v) for v in table.index])
    return table.reset_index(drop=True)


def status_chart(by_status: pd.DataFrame) -> alt.Chart:
    """Bars: villages per renewal status (registry colours)."""
    return (
        alt.Chart(by_status)
        .mark_bar()
        .encode(
            x=alt.X("进展状态:N", sort=None, title=None),
            y=alt.Y("村数:Q"),
            color=alt.Color("进展状态:N", scale=_scale(_STATUS), legend=None),
            tooltip=["进展状态", "村数", "户数"],
        )
    )


def whitelist_projects(projects: pd.DataFrame) -> pd.DataFrame:
    """Projects pushed to / approved on / financed by the 保交房 white list, with Chinese labels."""
    sel = projects[projects["whitelist"].astype(str).isin(["pushed", "approved", "disbursed"]).to_numpy(bool)]
    order = {"disbursed": 0, "approved": 1, "pushed": 2}
    sel = sel.assign(_o=sel["whitelist"].astype(str).map(order)).sort_values(["_o", "project_id"])
    return labelled(
        sel,
        "projects",
        ["project_id", "name", "parcel_id", "status", "whitelist", "total_units", "presold_units", "delivery_due"],
    )


def _percent_history(villages: pd.DataFrame, progress: pd.DataFrame) -> pd.DataFrame:
    from .renewal import percent_complete  # the engine's own definition of progress

    if progress.empty:
        return pd.DataFrame(columns=["village_id", "report_date", "percent"])
    pct = percent_complete(villages, progress)
    return pd.DataFrame(
        {"village_id": progress["village_id"].astype(str), "report_date": progress["report_date"], "percent": pct}
    ).dropna()


def progress_trend(villages: pd.DataFrame, progress: pd.DataFrame) -> pd.DataFrame:
    """District progress over the report dates: household-weighted share of the renewal done, each
    village at its latest report on or before the date (0 before its first report)."""
    hist = _percent_history(villages, progress)
    if hist.empty:
        return pd.DataFrame({"填报日期": pd.Series([], dtype="datetime64[ms]"), "全区完成比例": []})
    wide = hist.pivot_table(index="report_date", columns="village_id", values="percent", aggfunc="last")
    wide = wide.reindex(columns=villages["village_id"].astype(str)).sort_index().ffill().fillna(0.0)
    hh = villages["households"].astype(float).fillna(0.0).to_numpy()
    weights = hh if hh.sum() > 0 else np.ones(len(hh))
    share = wide.to_numpy() @ weights / weights.sum()
    return pd.DataFrame({"填报日期": wide.index, "全区完成比例": np.round(share, 4)})


def trend_chart(trend: pd.DataFrame) -> alt.Chart:
    """Line: district progress over report dates."""
    return (
        alt.Chart(trend)
        .mark_line(point=True)
        .encode(
            x=alt.X("填报日期:T", title="填报日期", axis=alt.Axis(format="%Y-%m")),
            y=alt.Y("全区完成比例:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
            tooltip=[alt.Tooltip("填报日期:T"), alt.Tooltip("全区完成比例:Q", format=".1%")],
        )
    )


def village_burnup(village_id: str, villages: pd.DataFrame, progress: pd.DataFrame) -> pd.DataFrame:
    """A village's burn-up: its share done at each report and the straight line from its first report
    to 100 % at its deadline (the pace that just makes it).

    Returns
    -------
    pandas.DataFrame
        Long form: ``日期``, ``序列`` (实际完成 / 按期完成所需), ``完成比例``.
    """
    one = villages[villages["village_id"].astype(str) == str(village_id)]
    if one.empty:
        raise LandRenewError(
            f"没有编号为 {village_id} 的城中村", detail=f"unknown village {village_id!r}", fix="检查村编号"
        )
    hist = _percent_history(villages, progress[progress["village_id"].astype(str) == str(village_id)])
    hist = hist.sort_values("report_date")
    deadline = one["deadline"].iloc[0] if "deadline" in one and pd.notna(one["deadline"].iloc[0]) else None
    deadline = pd.Timestamp(deadline) if deadline is not None else pd.Timestamp(renewal_deadline())
    actual = pd.DataFrame({"日期": hist["report_date"], "序列": "实际完成", "完成比例": hist["percent"].round(4)})
    start = hist["report_date"].iloc[0] if len(hist) else None
    start_pct = float(hist["percent"].iloc[0]) if len(hist) else 0.0
    target = pd.DataFrame(
        {
            "日期": [start, deadline] if start is not None else [deadline],
            "序列": "按期完成所需",
            "完成比例": [start_pct, 1.0] if start is not None else [1.0],
        }
    )
    return pd.concat([actual, target], ignore_index=True)


def burnup_chart(burnup: pd.DataFrame) -> alt.Chart:
    """Lines: actual progress against the line that reaches 100 % at the deadline."""
    return (
        alt.Chart(burnup)
        .mark_line(point=True)
        .encode(
            x=alt.X("日期:T", axis=alt.Axis(format="%Y-%m")),
            y=alt.Y("完成比例:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
            color=alt.Color(
                "序列:N", scale=alt.Scale(domain=["实际完成", "按期完成所需"], range=["#1a9850", "#d73027"])
            ),
            strokeDash=alt.StrokeDash(
                "序列:N", scale=alt.Scale(domain=["实际完成", "按期完成所需"], range=[[1, 0], [5, 4]]), legend=None
            ),
            tooltip=[alt.Tooltip("日期:T"), "序列", alt.Tooltip("完成比例:Q", format=".1%")],
        )
    )


def parcel_imagery(parcel: gpd.GeoDataFrame, rasters: Sequence[str | Path]) -> pd.DataFrame:
    """The imagery index of one parcel over the raster dates (``gis.zonal.zonal_means`` on the
    store's rasters, ``gis.imagery.list_rasters(store)``); empty when there are no rasters.

    Returns
    -------
    pandas.DataFrame
        ``日期`` (datetime), ``遥感指数`` (float; NaN where the parcel has no valid pixel).
    """
    from .zonal import zonal_means

    rasters = [Path(r) for r in rasters]
    if not rasters or parcel.empty:
        return pd.DataFrame({"日期": pd.Series([], dtype="datetime64[ms]"), "遥感指数": pd.Series([], dtype=float)})
    means = zonal_means(parcel[["parcel_id", parcel.geometry.name]], rasters)
    row = means.iloc[0]
    return pd.DataFrame({"日期": pd.to_datetime(row.index), "遥感指数": row.to_numpy(dtype=float)})


def imagery_chart(series: pd.DataFrame) -> alt.Chart:
    """Line: the parcel's imagery index over the dates."""
    return (
        alt.Chart(series)
        .mark_line(point=True)
        .encode(
            x=alt.X("日期:T", axis=alt.Axis(format="%Y-%m")),
            y=alt.Y("遥感指数:Q"),
            tooltip=[alt.Tooltip("日期:T"), alt.Tooltip("遥感指数:Q", format=".3f")],
        )
    )
