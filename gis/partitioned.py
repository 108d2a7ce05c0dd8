"""The partitioned assessment: the same rules as :func:`gis.assess.assess_idle_land`, past one machine's memory.

How it runs (docs/architecture.md; README "Which engine"):

1. **Parcels** are GeoParquet partitions ordered along a Hilbert curve.  A dataset written by
   :func:`spatial_partition` (or by ``landrenew demo --format parquet`` / the partitioned ingest) carries a
   ``_landrenew.json`` marker saying so; any other GeoParquet input (or a GeoDataFrame, in store mode) is first
   re-partitioned with ``dask_geopandas`` ``spatial_shuffle(by="hilbert")``.  Neighbouring parcels therefore sit
   in the same partition, and each partition covers a compact area.
2. **Small layers** (towns, villages, village progress, projects, enterprises) and the rules are scattered to
   every worker once (``Client.scatter(..., broadcast=True)``).
3. **Per partition**, :func:`assess_partition` calls the in-memory engine itself — ``assess_idle_land`` with the
   broadcast layers — so every join (``attribute_parcels``: town by largest overlap, villages, projects), the
   zonal means and every rule (``classify_idle_land``) are the very same functions: there is no second
   implementation.  Rasters are narrowed to those whose footprint meets the partition's bounds, and
   ``zonal_means`` reads only the window of pixels under the partition's parcels.
4. **Results** go to partitioned GeoParquet (one ``part.NNNNN.parquet`` per partition, list fields as native
   Parquet lists), or back to the driver for a store (one ``write_layers`` transaction).

Why a parcel on a partition edge gets the in-memory answer: the joins are per parcel against the *whole*
broadcast right-hand layers (towns, villages), so which partition a parcel sits in does not change its candidate
polygons.  The one join whose answer depends on the *set* of parcels is the project -> parcel link (a project
without ``parcel_id`` goes to the parcel it overlaps most, among all parcels).  It is computed once over the
whole dataset with ``link_projects`` (on the parcels near any project, gathered from every partition), written
into the projects' ``parcel_id``, and each partition receives only the projects linked to its own parcels.
``tests/test_partitioned.py`` checks every field of every row against the in-memory engine.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .assess import assess_idle_land
from .crs import STORE_CRS
from .errors import LandRenewError
from .frames import conform, decode_lists
from .idle import load_idle_rules
from .joins import link_projects
from .rules import RuleSet
from .schema import get_layer

__all__ = [
    "assess_partitioned",
    "assess_partition",
    "spatial_partition",
    "read_partitioned",
    "write_partition",
    "assess_store_partitioned",
    "start_client",
    "is_hilbert_ordered",
    "PartitionedRun",
    "MARKER",
    "ROWS_PER_PARTITION",
]

Progress = Callable[[int, int, str], None]

#: Sidecar file of a partitioned dataset (ignored by pyarrow/dask: names starting with "_" are not data).
MARKER = "_landrenew.json"
#: Default partition size: about 0.3–0.5 GB of working memory per partition in ``assess_idle_land``.
ROWS_PER_PARTITION = 100_000
#: dask's task-based shuffle: the p2p (Arrow) shuffle hands geometries back as WKB bytes, which dask-geopandas
#: cannot rebuild into a GeoSeries (its own tests cover only "tasks" and "disk").
_SHUFFLE = "tasks"
#: Margin (degrees, ~100 m) around projects when gathering the parcels they may overlap.
_PROJECT_MARGIN_DEG = 1e-3


# ----------------------------------------------------------------------------------------------- datasets
def _marker(path: Path) -> dict:
    file = Path(path) / MARKER
    if Path(path).is_dir() and file.exists():
        return json.loads(file.read_text(encoding="utf-8"))
    return {}


def write_marker(path: Path, **info) -> None:
    """Write the dataset's ``_landrenew.json`` (layer, order, partitions, rows, ...)."""
    (Path(path) / MARKER).write_text(json.dumps(info, ensure_ascii=False, indent=1, default=str), encoding="utf-8")


