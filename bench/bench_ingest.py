"""Ingest benchmark (issue #2): validated ingest of N parcels into the GeoPackage store vs a bare pyogrio
read + write of the same file, side by side in one run.

    .venv/bin/python bench/bench_ingest.py [--n 100000] [--repeat 3]

Target: validated ingest within 3x the bare read + write.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import geopandas as gpd  # noqa: E402
import pyogrio  # noqa: E402

from gis.demo import build_demo_layers  # noqa: E402
from gis.ingest import read_layer_file  # noqa: E402
from gis.store import GeoPackageStore  # noqa: E402
from gis.demo import to_labels as _to_labels  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        parcels = build_demo_layers(n_parcels=args.n)["parcels"]
        print(f"demo parcels: {len(parcels)} built in {time.perf_counter() - t:.1f} s")
        source = tmp / "parcels_source.gpkg"
        gpd.GeoDataFrame(_to_labels(parcels, "parcels"), geometry=parcels.geometry.to_numpy(),
                         crs=parcels.crs).to_file(source, driver="GPKG")
        bare, ours = [], []
        for i in range(args.repeat):
            t = time.perf_counter()
            frame = pyogrio.read_dataframe(source, use_arrow=True)
            pyogrio.write_dataframe(frame, tmp / f"bare{i}.gpkg", layer="parcels", promote_to_multi=True,
                                    use_arrow=True)
            bare.append(time.perf_counter() - t)
            t = time.perf_counter()
            store = GeoPackageStore(tmp / f"store{i}.gpkg")
            clean, report = read_layer_file("parcels", source)
            store.write_layers({"parcels": clean})
            ours.append(time.perf_counter() - t)
            assert report.balanced and report.stored == len(parcels), report.summary()
        b, o = min(bare), min(ours)
        print(f"{'what':<40}{'best s':>10}")
        print(f"{'bare pyogrio read + write':<40}{b:>10.2f}")
        print(f"{'validated ingest into the store':<40}{o:>10.2f}")
        print(f"ratio ingest / bare = {o / b:.2f}  (target <= 3.0)  n={len(parcels)}")


if __name__ == "__main__":
    main()
