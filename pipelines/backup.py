"""``landrenew backup DEST``: a consistent copy of the store (GeoPackage file copy, or ``pg_dump``)."""

from __future__ import annotations

import click

from gis.backup import backup_store

from .options import get_store, store_option


@click.command("backup")
@store_option
@click.argument("dest", type=click.Path(dir_okay=False))
def command(store_url, dest) -> None:
    """备份存储（图层、历史版本、导入批次、研判批次、审定记录）：GeoPackage 为一致的文件副本，PostGIS 用 pg_dump。"""
    store = get_store(store_url)
    path = backup_store(store, dest)
    click.echo(f"已备份 {store.url} -> {path}")
