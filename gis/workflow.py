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
from .imagery import register_rasters
from .ingest import IngestReport, ingest_files
from .renewal import village_status
from .resettlement import resettlement_sites
from .rules import RuleSet
from .schema import get_layer
from .store import Store, open_store

__all__ = [
    "assess_store",
    "renewal_store",
    "compute_assessment",
    "decision_column",
    "keep_assessment",
    "demo_parcels_on",
    "DEMO_HISTORY",
    "build_demo_store",
    "DEMO_AS_OF",
]

DEMO_AS_OF = dt.date(2026, 11, 1)
Progress = Callable[[int, int, str], None]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


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
        for r, s, by, at in zip(
            decisions["route"], decisions["sub_route"].astype(object), decisions["decided_by"], decisions["decided_at"]
        )
    ]
    return pd.Series(text, index=decisions["parcel_id"].to_numpy(), dtype="string")


def compute_assessment(
    store: Store, *, as_of: dt.date, known_at=None, rules: RuleSet | None = None, on_progress: Progress | None = None
) -> gpd.GeoDataFrame:
    """The assessment of the store's ledger as valid on ``as_of`` and as known at ``known_at`` (default: now),
    with rasters dated on or before ``as_of`` (docs/history.md §4); nothing is written."""
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
    result["decision"] = decision_column(store, result["parcel_id"], known_at=known_at)
    return result


def decision_column(store: Store, parcel_ids: pd.Series, *, known_at) -> pd.Series:
    """The latest decision on each parcel recorded by ``known_at`` (the assessment's ``decision`` field)."""
    decisions = store.read_layer("decisions")
    if len(decisions):
        decisions = decisions[decisions["decided_at"] <= known_at]
    return parcel_ids.map(_latest_decisions(decisions)).astype("string")


def keep_assessment(
    store: Store,
    result: gpd.GeoDataFrame,
    *,
    as_of: dt.date,
    known_at,
    rules: RuleSet,
    what_if: bool = False,
    user: str | None = None,
    label: str | None = None,
    meta: dict | None = None,
) -> str:
    """Keep ``result`` as a run (docs/history.md §3); unless ``what_if`` it becomes the current run and replaces
    the ``idle_assessment`` layer — one transaction.  Returns the run id."""
    from .runs import keep_run, new_run_id
    from .store.history_schema import HistoryWrite

    version = str(result["rules_version"].iloc[0]) if len(result) else rules.version
    run_id = new_run_id("assess")
    tx = HistoryWrite()
    keep_run(
        store,
        tx,
        run_id=run_id,
        kind="assess",
        as_of=as_of,
        known_at=known_at,
        rules=rules,
        outputs={"idle_assessment": result},
        what_if=what_if,
        user=user,
        label=label,
    )
    if not what_if:
        tx.layer_replace["idle_assessment"] = result
        tx.meta.update(
            {
                "assessed_at": _now(),
                "assess_as_of": as_of.isoformat(),
                "idle_rules_version": version,
                "assess_run": run_id,
                **(meta or {}),
            }
        )
    store.write_history(tx)
    return run_id


def assess_store(
    store: Store,
    *,
    as_of: dt.date,
    rules: RuleSet | None = None,
    on_progress: Progress | None = None,
    known_at=None,
    what_if: bool = False,
    user: str | None = None,
    label: str | None = None,
) -> gpd.GeoDataFrame:
    """Assess every parcel as of ``as_of`` and keep the run (docs/history.md §3); unless ``what_if``, it becomes the
    current run and replaces the ``idle_assessment`` layer — all in one transaction.

    ``result.attrs["run_id"]`` names the kept run.
    """
    from .idle import load_idle_rules
    from .store.history_schema import utc_now

    rules = load_idle_rules() if rules is None else rules
    store.upgrade_history()
    known_at = utc_now() if known_at is None else pd.Timestamp(known_at)
    result = compute_assessment(store, as_of=as_of, known_at=known_at, rules=rules, on_progress=on_progress)
    result.attrs["run_id"] = keep_assessment(
        store, result, as_of=as_of, known_at=known_at, rules=rules, what_if=what_if, user=user, label=label
    )
    return result


def renewal_store(
    store: Store,
    *,
    as_of: dt.date,
    rules: RuleSet | None = None,
    known_at=None,
    what_if: bool = False,
    user: str | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
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
    sites = (
        resettlement_sites(status, assessment, rules=rules)
        if len(assessment)
        else pd.DataFrame(columns=get_layer("resettlement_sites").field_names)
    )
    status = conform(status, "village_status")
    sites = conform(sites, "resettlement_sites")
    version = str(status["rules_version"].iloc[0]) if len(status) else ""
    run_id = new_run_id("renewal")
    tx = HistoryWrite()
    keep_run(
        store,
        tx,
        run_id=run_id,
        kind="renewal",
        as_of=as_of,
        known_at=known_at,
        rules=rules,
        outputs={"village_status": status, "resettlement_sites": sites},
        what_if=what_if,
        user=user,
        label=None,
    )
    if not what_if:
        tx.layer_replace.update({"village_status": status, "resettlement_sites": sites})
        tx.meta.update(
            {
                "renewal_at": _now(),
                "renewal_as_of": as_of.isoformat(),
                "renewal_rules_version": version,
                "renewal_run": run_id,
            }
        )
    store.write_history(tx)
    status.attrs["run_id"] = run_id
    return status, sites


# ---------------------------------------------------------------------------------------------- demo
#: the demo ledger's history: a full ledger on the first date, then the rows that changed by each later date
DEMO_HISTORY = (
    dt.date(2024, 3, 31),
    dt.date(2024, 9, 30),
    dt.date(2025, 3, 31),
    dt.date(2025, 9, 30),
    dt.date(2026, 3, 31),
    dt.date(2026, 8, 31),
)


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


def build_demo_store(
    url: str | Path | None = None,
    *,
    n_parcels: int = 5000,
    seed: int = 20240926,
    as_of: dt.date = DEMO_AS_OF,
    on_progress: Progress | None = None,
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
    meta = {
        "synthetic": "true",
        "demo_seed": str(seed),
        "demo_parcels": str(n_parcels),
        "source": "landrenew demo（模拟数据）",
        "demo_meta": json.dumps(
            {
                k: v if isinstance(v, (str, int, float, bool)) else str(v)
                for k, v in layers.get("_meta", {}).items()
                if isinstance(v, (str, int, float, bool, dt.date, dict))
            },
            ensure_ascii=False,
            default=str,
        ),
    }
    _demo_history(store, layers, sources, as_of=as_of)
    reports = ingest_files(store, sources, meta=meta, effective=as_of)
    register_rasters(store, rasters)
    step(3, 5, "闲置土地研判")
    assess_store(store, as_of=as_of)
    step(4, 5, "城中村改造进展")
    renewal_store(store, as_of=as_of)
    step(5, 5, "完成")
    return store, reports
