"""``landrenew info``: the layers in the store and their counts."""

from __future__ import annotations

import click

from gis.schema import get_layer, layer_names

from .options import get_store, store_option


@click.command("info")
@store_option
def command(store_url: str | None) -> None:
    """列出存储中的图层与记录数。"""
    store = get_store(store_url)
    counts = store.layer_counts()
    click.echo(f"存储：{store.url}")
    for name in layer_names():
        layer = get_layer(name)
        click.echo(f"  {name:<20} {layer.label:<10} {counts.get(name, 0):>8}")
    meta = store.meta()
    if meta.get("synthetic") == "true":
        click.echo("  注意：本库为模拟演示数据（synthetic demo data）")
