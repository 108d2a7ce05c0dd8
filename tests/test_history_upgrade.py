"""Upgrades and backups (docs/history.md §6): an old GeoPackage store upgrades in place, a populated 0001 PostGIS
database upgrades through Alembic with its data, and ``backup``/``restore`` round-trip both stores exactly."""

from __future__ import annotations

import contextlib
import sqlite3

import pandas as pd
import pytest
from click.testing import CliRunner

from gis.history import ledger_at, versions_of
from gis.schema import layer_names
from gis.store import GeoPackageStore
from gis.store.history_schema import HISTORY_TABLES, SCHEMA_VERSION
from tests.test_postgis import _admin_exec, assert_same_layer, cluster, pg_admin  # noqa: F401  (fixtures)

DECISION = {
    "decision_id": "d-0001",
    "route": "reclaim",
    "sub_route": None,
    "note": "旧库中的审定",
    "decided_by": "张三",
    "decided_at": pd.Timestamp("2026-11-02T09:30:00.123Z"),
    "based_on_version": "A:2026-11-01:x:reclaim:",
    "rules_version": "idle-2026.1",
}


@pytest.fixture(scope="module")
def old_layers():
    """The demo's layers (500 parcels) as an old store holds them, plus one decision."""
    import datetime as dt

    from gis.demo import build_demo_layers
    from gis.idle import load_idle_rules

    layers = build_demo_layers(n_parcels=500, seed=9)
    layers.pop("_meta", None)
    from gis.assess import assess_idle_land

    layers["idle_assessment"] = assess_idle_land(
        layers["parcels"],
        enterprises=layers["enterprises"],
        projects=layers["projects"],
        towns=layers["towns"],
        as_of=dt.date(2026, 11, 1),
        rules=load_idle_rules(),
    )
    return layers


def _everything(store) -> dict:
    return {n: store.read_layer(n) for n in layer_names()} | {"_meta": store.meta()}


def _write_old_gpkg(path, layers) -> GeoPackageStore:
    """A GeoPackage store as the code before history wrote it: layers via GDAL, decisions with its triggers."""
    store = GeoPackageStore(path)
    for name, frame in layers.items():
        store._write_frame(store.path, name, frame, append=False)
    store._ensure_decisions(store.path)
    import pyogrio

    pyogrio.write_dataframe(
        pd.DataFrame({"key": ["synthetic"], "value": ["true"]}), store.path, layer="store_meta", driver="GPKG"
    )
    with contextlib.closing(sqlite3.connect(store.path)) as con:
        con.execute(
            "INSERT INTO decisions (decision_id, parcel_id, route, note, decided_by, decided_at, "
            "based_on_version, rules_version) VALUES (?,?,?,?,?,?,?,?)",
            (
                DECISION["decision_id"],
                str(layers["parcels"]["parcel_id"].iloc[0]),
                DECISION["route"],
                DECISION["note"],
                DECISION["decided_by"],
                "2026-11-02T09:30:00.123Z",
                DECISION["based_on_version"],
                DECISION["rules_version"],
            ),
        )
        con.commit()
    return store


def _check_upgraded(store, before: dict, layers) -> None:
    after = _everything(store)
    for name in layer_names():
        assert_same_layer(after[name], before[name])
    assert {k: v for k, v in after["_meta"].items() if k != "schema_version"} == before["_meta"]
    counts = store.history_counts()
    for name in ("towns", "parcels", "projects", "enterprises", "villages"):
        assert counts[f"{name}_versions"] == len(layers[name])
    # the old rows are the first versions, valid since ever: the ledger on any day is today's
    assert_same_layer(ledger_at(store, "parcels", as_of="2020-01-01"), before["parcels"])
    # identical re-import of the same parcels adds no version (their hashes are filled on the way)
    from gis.batches import record_frames

    record_frames(store, {"parcels": before["parcels"]})
    assert store.history_counts()["parcels_versions"] == len(layers["parcels"])
    assert versions_of(store, "parcels")["row_hash"].notna().all()
    assert store.read_layer("decisions")["note"].tolist() == ["旧库中的审定"]


def test_geopackage_store_upgrades_in_place(tmp_path, old_layers):
    store = _write_old_gpkg(tmp_path / "old.gpkg", old_layers)
    assert store.history_version() is None and not store.history_counts()
    before = _everything(store)
    assert store.upgrade_history() is True
    assert store.history_version() == SCHEMA_VERSION
    assert store.upgrade_history() is False  # once
    _check_upgraded(store, before, old_layers)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):  # the audit trail is still enforced
        with contextlib.closing(sqlite3.connect(store.path)) as con:
            con.execute("DELETE FROM decisions")


