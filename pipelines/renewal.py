"""``landrenew renewal``: urban-village renewal status toward the deadline, and resettlement sites."""

from __future__ import annotations

from pathlib import Path

import click

from gis.ingest import read_layer_file
from gis.output import write_layer_file
from gis.renewal import load_renewal_rules, village_status
from gis.resettlement import resettlement_sites
from gis.workflow import renewal_store

from .options import INPUT_FILE, as_of_option, get_store, parse_as_of, store_option


@click.command("renewal")
@store_option
@as_of_option
@click.option("--rules", "rules_path", type=INPUT_FILE, help="规则文件（默认 layers/rules/renewal.yaml）")
@click.option("--villages", type=INPUT_FILE, help="文件模式：城中村图层")
@click.option("--progress", type=INPUT_FILE, help="文件模式：进度填报表")
@click.option("--assessment", type=INPUT_FILE, help="文件模式：闲置土地研判结果（用于安置房选址）")
@click.option("--out", type=click.Path(dir_okay=False), help="文件模式输出（.gpkg / .geojson / .csv）")
def command(store_url, as_of, rules_path, villages, progress, assessment, out) -> None:
    """城中村改造进展：完成比例、预测完成日期、所需进度、状态；安置房选址建议。"""
    day = parse_as_of(as_of)
    rules = load_renewal_rules(rules_path)
    if villages is None:
        store = get_store(store_url)
        status, sites = renewal_store(store, as_of=day, rules=rules)
        _summary(status, sites)
        _district(status, store.read_layer("towns"), rules["deadline.default"])
        click.echo(f"已写入 {store.url} 的 village_status 与 resettlement_sites")
        return
    if not progress or not out:
        raise click.UsageError("文件模式需要 --villages、--progress 和 --out")
    v, rv = read_layer_file("villages", villages)
    p, rp = read_layer_file("village_progress", progress, known_refs={"village_id": set(v["village_id"])})
    click.echo(rv.summary())
    click.echo(rp.summary())
    status = village_status(v, p, as_of=day, rules=rules)
    path = write_layer_file(status, "village_status", Path(out))
    if assessment:
        import geopandas as gpd

        sites = resettlement_sites(status, gpd.read_file(assessment), rules=rules)
        write_layer_file(sites, "resettlement_sites", Path(out).with_name(Path(out).stem + "_sites.csv"))
    else:
        sites = status.iloc[:0]
    _summary(status, sites)
    click.echo(f"已写出 {path}")


def _district(status, towns, deadline) -> None:
    from gis.renewal import district_summary

    summary = district_summary(status, towns=towns)
    whole = summary["by_town"].iloc[-1]
    click.echo(
        f"全区：{int(whole['villages'])} 个城中村，{int(whole['households'])} 户，"
        f"按户数计完成 {whole['goal_share']:.1%}，距 {deadline.year} 年底期限 {whole['months_left']:.1f} 个月"
    )
    decisive = summary["decisive"].head(5)
    if len(decisive):
        click.echo("决定全区能否按期完成的村（滞后、未启动且户数最多）：")
        for reason, name in zip(decisive["reason"], decisive["name"]):
            click.echo(f"  {name}：{reason}")


def _summary(status, sites) -> None:
    from gis.schema import get_layer

    f = get_layer("village_status").field("status")
    counts = status["status"].value_counts()
    click.echo("城中村：" + "，".join(f"{f.label_of(k)} {v}" for k, v in counts.items()))
    click.echo(f"安置房选址建议：{len(sites)} 条")
