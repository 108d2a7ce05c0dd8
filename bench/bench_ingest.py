"""Ingest benchmark (issues #2, #11): validated ingest of N parcels into the GeoPackage store vs a bare read +
write of the same data, side by side in one run.

    .venv/bin/python bench/bench_ingest.py [--n 100000] [--repeat 3] [--xlsx-n 20000]

1. GeoPackage source: ``read_layer_file`` + ``write_layers`` vs bare ``pyogrio`` read + write (Arrow both ways).
2. Titled Excel 台账 (title row, 单位 row, 序号 column, 合计 row) joined by 宗地编号 to a geometry GeoPackage:
   ``read_layer_file(xlsx, geometry=gpkg)`` + ``write_layers`` vs bare ``pandas.read_excel(engine="calamine",
   header=2)`` + ``pyogrio`` read of the geometry + ``merge`` + ``pyogrio`` write (the reference is told where
   the header is; ingest finds it).

Target: validated ingest within 3x the bare read + write, in both cases.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import geopandas as gpd  # noqa: E402
import pandas as pd  # noqa: E402
import pyogrio  # noqa: E402

from gis.demo import build_demo_layers  # noqa: E402
from gis.demo import to_labels as _to_labels  # noqa: E402
from gis.ingest import read_layer_file  # noqa: E402
from gis.store import GeoPackageStore  # noqa: E402


def write_titled_xlsx(labelled: pd.DataFrame, path: Path) -> None:
    """The ledger as a bureau sends it: merged title, 单位 row, header with 序号, data, 合计 row (openpyxl)."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("台账")
    cols = list(labelled.columns)
    ws.append(["柯桥区2024年闲置存量土地台账"])
    ws.append(["填报单位：柯桥区自然资源分局", None, "单位：万元、平方米"])
    ws.append(["序号", *cols])
    values = labelled.astype(object).where(labelled.notna(), None)
    for i, row in enumerate(values.itertuples(index=False, name=None), start=1):
        ws.append([i, *[v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in row]])
    ws.append(["合计", None, None, None, None, None, float(labelled["出让面积(平方米)"].sum())])
    wb.save(path)


def bench_xlsx(parcels: gpd.GeoDataFrame, tmp: Path, repeat: int) -> tuple[float, float]:
    labelled = _to_labels(parcels, "parcels")
    ledger = tmp / "台账.xlsx"
    t = time.perf_counter()
    write_titled_xlsx(labelled, ledger)
    geom = tmp / "宗地图形.gpkg"
    gpd.GeoDataFrame({"宗地编号": labelled["宗地编号"]}, geometry=parcels.geometry.to_numpy(), crs=parcels.crs).to_file(
        geom, driver="GPKG"
    )
    print(f"titled xlsx ({ledger.stat().st_size / 1e6:.1f} MB) + geometry written in {time.perf_counter() - t:.1f} s")
    bare, ours = [], []
    for i in range(repeat):
        t = time.perf_counter()
        table = pd.read_excel(ledger, engine="calamine", header=2, dtype=object)
        shapes = pyogrio.read_dataframe(geom, use_arrow=True)
        joined = gpd.GeoDataFrame(
            table.merge(pd.DataFrame(shapes), on="宗地编号", how="left"), geometry="geometry", crs=shapes.crs
        )
        joined = joined.drop(columns=["序号"]).astype({c: str for c in table.columns if c != "序号"})
        pyogrio.write_dataframe(joined, tmp / f"xbare{i}.gpkg", layer="parcels", promote_to_multi=True)
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        store = GeoPackageStore(tmp / f"xstore{i}.gpkg")
        clean, report = read_layer_file("parcels", ledger, geometry=geom)
        store.write_layers({"parcels": clean})
        ours.append(time.perf_counter() - t)
        assert report.balanced and report.stored == len(parcels) and report.skipped == 1, report.summary()
    return min(bare), min(ours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--xlsx-n",
        type=int,
        default=20_000,
        help="parcels in the titled xlsx case (writing the xlsx with openpyxl is the slow part)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        parcels = build_demo_layers(n_parcels=args.n)["parcels"]
        print(f"demo parcels: {len(parcels)} built in {time.perf_counter() - t:.1f} s")
        source = tmp / "parcels_source.gpkg"
        gpd.GeoDataFrame(_to_labels(parcels, "parcels"), geometry=parcels.geometry.to_numpy(), crs=parcels.crs).to_file(
            source, driver="GPKG"
        )
        bare, ours = [], []
        for i in range(args.repeat):
            t = time.perf_counter()
            frame = pyogrio.read_dataframe(source, use_arrow=True)
            pyogrio.write_dataframe(
                frame, tmp / f"bare{i}.gpkg", layer="parcels", promote_to_multi=True, use_arrow=True
            )
            bare.append(time.perf_counter() - t)
            t = time.perf_counter()
            store = GeoPackageStore(tmp / f"store{i}.gpkg")
            clean, report = read_layer_file("parcels", source)
            store.write_layers({"parcels": clean})
            ours.append(time.perf_counter() - t)
            assert report.balanced and report.stored == len(parcels), report.summary()
        b, o = min(bare), min(ours)
        xn = min(args.xlsx_n, len(parcels))
        xb, xo = bench_xlsx(parcels.iloc[:xn].reset_index(drop=True), tmp, args.repeat)
        print(f"{'what':<52}{'best s':>10}")
        print(f"{'bare pyogrio read + write (GeoPackage)':<52}{b:>10.2f}")
        print(f"{'validated ingest into the store (GeoPackage)':<52}{o:>10.2f}")
        print(f"ratio ingest / bare = {o / b:.2f}  (target <= 3.0)  n={len(parcels)}")
        print(f"{'bare read_excel(calamine) + join + write (xlsx)':<52}{xb:>10.2f}")
        print(f"{'validated ingest of the titled xlsx 台账 + geometry':<52}{xo:>10.2f}")
        print(f"ratio xlsx ingest / bare = {xo / xb:.2f}  (target <= 3.0)  n={xn}")


if __name__ == "__main__":
    main()
