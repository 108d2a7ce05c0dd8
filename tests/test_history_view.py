"""What the app's parcel detail and map show of the history (docs/history.md §2, §5): a parcel's versions and
decisions as text (gis.history_view, also printed by ``landrenew history``), and the parcels whose ledger changed
since the run the map shows (gis.runs.changed_since_run).

Expected values come from the rows the tests change themselves (which field, which geometry, which parcel)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import shapely

from gis.batches import write_batch
from gis.history_view import decision_items, decisions_table, version_items, versions_table
from gis.idle import load_idle_rules
from gis.runs import changed_since_run, current_run, keep_run, read_run
from gis.store import GeoPackageStore
from gis.store.history_schema import HistoryWrite, utc_now
from tests import case_fixtures
from tests.test_history import decide, write_parcels


# -- a parcel's versions and decisions --------------------------------------------------------------------------
def test_versions_show_the_changed_field_and_the_area_delta(demo_store, tmp_path):
    from gis.ingest import ingest_files

    parcels = demo_store.read_layer("parcels").sort_values("parcel_id").reset_index(drop=True)
    pid = str(parcels["parcel_id"].iloc[3])
    before = version_items(demo_store, pid)
    row = parcels.iloc[[3]].copy()
    old_holder = row["holder"].iloc[0]
    row["holder"] = "页面更正有限公司"
    # the parcel doubled in both directions about its centroid: four times the area on the ground
    g = row.geometry.iloc[0]
    row["geometry"] = [shapely.affinity.scale(g, 2.0, 2.0, origin="centroid")]
    ingest_files(
        demo_store, {"parcels": write_parcels(row, tmp_path / "fix.gpkg")}, mode="upsert", effective="2026-11-20"
    )
    after = version_items(demo_store, pid)
    assert len(after) == len(before) + 1
    last, prev = after[-1], after[-2]
    assert (last["valid_from"], last["valid_to"], last["change"]) == ("2026-11-20", "至今", "变更")
    assert prev["valid_to"] == "2026-11-20"
    assert f"受让人（holder）：{old_holder} -> 页面更正有限公司" in last["lines"]
    [geom_line] = [line for line in last["lines"] if line.startswith("图形")]
    old_area, new_area = (float(x) for x in geom_line.split("面积 ")[1].split(" 平方米")[0].split(" -> "))
    assert new_area == pytest.approx(4 * old_area, rel=0.002)
    assert last["area_m2_delta"] == pytest.approx(3 * old_area, rel=0.003)
    assert last["batch_id"].startswith("B") and len(last["recorded_at"]) == 16
    table = versions_table(after)
    assert list(table.columns) == ["有效期自", "有效期至", "变化", "入库批次", "入库时间", "变化内容"]
    assert table.index.tolist() == [str(i) for i in range(1, len(after) + 1)]
    assert "页面更正有限公司" in table["变化内容"].iloc[-1]


def test_decisions_show_the_run_and_what_it_said(demo_store):
    run = current_run(demo_store)
    rows = read_run(demo_store, run)
    idle = rows[rows["idle_type"].isin(["not_started_idle", "halted_idle"]) & rows["reasons"].map(len).gt(0)]
    pid = str(idle["parcel_id"].iloc[0])
    seen = idle.iloc[0]
    assert decision_items(demo_store, pid) == []
    decide(demo_store, pid)  # route "review" by planner1
    [item] = decision_items(demo_store, pid)
    assert (item["decided_by"], item["route"], item["note"], item["run_id"]) == ("planner1", "待研判", "核实", run)
    route_labels = {"none": "不纳入", "continue": "继续开发", "transfer": "市场流通转让", "reclaim": "收回收购"}
    assert item["seen_route"].split("／")[0] == route_labels.get(seen["route"], "待研判")
    assert item["seen_reasons"] == [
        f"{r['text']}（{r['citation']}）" if r.get("citation") else r["text"] for r in seen["reasons"]
    ]
    assert len(item["seen_alternatives"]) == len(seen["alternatives"])
    table = decisions_table([item])
    assert table.index.tolist() == [item["decided_at"]]
    assert table["依据研判批次"].iloc[0] == run and table["审定人"].iloc[0] == "planner1"


def test_the_cli_prints_the_same_items(demo_store):
    from click.testing import CliRunner

    from pipelines.cli import main

    pid = str(demo_store.read_layer("parcels")["parcel_id"].iloc[0])
    decide(demo_store, pid)
    out = CliRunner().invoke(main, ["history", pid, "--store", str(demo_store.path)])
    assert out.exit_code == 0, out.output
    for v in version_items(demo_store, pid):
        assert f"{v['valid_from']} " in out.output and f"批次 {v['batch_id']}（{v['recorded_at']} 入库）" in out.output
    [d] = decision_items(demo_store, pid)
    assert f"审定 {d['decided_at']} planner1：待研判（依据研判批次 {d['run_id']}" in out.output


# -- parcels changed since the run the app shows -----------------------------------------------------------------
@pytest.fixture
def small_store(tmp_path):
    """Two towns, eight parcels (tests/case_fixtures.py) written as one batch, then an assessment run kept."""
    store = GeoPackageStore(tmp_path / "small.gpkg")
    layers = case_fixtures.case_layers()
    store.write_layers(layers)
    tx = HistoryWrite()
    keep_run(
        store,
        tx,
        run_id="A-test-1",
        kind="assess",
        as_of=dt.date(2026, 6, 30),
        known_at=utc_now(),
        rules=load_idle_rules(),
        outputs={"idle_assessment": layers["idle_assessment"]},
        what_if=False,
        user="tester",
        label=None,
    )
    store.write_history(tx)
    return store, layers["parcels"]


def test_nothing_changed_right_after_the_run(small_store):
    store, _ = small_store
    assert current_run(store) == "A-test-1"
    assert changed_since_run(store).empty


def test_exactly_the_upserted_parcels_are_listed(small_store):
    store, parcels = small_store
    ids = sorted(parcels["parcel_id"])
    changed_id, same_id = ids[1], ids[2]
    rows = parcels[parcels["parcel_id"].isin([changed_id, same_id])].copy()
    rows.loc[rows["parcel_id"] == changed_id, "holder"] = "新受让人有限公司"
    new = parcels[parcels["parcel_id"] == same_id].copy()
    new["parcel_id"] = "P-new"
    # an unchanged row in the same batch adds no version, so it must not be listed
    write_batch(store, {"parcels": pd.concat([rows, new])}, mode="upsert", effective="2026-07-31")
    got = changed_since_run(store)
    assert got[["parcel_id", "change"]].values.tolist() == [[changed_id, "changed"], ["P-new", "added"]]
    assert got.set_index("parcel_id").loc[changed_id, "fields"] == ["holder"]
    assert got.set_index("parcel_id").loc[changed_id, "text"] == "变更：受让人"
    assert got.set_index("parcel_id").loc["P-new", "text"] == "新增"
    # a run kept after the batch knows it: nothing changed since that one
    tx = HistoryWrite()
    keep_run(
        store,
        tx,
        run_id="A-test-2",
        kind="assess",
        as_of=dt.date(2026, 7, 31),
        known_at=utc_now(),
        rules=load_idle_rules(),
        outputs={"idle_assessment": case_fixtures.case_layers()["idle_assessment"]},
        what_if=False,
        user="tester",
        label=None,
    )
    store.write_history(tx)
    assert current_run(store) == "A-test-2"
    assert changed_since_run(store).empty
    assert changed_since_run(store, "A-test-1")["parcel_id"].tolist() == [changed_id, "P-new"]


def test_a_retired_parcel_is_listed(small_store):
    store, parcels = small_store
    town = case_fixtures.TOWNS[1]
    mine = parcels[parcels["town_code"] == town].sort_values("parcel_id")
    gone = str(mine["parcel_id"].iloc[0])
    write_batch(store, {"parcels": mine.iloc[1:]}, mode="replace", scope=("town_code", town), confirm=True)
    got = changed_since_run(store)
    assert got[["parcel_id", "change", "text"]].values.tolist() == [[gone, "retired", "退出台账"]]


def test_no_run_kept_lists_nothing(tmp_path):
    store = GeoPackageStore(tmp_path / "empty.gpkg")
    store.write_layers({"parcels": case_fixtures.case_layers()["parcels"]})
    assert current_run(store) is None and changed_since_run(store).empty
