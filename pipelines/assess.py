"""``landrenew assess``: the idle-land assessment, on the store or on files."""
from __future__ import annotations

from pathlib import Path

import click

from gis.assess import assess_idle_land
from gis.idle import load_idle_rules
from gis.ingest import read_layer_file
from gis.output import write_layer_file
from gis.workflow import assess_store

from .options import INPUT_FILE, as_of_option, get_store, parse_as_of, store_option
from .assess_dask import _raster_paths
from .progress import progress_bar


@click.command("assess")
@store_option
@as_of_option
@click.option("--rules", "rules_path", type=INPUT_FILE, help="规则文件（默认 layers/rules/idle.yaml）")
@click.option("--parcels", type=click.Path(exists=True),
              help="文件模式：宗地（任意可导入格式；--engine dask 时为 GeoParquet 文件或分区目录）")
@click.option("--parcel-geometry", type=INPUT_FILE, help="文件模式：台账对应的图形文件")
@click.option("--enterprises", type=INPUT_FILE)
@click.option("--projects", type=INPUT_FILE)
@click.option("--villages", type=INPUT_FILE)
@click.option("--progress", type=INPUT_FILE)
@click.option("--towns", type=INPUT_FILE)
@click.option("--rasters", multiple=True, type=click.Path(exists=True),
              help="遥感指数影像；--engine dask 时也可给影像目录（其中的 .tif/.vrt）")
@click.option("--crs", default=None, help="无坐标系文件的坐标系")
@click.option("--out", type=click.Path(), help="文件模式输出（.gpkg / .geojson / .csv；--engine dask 时为输出目录）")
@click.option("--engine", type=click.Choice(["memory", "dask"]), default="memory", show_default=True,
              help="memory：单机内存；dask：按空间分区在 dask 集群上研判（省级/全国规模）")
@click.option("--workers", type=click.IntRange(1), default=2, show_default=True, help="dask：本机集群的 worker 进程数")
@click.option("--memory-limit", default="auto", show_default=True, help="dask：每个 worker 的内存上限，如 3GiB")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT", help="dask：使用已有的调度器（不启动本机集群）")
@click.option("--partition-rows", type=click.IntRange(100), default=100_000, show_default=True,
              help="dask：重新分区时每个分区的宗地数")
def command(store_url, as_of, rules_path, parcels, parcel_geometry, enterprises, projects, villages, progress,
            towns, rasters, crs, out, engine, workers, memory_limit, scheduler, partition_rows) -> None:
    """闲置土地研判：存量范围、闲置认定、处置路径与依据、遥感证据。"""
    day = parse_as_of(as_of)
    rules = load_idle_rules(rules_path)
    if engine == "dask":
        from .assess_dask import run_dask

        return run_dask(store_url=store_url, day=day, rules=rules, parcels=parcels, enterprises=enterprises,
                        projects=projects, villages=villages, progress=progress, towns=towns, rasters=rasters,
                        crs=crs, out=out, workers=workers, memory_limit=memory_limit, scheduler=scheduler,
                        partition_rows=partition_rows, summary=_summary)
    if parcels and Path(parcels).is_dir():
        raise click.UsageError("分区目录只能用 --engine dask 研判")
    if parcels is None:
        if out:
            raise click.UsageError("--out 只用于文件模式（同时给出 --parcels 和 --enterprises）")
        store = get_store(store_url)
        with progress_bar("闲置土地研判") as on_progress:
            result = assess_store(store, as_of=day, rules=rules, on_progress=on_progress)
        _summary(result)
        click.echo(f"已写入 {store.url} 的 idle_assessment 图层")
        return
    if not enterprises or not out:
        raise click.UsageError("文件模式需要 --parcels、--enterprises 和 --out")
    frames = {}
    for name, path, extra in (("parcels", parcels, {"geometry": parcel_geometry}),
                              ("enterprises", enterprises, {}), ("projects", projects, {}),
                              ("villages", villages, {}), ("village_progress", progress, {}), ("towns", towns, {})):
        if path:
            frame, report = read_layer_file(name, path, crs=crs, **{k: v for k, v in extra.items() if v})
            click.echo(report.summary())
            frames[name] = frame
    with progress_bar("闲置土地研判") as on_progress:
        result = assess_idle_land(
            frames["parcels"], enterprises=frames["enterprises"], projects=frames.get("projects"),
            villages=frames.get("villages"), progress=frames.get("village_progress"), towns=frames.get("towns"),
            rasters=_raster_paths(rasters), as_of=day, rules=rules, on_progress=on_progress)
    path = write_layer_file(result, "idle_assessment", Path(out))
    _summary(result)
    click.echo(f"已写出 {path}")


def _summary(result) -> None:
    from gis.schema import get_layer

    route = get_layer("idle_assessment").field("route")
    counts = result["route"].value_counts()
    click.echo("处置路径：" + "，".join(f"{route.label_of(k)} {v}" for k, v in counts.items()))
