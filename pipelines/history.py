"""``landrenew history PARCEL_ID``: every version of a parcel, what changed, and the decisions taken on it."""

from __future__ import annotations

import click

from gis.history_view import decision_items, version_items
from gis.schema import get_layer

from .options import get_store, store_option


@click.command("history")
@store_option
@click.argument("parcel_id")
@click.option("--layer", default="parcels", show_default=True, help="台账图层（parcels、projects、villages ...）")
def command(store_url, parcel_id, layer) -> None:
    """一宗地的全部历史版本：有效期、入库批次、变化字段（旧值 -> 新值）、审定记录及其依据。"""
    store = get_store(store_url)
    lay = get_layer(layer)
    versions = version_items(store, parcel_id, layer=layer)
    if not versions:
        raise click.ClickException(f"{lay.label} {parcel_id} 没有历史记录（检查编号，或先导入台账）")
    click.echo(f"{lay.label} {parcel_id}：{len(versions)} 个版本")
    for i, v in enumerate(versions, 1):
        end = "至今" if v["valid_to"] == "至今" else f"至 {v['valid_to']}"
        click.echo(f"[{i}] {v['valid_from']} {end}  {v['change']}  批次 {v['batch_id']}（{v['recorded_at']} 入库）")
        for line in v["lines"]:
            click.echo(f"    {line}")
    if layer != "parcels":
        return
    for d in decision_items(store, parcel_id):
        based = f"（依据研判批次 {d['run_id']}，当时建议 {d['seen_route']}）" if d["run_id"] else ""
        click.echo(f"审定 {d['decided_at']} {d['decided_by']}：{d['route']}{based}")
        for alt in d["seen_alternatives"]:
            click.echo(f"    当时备选：{alt}")
        for reason in d["seen_reasons"]:
            click.echo(f"    依据：{reason}")
