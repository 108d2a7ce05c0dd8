"""Resettlement-housing sites (安置房选址建议): idle parcels ranked for the villages that still need units.

It bridges the two halves of the platform: villages from ``village_status`` (gis/renewal.py) and parcels from
``idle_assessment`` (gis/idle.py); the thresholds are in ``layers/rules/renewal.yaml`` (``sites``), see
docs/rules.md §7.
"""

from __future__ import annotations

import json
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .crs import AREA_CRS
from .errors import CRSError, InputFileError
from .renewal import resolve_renewal_rules
from .rules import RuleSet
from .schema import get_layer

__all__ = ["resettlement_sites"]

_EPS = 1e-9


def _cat(*parts: Any) -> np.ndarray:
    out = np.asarray(parts[0]).astype(str)
    for part in parts[1:]:
        out = np.strings.add(out, np.asarray(part).astype(str))
    return out


def _alt_routes(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    out = []
    for item in value:
        if isinstance(item, dict):
            out.append(str(item.get("route")))
        elif isinstance(item, (list, tuple)) and item:
            out.append(str(item[0]))
    return out


def resettlement_sites(
    status: gpd.GeoDataFrame, assessment: gpd.GeoDataFrame, *, rules: RuleSet | None = None
) -> pd.DataFrame:
    """Rank idle parcels as resettlement-housing sites for villages that still need units.

    A candidate's recommended ``route`` or one of its ``alternatives`` is in ``sites.routes`` (reclaim,
    transfer), its ``land_use`` is in ``sites.residential_land_uses`` and it lies within
    ``sites.max_distance_m`` (edge to edge, EPSG:4549) of the village.  ``need_m2`` = needed units x
    ``sites.land_m2_per_unit``; ``fit`` = min(area, need) / max(area, need) (1 = the right size; parcels
    with fit below ``sites.min_fit`` are left out); ``score`` = weight_distance x (1 - distance / max) +
    weight_fit x fit, scaled by the sum of the two weights.  Highest score first (ties: nearer, then
    parcel_id); the first ``sites.top_n`` per village.

    Parameters
    ----------
    status
        Output of :func:`village_status` (``needs_resettlement_units``, geometry with a CRS).
    assessment
        ``idle_assessment`` rows with ``parcel_id``, ``route``, ``alternatives`` (list of
        ``{"route", "sub_route"}`` or its JSON text), ``land_use`` (join it from ``parcels``), geometry, and
        optionally ``area_m2`` (else the geometry area in EPSG:4549).
    rules
        Renewal rules (default file when None).

    Returns
    -------
    pandas.DataFrame
        village_id, rank, parcel_id, distance_m, area_m2, need_m2, fit, score, route, reason (Chinese).
    """
    rules = resolve_renewal_rules(rules)
    cols = ["village_id", "rank", "parcel_id", "distance_m", "area_m2", "need_m2", "fit", "score", "route", "reason"]
    missing = [c for c in ("parcel_id", "route", "land_use") if c not in assessment.columns]
    if missing:
        raise InputFileError(
            f"闲置土地研判结果缺少字段 {missing}，无法筛选安置房选址",
            detail=f"assessment: missing {missing}",
            fix="从宗地图层按 parcel_id 连接 land_use（土地用途）后再调用",
        )
    for frame, label in ((status, "城中村改造进展"), (assessment, "闲置土地研判结果")):
        if not isinstance(frame, gpd.GeoDataFrame) or frame.crs is None:
            raise CRSError(
                f"{label} 没有坐标系，无法计算距离",
                detail=f"{label}: no CRS",
                fix="读入时指定坐标系（--crs），或先 set_crs",
            )
    need = status[status["needs_resettlement_units"].to_numpy() > 0]
    routes = set(rules["sites.routes"])
    alt = (
        assessment["alternatives"]
        if "alternatives" in assessment.columns
        else pd.Series([[]] * len(assessment), index=assessment.index)
    )
    alt_ok = alt.map(lambda v: bool(routes & set(_alt_routes(v)))).to_numpy(dtype=bool)
    route = assessment["route"].astype(str).to_numpy()
    eligible = (np.isin(route, list(routes)) | alt_ok) & np.isin(
        assessment["land_use"].astype(str).to_numpy(), list(rules["sites.residential_land_uses"])
    )
    cand = assessment[eligible]
    if need.empty or cand.empty:
        return pd.DataFrame(columns=cols)
    vg = need.geometry.to_crs(AREA_CRS).to_numpy()
    pg = cand.geometry.to_crs(AREA_CRS).to_numpy()
    max_d = float(rules["sites.max_distance_m"])
    tree = shapely.STRtree(pg)
    vi, pi = tree.query(vg, predicate="dwithin", distance=max_d)
    if vi.size == 0:
        return pd.DataFrame(columns=cols)
    dist = shapely.distance(vg[vi], pg[pi])
    area = (
        pd.to_numeric(cand["area_m2"], errors="coerce").to_numpy(dtype=float)
        if "area_m2" in cand.columns
        else np.full(len(cand), np.nan)
    )
    area = np.where(np.isnan(area), shapely.area(pg), area)[pi]
    units = need["needs_resettlement_units"].to_numpy(dtype=float)[vi]
    need_m2 = units * float(rules["sites.land_m2_per_unit"])
    fit = np.minimum(area, need_m2) / np.maximum(np.maximum(area, need_m2), _EPS)
    wd, wf = float(rules["sites.weight_distance"]), float(rules["sites.weight_fit"])
    closeness = 1 - dist / max_d if max_d > 0 else np.ones_like(dist)
    score = (wd * closeness + wf * fit) / (wd + wf)
    alt_txt = np.where(np.isin(route[eligible][pi], list(routes)), "推荐路径", "备选路径")
    res = pd.DataFrame(
        {
            "village_id": need["village_id"].to_numpy()[vi],
            "parcel_id": cand["parcel_id"].astype(str).to_numpy()[pi],
            "distance_m": dist,
            "area_m2": area,
            "need_m2": need_m2,
            "units": units,
            "fit": fit,
            "score": score,
            "route": route[eligible][pi],
            "via": alt_txt,
        }
    )
    res = res[res["fit"] >= rules["sites.min_fit"] - _EPS]
    res = res.sort_values(
        ["village_id", "score", "distance_m", "parcel_id"], ascending=[True, False, True, True], kind="stable"
    )
    res["rank"] = res.groupby("village_id", sort=False).cumcount() + 1
    res = res[res["rank"] <= rules["sites.top_n"]].reset_index(drop=True)
    if res.empty:
        return pd.DataFrame(columns=cols)
    route_lab = res["route"].map(get_layer("idle_assessment").field("route").label_of).to_numpy(dtype=str)
    via = np.where(res["via"].to_numpy() == "推荐路径", _cat("推荐路径为", route_lab), "备选路径含收回收购或转让")
    res["reason"] = _cat(
        "第",
        res["rank"].to_numpy(),
        "位（综合得分 ",
        np.char.mod("%.2f", res["score"].to_numpy()),
        "）：距村 ",
        np.char.mod("%.0f", res["distance_m"].to_numpy()),
        " 米（上限 ",
        f"{max_d:.0f}",
        " 米），面积 ",
        np.char.mod("%.0f", res["area_m2"].to_numpy()),
        " ㎡，需约 ",
        np.char.mod("%.0f", res["need_m2"].to_numpy()),
        " ㎡（",
        np.char.mod("%.0f", res["units"].to_numpy()),
        " 套 × ",
        f"{rules['sites.land_m2_per_unit']:g}",
        " ㎡/套），匹配度 ",
        np.char.mod("%.2f", res["fit"].to_numpy()),
        "；",
        via,
    )
    return res[cols]
