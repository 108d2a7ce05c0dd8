"""Import batches and versions (docs/history.md §1–§2) on the GeoPackage store; the same scenarios run on PostGIS in
``tests/test_history_postgis.py`` through the shared functions here.

Expected values are worked out from the rows the test itself changes (which parcels, which fields), never from
the code's own output: e.g. a scoped replace must leave the other towns' rows byte-for-byte as they were read
before, an upsert of k changed rows must add exactly k believed versions.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest

from gis.batches import ImportRefused, list_batches
from gis.decisions import record_decision
from gis.history import changes_since, ledger_at, parcel_history, versions_of
from gis.ingest import ingest_files


def write_parcels(frame: gpd.GeoDataFrame, path) -> str:
    """Parcels as a GeoPackage source file under the contract field names (ingest maps them like labels)."""
    frame = frame.copy()
    frame.to_file(path, driver="GPKG")
    return str(path)


def believed_counts(store, ids) -> pd.Series:
    v = versions_of(store, "parcels", ids, geometry=False)
    return v.groupby("parcel_id").size().reindex(ids, fill_value=0)


def _by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(frame.drop(columns="geometry")).sort_values("parcel_id").reset_index(drop=True)


def _town_with_parcels(parcels: pd.DataFrame, n: int = 5) -> str:
    counts = parcels["town_code"].value_counts()
    return str(counts[counts >= n].index[0])


def decide(store, parcel_id: str) -> dict:
    return record_decision(
        store,
        parcel_id=parcel_id,
        route="review",
        sub_route=None,
        note="核实",
        decided_by="planner1",
        role="planner",
        based_on_version=store.current_version(parcel_id),
    )


# -- the scenarios (also run on PostGIS) -------------------------------------------------------------------------
def scenario_scoped_replace(store, tmp_path):
    parcels = store.read_layer("parcels")
    town = _town_with_parcels(parcels)
    others_before = _by_id(parcels[parcels["town_code"] != town])
    other_geoms = parcels[parcels["town_code"] != town].sort_values("parcel_id").geometry.reset_index(drop=True)
    mine = parcels[parcels["town_code"] == town].sort_values("parcel_id").reset_index(drop=True)
    decided_elsewhere = str(parcels.loc[parcels["town_code"] != town, "parcel_id"].iloc[0])
    decide(store, decided_elsewhere)
    decisions_before = store.read_layer("decisions")
    # the town's new ledger: one holder changed, one parcel gone, and a stray row of another town
    new = mine.iloc[1:].copy()
    changed_id = str(new["parcel_id"].iloc[0])
    new.loc[new.index[0], "holder"] = "新受让人有限公司"
    stray = parcels[parcels["town_code"] != town].iloc[[0]].copy()
    stray["holder"] = "不应导入"
    source = write_parcels(pd.concat([new, stray]), tmp_path / "town.gpkg")
    [report] = ingest_files(
        store, {"parcels": source}, mode="replace", scope=f"town_code={town}", effective="2026-06-30"
    )
    after = store.read_layer("parcels")
    # every other town untouched (attributes and geometry), all decisions untouched
    pd.testing.assert_frame_equal(_by_id(after[after["town_code"] != town]), others_before)
    assert (
        after[after["town_code"] != town]
        .sort_values("parcel_id")
        .geometry.reset_index(drop=True)
        .geom_equals_exact(other_geoms, 0)
        .all()
    )
    pd.testing.assert_frame_equal(store.read_layer("decisions"), decisions_before)
    # in the town: the missing parcel retired, the changed one updated
    gone = str(mine["parcel_id"].iloc[0])
    assert gone not in set(after["parcel_id"])
    assert after.loc[after["parcel_id"] == changed_id, "holder"].item() == "新受让人有限公司"
    # the stray row was rejected with the scope as reason, not stored
    assert report.rejected == 1 and report.stored == len(new)
    [p] = [p for p in report.problems if p.severity == "reject"]
    assert p.record_id == str(stray["parcel_id"].iloc[0]) and "不在本次导入范围" in p.reason
    assert after.loc[after["parcel_id"] == p.record_id, "holder"].item() != "不应导入"
    # the retired parcel keeps its history: its last version, then the retirement on the effective date
    hist = parcel_history(store, gone)
    assert [h["change"] for h in hist][-1] == "retired"
    assert hist[-1]["valid_from"] == pd.Timestamp("2026-06-30")
    batch = list_batches(store).iloc[0]
    assert (batch["mode"], batch["scope"]) == ("replace", f"town_code={town}")


def scenario_upsert_versions(store, tmp_path):
    parcels = store.read_layer("parcels").sort_values("parcel_id").reset_index(drop=True)
    rows = parcels.iloc[:10].copy()
    ids = list(rows["parcel_id"].astype(str))
    before = believed_counts(store, ids)
    changed = ids[:4]
    rows.loc[rows["parcel_id"].isin(changed[:2]), "holder"] = "更正后的受让人"
    rows.loc[rows["parcel_id"] == changed[2], "land_price_wan"] += 1.5
    rows.loc[rows["parcel_id"] == changed[3], "geometry"] = rows.loc[rows["parcel_id"] == changed[3], "geometry"].scale(
        1.1, 1.1
    )
    source = write_parcels(rows, tmp_path / "upsert.gpkg")
    ingest_files(store, {"parcels": source}, mode="upsert", effective="2026-07-31")
    after = believed_counts(store, ids)
    expected = before + pd.Series({i: 1 if i in changed else 0 for i in ids})
    pd.testing.assert_series_equal(after, expected, check_names=False)
    # the parcels absent from the upsert file are untouched
    assert len(store.read_layer("parcels")) == len(parcels)
    # the change report names field, old and new, and the geometry's area delta
    batch_id = list_batches(store).iloc[0]["batch_id"]
    report = changes_since(store, list_batches(store).iloc[1]["batch_id"])
    assert set(report["key"]) == set(changed)
    holder = report[(report["key"] == changed[0]) & (report["field"] == "holder")].iloc[0]
    assert holder["new"] == "更正后的受让人" and holder["old"] == parcels.loc[0, "holder"]
    geom = report[(report["key"] == changed[3]) & (report["field"] == "geometry")].iloc[0]
    assert geom["area_delta_m2"] == pytest.approx(geom["old"] * 0.21, rel=1e-3)  # 1.1^2 - 1
    hist = parcel_history(store, changed[0])
    assert hist[-1]["batch_id"] == batch_id and hist[-1]["valid_from"] == pd.Timestamp("2026-07-31")
    assert ("holder", parcels.loc[0, "holder"], "更正后的受让人") in hist[-1]["diff"]
    # the same file again: recognised by its hash, no new version
    ingest_files(store, {"parcels": source}, mode="upsert", effective="2026-07-31")
    again = list_batches(store).iloc[0]
    assert again["same_as"] == batch_id
    pd.testing.assert_series_equal(believed_counts(store, ids), expected, check_names=False)


def scenario_guard(store, tmp_path):
    parcels = store.read_layer("parcels").sort_values("parcel_id").reset_index(drop=True)
    decided = str(parcels["parcel_id"].iloc[3])
    decide(store, decided)
    before = store.read_layer("parcels")
    n_versions = store.history_counts().get("parcels_versions")
    source = write_parcels(parcels.drop(index=3), tmp_path / "without_decided.gpkg")
    with pytest.raises(ImportRefused, match=decided) as info:
        ingest_files(store, {"parcels": source}, mode="replace")
    assert "已有审定记录" in str(info.value) and "--confirm" in info.value.fix
    pd.testing.assert_frame_equal(_by_id(store.read_layer("parcels")), _by_id(before))
    assert store.history_counts().get("parcels_versions") == n_versions
    # a replace with only a quarter of the layer would retire 75%: refused too, with the share
    quarter = write_parcels(parcels.iloc[: len(parcels) // 4], tmp_path / "quarter.gpkg")
    with pytest.raises(ImportRefused, match="超过规则上限 20%"):
        ingest_files(store, {"parcels": quarter}, mode="replace")
    # confirmed: goes through, the decided parcel is retired with the reason given, its decision kept
    ingest_files(store, {"parcels": source}, mode="replace", confirm=True, reason="已注销（测试）")
    assert decided not in set(store.read_layer("parcels")["parcel_id"])
    assert decided in set(store.read_layer("decisions")["parcel_id"])
    assert parcel_history(store, decided)[-1]["reason"] == "已注销（测试）"


def scenario_guard_open_case(store, tmp_path):
    """A replace that would retire a parcel with an open disposal case is refused naming it and its case; a
    parcel whose case was closed does not hold the import up; confirmed, the parcel goes and its case stays."""
    from gis.cases import is_identified, open_case, read_cases, record_event
    from gis.disposal_rules import default_disposal_rules

    routes = set(default_disposal_rules().routes())
    a = store.read_layer("idle_assessment")
    known = pd.Series([(r, s) in routes for r, s in zip(a["route"], a["sub_route"])], index=a.index)
    a = a[is_identified(a) & known]
    a = a.sort_values("parcel_id")
    cases = {}
    for (_, row), closed in zip(a.head(2).iterrows(), (False, True)):
        case = open_case(
            store,
            parcel_id=row["parcel_id"],
            route=row["route"],
            sub_route=row["sub_route"],
            opened_by="planner1",
            role="planner",
            opened_at="2026-09-01",
        )
        record_event(
            store,
            case_id=case["case_id"],
            event="survey_notice",
            event_date="2026-09-02",
            recorded_by="planner1",
            role="planner",
        )
        if closed:
            record_event(
                store,
                case_id=case["case_id"],
                event="closed_other",
                event_date="2026-09-10",
                recorded_by="planner1",
                role="planner",
                note="企业已自行开工（测试）",
            )
        cases[str(row["parcel_id"])] = str(case["case_id"])
    (open_pid, open_case_id), (closed_pid, _) = cases.items()
    parcels = store.read_layer("parcels")
    before = store.read_layer("parcels")
    assert not store.read_layer("decisions")["parcel_id"].isin(list(cases)).any()  # the case alone holds it up
    source = write_parcels(parcels[~parcels["parcel_id"].isin(list(cases))], tmp_path / "without_cases.gpkg")
    with pytest.raises(ImportRefused, match="未结处置案件") as info:
        ingest_files(store, {"parcels": source}, mode="replace")
    assert f"{open_pid}（案件 {open_case_id}）" in str(info.value) and closed_pid not in str(info.value)
    pd.testing.assert_frame_equal(_by_id(store.read_layer("parcels")), _by_id(before))
    ingest_files(store, {"parcels": source}, mode="replace", confirm=True, reason="已注销（测试）")
    assert not store.read_layer("parcels")["parcel_id"].isin(list(cases)).any()
    assert set(read_cases(store)["parcel_id"]) >= set(cases)


def scenario_late_correction_versions(store, tmp_path):
    """A batch effective before versions already recorded: the past is corrected, the present is not."""
    parcels = store.read_layer("parcels").sort_values("parcel_id").reset_index(drop=True)
    pid = str(parcels["parcel_id"].iloc[5])
    row = parcels.iloc[[5]].copy()
    row["holder"] = "二〇二六年八月的受让人"
    ingest_files(store, {"parcels": write_parcels(row, tmp_path / "aug.gpkg")}, mode="upsert", effective="2026-08-31")
    late = parcels.iloc[[5]].copy()
    late["holder"] = "更正：二〇二五年三月起的受让人"
    ingest_files(store, {"parcels": write_parcels(late, tmp_path / "late.gpkg")}, mode="upsert", effective="2025-03-31")
    assert store.read_layer("parcels", where={"parcel_id": pid})["holder"].item() == "二〇二六年八月的受让人"
    on = {
        d: ledger_at(store, "parcels", as_of=d).set_index("parcel_id").loc[pid, "holder"]
        for d in ("2025-01-01", "2025-06-30", "2026-09-30")
    }
    assert on == {
        "2025-01-01": parcels.loc[5, "holder"],
        "2025-06-30": "更正：二〇二五年三月起的受让人",
        "2026-09-30": "二〇二六年八月的受让人",
    }
    assert list_batches(store).iloc[0]["late"]


# -- GeoPackage ---------------------------------------------------------------------------------------------------
def test_town_scoped_replace_leaves_other_towns_and_decisions(demo_store, tmp_path):
    scenario_scoped_replace(demo_store, tmp_path)


def test_upsert_adds_one_version_per_changed_parcel(demo_store, tmp_path):
    scenario_upsert_versions(demo_store, tmp_path)


def test_replace_retiring_decided_parcel_refused_without_confirm(demo_store, tmp_path):
    scenario_guard(demo_store, tmp_path)


def test_guard_refuses_retiring_a_parcel_with_an_open_case(demo_store, tmp_path):
    scenario_guard_open_case(demo_store, tmp_path)


def test_late_correction_changes_the_past_not_the_present(demo_store, tmp_path):
    scenario_late_correction_versions(demo_store, tmp_path)


# -- runs, time travel, decisions (docs/history.md §3–§5) ----------------------------------------------------------
def _idle_parcel(store, run_id: str) -> str:
    from gis.runs import read_run

    rows = read_run(store, run_id)
    return str(rows.loc[rows["idle_type"].isin(["not_started_idle", "halted_idle"]), "parcel_id"].iloc[0])


def _completed(row: pd.DataFrame, *, on: str) -> pd.DataFrame:
    """The ledger row of a parcel that was built and completed by ``on`` (so it is no longer idle stock)."""
    row = row.copy()
    row["actual_start_date"] = row["supply_date"] + pd.Timedelta(days=30)
    row["actual_completion_date"] = pd.Timestamp(on)
    row["developed_area_ratio"] = 1.0
    row["invested_ratio"] = 1.0
    row["halted_since"] = pd.NaT
    return row


def scenario_effective_after_day(store, tmp_path):
    import datetime as dt

    from gis.runs import read_run
    from gis.workflow import assess_store

    day = dt.date(2026, 6, 30)
    first = assess_store(store, as_of=day).attrs["run_id"]
    pid = _idle_parcel(store, first)
    row = store.read_layer("parcels", where={"parcel_id": pid})
    ingest_files(
        store,
        {"parcels": write_parcels(_completed(row, on="2026-09-15"), tmp_path / "sep.gpkg")},
        mode="upsert",
        effective="2026-09-30",
    )
    second = assess_store(store, as_of=day).attrs["run_id"]
    pd.testing.assert_frame_equal(read_run(store, second), read_run(store, first))
    later = assess_store(store, as_of=dt.date(2026, 11, 1)).attrs["run_id"]  # the change does show after it
    assert read_run(store, later).set_index("parcel_id").loc[pid, "idle_type"] == "none"
    assert read_run(store, first).set_index("parcel_id").loc[pid, "idle_type"] != "none"


def scenario_reproduce_after_late_correction(store, tmp_path):
    import datetime as dt

    from gis.runs import list_runs, read_run, reproduce_run
    from gis.workflow import assess_store

    day = dt.date(2026, 6, 30)
    parcels = store.read_layer("parcels")
    # a later version exists (effective 2026-08-31), so a batch effective 2025-03-31 is a late correction
    run0 = assess_store(store, as_of=day).attrs["run_id"]
    pid = _idle_parcel(store, run0)
    row = parcels[parcels["parcel_id"] == pid].copy()
    aug = row.copy()
    aug["holder"] = "八月台账的受让人"
    ingest_files(store, {"parcels": write_parcels(aug, tmp_path / "aug.gpkg")}, mode="upsert", effective="2026-08-31")
    kept = assess_store(store, as_of=day).attrs["run_id"]
    kept_rows = read_run(store, kept)
    ingest_files(
        store,
        {"parcels": write_parcels(_completed(row, on="2025-03-01"), tmp_path / "late.gpkg")},
        mode="upsert",
        effective="2025-03-31",
    )
    assert store.read_layer("parcels", where={"parcel_id": pid})["holder"].item() == "八月台账的受让人"
    fresh = assess_store(store, as_of=day, what_if=True, label="更正后").attrs["run_id"]
    assert read_run(store, fresh).set_index("parcel_id").loc[pid, "idle_type"] == "none"  # the correction counts now
    assert kept_rows.set_index("parcel_id").loc[pid, "idle_type"] != "none"
    pd.testing.assert_frame_equal(reproduce_run(store, kept), kept_rows)  # ...but not for the kept run
    runs = list_runs(store, kind="assess").set_index("run_id")
    assert runs.loc[kept, "current"] and not runs.loc[fresh, "current"] and runs.loc[fresh, "what_if"]


def scenario_decision_snapshot(store, tmp_path):
    import datetime as dt

    from gis.decisions import decision_snapshots
    from gis.runs import current_run, read_run
    from gis.workflow import assess_store

    run = assess_store(store, as_of=dt.date(2026, 11, 1)).attrs["run_id"]
    pid = _idle_parcel(store, run)
    seen = read_run(store, run).set_index("parcel_id").loc[pid]
    decision = decide(store, pid)
    row = store.read_layer("parcels", where={"parcel_id": pid})
    ingest_files(
        store,
        {"parcels": write_parcels(_completed(row, on="2026-10-01"), tmp_path / "done.gpkg")},
        mode="upsert",
        effective="2026-10-31",
    )
    later = assess_store(store, as_of=dt.date(2026, 11, 1)).attrs["run_id"]
    assert current_run(store) == later != run
    assert read_run(store, later).set_index("parcel_id").loc[pid, "route"] != seen["route"]
    [snap] = decision_snapshots(store, pid).to_dict("records")
    assert snap["decision_id"] == decision["decision_id"] and snap["run_id"] == run
    assert (snap["seen_route"], snap["seen_idle_type"]) == (seen["route"], seen["idle_type"])
    assert snap["seen_reasons"] == seen["reasons"] and snap["seen_alternatives"] == seen["alternatives"]


def test_change_effective_after_day_does_not_change_as_of_day_run(demo_store, tmp_path):
    scenario_effective_after_day(demo_store, tmp_path)


def test_reproducing_a_kept_run_is_exact_after_a_late_correction(demo_store, tmp_path):
    scenario_reproduce_after_late_correction(demo_store, tmp_path)


def test_decision_snapshot_survives_later_import_and_run(demo_store, tmp_path):
    scenario_decision_snapshot(demo_store, tmp_path)


def test_what_if_cutoff_diff_lists_changed_parcels_with_both_reasons(demo_store):
    import datetime as dt

    from gis.idle import load_idle_rules
    from gis.runs import diff_runs, list_runs, read_run
    from gis.workflow import assess_store

    day = dt.date(2026, 11, 1)
    plan = assess_store(demo_store, as_of=day).attrs["run_id"]
    rules45 = load_idle_rules().replace(**{"scope.stock_cutoff": dt.date(2024, 11, 7)})
    what_if = assess_store(demo_store, as_of=day, rules=rules45, what_if=True).attrs["run_id"]
    a, b = read_run(demo_store, plan).set_index("parcel_id"), read_run(demo_store, what_if).set_index("parcel_id")
    # independent reference: parcels supplied between the two cutoffs are the ones whose scope may differ
    parcels = demo_store.read_layer("parcels").set_index("parcel_id")
    between = parcels.index[(parcels["supply_date"] > "2024-03-31") & (parcels["supply_date"] <= "2024-11-07")]
    expected = sorted(p for p in a.index if a.loc[p, "in_stock_scope"] != b.loc[p, "in_stock_scope"])
    assert expected and set(expected) <= set(between)
    diff = diff_runs(demo_store, plan, what_if)
    scoped = diff[diff["changed"].map(lambda c: "in_stock_scope" in c)]
    assert sorted(scoped["parcel_id"]) == expected
    first = scoped.iloc[0]
    assert first["reasons_a"] == a.loc[first["parcel_id"], "reasons"]
    assert first["reasons_b"] == b.loc[first["parcel_id"], "reasons"]
    runs = list_runs(demo_store, kind="assess").set_index("run_id")
    assert runs.loc[plan, "current"] and not runs.loc[what_if, "current"]
    assert runs.loc[what_if, "rules_version"].endswith("+whatif")
    # the layer the app shows is still the current run's
    assert set(demo_store.read_layer("idle_assessment")["rules_version"]) == {runs.loc[plan, "rules_version"]}


def test_large_writes_through_the_file_copy_path_behave_the_same(demo_store, tmp_path, monkeypatch):
    """Writes of many rows go through a copy of the file and GDAL's writer (gpkg_history.BULK_ROWS): the same
    scenarios hold on that path."""
    from gis.store import gpkg_history

    monkeypatch.setattr(gpkg_history, "BULK_ROWS", 1)
    for sub in ("u", "l", "s"):
        (tmp_path / sub).mkdir()
    scenario_upsert_versions(demo_store, tmp_path / "u")
    scenario_late_correction_versions(demo_store, tmp_path / "l")
    scenario_scoped_replace(demo_store, tmp_path / "s")
