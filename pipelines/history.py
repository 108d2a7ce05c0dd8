"""``landrenew history PARCEL_ID``: every version of a parcel, what changed, and the decisions taken on it."""

from __future__ import annotations

import click
import pandas as pd

from gis.history import parcel_history
from gis.schema import get_layer

from .options import get_store, store_option

_CHANGE = {"added": "新增", "changed": "变更", "retired": "退出台账", "restored": "重新纳入", "correction": "迟到更正"}


def _day(value) -> str:
    return "自始" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


def _value(v) -> str:
    if v is None or (not isinstance(v, (list, dict)) and pd.isna(v)):
        return "（空）"
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d")
    return str(v)


@click.command("history")
@store_option
@click.argument("parcel_id")
@click.option("--layer", default="parcels", show_default=True, help="台账图层（parcels、projects、villages ...）")
def command(store_url, parcel_id, layer) -> None:
    """一宗地的全部历史版本：有效期、入库批次、变化字段（旧值 -> 新值）、审定记录及其依据。"""
    store = get_store(store_url)
    lay = get_layer(layer)
    versions = parcel_history(store, parcel_id, layer=layer)
    if not versions:
        raise click.ClickException(f"{lay.label} {parcel_id} 没有历史记录（检查编号，或先导入台账）")
    click.echo(f"{lay.label} {parcel_id}：{len(versions)} 个版本")
    for i, v in enumerate(versions, 1):
        end = "至今" if v["valid_to"] is None else f"至 {_day(v['valid_to'])}"
        recorded = pd.Timestamp(v["recorded_at"]).tz_convert("Asia/Shanghai").strftime("%Y-%m-%d %H:%M")
        click.echo(
            f"[{i}] {_day(v['valid_from'])} {end}  {_CHANGE.get(v['change'], v['change'])}  "
            f"批次 {v['batch_id']}（{recorded} 入库）"
        )
        if v["retired"]:
            click.echo(f"    退出原因：{v['reason']}")
        for name, old, new in v["diff"]:
            if name == "geometry":
                click.echo(f"    图形：面积 {old} -> {new} 平方米（{new - old:+.1f}）")
            else:
                click.echo(f"    {lay.field(name).label}（{name}）：{_value(old)} -> {_value(new)}")
        for batch, by in v["corrected"]:
            click.echo(f"    （此期间批次 {batch} 的记录已被批次 {by} 更正）")
    if layer == "parcels":
        from gis.decisions import decision_snapshots

        decisions = decision_snapshots(store, parcel_id)
        route = get_layer("idle_assessment").field("route")
        for d in decisions.to_dict("records"):
            at = pd.Timestamp(d["decided_at"]).tz_convert("Asia/Shanghai").strftime("%Y-%m-%d %H:%M")
            click.echo(
                f"审定 {at} {d['decided_by']}：{route.label_of(d['route'])}"
                + (
                    f"（依据研判批次 {d['run_id']}，当时建议 {route.label_of(d['seen_route'])}）"
                    if isinstance(d.get("run_id"), str)
                    else ""
                )
            )
            for reason in d.get("seen_reasons") or []:
                text = reason.get("text") if isinstance(reason, dict) else reason
                click.echo(f"    依据：{text}")
