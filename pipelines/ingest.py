"""``landrenew ingest``: validated import of source files into the store (one transaction)."""
from __future__ import annotations

import click

from gis.ingest import ingest_files

from .options import INPUT_FILE, get_store, store_option

_LAYERS = ("towns", "parcels", "projects", "enterprises", "villages", "progress")


@click.command("ingest")
@store_option
@click.option("--towns", type=INPUT_FILE, help="镇街图层")
@click.option("--parcels", type=INPUT_FILE, help="宗地（图层，或 .xlsx 台账配 --parcel-geometry）")
@click.option("--parcel-geometry", type=INPUT_FILE, help="台账按宗地编号连接的图形文件")
@click.option("--projects", type=INPUT_FILE, help="项目图层")
@click.option("--enterprises", type=INPUT_FILE, help="企业表（.xlsx/.csv）")
@click.option("--villages", type=INPUT_FILE, help="城中村图层")
@click.option("--progress", type=INPUT_FILE, help="城中村改造进度填报表（追加，不覆盖历史）")
@click.option("--sheet", default=None, help="Excel 工作表名（默认第一个）")
@click.option("--crs", default=None, help="无坐标系文件的坐标系，如 EPSG:4490、EPSG:4549、EPSG:4528")
@click.option("--from-gcj02", is_flag=True, help="坐标为高德/GCJ-02，导入时纠正到 CGCS2000")
@click.option("--rasters", multiple=True, type=INPUT_FILE,
              help="遥感指数影像（单波段 GeoTIFF，文件名含 _YYYYMMDD），可多次给出")
@click.option("--format", "fmt", type=click.Choice(["store", "parquet"]), default="store", show_default=True,
              help="parquet：大文件逐块校验，写成分区 GeoParquet（--out 目录），不入库")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="--format parquet 的输出目录")
@click.option("--workers", type=click.IntRange(0), default=2, show_default=True,
              help="--format parquet：按希尔伯特曲线重新分区用的本机 dask worker 数（0：保持源文件顺序）")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT", help="--format parquet：已有的 dask 调度器")
def command(store_url, towns, parcels, parcel_geometry, projects, enterprises, villages, progress, sheet, crs,
            from_gcj02, rasters, fmt, out, workers, scheduler) -> None:
    """导入源数据：校验、映射中文表头、统一坐标系，拒收行写入拒收清单。"""
    if fmt == "parquet":
        from .ingest_parquet import run_parquet

        return run_parquet(towns=towns, parcels=parcels, projects=projects, enterprises=enterprises,
                           villages=villages, progress=progress, crs=crs, from_gcj02=from_gcj02, out=out,
                           workers=workers, scheduler=scheduler, parcel_geometry=parcel_geometry)
    store = get_store(store_url)
    sources = {}
    for name, path in (("towns", towns), ("parcels", parcels), ("projects", projects),
                       ("enterprises", enterprises), ("villages", villages), ("village_progress", progress)):
        if path:
            spec = {"path": path}
            if sheet and path.lower().endswith((".xlsx", ".xlsm")):
                spec["sheet"] = sheet
            if name == "parcels" and parcel_geometry:
                spec["geometry"] = parcel_geometry
            sources[name] = spec
    if not sources and not rasters:
        raise click.UsageError("没有给出要导入的文件；例如 landrenew ingest --parcels 宗地.gpkg")
    if sources:
        reports = ingest_files(store, sources, crs=crs, from_gcj02=from_gcj02)
        for report in reports:
            click.echo(report.summary())
        total = {k: sum(getattr(r, k) for r in reports) for k in ("read", "stored", "repaired", "rejected")}
        click.echo(f"合计：读取 {total['read']}，入库 {total['stored']}，修复 {total['repaired']}，拒收 {total['rejected']}")
    if rasters:
        from gis.imagery import register_rasters

        paths = register_rasters(store, rasters)
        click.echo(f"影像：登记 {len(paths)} 景 -> {store.rasters_dir}")
