"""Benchmark: parcel attribution joins (gis.joins) vs geopandas.overlay vs DuckDB spatial, in one run.

Synthetic Keqiao-sized data in EPSG:4549, stored as EPSG:4490 like the real layers:
``--n`` parcels (rectangles on a jittered grid over 40 x 40 km, default 100 000), 16 towns (Voronoi cells,
boundaries densified to a vertex every 25 m like surveyed boundaries), 40 urban villages (discs of
200..800 m, may overlap), 200 projects (half with an explicit parcel_id, some of them unknown).

Timed, side by side (wall clock, best of ``--repeat``, default 2):

(a)  ``attribute_parcels`` — town_code + project_ids + village_ids + near_village_ids, reprojection included;
(b)  the same attribution with ``geopandas.overlay`` (+ area + groupby idxmax) for towns, villages and
     projects, and ``geopandas.sjoin(predicate="dwithin")`` for near villages;
(a1) ``largest_overlap`` parcels -> towns only, (b1) its overlay equivalent and
(c1) the fair DuckDB reference, the target: DuckDB spatial with the same ST_Covers shortcut gis.joins uses (a
     town that covers a parcel takes it whole, no intersection computed), ST_Intersects join + arg_max, geometries
     passed as WKB already in EPSG:4549 (the WKB serialisation is timed separately and not charged to DuckDB);
(c2) for information: the naive DuckDB query, ST_Area(ST_Intersection) for every intersecting pair.

Run: ``.venv/bin/python bench/bench_joins.py [--n 100000] [--repeat 2] [--no-duckdb]``
DuckDB's spatial extension comes from the PyPI wheel ``duckdb-extension-spatial`` (needs the duckdb version it
was built for, e.g. duckdb==1.5.5 with duckdb-extension-spatial==1.5.5); without it (c1), (c2) are skipped.
"""

from __future__ import annotations

import argparse
import importlib.resources
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gis.crs import AREA_CRS, STORE_CRS  # noqa: E402
from gis.joins import MIN_OVERLAP_M2, attribute_parcels, largest_overlap  # noqa: E402

X0, Y0, SIDE = 530_000.0, 3_310_000.0, 40_000.0  # lower-left corner and side of the area (EPSG:4549, m)
NEED_M = 2000.0


# --------------------------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------------------------
def make_data(n: int, seed: int = 0) -> dict[str, gpd.GeoDataFrame]:
    """Parcels, towns, villages and projects in EPSG:4490 (built in EPSG:4549)."""
    rng = np.random.default_rng(seed)
    per_side = int(np.ceil(np.sqrt(n)))
    cell = SIDE / per_side
    cells = rng.choice(per_side * per_side, size=n, replace=False)
    cx, cy = cells % per_side, cells // per_side
    w = rng.uniform(0.45, 0.95, n) * cell
    h = rng.uniform(0.45, 0.95, n) * cell
    x0 = X0 + cx * cell + rng.uniform(0, 1, n) * (cell - w)
    y0 = Y0 + cy * cell + rng.uniform(0, 1, n) * (cell - h)
    parcels = gpd.GeoDataFrame(
        {"parcel_id": [f"ZD{i:06d}" for i in range(n)], "town_code": pd.Series([None] * n, dtype="string")},
        geometry=shapely.box(x0, y0, x0 + w, y0 + h),
        crs=AREA_CRS,
    )

    frame = shapely.box(X0, Y0, X0 + SIDE, Y0 + SIDE)
    seeds = shapely.multipoints(np.column_stack([X0 + rng.uniform(0, SIDE, 16), Y0 + rng.uniform(0, SIDE, 16)]))
    cells_v = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame))
    cells_v = shapely.segmentize(shapely.intersection(cells_v, frame), 25.0)
    towns = gpd.GeoDataFrame(
        {"town_code": [f"3306030{i:02d}" for i in range(len(cells_v))]}, geometry=cells_v, crs=AREA_CRS
    )

    vx, vy = X0 + rng.uniform(0, SIDE, 40), Y0 + rng.uniform(0, SIDE, 40)
    villages = gpd.GeoDataFrame(
        {"village_id": [f"CZC{i:03d}" for i in range(40)]},
        geometry=shapely.buffer(shapely.points(vx, vy), rng.uniform(200, 800, 40), quad_segs=16),
        crs=AREA_CRS,
    )

    on = rng.choice(n, size=200, replace=False)
    b = shapely.bounds(parcels.geometry.values[on])
    dx = rng.uniform(-0.3, 0.3, 200) * (b[:, 2] - b[:, 0])
    given = np.full(200, None, dtype=object)
    given[:100] = parcels["parcel_id"].to_numpy()[on[:100]]
    given[80:100] = [f"ZD-UNKNOWN-{i}" for i in range(20)]  # unknown ids fall back to overlap
    projects = gpd.GeoDataFrame(
        {"project_id": [f"XM{i:04d}" for i in range(200)], "parcel_id": pd.Series(given, dtype="string")},
        geometry=shapely.box(b[:, 0] + dx, b[:, 1], b[:, 2] + dx, b[:, 3]),
        crs=AREA_CRS,
    )
    return {
        k: v.to_crs(STORE_CRS)
        for k, v in {"parcels": parcels, "towns": towns, "villages": villages, "projects": projects}.items()
    }


