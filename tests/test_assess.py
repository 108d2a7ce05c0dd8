"""The assessment end to end on the demo store: every parcel kept, a plausible spread of routes, the joins,
the imagery evidence and the presold rule hold on real data."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from gis.assess import assess_idle_land
from gis.imagery import list_rasters
from gis.workflow import DEMO_AS_OF, assess_store


@pytest.fixture(scope="module")
def assessed(demo_store_master):
    from gis.store import GeoPackageStore

    store = GeoPackageStore(demo_store_master)
    return store, store.read_layer("idle_assessment"), store.read_layer("parcels")


def test_one_row_per_parcel_nothing_dropped(assessed):
    store, out, parcels = assessed
    assert len(out) == len(parcels) > 1000
    assert sorted(out["parcel_id"]) == sorted(parcels["parcel_id"])
    assert (out["as_of"] == pd.Timestamp(DEMO_AS_OF)).all()
    assert out["rules_version"].eq("2024.1").all()


def test_plausible_spread_over_all_routes(assessed):
    _, out, _ = assessed
    counts = out["route"].value_counts()
    assert set(counts.index) == {"none", "continue", "transfer", "reclaim", "review"}
    in_scope = out[out["in_stock_scope"]]
    assert counts["none"] > len(out) / 2  # most stock is completed or supplied after the cutoff
    assert in_scope["sub_route"].nunique() >= 8
    assert (out.loc[out["route"] == "none", "in_stock_scope"] == False).all()  # noqa: E712
    # every row carries its reasons, each with a rule id, Chinese text and a citation
    for reasons in out["reasons"].head(200):
        assert reasons and all(r["rule_id"] and r["text"] and r["citation"] for r in reasons)


def test_town_filled_by_largest_overlap(assessed):
    _, out, parcels = assessed
    assert parcels["town_code"].isna().sum() > 100  # the ledger leaves many empty
    assert out["town_code"].notna().all()


def test_presold_projects_never_reclaimed(assessed):
    store, out, _ = assessed
    projects = store.read_layer("projects")
    presold = set(projects.loc[projects["presold_units"].fillna(0) > 0, "parcel_id"].dropna())
    rows = out[out["parcel_id"].isin(presold)]
    assert len(rows) > 0
    assert not (rows["route"] == "reclaim").any()
    assert not any(a["route"] == "reclaim" for alts in rows["alternatives"] for a in alts)


def test_imagery_evidence_on_every_parcel_and_conflicts_explained(assessed):
    _, out, _ = assessed
    assert out["activity_index"].notna().all()
    conflicts = out[out["evidence_conflict"]]
    assert 0 < len(conflicts) < len(out) / 10
    for reasons in conflicts["reasons"]:
        [e1] = [r for r in reasons if r["rule_id"] == "E1"]
        assert "台账" in e1["text"] and "影像" in e1["text"]


def test_started_parcels_show_more_activity_than_idle_ones(assessed):
    _, out, _ = assessed
    building = out[(out["dev_status"] == "started") & (out["idle_type"] == "none")]["activity_index"]
    idle = out[out["idle_type"] == "not_started_idle"]["activity_index"]
    assert building.median() > idle.median() + 0.05


def test_assess_store_records_decision_and_is_repeatable(demo_store):
    from gis.decisions import record_decision

    first = demo_store.read_layer("idle_assessment")
    pid = first.loc[first["route"] == "transfer", "parcel_id"].iloc[0]
    record_decision(
        demo_store,
        parcel_id=pid,
        route="reclaim",
        sub_route="negotiated_reclaim",
        note="集体决策",
        decided_by="张三",
        role="planner",
        based_on_version=demo_store.current_version(pid),
    )
    again = assess_store(demo_store, as_of=DEMO_AS_OF)
    merged = first.drop(columns="decision").merge(again.drop(columns="decision"), on="parcel_id", suffixes=("", "_2"))
    assert (merged["route"] == merged["route_2"]).all()
    decision = again.set_index("parcel_id").loc[pid, "decision"]
    assert decision.startswith("收回收购/协商收回（张三 ")


def test_assess_without_imagery_or_projects(demo_store):
    parcels = demo_store.read_layer("parcels").head(300)
    out = assess_idle_land(parcels, enterprises=demo_store.read_layer("enterprises"), as_of=dt.date(2026, 11, 1))
    assert len(out) == 300 and out["activity_index"].isna().all() and not out["evidence_conflict"].any()
    assert out["project_ids"].map(len).eq(0).all()


def test_rasters_registered_beside_the_store(demo_store):
    rasters = list_rasters(demo_store)
    assert len(rasters) >= 3 and all(p.suffix == ".tif" for p in rasters)
