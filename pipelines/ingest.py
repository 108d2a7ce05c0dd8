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
@click.option("--mode", type=click.Choice(["replace", "upsert"]), default="replace", show_default=True,
              help="replace：图层（或 --scope 范围内）以文件为准；upsert：按编号新增或更新，文件外的记录不动")
@click.option("--scope", default=None, metavar="字段=值", help="只替换范围内的记录，如 --scope town_code=330603001")
@click.option("--effective", default=None, metavar="YYYY-MM-DD", help="台账日期（默认：导入当天）")
@click.option("--confirm", is_flag=True, help="确认：允许退出有审定记录的宗地或超过规则比例的记录")
@click.option("--reason", default=None, help="退出台账的原因（与 --confirm 一起）")
@click.option("--user", default=None, help="导入人（默认：当前系统用户）")
def command(store_url, towns, parcels, parcel_geometry, projects, enterprises, villages, progress, sheet, crs,
            from_gcj02, rasters, mode, scope, effective, confirm, reason, user) -> None:
    """导入源数据：校验、映射中文表头、统一坐标系，拒收行写入拒收清单。"""
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
        if effective is not None:
            from .options import parse_as_of

            effective = parse_as_of(effective)
        reports = ingest_files(store, sources, crs=crs, from_gcj02=from_gcj02, mode=mode, scope=scope,
                               effective=effective, confirm=confirm, reason=reason, user=user)
        for report in reports:
            click.echo(report.summary())
        total = {k: sum(getattr(r, k) for r in reports) for k in ("read", "stored", "repaired", "rejected")}
        click.echo(f"合计：读取 {total['read']}，入库 {total['stored']}，修复 {total['repaired']}，拒收 {total['rejected']}")
    if rasters:
        from gis.imagery import register_rasters

        paths = register_rasters(store, rasters)
        click.echo(f"影像：登记 {len(paths)} 景 -> {store.rasters_dir}")
