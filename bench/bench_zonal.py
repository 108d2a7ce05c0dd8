"""Benchmark: ``gis.zonal.zonal_means`` vs ``exactextract`` over 4 dated rasters.

10^4 parcels (random rectangles and rotated irregular polygons of 0.5–5 ha, not overlapping) on a
20 m raster of ~3000 x 3000 px in EPSG:4549, 4 dates (NDVI-like field, float32, nodata patches).
Ours gets the parcels in the store CRS (EPSG:4490, so the timing includes the reprojection);
exactextract gets them already in EPSG:4549 (it does not reproject) and reads the same 4 files
with ``strategy="raster-sequential"``.  Both compute the coverage-weighted mean (ours by default,
``--method centre`` times the pixel-centre mean instead); the relative differences are printed.

Run: ``.venv/bin/python bench/bench_zonal.py [--n 10000] [--size 3000] [--repeat 3] [--method coverage]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from rasterio.transform import from_origin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gis.zonal import zonal_means  # noqa: E402

PIXEL = 20.0
X0, Y0 = 500_000.0, 3_340_000.0  # EPSG:4549 (CM 120E), Keqiao is around here


def make_parcels(n: int, size: int, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """n non-overlapping parcels, one per cell of a square lattice over the raster."""
    k = int(np.ceil(np.sqrt(n)))
    cell = size * PIXEL / k
    i = np.arange(n)
    cx = X0 + (i % k + 0.5) * cell
    cy = Y0 - (i // k + 0.5) * cell
    area = rng.uniform(5_000, 50_000, n)  # 0.5–5 ha
    half = np.minimum(np.sqrt(area) / 2, cell * 0.3)
    # rectangles: aspect 1..2.5, rotated; irregular: 7 vertices on a jittered circle
    aspect = rng.uniform(1, 2.5, n)
    w, h = half * np.sqrt(aspect), half / np.sqrt(aspect)
    rect = shapely.box(cx - w, cy - h, cx + w, cy + h)
    t = np.sort(rng.uniform(0, 2 * np.pi, (n, 7)), axis=1)
    rad = half[:, None] * rng.uniform(0.8, 1.25, (n, 7)) * np.sqrt(np.pi) / 1.6
    ring = np.stack([cx[:, None] + rad * np.cos(t), cy[:, None] + rad * np.sin(t)], axis=-1)
    poly = shapely.polygons(np.concatenate([ring, ring[:, :1]], axis=1))
    geoms = np.where(i % 2 == 0, rect, poly)
    angle = rng.uniform(0, 180, n)
    geoms = np.array([shapely.affinity.rotate(g, a, origin="centroid") for g, a in zip(geoms, angle)])
    geoms = shapely.make_valid(geoms)
    return gpd.GeoDataFrame({"parcel_id": [f"P{j:06d}" for j in range(n)]}, geometry=geoms, crs="EPSG:4549")


def make_rasters(folder: Path, size: int, rng: np.random.Generator) -> list[Path]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = 0.55 + 0.15 * np.sin(xx / 97) + 0.1 * np.cos(yy / 71)  # NDVI-like, 0.2..0.8
    paths = []
    for k, day in enumerate(["20210415", "20220418", "20230420", "20240412"]):
        noise = rng.normal(0, 0.03, (size, size)).astype(np.float32)
        data = (base - 0.03 * k * np.sin(xx / 300) + noise).astype(np.float32)
        # a few cloud patches as nodata
        for _ in range(5):
            r, c = rng.integers(0, size - 200, 2)
            data[r : r + 150, c : c + 200] = -9999
        path = folder / f"ndvi_{day}.tif"
        profile = dict(
            driver="GTiff",
            height=size,
            width=size,
            count=1,
            dtype="float32",
            crs="EPSG:4549",
            transform=from_origin(X0, Y0, PIXEL, PIXEL),
            nodata=-9999,
            tiled=True,
            blockxsize=256,
            blockysize=256,
        )
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data, 1)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="number of parcels")
    parser.add_argument("--size", type=int, default=3000, help="raster width = height in pixels")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each after one warm-up (best kept)")
    parser.add_argument("--method", default="coverage", choices=["coverage", "centre"], help="zonal_means(method=...)")
    args = parser.parse_args(argv)

    from exactextract import exact_extract

    rng = np.random.default_rng(42)
    parcels = make_parcels(args.n, args.size, rng)
    stored = parcels.to_crs("EPSG:4490")
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_rasters(Path(tmp), args.size, rng)
        print(
            f"{args.n} parcels, 4 rasters of {args.size}x{args.size} px ({PIXEL:g} m), EPSG:4549, method={args.method}"
        )

        ours_t, ref_t = [], []
        for _run in range(args.repeat + 1):  # run 0 warms up (imports, PROJ/GDAL init, page cache)
            t0 = time.perf_counter()
            ours = zonal_means(stored, paths, method=args.method)
            ours_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ref = exact_extract(
                [str(p) for p in paths],
                parcels,
                "mean",
                strategy="raster-sequential",
                output="pandas",
                include_cols=["parcel_id"],
            )
            ref_t.append(time.perf_counter() - t0)
        ours_t, ref_t = ours_t[1:], ref_t[1:]

    ref = ref.set_index("parcel_id")
    ref.columns = [c.split("_")[1] for c in ref.columns]  # ndvi_20210415_mean -> 20210415
    ref.columns = [f"{c[:4]}-{c[4:6]}-{c[6:]}" for c in ref.columns]
    ref = ref.loc[ours.index, ours.columns]
    pixels = (parcels.area / PIXEL**2).to_numpy()
    rel = np.abs(ours.to_numpy() / ref.to_numpy() - 1)
    big = pixels >= 4
    both_nan = np.isnan(ours.to_numpy()) & np.isnan(ref.to_numpy())
    mismatched_nan = int((np.isnan(ours.to_numpy()) ^ np.isnan(ref.to_numpy())).sum())

    a, b = min(ours_t), min(ref_t)
    print(f"ours  zonal_means           : {a:7.2f} s  (runs: {', '.join(f'{t:.2f}' for t in ours_t)})")
    print(f"exactextract raster-seq.    : {b:7.2f} s  (runs: {', '.join(f'{t:.2f}' for t in ref_t)})")
    print(f"ratio ours / exactextract   : {a / b:7.3f}  (target <= 0.333)")
    print(
        f"max rel. difference, parcels of 4+ px: {np.nanmax(rel[big & ~both_nan.all(axis=1)]):.2e}"
        f"  (p99 {np.nanpercentile(rel[big], 99):.2e}; target <= 1e-2)"
    )
    print(f"max rel. difference, all parcels     : {np.nanmax(rel):.2e}")
    print(
        f"parcels with a value: ours {int((~np.isnan(ours.to_numpy())).any(axis=1).sum())}, "
        f"exactextract {int((~np.isnan(ref.to_numpy())).any(axis=1).sum())} of {args.n}; "
        f"NaN mismatches {mismatched_nan}"
    )


if __name__ == "__main__":
    main()
