"""``landrenew changes --since DATE|BATCH [--town CODE] [--xlsx FILE]``: added / changed / retired rows."""

from __future__ import annotations

import click
import pandas as pd

from gis.cells import safe_frame
from gis.history import changes_since
from gis.schema import get_layer

from .options import get_store, store_option

_CHANGE = {"added": "新增", "changed": "变更", "retired": "退出"}


@click.command("changes")
@store_option
@click.option("--since", required=True, metavar="YYYY-MM-DD|批次", help="自某日（入库时间）或某导入批次之后")
@click.option("--town", default=None, help="只看一个镇街（镇街代码）")
@click.option("--layer", default="parcels", show_default=True, help="台账图层")
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False), help="同时写出 Excel 变化清单")
def command(store_url, since, town, layer, xlsx_path) -> None:
    """变化清单：新增、变更（字段：旧值 -> 新值；图形附面积差）、退出台账。"""
    store = get_store(store_url)
    lay = get_layer(layer)
    report = changes_since(store, since, layer=layer, town=town)
    keys = report.drop_duplicates("key")
    counts = keys["change"].value_counts()
    click.echo(f"{lay.label}自 {since} 以来：" + "，".join(f"{_CHANGE[k]} {counts.get(k, 0)}" for k in _CHANGE))
    for key, group in report.groupby("key", sort=True):
        kind = group["change"].iloc[0]
        if kind != "changed":
            click.echo(f"  {_CHANGE[kind]} {key}")
            continue
        parts = []
        for r in group.itertuples():
            if r.field == "geometry":
                parts.append(f"图形 面积 {r.old} -> {r.new}（{r.area_delta_m2:+.1f} 平方米）")
            else:
                parts.append(f"{lay.field(r.field).label}：{_text(r.old)} -> {_text(r.new)}")
        click.echo(f"  变更 {key}：" + "；".join(parts))
    if xlsx_path:
        out = report.assign(
            change=report["change"].map(_CHANGE),
            field=report["field"].map(
                lambda f: None if f is None else ("图形（面积，平方米）" if f == "geometry" else lay.field(f).label)
            ),
            old=report["old"].map(_text_or_none),
            new=report["new"].map(_text_or_none),
        )
        out.columns = [lay.field(lay.key_fields[0]).label, "变化", "字段", "旧值", "新值", "面积差(平方米)"]
        safe_frame(out).to_excel(xlsx_path, index=False, sheet_name="变化清单")  # formula-looking text as text
        click.echo(f"已写出 {xlsx_path}")


def _text(v) -> str:
    t = _text_or_none(v)
    return "（空）" if t is None else t


def _text_or_none(v):
    if v is None or (not isinstance(v, (list, dict)) and pd.isna(v)):
        return None
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d")
    return str(v)
