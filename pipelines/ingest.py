"""``landrenew ingest``: validated import of source files into the store (one transaction)."""

from __future__ import annotations

import click

from gis.ingest import ingest_files

from .options import INPUT_FILE, get_store, store_option

#: a file, or an Esri FileGDB folder (``供地.gdb``)
SOURCE = click.Path(exists=True, dir_okay=True)


@click.command("ingest")
@store_option
@click.option("--towns", type=SOURCE, help="镇街图层")
@click.option("--parcels", type=SOURCE, help="宗地（图层，或 .xlsx 台账配 --parcel-geometry）")
@click.option("--parcel-geometry", type=SOURCE, help="台账按宗地编号连接的图形文件")
@click.option("--projects", type=SOURCE, help="项目图层")
@click.option("--enterprises", type=INPUT_FILE, help="企业表（.xlsx/.csv）")
@click.option("--villages", type=SOURCE, help="城中村图层")
@click.option("--progress", type=INPUT_FILE, help="城中村改造进度填报表（追加，不覆盖历史）")
@click.option("--sheet", default=None, help="Excel 工作表名或序号（默认第一个）；all 读取全部同结构的工作表")
@click.option(
    "--layer",
    "source_layer",
    default=None,
    help="多图层文件（GeoPackage/FileGDB/KML/多个 Shapefile 的 zip）中要读取的图层名（默认唯一的面图层）",
)
@click.option(
    "--check", is_flag=True, help="只检查不入库：显示表头对应、单位换算、将入库/修复/拒收/跳过的行数，并写出拒收清单"
)
@click.option("--crs", default=None, help="无坐标系文件的坐标系，如 EPSG:4490、EPSG:4549、EPSG:4528")
@click.option("--from-gcj02", is_flag=True, help="坐标为高德/GCJ-02，导入时纠正到 CGCS2000")
@click.option(
    "--extent",
    default=None,
    metavar="最小经度,最小纬度,最大经度,最大纬度",
    help="图形应落在的经纬度范围（默认 layers/rules/district.yaml 的辖区），如全省台账 --extent 118,27,123,31.5",
)
@click.option(
    "--rasters", multiple=True, type=INPUT_FILE, help="遥感指数影像（单波段 GeoTIFF，文件名含 _YYYYMMDD），可多次给出"
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["store", "parquet"]),
    default="store",
    show_default=True,
    help="parquet：大文件逐块校验，写成分区 GeoParquet（--out 目录），不入库",
)
@click.option("--out", type=click.Path(file_okay=False), default=None, help="--format parquet 的输出目录")
@click.option(
    "--workers",
    type=click.IntRange(0),
    default=2,
    show_default=True,
    help="--format parquet：按希尔伯特曲线重新分区用的本机 dask worker 数（0：保持源文件顺序）",
)
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT", help="--format parquet：已有的 dask 调度器")
@click.option(
    "--mode",
    type=click.Choice(["replace", "upsert"]),
    default="replace",
    show_default=True,
    help="replace：图层（或 --scope 范围内）以文件为准；upsert：按编号新增或更新，文件外的记录不动",
)
@click.option("--scope", default=None, metavar="字段=值", help="只替换范围内的记录，如 --scope town_code=330603001")
@click.option("--effective", default=None, metavar="YYYY-MM-DD", help="台账日期（默认：导入当天）")
@click.option("--confirm", is_flag=True, help="确认：允许退出有审定记录的宗地或超过规则比例的记录")
@click.option("--reason", default=None, help="退出台账的原因（与 --confirm 一起）")
@click.option("--user", default=None, help="导入人（默认：当前系统用户）")
def command(
    store_url,
    towns,
    parcels,
    parcel_geometry,
    projects,
    enterprises,
    villages,
    progress,
    sheet,
    source_layer,
    check,
    crs,
    from_gcj02,
    extent,
    rasters,
    fmt,
    out,
    workers,
    scheduler,
    mode,
    scope,
    effective,
    confirm,
    reason,
    user,
) -> None:
    """导入源数据：校验、映射中文表头、统一坐标系，拒收行写入拒收清单。"""
    if extent is not None:
        from gis.district import parse_extent

        extent = parse_extent(extent)
    if fmt == "parquet":
        from .ingest_parquet import run_parquet

        return run_parquet(
            towns=towns,
            parcels=parcels,
            projects=projects,
            enterprises=enterprises,
            villages=villages,
            progress=progress,
            crs=crs,
            from_gcj02=from_gcj02,
            extent=extent,
            out=out,
            workers=workers,
            scheduler=scheduler,
            parcel_geometry=parcel_geometry,
        )
    store = get_store(store_url)
    sources = {}
    for name, path in (
        ("towns", towns),
        ("parcels", parcels),
        ("projects", projects),
        ("enterprises", enterprises),
        ("villages", villages),
        ("village_progress", progress),
    ):
        if path:
            spec = {"path": path}
            if sheet and path.lower().endswith((".xlsx", ".xlsm", ".xls", ".et", ".ods")):
                spec["sheet"] = sheet
            if source_layer and not path.lower().endswith((".csv", ".xlsx", ".xlsm", ".xls", ".et", ".ods")):
                spec["source_layer"] = source_layer
            if name == "parcels" and parcel_geometry:
                spec["geometry"] = parcel_geometry
            sources[name] = spec
    if not sources and not rasters:
        raise click.UsageError("没有给出要导入的文件；例如 landrenew ingest --parcels 宗地.gpkg")
    if sources:
        if effective is not None:
            from .options import parse_as_of

            effective = parse_as_of(effective)
        reports = ingest_files(
            store,
            sources,
            crs=crs,
            from_gcj02=from_gcj02,
            extent=extent,
            check=check,
            mode=mode,
            scope=scope,
            effective=effective,
            confirm=confirm,
            reason=reason,
            user=user,
        )
        for report in reports:
            if check:
                click.echo(report.mapping_text())
            click.echo(report.summary())
        keys = ("read", "stored", "repaired", "rejected", "skipped")
        total = {k: sum(getattr(r, k) for r in reports) for k in keys}
        verb = "将入库" if check else "入库"
        click.echo(
            f"合计：读取 {total['read']}，{verb} {total['stored']}，修复 {total['repaired']}，"
            f"拒收 {total['rejected']}，跳过 {total['skipped']}"
        )
        if check:
            click.echo("（检查模式：未写入存储；确认无误后去掉 --check 正式导入）")
            return
    if rasters:
        from gis.imagery import register_rasters

        paths = register_rasters(store, rasters)
        click.echo(f"影像：登记 {len(paths)} 景 -> {store.rasters_dir}")