def is_hilbert_ordered(path: str | Path) -> bool:
    """True when the dataset was written in Hilbert order by this package (its marker says so)."""
    return _marker(Path(path)).get("order") == "hilbert"


def _part_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.glob("*.parquet") if not p.name.startswith(("_", ".")))


def write_partition(
    frame: pd.DataFrame, layer_name: str, folder: str | Path, number: int, *, conformed: bool = False
) -> Path:
    """One partition of a contract layer as ``folder/part.NNNNN.parquet`` (GeoParquet).

    List fields are written as native Parquet lists (``list<string>``, ``list<struct<...>>``): Arrow converts
    them in C, where JSON text per row (as in the GeoPackage store) cost half of a partition's time.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"part.{number:05d}.parquet"
    out = frame if conformed else conform(frame, layer_name)
    out.reset_index(drop=True).to_parquet(path, index=False)
    return path


def _lists_from_parquet(frame: pd.DataFrame, layer_name: str) -> pd.DataFrame:
    """Parquet lists (numpy arrays of str / dict on reading) or JSON text -> Python lists, as in memory."""
    for name in get_layer(layer_name).fields_of_type("list"):
        if name in frame.columns:
            frame[name] = pd.Series(
                [v.tolist() if isinstance(v, np.ndarray) else v for v in frame[name]], index=frame.index, dtype=object
            )
    return decode_lists(frame, layer_name)


def read_partitioned(path: str | Path, layer_name: str, *, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A whole partitioned (or single-file) GeoParquet layer in memory, canonical types (small data, tests)."""
    files = _part_files(Path(path))
    if not files:
        raise LandRenewError(
            f"目录 {path} 中没有 GeoParquet 分区文件",
            detail=f"no *.parquet in {path}",
            fix="先运行 landrenew demo --format parquet 或分区导入",
        )
    reader = gpd.read_parquet if get_layer(layer_name).is_spatial else pd.read_parquet
    frames = [reader(f, columns=columns) for f in files]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if not isinstance(frame, gpd.GeoDataFrame) and "geometry" in frame.columns:
        frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=STORE_CRS)
    return conform(_lists_from_parquet(frame, layer_name), layer_name)


def _read_small(source: str | Path | pd.DataFrame | None, layer_name: str) -> pd.DataFrame | None:
    if source is None or isinstance(source, pd.DataFrame):
        return source
    return read_partitioned(source, layer_name)


# ----------------------------------------------------------------------------------------------- cluster
@dataclass
class ClientInfo:
    """What the user should see about the scheduler: address, dashboard (or why there is none), workers."""

    address: str
    dashboard: str | None
    workers: int
    note: str = ""

    def lines(self) -> list[str]:
        out = [f"dask 调度器：{self.address}（{self.workers} 个 worker）"]
        out.append(f"dask 仪表板：{self.dashboard}" if self.dashboard else f"dask 仪表板：不可用（{self.note}）")
        return out


def _has_bokeh() -> bool:
    return importlib.util.find_spec("bokeh") is not None


