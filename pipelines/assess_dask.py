"""``landrenew assess --engine dask``: the partitioned assessment on a local or remote dask cluster."""

from __future__ import annotations

from pathlib import Path

import click

from .progress import progress_bar


def _small(name: str, path: str | None, crs: str | None):
    """A small layer: GeoParquet (file or partition folder) as is, any other format through validated ingest."""
    if not path:
        return None
    p = Path(path)
    if p.is_dir() or p.suffix.lower() == ".parquet":
        from gis.partitioned import read_partitioned

        return read_partitioned(p, name)
    from gis.ingest import read_layer_file

    frame, report = read_layer_file(name, p, crs=crs)
    click.echo(report.summary())
    return frame


def _raster_paths(items) -> list[Path]:
    out: list[Path] = []
    for item in items:
        p = Path(item)
        out.extend(sorted([*p.glob("*.tif"), *p.glob("*.vrt")]) if p.is_dir() else [p])
    return out


def run_dask(
    *,
    store_url,
    day,
    rules,
    parcels,
    enterprises,
    projects,
    villages,
    progress,
    towns,
    rasters,
    crs,
    out,
    workers,
    memory_limit,
    scheduler,
    partition_rows,
    summary,
) -> None:
    from gis.partitioned import assess_partitioned, assess_store_partitioned, start_client

    if parcels is None and out:
        raise click.UsageError("--out 只用于文件模式（同时给出 --parcels 和 --enterprises）")
    if parcels is not None and (not enterprises or not out):
        raise click.UsageError("文件模式需要 --parcels（GeoParquet）、--enterprises 和 --out（输出目录）")
    if parcels is not None and not (Path(parcels).is_dir() or Path(parcels).suffix.lower() == ".parquet"):
        raise click.UsageError(
            "--engine dask 的 --parcels 应为 GeoParquet 文件或分区目录"
            "（先用 landrenew ingest --format parquet 导入，或 landrenew demo --format parquet）"
        )
    if out and Path(out).exists() and not Path(out).is_dir():
        raise click.UsageError(f"--out {out} 已存在且不是目录；--engine dask 的输出为分区 GeoParquet 目录")
    with start_client(workers=workers, scheduler=scheduler, memory_limit=memory_limit) as (client, info):
        for line in info.lines():
            click.echo(line)
        if parcels is None:
            from .options import get_store

            store = get_store(store_url)
            with progress_bar("分区研判") as on_progress:
                run = assess_store_partitioned(
                    store,
                    as_of=day,
                    rules=rules,
                    client=client,
                    rows_per_partition=partition_rows,
                    on_progress=on_progress,
                )
            summary(run.result)
            click.echo(
                f"已写入 {store.url} 的 idle_assessment 图层（{len(run.partitions)} 个分区，{run.seconds:.1f} 秒）"
            )
            return
        with progress_bar("分区研判") as on_progress:
            run = assess_partitioned(
                parcels,
                enterprises=_small("enterprises", enterprises, crs),
                projects=_small("projects", projects, crs),
                villages=_small("villages", villages, crs),
                progress=_small("village_progress", progress, crs),
                towns=_small("towns", towns, crs),
                rasters=_raster_paths(rasters),
                as_of=day,
                rules=rules,
                out=out,
                client=client,
                rows_per_partition=partition_rows,
                on_progress=on_progress,
            )
    from gis.schema import get_layer

    route = get_layer("idle_assessment").field("route")
    click.echo("处置路径：" + "，".join(f"{route.label_of(k)} {v}" for k, v in run.route_counts().items()))
    click.echo(
        f"已写出 {run.out}（{run.rows} 宗，{len(run.partitions)} 个分区，{run.seconds:.1f} 秒"
        + (f"，其中空间重分区 {run.shuffle_seconds:.1f} 秒" if run.shuffled else "")
        + "）"
    )
