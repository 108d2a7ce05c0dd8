"""``landrenew ingest --format parquet``: validated ingest of big files into partitioned GeoParquet."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from .progress import progress_bar


def run_parquet(
    *,
    towns,
    parcels,
    projects,
    enterprises,
    villages,
    progress,
    crs,
    from_gcj02,
    out,
    extent=None,
    workers,
    scheduler,
    parcel_geometry,
) -> None:
    from gis.partitioned import start_client
    from gis.partitioned_ingest import ingest_partitioned

    if not out:
        raise click.UsageError("--format parquet 需要 --out 目录")
    if parcel_geometry:
        raise click.UsageError("--format parquet 需要带图形的宗地文件（GeoPackage/Shapefile/GeoJSON/含 WKT 的 CSV）")
    sources = {
        name: path
        for name, path in (
            ("towns", towns),
            ("parcels", parcels),
            ("projects", projects),
            ("enterprises", enterprises),
            ("villages", villages),
            ("village_progress", progress),
        )
        if path
    }
    if not sources:
        raise click.UsageError(
            "没有给出要导入的文件；例如 landrenew ingest --format parquet --parcels 宗地.gpkg --out 目录"
        )
    folder = Path(out)
    use_dask = bool(scheduler) or workers > 0
    cm = (
        start_client(workers=max(workers, 1), scheduler=scheduler) if use_dask else contextlib.nullcontext((None, None))
    )
    with cm as (client, info):
        if info is not None:
            for line in info.lines():
                click.echo(line)
        for name, path in sources.items():
            dest = folder / name
            with progress_bar(f"校验 {Path(path).name}") as on_progress:
                report = ingest_partitioned(
                    name,
                    path,
                    dest,
                    crs=crs,
                    from_gcj02=from_gcj02,
                    extent=extent,
                    rejects_dir=folder / "reports",
                    client=client if name == "parcels" else None,
                    on_progress=on_progress,
                )
            click.echo(report.summary())
            click.echo(f"  -> {dest}")