# --------------------------------------------------------------------------------------------------------------
# reference implementations
# --------------------------------------------------------------------------------------------------------------
def _overlay_largest(left: gpd.GeoDataFrame, lkey: str, right: gpd.GeoDataFrame, rkey: str) -> pd.Series:
    """lkey -> rkey of the largest overlap via overlay (ties: smallest rkey)."""
    ov = gpd.overlay(left[[lkey, "geometry"]], right[[rkey, "geometry"]], how="intersection")
    ov["area"] = ov.area
    ov = ov[ov["area"] > MIN_OVERLAP_M2]
    top = ov.groupby(lkey)["area"].transform("max")
    ov = ov[ov["area"] >= top * (1 - 1e-9)]
    return ov.loc[ov.groupby(lkey)[rkey].idxmin()].set_index(lkey)[rkey]


def overlay_attribution(d: dict[str, gpd.GeoDataFrame]) -> pd.DataFrame:
    parcels, towns, villages, projects = (d[k].to_crs(AREA_CRS) for k in ("parcels", "towns", "villages", "projects"))
    out = pd.DataFrame(index=parcels.index)
    town = _overlay_largest(parcels, "parcel_id", towns, "town_code")
    out["town_code"] = parcels["parcel_id"].map(town)

    ov = gpd.overlay(parcels[["parcel_id", "geometry"]], villages[["village_id", "geometry"]], how="intersection")
    ov = ov[ov.area > MIN_OVERLAP_M2]
    lists = ov.sort_values("village_id").groupby("parcel_id")["village_id"].agg(list)
    out["village_ids"] = parcels["parcel_id"].map(lists)

    near = gpd.sjoin(
        parcels[["parcel_id", "geometry"]], villages[["village_id", "geometry"]], predicate="dwithin", distance=NEED_M
    )
    lists = near.sort_values("village_id").groupby("parcel_id")["village_id"].agg(list)
    out["near_village_ids"] = parcels["parcel_id"].map(lists)

    by_overlap = _overlay_largest(projects, "project_id", parcels, "parcel_id")
    linked = projects["project_id"].map(by_overlap)
    explicit = projects["parcel_id"].isin(parcels["parcel_id"])
    linked = linked.where(~explicit, projects["parcel_id"])
    pairs = pd.DataFrame({"parcel_id": linked, "project_id": projects["project_id"]}).dropna()
    lists = pairs.sort_values("project_id").groupby("parcel_id")["project_id"].agg(list)
    out["project_ids"] = parcels["parcel_id"].map(lists)
    for col in ("village_ids", "near_village_ids", "project_ids"):
        out[col] = [v if isinstance(v, list) else [] for v in out[col]]
    return out


