"""``landrenew runs``: the kept assessment and renewal runs; ``--check RUN`` re-runs one and compares."""

from __future__ import annotations

import click
import pandas as pd

from gis.runs import list_runs, read_run, reproduce_run

from .options import get_store, store_option


@click.command("runs")
@store_option
@click.option("--kind", type=click.Choice(["assess", "renewal"]), default=None, help="只列一类")
@click.option(
    "--check",
    "check_run",
    default=None,
    metavar="RUN_ID",
    help="按该批次的基准日、数据截至时间与规则文件重算，核对结果是否一致",
)
def command(store_url, kind, check_run) -> None:
    """保留的研判批次：基准日、数据截至、规则版本、读取的导入批次、创建人；标出当前批次与假设分析。"""
    store = get_store(store_url)
    if check_run:
        kept = read_run(store, check_run)
        again = reproduce_run(store, check_run)
        same = kept.equals(again)
        click.echo(f"{check_run}：重算 {len(again)} 行，" + ("与保留结果完全一致" if same else "与保留结果不一致"))
        if not same:
            raise SystemExit(1)
        return
    runs = list_runs(store, kind=kind)
    if runs.empty:
        click.echo("尚无保留的研判批次（运行 landrenew assess）")
        return
    for r in runs.to_dict("records"):
        flag = "当前" if r["current"] else ("假设分析" if r["what_if"] else "历史")
        created = pd.Timestamp(r["created_at"]).tz_convert("Asia/Shanghai").strftime("%Y-%m-%d %H:%M")
        known = pd.Timestamp(r["known_at"]).tz_convert("Asia/Shanghai").strftime("%Y-%m-%d %H:%M")
        click.echo(
            f"{r['run_id']}  {r['kind']:<7} [{flag}] 基准日 {pd.Timestamp(r['as_of']):%Y-%m-%d}  "
            f"数据截至 {known}  规则 {r['rules_version']}（{str(r['rules_sha256'])[:12]}）  {r['rows']} 行  "
            f"{r['created_by']} {created}" + (f"  {r['label']}" if isinstance(r["label"], str) else "")
        )
        click.echo(f"    读取导入批次：{'、'.join(r['batches'] or []) or '无'}")
