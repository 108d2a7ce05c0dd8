"""Partitioned engine (dask-geopandas + distributed LocalCluster) vs the in-memory engine, inputs on disk ->
results on disk, with the peak resident memory of the whole process tree (driver, nanny, workers).

    .venv/bin/python bench/bench_partitioned.py --n 1000000            # dask vs in-memory, ratio
    .venv/bin/python bench/bench_partitioned.py --n 10000000 --skip-memory --data /big/disk/scale

Inputs: ``gis.scale_demo.write_scale_demo`` (synthetic tiles of the Keqiao demo, Hilbert-ordered partitions of
50,000 parcels, per-tile VRT imagery, 4 dates), reused when ``--data`` already holds them (``--generate-only``
writes them and stops).  Both engines get the same files:

* in-memory: read every partition and small layer, ``assess_idle_land`` once, write one GeoParquet file;
* dask: ``assess_partitioned`` on a LocalCluster of ``--workers`` processes (1 thread each), one GeoParquet
  partition per input partition.

Memory: RSS summed over this process and all its descendants, sampled every 0.2 s.  Extrapolation: the
partitions are independent, so with P partitions of measured cost c_i (seconds inside the worker), the
serial part O = wall - sum(c_i)/workers (the project-link pass, scatter, scheduling, reading small layers)
stays and the rest divides: T(k cores) ~ O + max(sum(c_i)/k, max c_i).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

AS_OF = dt.date(2026, 11, 1)
SMALL = ("enterprises", "projects", "villages", "village_progress", "towns")


class PeakRSS:
    """Peak of the summed RSS of this process and all its descendants (sampled)."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        me = psutil.Process(os.getpid())
        total = 0
        for p in [me, *me.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())


def _gib(n: int) -> float:
    return round(n / 2**30, 2)


def inputs(folder: Path, n: int) -> tuple[dict, float]:
    from gis.partitioned import MARKER

    marker = folder / "parcels" / MARKER
    if marker.exists() and json.loads(marker.read_text())["rows"] == n:
        paths = {
            "parcels": folder / "parcels",
            "rasters": folder / "rasters",
            **{name: folder / f"{name}.parquet" for name in SMALL},
        }
        return paths, 0.0
    from gis.scale_demo import write_scale_demo

    t0 = time.perf_counter()
    paths = write_scale_demo(folder, n_parcels=n, on_progress=lambda i, total, label: print(f"  {label}", flush=True))
    return paths, time.perf_counter() - t0


def run_in_memory(paths: dict, out: Path) -> dict:
    import geopandas as gpd  # noqa: F401

    from gis.assess import assess_idle_land
    from gis.partitioned import read_partitioned

    with PeakRSS() as mem:
        t0 = time.perf_counter()
        parcels = read_partitioned(paths["parcels"], "parcels")
        small = {name: read_partitioned(paths[name], name) for name in SMALL}
        rasters = sorted(Path(paths["rasters"]).glob("*.vrt"))
        t_read = time.perf_counter() - t0
        result = assess_idle_land(
            parcels,
            enterprises=small["enterprises"],
            projects=small["projects"],
            villages=small["villages"],
            progress=small["village_progress"],
            towns=small["towns"],
            rasters=rasters,
            as_of=AS_OF,
        )
        t_assess = time.perf_counter() - t0 - t_read
        out.parent.mkdir(parents=True, exist_ok=True)
        result.to_parquet(out, index=False)  # the same GeoParquet (native lists) as each dask partition
        wall = time.perf_counter() - t0
    return {
        "engine": "in-memory",
        "rows": len(result),
        "seconds": round(wall, 1),
        "read_s": round(t_read, 1),
        "assess_s": round(t_assess, 1),
        "peak_rss_gib": _gib(mem.peak),
    }


class Deadline(Exception):
    pass