@pytest.mark.postgis
def test_populated_0001_database_upgrades_with_its_data(cluster, old_layers):
    from gis.store import migrations, postgis
    from gis.store.postgis import PostGISStore

    name = cluster.new_database(template="template1")
    try:
        _admin_exec(cluster.admin, "CREATE EXTENSION IF NOT EXISTS postgis", database=name)
        owner = cluster.owner_url(name)
        assert postgis.upgrade(owner, "0001") == "0001"
        old = PostGISStore(owner)
        old._schema_ok = True  # write with the 0001 tables only, as the code of that revision did
        with old._cursor(write=True) as cur:
            for layer, frame in old_layers.items():
                old._copy_frame(cur, layer, frame)
            old._insert_decision(
                cur,
                {
                    **DECISION,
                    "parcel_id": str(old_layers["parcels"]["parcel_id"].iloc[0]),
                    "decided_at": DECISION["decided_at"].to_pydatetime(),
                },
            )
        before = _everything(old)
        old.close()
        assert postgis.upgrade(owner) == migrations.head_revision()  # through 0002_users, 0003_history, 0004_cases
        postgis.grant_app_role(owner, cluster.app)
        with PostGISStore(cluster.app_url(name)) as store:
            _check_upgraded(store, before, old_layers)
    finally:
        cluster.drop_database(name)


def _history_tables(store) -> dict:
    out = {}
    for table in HISTORY_TABLES:
        frame = store.read_history(table)
        out[table] = frame
    return out


def _assert_same_history(a: dict, b: dict) -> None:
    for table in HISTORY_TABLES:
        assert len(a[table]) == len(b[table]), table
        if len(a[table]):
            assert_same_layer(a[table], b[table])


def test_geopackage_backup_restore_round_trip(demo_store, tmp_path):
    from gis.decisions import record_decision
    from pipelines.cli import main

    pid = str(demo_store.read_layer("idle_assessment")["parcel_id"].iloc[0])
    record_decision(
        demo_store,
        parcel_id=pid,
        route="review",
        sub_route=None,
        note="备份前",
        decided_by="p",
        role="planner",
        based_on_version=demo_store.current_version(pid),
    )
    runner = CliRunner()
    res = runner.invoke(main, ["backup", str(tmp_path / "b" / "backup.gpkg"), "--store", str(demo_store.path)])
    assert res.exit_code == 0, res.output
    target = tmp_path / "restored" / "store.gpkg"
    res = runner.invoke(main, ["restore", str(tmp_path / "b" / "backup.gpkg"), "--store", str(target)])
    assert res.exit_code == 0, res.output
    restored = GeoPackageStore(target)
    before, after = _everything(demo_store), _everything(restored)
    for name in layer_names():
        assert_same_layer(after[name], before[name])
    assert after["_meta"] == before["_meta"]
    _assert_same_history(_history_tables(restored), _history_tables(demo_store))
    assert (
        sorted(p.name for p in restored.rasters_dir.glob("*.tif"))
        == sorted(p.name for p in demo_store.rasters_dir.glob("*.tif"))
        != []
    )
    # a store with data is not overwritten without --force
    res = runner.invoke(main, ["restore", str(tmp_path / "b" / "backup.gpkg"), "--store", str(target)])
    assert res.exit_code == 2 and "已有数据" in res.output


@pytest.mark.postgis
def test_postgis_backup_restore_round_trip(cluster, demo_store, tmp_path, monkeypatch):
    import datetime as dt

    from gis.backup import backup_store, restore_store
    from gis.batches import record_frames
    from gis.errors import StoreError
    from gis.store import postgis
    from gis.store.postgis import PostGISStore
    from gis.workflow import assess_store

    monkeypatch.setenv("LANDRENEW_FILES", str(demo_store.files_dir))
    source = cluster.new_database()
    empty = cluster.new_database(template="template1")
    try:
        _admin_exec(cluster.admin, "CREATE EXTENSION IF NOT EXISTS postgis", database=empty)
        with PostGISStore(cluster.app_url(source)) as pg:
            record_frames(
                pg, {n: demo_store.read_layer(n) for n in ("towns", "enterprises", "parcels", "projects", "villages")}
            )
            changed = demo_store.read_layer("parcels").iloc[:20].copy()
            changed["holder"] = "变更"
            record_frames(pg, {"parcels": pd.concat([changed, demo_store.read_layer("parcels").iloc[20:]])})
            assess_store(pg, as_of=dt.date(2026, 11, 1))
            pid = str(changed["parcel_id"].iloc[0])
            from gis.decisions import record_decision

            record_decision(
                pg,
                parcel_id=pid,
                route="review",
                sub_route=None,
                note="备份前",
                decided_by="p",
                role="planner",
                based_on_version=pg.current_version(pid),
            )
            before, history = _everything(pg), _history_tables(pg)
        with PostGISStore(cluster.owner_url(source)) as owner_store:  # backups are the owner's job
            dump = backup_store(owner_store, tmp_path / "pg.dump")
        owner = PostGISStore(cluster.owner_url(empty))
        restore_store(owner, dump)
        with pytest.raises(StoreError, match="只能进入空数据库"):
            restore_store(owner, dump)
        owner.close()
        postgis.grant_app_role(cluster.owner_url(empty), cluster.app)
        with PostGISStore(cluster.app_url(empty)) as restored:
            after = _everything(restored)
            for name in layer_names():
                assert_same_layer(after[name], before[name])
            assert after["_meta"] == before["_meta"]
            _assert_same_history(_history_tables(restored), history)
            # and it works: a decision appended after the restore, the audit trigger came along
            assert len(restored.read_layer("decisions")) == 1
    finally:
        cluster.drop_database(source)
        cluster.drop_database(empty)
