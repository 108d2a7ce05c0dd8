"""History benchmarks (issue 12, docs/history.md), GeoPackage store, each side by side with its reference in one run.

    .venv/bin/python bench/bench_history.py [--n 100000] [--versions 24] [--repeat 2]

1. An upsert that changes 1% of N parcels vs a full replace ingest of the same layer (the same changes, the
   whole file) on a copy of the same store.                                  Target: upsert <= 1/5 of replace.
2. ``history`` of one parcel (every version with what changed) with N parcels x V versions.  Target < 100 ms.
3. The ledger "as known on day D" (valid on D, known at T) with N x V versions vs reading the current layer.
                                                                             Target: <= 2x.

The N x V versions: the first month through the store's own history write, the others copied by SQLite (see
``build_versions``) — the rows V monthly batches that change every parcel leave behind.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from gis.demo import build_demo_layers  # noqa: E402
from gis.history import ledger_at, parcel_history  # noqa: E402
from gis.ingest import ingest_files  # noqa: E402
from gis.store import GeoPackageStore  # noqa: E402
from gis.store.history_schema import NEVER, OPEN_END, HistoryWrite, utc_now  # noqa: E402


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def bench_upsert(parcels: pd.DataFrame, tmp: Path, repeat: int) -> None:
    base = GeoPackageStore(tmp / "base.gpkg")
    full = tmp / "full.gpkg"
    parcels.to_file(full, driver="GPKG")
    t = time.perf_counter()
    ingest_files(base, {"parcels": str(full)}, effective="2024-03-31")
    print(f"first import of {len(parcels)} parcels: {time.perf_counter() - t:.1f} s")
    changed = parcels.sample(frac=0.01, random_state=1).copy()
    changed["holder"] = changed["holder"] + "（变更）"
    changed["land_price_wan"] = changed["land_price_wan"] + 1.0
    new_full = parcels.copy()
    new_full.loc[changed.index] = changed
    full2, part = tmp / "full_changed.gpkg", tmp / "changed.gpkg"
    new_full.to_file(full2, driver="GPKG")
    changed.to_file(part, driver="GPKG")
    rep, ups = [], []
    for i in range(repeat):  # interleaved, each on a fresh copy of the same store
        for kind, path, mode, out in (("replace", full2, "replace", rep), ("upsert", part, "upsert", ups)):
            copy = tmp / f"{kind}{i}.gpkg"
            shutil.copy2(base.path, copy)
            store = GeoPackageStore(copy)
            t = time.perf_counter()
            ingest_files(store, {"parcels": str(path)}, mode=mode, effective="2024-09-30")
            out.append(time.perf_counter() - t)
            counts = store.history_counts()["parcels_versions"]
            assert counts == len(parcels) + 2 * len(changed), counts  # head + new piece per changed parcel
    r, u = min(rep), min(ups)
    print(f"{'full replace ingest (10^5 rows, 1% changed)':<50}{r:>8.2f} s")
    print(f"{'upsert of the 1% changed rows':<50}{u:>8.2f} s")
    print(f"ratio upsert / replace = {u / r:.3f}  (target <= 0.2)")


def build_versions(parcels: pd.DataFrame, path: Path, versions: int) -> GeoPackageStore:
    """N parcels x V believed monthly versions (and the current layer = the last one).

    The first month goes through the store's own history write (``write_history``); the other months are copies
    of it made by SQLite (``INSERT ... SELECT``, price + month, the month's valid interval) — the rows V monthly
    batches that change every parcel leave behind, without timing V full imports on a shared machine.
    """
    import sqlite3

    store = GeoPackageStore(path)
    store.upgrade_history()
    n = len(parcels)
    months = pd.date_range("2024-01-01", periods=versions + 1, freq="MS")
    now = utc_now()
    t = time.perf_counter()
    v = parcels.copy()
    v["version_id"] = np.arange(1, n + 1)
    v["valid_from"] = months[0]
    v["valid_to"] = months[1] if versions > 1 else OPEN_END
    v["recorded_at"] = now
    v["superseded_at"] = NEVER
    v["batch_id"] = "bench-00"
    v["retired"] = False
    v["change"] = "added"
    tx = HistoryWrite()
    tx.add("parcels_versions", v)
    store.write_history(tx)
    layer = store.read_history("parcels_versions", filters=[("version_id", "=", 1)])
    cols = [c for c in layer.columns if c != "geometry"] + ["geom"]
    with sqlite3.connect(store.path) as con:
        for m in range(1, versions):
            end = months[m + 1].strftime("%Y-%m-%d") if m < versions - 1 else OPEN_END.strftime("%Y-%m-%d")
            select = [
                {
                    "version_id": f"version_id + {m * n}",
                    "land_price_wan": f"land_price_wan + {m}",
                    "valid_from": f"'{months[m]:%Y-%m-%d}'",
                    "valid_to": f"'{end}'",
                    "batch_id": f"'bench-{m:02d}'",
                    "change": "'changed'",
                }.get(c, f'"{c}"')
                for c in cols
            ]
            con.execute(
                f"INSERT INTO parcels_versions ({', '.join(chr(34) + c + chr(34) for c in cols)}) "
                f"SELECT {', '.join(select)} FROM parcels_versions WHERE batch_id = 'bench-00'"
            )
        con.execute(
            "UPDATE gpkg_ogr_contents SET feature_count = (SELECT count(*) FROM parcels_versions) "
            "WHERE table_name = 'parcels_versions'"
        )
    last = parcels.copy()
    last["land_price_wan"] = last["land_price_wan"] + (versions - 1)
    tx = HistoryWrite()
    tx.layer_replace["parcels"] = last
    store.write_history(tx)
    print(
        f"{n} x {versions} versions written in {time.perf_counter() - t:.0f} s "
        f"({store.history_counts()['parcels_versions']} rows)"
    )
    return store


def bench_reads(store: GeoPackageStore, parcels: pd.DataFrame, versions: int, repeat: int) -> None:
    pid = str(parcels["parcel_id"].iloc[len(parcels) // 2])
    t_hist, hist = best(lambda: parcel_history(store, pid), max(repeat, 5))
    assert len(hist) == versions and all(h["diff"] for h in hist[1:])
    print(f"{'history of one parcel (' + str(versions) + ' versions)':<50}{t_hist * 1000:>8.1f} ms  (target < 100 ms)")
    day = "2025-01-15"
    known = utc_now()
    cur, asof = [], []
    for _ in range(repeat):  # interleaved
        t = time.perf_counter()
        current = store.read_layer("parcels")
        cur.append(time.perf_counter() - t)
        t = time.perf_counter()
        then = ledger_at(store, "parcels", as_of=day, known_at=known)
        asof.append(time.perf_counter() - t)
    assert len(then) == len(current) == len(parcels)
    month = pd.date_range("2024-01-01", periods=versions, freq="MS").searchsorted(pd.Timestamp(day), side="right") - 1
    assert np.allclose(
        then.sort_values("parcel_id")["land_price_wan"].to_numpy(),
        parcels.sort_values("parcel_id")["land_price_wan"].to_numpy() + month,
    )
    c, a = min(cur), min(asof)
    print(f"{'read the current layer':<50}{c:>8.2f} s")
    print(f"{'ledger as known on ' + day + ' (valid + known at)':<50}{a:>8.2f} s")
    print(f"ratio as-known-on-D / current = {a / c:.2f}  (target <= 2.0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--versions", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip-upsert", action="store_true")
    parser.add_argument("--skip-reads", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        parcels = build_demo_layers(n_parcels=args.n)["parcels"]
        print(f"demo parcels: {len(parcels)} built in {time.perf_counter() - t:.1f} s")
        if not args.skip_upsert:
            bench_upsert(parcels, tmp, args.repeat)
        if not args.skip_reads:
            store = build_versions(parcels, tmp / "versions.gpkg", args.versions)
            bench_reads(store, parcels, args.versions, args.repeat)


if __name__ == "__main__":
    main()
