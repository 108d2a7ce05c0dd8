"""``landrenew diff RUN_A RUN_B``: parcels whose scope, idle type, route, sub-route or fee changed."""

from __future__ import annotations

import click
import pandas as pd

from gis.cells import safe_frame
from gis.runs import DIFF_FIELDS, diff_runs
from gis.schema import get_layer

from .options import get_store, store_option


def _reasons(value) -> str:
    if not isinstance(value, list):
        return ""
    return "；".join(str(r.get("text", r)) if isinstance(r, dict) else str(r) for r in value)


@click.command("diff")
@store_option
@click.argument("run_a")
@click.argument("run_b")
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False), help="同时写出 Excel 对比表")
def command(store_url, run_a, run_b, xlsx_path) -> None:
    """两次研判的差异：存量范围、闲置类型、处置路径、具体方式、闲置费，并列出两次的依据。"""
    store = get_store(store_url)
    diff = diff_runs(store, run_a, run_b)
    layer = get_layer("idle_assessment")
    click.echo(f"{run_a} -> {run_b}：{len(diff)} 宗地有变化")
    for r in diff.to_dict("records"):
        parts = []
        for f in r["changed"]:
            if f in DIFF_FIELDS:
                field = layer.field(f)
                a, b = r[f"{f}_a"], r[f"{f}_b"]
                parts.append(f"{field.label}：{_label(field, a)} -> {_label(field, b)}")
            else:
                parts.append("仅在 A" if f == "only_in_a" else "仅在 B")
        click.echo(f"  {r['parcel_id']}：" + "；".join(parts))
        click.echo(f"    A 依据：{_reasons(r['reasons_a'])}")
        click.echo(f"    B 依据：{_reasons(r['reasons_b'])}")
    if xlsx_path:
        out = diff.assign(
            changed=diff["changed"].map(lambda c: "、".join(c)),
            reasons_a=diff["reasons_a"].map(_reasons),
            reasons_b=diff["reasons_b"].map(_reasons),
        )
        safe_frame(out).to_excel(xlsx_path, index=False, sheet_name="研判对比")  # formula-looking text as text
        click.echo(f"已写出 {xlsx_path}")


def _label(field, value) -> str:
    if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)):
        return "（空）"
    if field.type == "bool":
        return "是" if value else "否"
    return field.label_of(value) if isinstance(value, str) else str(value)