@contextlib.contextmanager
def start_client(
    *,
    workers: int = 2,
    scheduler: str | None = None,
    memory_limit: str | float | None = "auto",
    threads_per_worker: int = 1,
    dashboard_address: str = ":8787",
    local_directory: str | Path | None = None,
) -> Iterator[tuple[object, ClientInfo]]:
    """A ``distributed`` client: a new ``LocalCluster`` (processes) by default, or any running scheduler.

    Parameters
    ----------
    workers, threads_per_worker, memory_limit
        The local cluster: ``workers`` processes of ``threads_per_worker`` threads, each limited to
        ``memory_limit`` (e.g. ``"3GiB"``; ``"auto"`` = machine memory / workers) — past it the worker spills
        to disk, then is paused and restarted by the nanny.
    scheduler
        ``tcp://host:port`` of a running scheduler (a province's own cluster); ``workers`` etc. are then ignored.
        The workers must see the input and output paths (a shared file system).
    dashboard_address
        Where the local cluster serves its dashboard (needs ``bokeh``; without it the dashboard is off and
        :class:`ClientInfo` says so instead of failing).
    """
    from distributed import Client, LocalCluster

    bokeh = _has_bokeh()
    note = "" if bokeh else "未安装 bokeh；pip install bokeh 后重新运行即可查看任务进度页面"
    if scheduler:
        client = Client(scheduler)
        cluster = None
    else:
        kwargs = {"local_directory": str(local_directory)} if local_directory else {}
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=dashboard_address if bokeh else ":0",
            **kwargs,
        )
        client = Client(cluster)
    try:
        link = None
        if bokeh or scheduler:
            with contextlib.suppress(Exception):
                link = client.dashboard_link
        if scheduler and not link:
            note = "该调度器未提供仪表板"
        n = len(client.scheduler_info(n_workers=-1).get("workers", {})) if scheduler else workers
        yield client, ClientInfo(address=client.scheduler.address, dashboard=link, workers=n, note=note)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _client(client):
    if client is not None:
        return client
    from distributed import get_client

    try:
        return get_client()
    except ValueError:
        raise LandRenewError(
            "分区研判需要 dask 集群",
            detail="no distributed client; use start_client()",
            fix="用 landrenew assess --engine dask（自动启动本机集群）或先 start_client()",
        ) from None


# ----------------------------------------------------------------------------------------------- partitions
def spatial_partition(
    source: str | Path | gpd.GeoDataFrame,
    dest: str | Path,
    *,
    rows_per_partition: int = ROWS_PER_PARTITION,
    layer_name: str = "parcels",
    client=None,
) -> Path:
    """Re-partition a GeoParquet layer (or a GeoDataFrame) along a Hilbert curve into ``dest``.

    ``dask_geopandas`` ``spatial_shuffle(by="hilbert")`` sorts the rows by the Hilbert distance of their
    bounding-box centres (level 16 over the layer's total bounds) and cuts the curve into about
    ``rows / rows_per_partition`` partitions; they are written with ``to_parquet`` (one file per partition, each
    with its GeoParquet bbox), and the marker records the order.
    """
    import dask_geopandas

    _client(client)
    dest = Path(dest)
    if isinstance(source, gpd.GeoDataFrame):
        ddf = dask_geopandas.from_geopandas(source, npartitions=max(1, math.ceil(len(source) / rows_per_partition)))
        rows = len(source)
    else:
        ddf = dask_geopandas.read_parquet(str(source))
        rows = int(ddf.map_partitions(len).sum().compute())
    n = max(1, math.ceil(rows / rows_per_partition))
    shuffled = ddf.spatial_shuffle(by="hilbert", npartitions=n, calculate_partitions=False, shuffle_method=_SHUFFLE)
    shuffled.to_parquet(str(dest), write_index=False)
    write_marker(
        dest, layer=layer_name, order="hilbert", partitions=n, rows=rows, written_by="gis.partitioned.spatial_partition"
    )
    return dest