def duckdb_connect():
    """A DuckDB connection with the spatial extension loaded from its PyPI wheel, or (None, reason)."""
    try:
        import duckdb
        import duckdb_extension_spatial
    except ImportError as exc:
        return None, f"not installed ({exc.name})"
    con = duckdb.connect()
    version = con.sql("PRAGMA version").fetchone()[0]
    path = (
        Path(str(importlib.resources.files(duckdb_extension_spatial)))
        / "extensions"
        / version
        / "spatial.duckdb_extension"
    )
    if not path.exists():
        return None, f"duckdb {version}: wheel has no {path.parent.name}/spatial.duckdb_extension"
    con.execute(f"LOAD '{path}'")
    return con, f"duckdb {duckdb.__version__} + duckdb-extension-spatial (LOAD {path.parent.name}/{path.name})"


# the naive query: the intersection area of every intersecting pair
DUCKDB_SQL = """
WITH pairs AS (
    SELECT p.pid, t.code, ST_Area(ST_Intersection(p.geom, t.geom)) AS area
    FROM p JOIN t ON ST_Intersects(p.geom, t.geom)
)
SELECT pid, arg_max(code, area) AS town_code, max(area) AS area FROM pairs GROUP BY pid
"""

# the same shortcut as gis.joins, written in SQL: a covering town takes the whole parcel (its area), no
# intersection; the intersection area is computed once, only for the pairs no town covers
DUCKDB_SQL_COVERS = """
WITH pairs AS (
    SELECT p.pid, t.code,
           CASE WHEN ST_Covers(t.geom, p.geom) THEN ST_Area(p.geom)
                ELSE ST_Area(ST_Intersection(p.geom, t.geom)) END AS area
    FROM p JOIN t ON ST_Intersects(p.geom, t.geom)
)
SELECT pid, arg_max(code, area) AS town_code, max(area) AS area FROM pairs GROUP BY pid
"""


def duckdb_largest(con, parcel_wkb: pd.DataFrame, town_wkb: pd.DataFrame, sql: str = DUCKDB_SQL_COVERS) -> pd.Series:
    con.execute("CREATE OR REPLACE TEMP TABLE p AS SELECT pid, ST_GeomFromWKB(wkb) AS geom FROM parcel_wkb")
    con.execute("CREATE OR REPLACE TEMP TABLE t AS SELECT code, ST_GeomFromWKB(wkb) AS geom FROM town_wkb")
    res = con.execute(sql).df()
    res = res[res["area"] > MIN_OVERLAP_M2]
    return res.set_index("pid")["town_code"]


