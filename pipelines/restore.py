"""``landrenew restore SRC``: restore a backup into an empty store."""

from __future__ import annotations

import click

from gis.backup import restore_store

from .options import INPUT_FILE, get_store, store_option


@click.command("restore")
@store_option
@click.argument("source", type=INPUT_FILE)
@click.option("--force", is_flag=True, help="GeoPackage：覆盖已有数据的存储")
def command(store_url, source, force) -> None:
    """从 landrenew backup 的备份恢复到一个空的存储（数据库需已建 postgis 扩展）。"""
    store = get_store(store_url)
    restore_store(store, source, force=force)
    click.echo(f"已恢复 {source} -> {store.url}")
    if not hasattr(store, "path"):
        click.echo("提示：请数据库所有者运行 landrenew db grant-app-role 为应用账号重新授权")
