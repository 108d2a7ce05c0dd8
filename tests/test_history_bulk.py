"""The first import's versions on the GeoPackage bulk path (issue 11): copied in SQL from the layer just written
(gpkg_history._copy_versions) — checked against GDAL's own writer, which the store used before and still uses
when the copy does not apply."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
import shapely

from gis.demo import build_demo_layers
from gis.store import GeoPackageStore, gpkg_history

N = 1500  # above the 1000 rows from which a history append leaves SQLite's executemany for the bulk writers


@pytest.fixture(scope="module")
def parcels():
    return build_demo_layers(n_parcels=N)["parcels"]


def _rows(path, table):
    """Every stored column of a table except fid, in fid order (geometry as its GeoPackage blob bytes)."""
    with sqlite3.connect(path) as con:
        cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")') if r[1] != "fid"]
        quoted = ", ".join(f'"{c}"' for c in cols)
        return cols, con.execute(f'SELECT {quoted} FROM "{table}" ORDER BY fid').fetchall()


def _spy(monkeypatch, *, copy: bool):
    calls = []
    real = gpkg_history._copy_versions

    def spy(*args):
        calls.append(args[1].name)
        return real(*args) if copy else False

    monkeypatch.setattr(gpkg_history, "_copy_versions", spy)
    monkeypatch.setattr(gpkg_history, "BULK_ROWS", 1)
    return calls


def test_first_import_versions_copied_in_sql_equal_gdal_writer(parcels, tmp_path, monkeypatch):
    calls = _spy(monkeypatch, copy=True)
    copied = GeoPackageStore(tmp_path / "copied.gpkg")
    copied.write_layers({"parcels": parcels})
    assert calls == ["parcels_versions"]
    calls = _spy(monkeypatch, copy=False)  # the fallback: GDAL's Arrow writer, as before
    reference = GeoPackageStore(tmp_path / "gdal.gpkg")
    reference.write_layers({"parcels": parcels})
    assert calls == ["parcels_versions"]

    cols_a, rows_a = _rows(copied.path, "parcels_versions")
    cols_b, rows_b = _rows(reference.path, "parcels_versions")
    assert cols_a == cols_b and len(rows_a) == len(rows_b) == N
    # recorded_at and batch_id differ between the two imports; every other value is byte-identical
    skip = {cols_a.index("recorded_at"), cols_a.index("batch_id")}
    for ra, rb in zip(rows_a, rows_b):
        assert [v for i, v in enumerate(ra) if i not in skip] == [v for i, v in enumerate(rb) if i not in skip]
    versions = copied.read_history("parcels_versions")
    assert versions["parcel_id"].tolist() == parcels["parcel_id"].tolist()
    assert versions["version_id"].tolist() == list(range(1, N + 1))
    assert shapely.equals(versions.geometry.to_numpy(), parcels.geometry.to_numpy()).all()
    with sqlite3.connect(copied.path) as con:
        count = con.execute("SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = 'parcels_versions'")
        assert count.fetchone()[0] == N
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'parcels_versions'")}
    # the indexes dropped for the bulk insert are back, and so is GDAL's feature-count trigger
    assert {
        "ix_parcels_versions_key",
        "ix_parcels_versions_vid",
        "ix_parcels_versions_time",
        "trigger_insert_feature_count_parcels_versions",
    } <= names
    # an identical re-import adds no version (the hashes of the first import are the content's)
    copied.write_layers({"parcels": parcels})
    assert len(copied.read_history("parcels_versions")) == N


def test_failed_bulk_write_leaves_the_store_as_it_was(parcels, tmp_path, monkeypatch):
    store = GeoPackageStore(tmp_path / "s.gpkg")
    store.write_layers({"parcels": parcels.iloc[:10]})
    before = hashlib.sha256(store.path.read_bytes()).hexdigest()
    monkeypatch.setattr(gpkg_history, "BULK_ROWS", 1)

    def boom(*args):
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(gpkg_history, "_copy_versions", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        store.write_layers({"parcels": parcels})
    assert hashlib.sha256(store.path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp.gpkg")) == []
    assert len(store.read_layer("parcels")) == 10