def _footprints(rasters: Sequence[str | Path]) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Each raster with its bounds in STORE_CRS (densified edges), to pick the rasters a partition needs."""
    import rasterio
    from pyproj import Transformer

    out = []
    for path in rasters:
        with rasterio.open(path) as src:
            bounds = tuple(src.bounds)
            if src.crs is not None:
                bounds = Transformer.from_crs(src.crs.to_wkt(), STORE_CRS, always_xy=True).transform_bounds(
                    *bounds, densify_pts=21
                )
        out.append((str(path), tuple(float(b) for b in bounds)))
    return out


def _rasters_for(bounds: np.ndarray, footprints: Sequence[tuple[str, tuple]]) -> list[str]:
    x0, y0, x1, y1 = bounds
    return [p for p, (a, b, c, d) in footprints if a <= x1 and c >= x0 and b <= y1 and d >= y0]


@dataclass
class _Context:
    """Everything a partition needs besides its parcels (scattered once to every worker)."""

    enterprises: pd.DataFrame | None
    projects: gpd.GeoDataFrame | None  # parcel_id = the global link (link_projects over all parcels)
    villages: gpd.GeoDataFrame | None
    progress: pd.DataFrame | None
    towns: gpd.GeoDataFrame | None
    footprints: list = field(default_factory=list)
    as_of: dt.date = dt.date.today()
    rules: RuleSet | None = None
    town_bounds: np.ndarray | None = None
    village_bounds: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.town_bounds = _bounds(self.towns)
        self.village_bounds = _bounds(self.villages)


def _bounds(frame: gpd.GeoDataFrame | None) -> np.ndarray | None:
    if frame is None or len(frame) == 0 or not isinstance(frame, gpd.GeoDataFrame):
        return None
    geoms = frame.geometry.to_crs(STORE_CRS) if frame.crs is not None else frame.geometry
    return shapely.bounds(geoms.to_numpy())


def _empty_assessment() -> gpd.GeoDataFrame:
    names = get_layer("idle_assessment").field_names
    return conform(gpd.GeoDataFrame({n: [] for n in names}, geometry=[], crs=STORE_CRS), "idle_assessment")


def _within(frame: pd.DataFrame | None, bounds: np.ndarray | None, box: np.ndarray, margin: float):
    """Rows of a broadcast layer whose bounding box meets the partition's box grown by ``margin`` degrees."""
    if frame is None or bounds is None or len(frame) == 0:
        return frame
    x0, y0, x1, y1 = box[0] - margin, box[1] - margin, box[2] + margin, box[3] + margin
    hit = (bounds[:, 0] <= x1) & (bounds[:, 2] >= x0) & (bounds[:, 1] <= y1) & (bounds[:, 3] >= y0)
    return frame[hit | np.isnan(bounds[:, 0])]  # rows without geometry: kept (the joins decide)


def _isin(values: pd.Series, among: pd.Series) -> np.ndarray:
    """``values.isin(among)`` by hashing (pandas' Arrow-string ``isin`` loops in Python); NA is never in."""
    index = pd.Index(among.dropna().to_numpy(dtype=object)).unique()
    return index.get_indexer(values.to_numpy(dtype=object, na_value=None)) >= 0


def assess_partition(parcels: gpd.GeoDataFrame, context: _Context) -> gpd.GeoDataFrame:
    """One partition through the in-memory engine (``assess_idle_land``) with the broadcast layers.

    Before the call, each broadcast layer is narrowed to the rows that can matter for these parcels, which
    leaves every answer unchanged: towns and villages whose bounding box meets the partition's (villages
    within the resettlement-need distance of it), their progress reports, the enterprises the parcels name,
    the projects linked to these parcels (the link itself was made over all parcels), and the rasters under
    the partition.
    """
    parcels = conform(parcels, "parcels")
    if len(parcels) == 0:
        return _empty_assessment()
    box = parcels.total_bounds
    rules = context.rules or load_idle_rules()
    lat = max(abs(box[1]), abs(box[3]), 1.0)
    need_deg = float(rules["reclaim.purchase_by_demand_distance_m"]) / (111_320.0 * math.cos(math.radians(lat)))
    towns = _within(context.towns, context.town_bounds, box, _PROJECT_MARGIN_DEG)
    villages = _within(context.villages, context.village_bounds, box, 1.2 * need_deg + _PROJECT_MARGIN_DEG)
    progress = context.progress
    if progress is not None and villages is not None and len(progress):
        progress = progress[_isin(progress["village_id"], villages["village_id"])]
    enterprises = context.enterprises
    if enterprises is not None and len(enterprises) and "enterprise_id" in enterprises.columns:
        enterprises = enterprises[_isin(enterprises["enterprise_id"], parcels["enterprise_id"])]
    projects = context.projects
    if projects is not None and len(projects):
        projects = projects[_isin(projects["parcel_id"], parcels["parcel_id"])]
    rasters = _rasters_for(box, context.footprints) if context.footprints else []
    return assess_idle_land(
        parcels,
        enterprises=enterprises,
        projects=projects,
        villages=villages,
        progress=progress,
        rasters=rasters,
        towns=towns,
        as_of=context.as_of,
        rules=rules,
    )