# --------------------------------------------------------------------------------------------------------------
def _best_of(repeat: int, fn):
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _same(a: pd.Series, b: pd.Series) -> int:
    """Number of rows where two key Series disagree (NA == NA)."""
    a = a.astype(object).where(a.notna(), None)
    b = b.astype(object).where(b.notna(), None)
    return int((a.to_numpy() != b.to_numpy()).sum())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="number of parcels (default 100000)")
    ap.add_argument("--repeat", type=int, default=2, help="best of this many runs per method (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-duckdb", action="store_true")
    args = ap.parse_args(argv)

    t = time.perf_counter()
    d = make_data(args.n, args.seed)
    print(
        f"data: {args.n} parcels, {len(d['towns'])} towns "
        f"({shapely.get_num_coordinates(d['towns'].geometry.values).mean():.0f} vertices each), "
        f"{len(d['villages'])} villages, {len(d['projects'])} projects; built in {time.perf_counter() - t:.1f} s"
    )

    rows = []
    t_a, ours = _best_of(
        args.repeat,
        lambda: attribute_parcels(
            d["parcels"], towns=d["towns"], projects=d["projects"], villages=d["villages"], need_distance_m=NEED_M
        ),
    )
    t_b, ref = _best_of(args.repeat, lambda: overlay_attribution(d))
    bad = {
        c: int(
            (
                ours[c].astype(object).where(ours[c].notna(), None).to_numpy()
                != ref[c].astype(object).where(ref[c].notna(), None).to_numpy()
            ).sum()
        )
        if c == "town_code"
        else int(sum(x != y for x, y in zip(ours[c], ref[c])))
        for c in ("town_code", "village_ids", "near_village_ids", "project_ids")
    }
    rows.append(("(a) attribute_parcels (gis.joins)", t_a, ""))
    rows.append(("(b) overlay + groupby idxmax (+ sjoin dwithin)", t_b, f"rows differing from (a): {bad}"))

    t_a1, town_a = _best_of(args.repeat, lambda: largest_overlap(d["parcels"], d["towns"], right_key="town_code"))
    t_b1, town_b = _best_of(
        args.repeat,
        lambda: d["parcels"]["parcel_id"].map(
            _overlay_largest(d["parcels"].to_crs(AREA_CRS), "parcel_id", d["towns"].to_crs(AREA_CRS), "town_code")
        ),
    )
    rows.append(("(a1) largest_overlap parcels->towns", t_a1, ""))
    rows.append(("(b1) overlay, towns only", t_b1, f"differ from (a1): {_same(town_a, town_b)}"))

    t_c1 = None
    if not args.no_duckdb:
        con, how = duckdb_connect()
        if con is None:
            rows.append(("(c1) DuckDB spatial + ST_Covers, towns only", None, f"skipped: {how}"))
        else:
            t = time.perf_counter()
            parcel_wkb = pd.DataFrame(
                {
                    "pid": d["parcels"]["parcel_id"].astype(object),
                    "wkb": d["parcels"].to_crs(AREA_CRS).geometry.to_wkb(),
                }
            )
            town_wkb = pd.DataFrame(
                {"code": d["towns"]["town_code"].astype(object), "wkb": d["towns"].to_crs(AREA_CRS).geometry.to_wkb()}
            )
            t_wkb = time.perf_counter() - t
            con.register("parcel_wkb", parcel_wkb)
            con.register("town_wkb", town_wkb)
            threads = con.sql("SELECT current_setting('threads')").fetchone()[0]
            t_c1, town_c = _best_of(args.repeat, lambda: duckdb_largest(con, parcel_wkb, town_wkb, DUCKDB_SQL_COVERS))
            town_c = d["parcels"]["parcel_id"].map(town_c)
            rows.append(
                (
                    "(c1) DuckDB + ST_Covers shortcut, towns only",
                    t_c1,
                    f"differ from (a1): {_same(town_a, town_c)}; {threads} threads; "
                    f"+{t_wkb:.2f} s WKB export not counted; {how}",
                )
            )
            t_c2, town_c2 = _best_of(args.repeat, lambda: duckdb_largest(con, parcel_wkb, town_wkb, DUCKDB_SQL))
            town_c2 = d["parcels"]["parcel_id"].map(town_c2)
            rows.append(
                (
                    "(c2) DuckDB naive, towns only",
                    t_c2,
                    f"differ from (a1): {_same(town_a, town_c2)} (for information, not the target)",
                )
            )

    print(f"\n{'method':<50} {'seconds':>8}  note")
    for name, sec, note in rows:
        print(f"{name:<50} {'—' if sec is None else f'{sec:8.2f}':>8}  {note}")
    print("\nratios (targets: ours <= DuckDB with the same ST_Covers shortcut, ours <= 1/4 overlay):")
    print(f"  (a) / (b)   attribute_parcels / overlay      = {t_a / t_b:.3f}")
    print(f"  (a1) / (b1) largest_overlap / overlay        = {t_a1 / t_b1:.3f}")
    if t_c1:
        print(f"  (a1) / (c1) largest_overlap / DuckDB+Covers  = {t_a1 / t_c1:.3f}   <- the DuckDB target")
        print(f"  (a1) / (c2) largest_overlap / DuckDB naive   = {t_a1 / t_c2:.3f}   (for information)")
    print(
        f"python {sys.version.split()[0]}, geopandas {gpd.__version__}, shapely {shapely.__version__} "
        f"(GEOS {shapely.geos_version_string}), pandas {pd.__version__}"
    )


if __name__ == "__main__":
    main()
