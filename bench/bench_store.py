"""Ingest + assess of 10^5 parcels: PostGIS store vs the GeoPackage store, side by side in one run.

    .venv/bin/python bench/bench_store.py [--parcels 100000] [--repeat 2]

The synthetic demo layers are written once as source files (GeoPackage layers; enterprises and progress as
CSV), then for each store: ``ingest_files`` (read_layer_file of every source + one ``write_layers``
transaction), ``assess_store`` (read the inputs, assess, write ``idle_assessment``), and a plain
``read_layer("parcels")``.  The PostGIS server is ``$LANDRENEW_TEST_PG_URL`` or a throwaway cluster
(``tests/pg_cluster.py``); a fresh database is created for the run and dropped after it.
Target (issue #6): PostGIS within 1.5x of GeoPackage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from gis.demo import build_demo_layers  # noqa: E402
from gis.ingest import ingest_files  # noqa: E402
from gis.store import GeoPackageStore  # noqa: E402
from gis.store.postgis import PostGISStore  # noqa: E402
from tests import pg_cluster  # noqa: E402

AS_OF = dt.date(2026, 11, 1)


def write_sources(layers: dict, folder: Path) -> dict[str, Path]:
    sources = {}
    for name in ("towns", "parcels", "projects", "villages"):
        path = folder / f"{name}.gpkg"
        layers[name].to_file(path, driver="GPKG", layer=name)
        sources[name] = path
    for name in ("enterprises", "village_progress"):
        path = folder / f"{name}.csv"
        frame = layers[name].copy()
        for col in frame.columns:
            if str(frame[col].dtype).startswith("datetime64"):
                frame[col] = frame[col].dt.strftime("%Y-%m-%d")
        frame.to_csv(path, index=False, encoding="utf-8")
        sources[name] = path
    return sources


def run(store, sources: dict[str, Path], *, assess: bool) -> dict[str, float]:
    times = {}
    t = time.perf_counter()
    ingest_files(store, sources)
    times["ingest"] = time.perf_counter() - t
    if assess:
        from gis.workflow import assess_store

        t = time.perf_counter()
        assess_store(store, as_of=AS_OF)
        times["assess"] = time.perf_counter() - t
    t = time.perf_counter()
    store.read_layer("parcels")
    times["read parcels"] = time.perf_counter() - t
    times["total"] = times["ingest"] + times.get("assess", 0.0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcels", type=int, default=100_000)
    parser.add_argument(
        "--repeat", type=int, default=2, help="best of N runs per store (runs after the first replace existing layers)"
    )
    args = parser.parse_args()
    try:
        from gis import workflow  # noqa: F401

        assess = True
    except ImportError:
        assess = False

    t = time.perf_counter()
    layers = build_demo_layers(n_parcels=args.parcels)
    layers.pop("_meta", None)
    print(f"demo layers: {len(layers['parcels']):,} parcels in {time.perf_counter() - t:.1f} s")

    admin = pg_cluster.admin_url()
    dbname = f"landrenew_bench_{uuid.uuid4().hex[:6]}"
    plain_admin = admin.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain_admin, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {dbname}")
    pg_url = sa.engine.make_url(plain_admin).set(database=dbname).render_as_string(hide_password=False)
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    results: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            sources = write_sources(layers, tmp)
            pg = PostGISStore(pg_url)
            pg.layer_counts()  # migrate the empty database outside the timing
            stores = {"GeoPackage": GeoPackageStore(tmp / "bench.gpkg"), "PostGIS": pg}
            for _ in range(args.repeat):  # interleaved, so both see the same machine load; best of N
                for label, store in stores.items():
                    times = run(store, sources, assess=assess)
                    best = results.get(label)
                    results[label] = times if best is None or times["total"] < best["total"] else best
            pg.close()
    finally:
        with psycopg.connect(plain_admin, autocommit=True) as con:
            con.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")

    steps = list(results["GeoPackage"])
    print(f"\n{'step':<14}{'GeoPackage s':>14}{'PostGIS s':>12}{'ratio':>8}")
    for step in steps:
        g, p = results["GeoPackage"][step], results["PostGIS"][step]
        print(f"{step:<14}{g:>14.2f}{p:>12.2f}{p / g:>8.2f}")
    ratio = results["PostGIS"]["total"] / results["GeoPackage"]["total"]
    verdict = "OK" if ratio <= 1.5 else "SLOWER THAN TARGET"
    print(f"\nPostGIS / GeoPackage (ingest{' + assess' if assess else ''}): {ratio:.2f}x  (target <= 1.5x: {verdict})")


if __name__ == "__main__":
    main()
