"""The history scenarios of ``tests/test_history.py`` on the PostGIS store, and parity of versions between the two
stores (same batches in, same versions and same "ledger on day D" out)."""

from __future__ import annotations

import pandas as pd
import pytest

from gis.history import ledger_at, versions_of
from gis.ingest import ingest_files
from gis.store import GeoPackageStore
from gis.store.postgis import PostGISStore
from tests import test_history as scenarios
from tests.test_postgis import assert_same_layer, cluster, pg_admin  # noqa: F401  (fixtures)

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def pg_demo(cluster, tmp_path_factory):  # noqa: F811
    """A migrated database holding the demo (500 parcels, from its source files), used as a template."""
    from gis.workflow import build_demo_store

    files = tmp_path_factory.mktemp("pg_files")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LANDRENEW_FILES", str(files))
        name = cluster.new_database()
        store, _ = build_demo_store(cluster.app_url(name), n_parcels=500, seed=5)
        store.close()
    yield name, files
    cluster.drop_database(name)


@pytest.fixture
def pg_store(cluster, pg_demo, monkeypatch):  # noqa: F811
    name, files = pg_demo
    monkeypatch.setenv("LANDRENEW_FILES", str(files))
    copy = cluster.new_database(template=name)
    store = PostGISStore(cluster.app_url(copy))
    yield store
    store.close()
    cluster.drop_database(copy)


def test_town_scoped_replace_on_postgis(pg_store, tmp_path):
    scenarios.scenario_scoped_replace(pg_store, tmp_path)


def test_upsert_versions_on_postgis(pg_store, tmp_path):
    scenarios.scenario_upsert_versions(pg_store, tmp_path)


def test_guard_on_postgis(pg_store, tmp_path):
    scenarios.scenario_guard(pg_store, tmp_path)


def test_guard_open_case_on_postgis(pg_store, tmp_path):
    scenarios.scenario_guard_open_case(pg_store, tmp_path)


def test_late_correction_on_postgis(pg_store, tmp_path):
    scenarios.scenario_late_correction_versions(pg_store, tmp_path)


def test_effective_after_day_on_postgis(pg_store, tmp_path):
    scenarios.scenario_effective_after_day(pg_store, tmp_path)


def test_reproduce_after_late_correction_on_postgis(pg_store, tmp_path):
    scenarios.scenario_reproduce_after_late_correction(pg_store, tmp_path)


def test_decision_snapshot_on_postgis(pg_store, tmp_path):
    scenarios.scenario_decision_snapshot(pg_store, tmp_path)


_TIMES = ["recorded_at", "superseded_at", "batch_id", "superseded_by", "reason"]


def test_same_batches_give_same_versions_on_both_stores(cluster, tmp_path):  # noqa: F811
    """Both stores fed the same files: identical versions (but for the times and batch ids) and ledgers."""
    from gis.demo import build_demo_layers

    layers = build_demo_layers(n_parcels=500, seed=3)
    parcels = layers["parcels"].sort_values("parcel_id").reset_index(drop=True)
    name = cluster.new_database()
    pg = PostGISStore(cluster.app_url(name))
    gp = GeoPackageStore(tmp_path / "g.gpkg")
    try:
        first = scenarios.write_parcels(parcels.iloc[:400], tmp_path / "first.gpkg")
        changed = parcels.iloc[:50].copy()
        changed.loc[changed.index[:10], "holder"] = "变更后"
        changed.loc[changed.index[10:20], "geometry"] = changed.geometry.iloc[10:20].scale(1.05, 1.05)
        upsert = scenarios.write_parcels(pd.concat([changed, parcels.iloc[400:]]), tmp_path / "upsert.gpkg")
        late = parcels.iloc[20:30].copy()
        late["land_price_wan"] = late["land_price_wan"] + 1
        late_path = scenarios.write_parcels(late, tmp_path / "late.gpkg")
        shrink = scenarios.write_parcels(parcels.iloc[5:], tmp_path / "shrink.gpkg")
        for store in (pg, gp):
            ingest_files(store, {"parcels": first}, effective="2024-03-31")
            ingest_files(store, {"parcels": upsert}, mode="upsert", effective="2025-06-30")
            ingest_files(store, {"parcels": late_path}, mode="upsert", effective="2024-12-31")
            ingest_files(store, {"parcels": shrink}, mode="replace", effective="2026-01-31")
        a = versions_of(pg, "parcels", believed=False).drop(columns=_TIMES)
        b = versions_of(gp, "parcels", believed=False).drop(columns=_TIMES)
        assert len(a) == len(b) > 500
        assert_same_layer(a, b)
        for day in ("2024-01-01", "2024-06-30", "2025-01-31", "2025-07-01", "2026-03-01"):
            assert_same_layer(ledger_at(pg, "parcels", as_of=day), ledger_at(gp, "parcels", as_of=day))
        assert_same_layer(pg.read_layer("parcels"), gp.read_layer("parcels"))
        assert len(pg.read_layer("parcels")) == 495
    finally:
        pg.close()
        cluster.drop_database(name)