def run_dask(paths: dict, out: Path, workers: int, memory_limit: str, deadline: dt.datetime | None = None) -> dict:
    from gis.partitioned import assess_partitioned, read_partitioned, start_client

    marks: dict = {"done": 0, "total": None, "map_start": None}
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        try:
            with start_client(workers=workers, memory_limit=memory_limit, dashboard_address=":0") as (client, info):
                t_start = time.perf_counter() - t0
                print("  " + " / ".join(info.lines()), flush=True)
                small = {name: read_partitioned(paths[name], name) for name in SMALL}

                def progress(i, total, label):
                    if marks["map_start"] is None and label.startswith("分区研判"):
                        marks["map_start"] = time.perf_counter() - t0
                    marks["done"], marks["total"] = i, total
                    if i and (i == total or i % max(1, total // 20) == 0):
                        print(f"  {label}  {time.perf_counter() - t0:.0f}s  rss {_gib(mem.peak)} GiB", flush=True)
                    if deadline and dt.datetime.now(dt.UTC) > deadline:
                        raise Deadline(f"stopped at the deadline after {i}/{total} partitions")

                run = assess_partitioned(
                    paths["parcels"],
                    enterprises=small["enterprises"],
                    projects=small["projects"],
                    villages=small["villages"],
                    progress=small["village_progress"],
                    towns=small["towns"],
                    rasters=sorted(Path(paths["rasters"]).glob("*.vrt")),
                    as_of=AS_OF,
                    out=out,
                    client=client,
                    on_progress=progress,
                )
        except Deadline as exc:
            wall = time.perf_counter() - t0
            done, total, start = marks["done"], marks["total"], marks["map_start"] or 0.0
            per = (wall - start) * workers / max(done, 1)  # worker-seconds per partition, measured
            return {
                "engine": f"dask {workers} workers",
                "finished": False,
                "note": str(exc),
                "partitions_done": done,
                "partitions": total,
                "seconds_so_far": round(wall, 1),
                "serial_s_before_partitions": round(start, 1),
                "per_partition_worker_s": round(per, 1),
                "extrapolated_s_by_cores": {k: round(start + total * per / k, 0) for k in (workers, 8, 32)},
                "peak_rss_gib": _gib(mem.peak),
            }
        wall = time.perf_counter() - t0
    c = run.partitions["seconds"]
    serial = max(0.0, run.seconds - c.sum() / workers)
    extrapolate = {k: round(serial + max(c.sum() / k, c.max()), 1) for k in (workers, 8, 32)}
    return {
        "engine": f"dask {workers} workers",
        "finished": True,
        "rows": run.rows,
        "partitions": len(c),
        "seconds": round(wall, 1),
        "cluster_start_s": round(t_start, 1),
        "assess_s": round(run.seconds, 1),
        "serial_s_before_partitions": round(marks["map_start"] or 0.0, 1),
        "per_partition_s_median": round(float(c.median()), 2),
        "per_partition_s_max": round(float(c.max()), 2),
        "sum_partition_s": round(float(c.sum()), 1),
        "serial_s": round(serial, 1),
        "per_1e5_parcels_s": round(float(c.sum() / run.rows * 1e5), 2),
        "extrapolated_s_by_cores": extrapolate,
        "peak_rss_gib": _gib(mem.peak),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="3GiB")
    ap.add_argument("--data", type=Path, default=None, help="input folder (default var/bench_partitioned_<n>)")
    ap.add_argument("--skip-memory", action="store_true", help="only the dask engine (e.g. 10^7)")
    ap.add_argument("--generate-only", action="store_true")
    ap.add_argument("--deadline", default=None, metavar="HH:MM", help="UTC: stop the dask run then, report so far")
    args = ap.parse_args()
    folder = args.data or Path("var") / f"bench_partitioned_{args.n}"
    print(f"inputs: {folder}", flush=True)
    paths, t_gen = inputs(folder, args.n)
    print(f"inputs ready ({t_gen:.0f} s to generate)" if t_gen else "inputs reused", flush=True)
    if args.generate_only:
        return
    results = []
    print("dask engine ...", flush=True)
    deadline = None
    if args.deadline:
        hh, mm = map(int, args.deadline.split(":"))
        deadline = dt.datetime.now(dt.UTC).replace(hour=hh, minute=mm, second=0, microsecond=0)
    results.append(run_dask(paths, folder / "assessed_dask", args.workers, args.memory_limit, deadline))
    print(json.dumps(results[-1], ensure_ascii=False), flush=True)
    if not args.skip_memory:
        print("in-memory engine ...", flush=True)
        results.append(run_in_memory(paths, folder / "assessed_memory.parquet"))
        print(json.dumps(results[-1], ensure_ascii=False), flush=True)
        if results[0].get("finished"):
            print(
                f"ratio dask/in-memory (wall, inputs on disk -> results on disk): "
                f"{results[0]['seconds'] / results[1]['seconds']:.2f}",
                flush=True,
            )
    print(
        json.dumps(
            {"n": args.n, "generate_s": round(t_gen, 1), "load": os.getloadavg(), "results": results},
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
