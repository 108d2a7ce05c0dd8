"""The idle-land assessment: spatial joins + imagery evidence + the rules engine -> ``idle_assessment``.

One output row per input parcel, nothing dropped (docs/rules.md §1–§6, docs/data-contract.md ``idle_assessment``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .crs import STORE_CRS
from .frames import conform
from .idle import classify_idle_land, load_idle_rules
from .joins import attribute_parcels, link_projects
from .rules import RuleSet
from .zonal import activity_index, zonal_means

__all__ = ["assess_idle_land", "villages_needing_units"]

Progress = Callable[[int, int, str], None]


def villages_needing_units(villages: pd.DataFrame | None, progress: pd.DataFrame | None, *, as_of: dt.date) -> set[str]:
    """Villages that still need resettlement units as of a date (planned minus delivered > 0)."""
    if villages is None or len(villages) == 0:
        return set()
    from .renewal import village_status

    status = village_status(villages, progress if progress is not None else villages.iloc[:0], as_of=as_of)
    return set(status.loc[status["needs_resettlement_units"].fillna(0) > 0, "village_id"].astype(str))


def _presold_by_parcel(projects: pd.DataFrame | None, parcels: gpd.GeoDataFrame) -> pd.Series:
    if projects is None or len(projects) == 0:
        return pd.Series(0, index=parcels.index, dtype="int64")
    linked = link_projects(projects, parcels)
    units = pd.to_numeric(projects["presold_units"], errors="coerce").fillna(0)
    per_parcel = units.groupby(linked.astype(object).to_numpy()).sum()
    return parcels["parcel_id"].astype(object).map(per_parcel).fillna(0).astype("int64")


def assess_idle_land(
    parcels: gpd.GeoDataFrame,
    *,
    enterprises: pd.DataFrame | None,
    projects: gpd.GeoDataFrame | None = None,
    villages: gpd.GeoDataFrame | None = None,
    progress: pd.DataFrame | None = None,
    rasters: Sequence[str | Path] | None = None,
    towns: gpd.GeoDataFrame | None = None,
    as_of: dt.date,
    rules: RuleSet | None = None,
    on_progress: Progress | None = None,
) -> gpd.GeoDataFrame:
    """Assess every parcel: stock scope, idle type, cause, recommended route with reasons, imagery evidence.

    Parameters
    ----------
    parcels
        Layer ``parcels`` (EPSG:4490).
    enterprises
        Table ``enterprises`` (capability, docs/rules.md K1).
    projects, villages, progress, towns
        Layers for the joins: presold units on the parcel (never reclaim), villages touched, public need for
        resettlement housing within the rule distance, and the town (largest overlap) where ``town_code`` is empty.
    rasters
        Dated single-band index GeoTIFFs (``*_YYYYMMDD.tif``); their zonal means give the activity index.
    as_of
        研判基准日.
    rules
        Idle rules (``layers/rules/idle.yaml`` by default).
    on_progress
        Called as ``on_progress(step, total, label)`` for a progress bar.

    Returns
    -------
    geopandas.GeoDataFrame
        Layer ``idle_assessment``, one row per parcel, in input order.

    Examples
    --------
    >>> import datetime as dt
    >>> from gis.store import open_store
    >>> store = open_store(DEMO_STORE)
    >>> out = assess_idle_land(store.read_layer("parcels"), enterprises=store.read_layer("enterprises"),
    ...                        projects=store.read_layer("projects"), towns=store.read_layer("towns"),
    ...                        as_of=dt.date(2026, 11, 1))
    >>> len(out) == store.layer_counts()["parcels"]
    True
    >>> sorted(out["route"].unique())
    ['continue', 'none', 'reclaim', 'review', 'transfer']
    """
    rules = load_idle_rules() if rules is None else rules
    step = on_progress or (lambda i, total, label: None)
    total = 4
    parcels = parcels.reset_index(drop=True)
    step(0, total, "空间关联：镇街、项目、城中村")
    joined = attribute_parcels(
        parcels,
        towns=towns,
        projects=projects,
        villages=villages,
        need_distance_m=float(rules["reclaim.purchase_by_demand_distance_m"]),
    )
    frame = pd.DataFrame(parcels.drop(columns="geometry"))
    frame["town_code"] = joined["town_code"]
    frame["project_ids"] = joined["project_ids"]
    frame["village_ids"] = joined["village_ids"]
    frame["presold_units"] = _presold_by_parcel(projects, parcels)
    needing = villages_needing_units(villages, progress, as_of=as_of)
    residential = set(rules["reclaim.residential_compatible_land_uses"])
    frame["public_need"] = [
        bool(lu in residential and needing.intersection(near))
        for lu, near in zip(frame["land_use"].astype(object), joined["near_village_ids"])
    ]
    step(1, total, "遥感影像分区统计")
    if rasters:
        means = zonal_means(parcels, list(rasters))
        frame["activity_index"] = activity_index(means).reindex(parcels["parcel_id"]).to_numpy()
    else:
        frame["activity_index"] = np.nan
    step(2, total, "闲置认定与处置路径研判")
    result = classify_idle_land(frame, enterprises=enterprises, as_of=as_of, rules=rules)
    step(3, total, "整理研判结果")
    result = gpd.GeoDataFrame(result, geometry=parcels.geometry.to_numpy(), crs=parcels.crs or STORE_CRS)
    out = conform(result, "idle_assessment")
    step(4, total, "完成")
    return out