def _near_projects(part: gpd.GeoDataFrame, wanted: tuple) -> gpd.GeoDataFrame:
    """Parcels of one partition that a project may be linked to (bbox meets a project's, or named by one)."""
    boxes, named = wanted
    cols = ["parcel_id", part.geometry.name]
    if len(part) == 0:
        return part[cols]
    geoms = part.geometry.to_numpy()
    hit = np.zeros(len(part), dtype=bool)
    if len(boxes):
        li, _ = shapely.STRtree(boxes).query(geoms)
        hit[np.unique(li)] = True
    if len(named):
        hit |= _isin(part["parcel_id"], named)
    return part.loc[hit, cols]


def _link_projects_globally(ddf, projects: gpd.GeoDataFrame | None, client) -> gpd.GeoDataFrame | None:
    """Projects with ``parcel_id`` = their link among *all* parcels (``link_projects``), computed once."""
    if projects is None or len(projects) == 0:
        return projects
    geoms = projects.geometry.to_crs(STORE_CRS).to_numpy() if projects.crs else projects.geometry.to_numpy()
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    boxes = shapely.box(*shapely.bounds(geoms[ok]).T)
    boxes = shapely.buffer(boxes, _PROJECT_MARGIN_DEG, join_style="mitre") if len(boxes) else boxes
    named = projects["parcel_id"].dropna() if "parcel_id" in projects.columns else pd.Series([], dtype="string")
    wanted = client.scatter([(boxes, named)], broadcast=True, hash=False)[0]  # once per worker, not per task
    meta = ddf._meta[["parcel_id", ddf._meta.geometry.name]]
    near = ddf[["parcel_id", ddf._meta.geometry.name]].map_partitions(_near_projects, wanted, meta=meta).compute()
    near = gpd.GeoDataFrame(near, geometry=near.geometry.name, crs=ddf.crs or STORE_CRS).reset_index(drop=True)
    out = projects.copy()
    out["parcel_id"] = link_projects(projects, near).to_numpy()
    return out


def _run_partition(
    parcels: gpd.GeoDataFrame, context: _Context, out: str | None, partition_info: dict | None = None
) -> pd.DataFrame | gpd.GeoDataFrame:
    number = int(partition_info["number"]) if partition_info else 0
    t0 = time.perf_counter()
    result = assess_partition(parcels, context)
    seconds = time.perf_counter() - t0
    if out is None:
        return result
    write_partition(result, "idle_assessment", out, number, conformed=True)
    return pd.DataFrame(
        {
            "partition": [number],
            "rows": [len(result)],
            "seconds": [seconds],
            **{
                f"route_{r}": [int((result["route"] == r).sum())]
                for r in ("continue", "transfer", "reclaim", "review", "none")
            },
        }
    )


_STATS_META = pd.DataFrame(
    {
        "partition": pd.Series([], dtype="int64"),
        "rows": pd.Series([], dtype="int64"),
        "seconds": pd.Series([], dtype="float64"),
        **{f"route_{r}": pd.Series([], dtype="int64") for r in ("continue", "transfer", "reclaim", "review", "none")},
    }
)


@dataclass
class PartitionedRun:
    """What a partitioned assessment did: per-partition rows and seconds, the output (folder or frame)."""

    partitions: pd.DataFrame
    seconds: float
    out: Path | None = None
    result: gpd.GeoDataFrame | None = None
    shuffled: bool = False
    shuffle_seconds: float = 0.0
    run_id: str | None = None  # the kept run, in store mode (docs/history.md §3)

    @property
    def rows(self) -> int:
        return int(self.partitions["rows"].sum())

    def route_counts(self) -> pd.Series:
        if self.result is not None:
            return self.result["route"].value_counts()
        cols = [c for c in self.partitions.columns if c.startswith("route_")]
        counts = self.partitions[cols].sum()
        counts.index = [c[len("route_") :] for c in cols]
        return counts[counts > 0].sort_values(ascending=False)


