"""``landrenew assess``: the idle-land assessment, on the store or on files."""

from __future__ import annotations

from pathlib import Path

import click

from gis.assess import assess_idle_land
from gis.idle import load_idle_rules
from gis.ingest import read_layer_file
from gis.output import write_layer_file
from gis.workflow import assess_store

from .assess_dask import _raster_paths
from .options import INPUT_FILE, as_of_option, get_store, parse_as_of, store_option
from .progress import progress_bar


@click.command("assess")
@store_option
@as_of_option
@click.option("--rules", "rules_path", type=INPUT_FILE, help="规则文件（默认 layers/rules/idle.yaml）")
@click.option(
    "--parcels",
    type=click.Path(exists=True),
    help="文件模式：宗地（任意可导入格式；--engine dask 时为 GeoParquet 文件或分区目录）",
)
@click.option("--parcel-geometry", type=INPUT_FILE, help="文件模式：台账对应的图形文件")
@click.option("--enterprises", type=INPUT_FILE)
@click.option("--projects", type=INPUT_FILE)
@click.option("--villages", type=INPUT_FILE)
@click.option("--progress", type=INPUT_FILE)
@click.option("--towns", type=INPUT_FILE)
@click.option(
    "--rasters",
    multiple=True,
    type=click.Path(exists=True),
    help="遥感指数影像；--engine dask 时也可给影像目录（其中的 .tif/.vrt）",
)
@click.option("--crs", default=None, help="无坐标系文件的坐标系")
@click.option("--out", type=click.Path(), help="文件模式输出（.gpkg / .geojson / .csv；--engine dask 时为输出目录）")
@click.option(
    "--engine",
    type=click.Choice(["memory", "dask"]),
    default="memory",
    show_default=True,
    help="memory：单机内存；dask：按空间分区在 dask 集群上研判（省级/全国规模）",
)
@click.option("--workers", type=click.IntRange(1), default=2, show_default=True, help="dask：本机集群的 worker 进程数")
@click.option("--memory-limit", default="auto", show_default=True, help="dask：每个 worker 的内存上限，如 3GiB")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT", help="dask：使用已有的调度器（不启动本机集群）")
@click.option(
    "--partition-rows",
    type=click.IntRange(100),
    default=100_000,
    show_default=True,
    help="dask：重新分区时每个分区的宗地数",
)
@click.option(
    "--known-at",
    "known_at",
    default=None,
    metavar="YYYY-MM-DD[THH:MM]",
    help="只用此时之前入库的数据（时间旅行）；默认：现在",
)
@click.option("--what-if", "what_if", is_flag=True, help="假设分析：保留为非当前批次，不改变页面显示的结果")
@click.option("--label", default=None, help="批次说明，如“45号口径 2024-11-07”")
@click.option("--user", default=None, help="运行人（默认：当前系统用户）")
def command(
    store_url,
    as_of,
    rules_path,
    parcels,
    parcel_geometry,
    enterprises,
    projects,
    villages,
    progress,
    towns,
    rasters,
    crs,
    out,
    engine,
    workers,
    memory_limit,
    scheduler,
    partition_rows,
    known_at,
    what_if,
    label,
    user,
) -> None:
    """闲置土地研判：存量范围、闲置认定、处置路径与依据、遥感证据。"""
    day = parse_as_of(as_of)
    rules = load_idle_rules(rules_path)
    if engine == "dask":
        from .assess_dask import run_dask

        return run_dask(
            store_url=store_url,
            day=day,
            rules=rules,
            parcels=parcels,
            enterprises=enterprises,
            projects=projects,
            villages=villages,
            progress=progress,
            towns=towns,
            rasters=rasters,
            crs=crs,
            out=out,
            workers=workers,
            memory_limit=memory_limit,
            scheduler=scheduler,
            partition_rows=partition_rows,
            summary=_summary,
        )
    if parcels and Path(parcels).is_dir():
        raise click.UsageError("分区目录只能用 --engine dask 研判")
    if parcels is None:
        if out:
            raise click.UsageError("--out 只用于文件模式（同时给出 --parcels 和 --enterprises）")
        store = get_store(store_url)
        known = _known_at(known_at)
        with progress_bar("闲置土地研判") as on_progress:
            result = assess_store(
                store,
                as_of=day,
                rules=rules,
                on_progress=on_progress,
                known_at=known,
                what_if=what_if,
                label=label,
                user=_user(user),
            )
        _summary(result)
        run_id = result.attrs["run_id"]
        if what_if:
            click.echo(f"假设分析批次 {run_id} 已保留（非当前）；对比：landrenew diff <当前批次> {run_id}")
        else:
            click.echo(f"已写入 {store.url} 的 idle_assessment 图层（研判批次 {run_id}）")
        return
    if not enterprises or not out:
        raise click.UsageError("文件模式需要 --parcels、--enterprises 和 --out")
    frames = {}
    for name, path, extra in (
        ("parcels", parcels, {"geometry": parcel_geometry}),
        ("enterprises", enterprises, {}),
        ("projects", projects, {}),
        ("villages", villages, {}),
        ("village_progress", progress, {}),
        ("towns", towns, {}),
    ):
        if path:
            frame, report = read_layer_file(name, path, crs=crs, **{k: v for k, v in extra.items() if v})
            click.echo(report.summary())
            frames[name] = frame
    with progress_bar("闲置土地研判") as on_progress:
        result = assess_idle_land(
            frames["parcels"],
            enterprises=frames["enterprises"],
            projects=frames.get("projects"),
            villages=frames.get("villages"),
            progress=frames.get("village_progress"),
            towns=frames.get("towns"),
            rasters=_raster_paths(rasters),
            as_of=day,
            rules=rules,
            on_progress=on_progress,
        )
    path = write_layer_file(result, "idle_assessment", Path(out))
    _summary(result)
    click.echo(f"已写出 {path}")


def _summary(result) -> None:
    from gis.schema import get_layer

    route = get_layer("idle_assessment").field("route")
    counts = result["route"].value_counts()
    click.echo("处置路径：" + "，".join(f"{route.label_of(k)} {v}" for k, v in counts.items()))


def _known_at(text):
    if text is None:
        return None
    import pandas as pd

    try:
        ts = pd.Timestamp(text)
    except ValueError:
        raise click.BadParameter(
            f"“{text}” 不是时间，应写成 YYYY-MM-DD 或 YYYY-MM-DDTHH:MM", param_hint="--known-at"
        ) from None
    if len(text) <= 10:  # a day: as known at the end of it (Shanghai)
        ts = ts + pd.Timedelta(days=1) - pd.Timedelta(milliseconds=1)
    return ts.tz_localize("Asia/Shanghai").tz_convert("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _user(user):
    from gis.batches import _user as who

    return who(user)
