"""Store-level jobs that the CLI, the app and notebooks share: demo store, assess, renewal."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pandas as pd

from .assess import assess_idle_land
from .frames import conform
from .imagery import list_rasters, register_rasters
from .ingest import IngestReport, ingest_files
from .renewal import village_status
from .resettlement import resettlement_sites
from .rules import RuleSet
from .schema import get_layer
from .store import Store, open_store

__all__ = ["assess_store", "renewal_store", "build_demo_store", "DEMO_AS_OF"]

DEMO_AS_OF = dt.date(2026, 11, 1)
Progress = Callable[[int, int, str], None]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _latest_decisions(store: Store) -> pd.Series:
    decisions = store.read_layer("decisions")
    if len(decisions) == 0:
        return pd.Series(dtype="string")
    decisions = decisions.sort_values("decided_at", kind="stable").groupby("parcel_id").tail(1)
    layer = get_layer("idle_assessment")
    route = layer.field("route")
    sub = layer.field("sub_route")
    text = [
        f"{route.label_of(r)}{'/' + sub.label_of(s) if isinstance(s, str) and s else ''}"
        f"（{by} {pd.Timestamp(at).tz_convert('Asia/Shanghai'):%Y-%m-%d}）"
        for r, s, by, at in zip(decisions["route"], decisions["sub_route"].astype(object),
                                decisions["decided_by"], decisions["decided_at"])
    ]
    return pd.Series(text, index=decisions["parcel_id"].to_numpy(), dtype="string")


def assess_store(store: Store, *, as_of: dt.date, rules: RuleSet | None = None,
                 on_progress: Progress | None = None) -> gpd.GeoDataFrame:
    """Assess every parcel in the store and replace its ``idle_assessment`` layer (one transaction)."""
    parcels = store.read_layer("parcels")
    result = assess_idle_land(
        parcels,
        enterprises=store.read_layer("enterprises"),
        projects=store.read_layer("projects"),
        villages=store.read_layer("villages"),
        progress=store.read_layer("village_progress"),
        towns=store.read_layer("towns"),
        rasters=list_rasters(store),
        as_of=as_of,
        rules=rules,
        on_progress=on_progress,
    )
    result["decision"] = result["parcel_id"].map(_latest_decisions(store)).astype("string")
    version = str(result["rules_version"].iloc[0]) if len(result) else ""
    store.write_layers({"idle_assessment": result},
                       meta={"assessed_at": _now(), "assess_as_of": as_of.isoformat(), "idle_rules_version": version})
    return result


def renewal_store(store: Store, *, as_of: dt.date, rules: RuleSet | None = None
                  ) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Village status and resettlement-site suggestions, written together (one transaction)."""
    villages = store.read_layer("villages")
    status = village_status(villages, store.read_layer("village_progress"), as_of=as_of, rules=rules)
    assessment = store.read_layer("idle_assessment")
    parcels = store.read_layer("parcels")[["parcel_id", "land_use", "area_m2"]]
    assessment = assessment.merge(pd.DataFrame(parcels), on="parcel_id", how="left")
    sites = resettlement_sites(status, assessment, rules=rules) if len(assessment) else pd.DataFrame(
        columns=get_layer("resettlement_sites").field_names)
    status = conform(status, "village_status")
    sites = conform(sites, "resettlement_sites")
    version = str(status["rules_version"].iloc[0]) if len(status) else ""
    store.write_layers({"village_status": status, "resettlement_sites": sites},
                       meta={"renewal_at": _now(), "renewal_as_of": as_of.isoformat(),
                             "renewal_rules_version": version})
    return status, sites


# ---------------------------------------------------------------------------------------------- demo
def build_demo_store(url: str | Path | None = None, *, n_parcels: int = 5000, seed: int = 20240926,
                     as_of: dt.date = DEMO_AS_OF, on_progress: Progress | None = None
                     ) -> tuple[Store, list[IngestReport]]:
    """Build the synthetic Keqiao demo: source files -> validated ingest -> assess -> renewal.

    Everything in it except the district outline is synthetic, and the store's meta says so.
    """
    from .demo import build_demo_layers, write_demo_sources

    step = on_progress or (lambda i, total, label: None)
    store = open_store(url)
    step(0, 5, "生成模拟数据")
    layers = build_demo_layers(n_parcels=n_parcels, seed=seed, as_of=as_of)
    step(1, 5, "写出源文件")
    sources = write_demo_sources(layers, store.files_dir / "demo_sources", seed=seed)
    rasters = sources.pop("_rasters")
    step(2, 5, "校验导入")
    meta = {"synthetic": "true", "demo_seed": str(seed), "demo_parcels": str(n_parcels),
            "source": "landrenew demo（模拟数据）", "demo_meta": json.dumps(
                {k: v if isinstance(v, (str, int, float, bool)) else str(v)
                 for k, v in layers.get("_meta", {}).items() if isinstance(v, (str, int, float, bool, dt.date, dict))},
                ensure_ascii=False, default=str)}
    reports = ingest_files(store, sources, meta=meta)
    register_rasters(store, rasters)
    step(3, 5, "闲置土地研判")
    assess_store(store, as_of=as_of)
    step(4, 5, "城中村改造进展")
    renewal_store(store, as_of=as_of)
    step(5, 5, "完成")
    return store, reports