def assess_partitioned(
    parcels: str | Path | gpd.GeoDataFrame,
    *,
    enterprises: str | Path | pd.DataFrame | None,
    projects: str | Path | gpd.GeoDataFrame | None = None,
    villages: str | Path | gpd.GeoDataFrame | None = None,
    progress: str | Path | pd.DataFrame | None = None,
    towns: str | Path | gpd.GeoDataFrame | None = None,
    rasters: Sequence[str | Path] | None = None,
    as_of: dt.date,
    rules: RuleSet | None = None,
    out: str | Path | None = None,
    client=None,
    rows_per_partition: int = ROWS_PER_PARTITION,
    shuffle: bool | None = None,
    on_progress: Progress | None = None,
) -> PartitionedRun:
    """Assess every parcel partition by partition on a dask cluster, with the in-memory engine's functions.

    Parameters
    ----------
    parcels
        A GeoParquet file or folder of partitions (layer ``parcels``), or a GeoDataFrame (store mode).
    enterprises, projects, villages, progress, towns
        The small layers (frames, or GeoParquet files/folders); broadcast to every worker.
    rasters
        Dated index rasters; each partition reads only the ones (and the window) under its parcels.
    as_of, rules
        As for :func:`gis.assess.assess_idle_land`.
    out
        Folder for the result as partitioned GeoParquet (``part.NNNNN.parquet``); None: the result comes back
        as one GeoDataFrame (store mode — only for what fits in the driver's memory).
    client
        A ``distributed.Client`` (default: the current one, see :func:`start_client`).
    rows_per_partition
        Target partition size when the parcels must first be spatially shuffled.
    shuffle
        Force (True) or skip (False) the Hilbert ``spatial_shuffle``; default: skip only for a dataset whose
        marker says it is already in Hilbert order.
    on_progress
        ``on_progress(done, total, label)`` after each partition.

    Returns
    -------
    PartitionedRun
        Per-partition rows and seconds; ``out`` or ``result``.
    """
    import dask_geopandas
    from distributed import as_completed

    client = _client(client)
    rules = load_idle_rules() if rules is None else rules
    step = on_progress or (lambda i, total, label: None)
    t0 = time.perf_counter()
    if isinstance(parcels, gpd.GeoDataFrame):
        ddf = dask_geopandas.from_geopandas(parcels, npartitions=max(1, math.ceil(len(parcels) / rows_per_partition)))
        ordered = False
    else:
        ddf = dask_geopandas.read_parquet(str(parcels))
        ordered = is_hilbert_ordered(parcels)
    do_shuffle = (not ordered) if shuffle is None else shuffle
    shuffle_seconds = 0.0
    if do_shuffle:
        step(0, 1, "按希尔伯特曲线空间分区")
        ts = time.perf_counter()
        rows = len(parcels) if isinstance(parcels, gpd.GeoDataFrame) else int(ddf.map_partitions(len).sum().compute())
        ddf = ddf.spatial_shuffle(
            by="hilbert",
            npartitions=max(1, math.ceil(rows / rows_per_partition)),
            calculate_partitions=False,
            shuffle_method=_SHUFFLE,
        )
        ddf = ddf.persist()
        from distributed import wait

        wait(ddf)
        shuffle_seconds = time.perf_counter() - ts
    projects_frame = _read_small(projects, "projects")
    context = _Context(
        enterprises=_read_small(enterprises, "enterprises"),
        projects=_link_projects_globally(ddf, projects_frame, client),
        villages=_read_small(villages, "villages"),
        progress=_read_small(progress, "village_progress"),
        towns=_read_small(towns, "towns"),
        footprints=_footprints(rasters or []),
        as_of=as_of,
        rules=rules,
    )
    shared = client.scatter(context, broadcast=True, hash=False)
    out_dir = None if out is None else Path(out)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for old in _part_files(out_dir):
            old.unlink()
    if out_dir is None:
        meta = _empty_assessment()
    else:
        meta = _STATS_META
    mapped = ddf.map_partitions(
        _run_partition, shared, None if out_dir is None else str(out_dir), meta=meta, align_dataframes=False
    )
    parts = mapped.to_delayed()
    futures = client.compute(parts)
    index = {f.key: i for i, f in enumerate(futures)}
    total = len(futures)
    done = 0
    results: list = [None] * total
    step(0, total, f"分区研判（{total} 个分区）")
    for future in as_completed(futures):
        results[index[future.key]] = future.result()
        future.release()
        done += 1
        step(done, total, f"已完成 {done}/{total} 个分区")
    seconds = time.perf_counter() - t0
    if out_dir is None:
        frames = [r for r in results if r is not None and len(r)]
        result = pd.concat(frames, ignore_index=True) if frames else meta
        result = gpd.GeoDataFrame(result, geometry="geometry", crs=STORE_CRS)
        stats = pd.DataFrame({"partition": range(total), "rows": [len(r) for r in results]})
        return PartitionedRun(stats, seconds, result=result, shuffled=do_shuffle, shuffle_seconds=shuffle_seconds)
    stats = pd.concat(results, ignore_index=True)
    write_marker(
        out_dir,
        layer="idle_assessment",
        order="hilbert",
        partitions=total,
        rows=int(stats["rows"].sum()),
        as_of=as_of.isoformat(),
        rules_version=rules.version,
        lists="parquet lists",
        written_by="gis.partitioned.assess_partitioned",
    )
    return PartitionedRun(stats, seconds, out=out_dir, shuffled=do_shuffle, shuffle_seconds=shuffle_seconds)


def assess_store_partitioned(
    store,
    *,
    as_of: dt.date,
    rules: RuleSet | None = None,
    client=None,
    rows_per_partition: int = ROWS_PER_PARTITION,
    on_progress: Progress | None = None,
) -> PartitionedRun:
    """:func:`gis.workflow.assess_store` on the cluster: the store's parcels are spatially shuffled into
    partitions, assessed there, gathered back in the store's parcel order with the latest decisions, and
    written with the store's own ``write_layers`` — one transaction (all or nothing, as the in-memory job)."""
    from .idle import load_idle_rules
    from .runs import ledger_inputs
    from .store.history_schema import utc_now
    from .workflow import decision_column, keep_assessment  # the in-memory job's own steps: same run, same column

    rules = load_idle_rules() if rules is None else rules
    store.upgrade_history()
    known_at = utc_now()
    inputs = ledger_inputs(store, as_of=as_of, known_at=known_at)  # the ledger valid on as_of (docs/history.md §4)
    parcels = inputs["parcels"]
    run = assess_partitioned(
        parcels,
        enterprises=inputs["enterprises"],
        projects=inputs["projects"],
        villages=inputs["villages"],
        progress=inputs["village_progress"],
        towns=inputs["towns"],
        rasters=inputs["rasters"],
        as_of=as_of,
        rules=rules,
        out=None,
        client=client,
        rows_per_partition=rows_per_partition,
        shuffle=True,
        on_progress=on_progress,
    )
    result = run.result
    order = pd.Index(parcels["parcel_id"]).get_indexer(result["parcel_id"])
    result = result.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
    result["decision"] = decision_column(store, result["parcel_id"], known_at=known_at)
    run.run_id = keep_assessment(
        store,
        result,
        as_of=as_of,
        known_at=known_at,
        rules=rules,
        meta={"assess_engine": f"dask ({len(run.partitions)} partitions)"},
    )
    run.result = result
    return run
