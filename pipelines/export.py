"""``landrenew export``: GeoJSON / GeoPackage / Excel ledger for upper-level departments."""

from __future__ import annotations

import click

from gis.export import DEFAULT_EXPORT_LAYERS, SYNTHETIC_NOTE, export_geojson, export_gpkg
from gis.ledger import write_ledger

from .options import get_store, parse_as_of, store_option


@click.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["geojson", "gpkg", "xlsx"]),
    default="geojson",
    show_default=True,
    help="geojson (RFC 7946) / gpkg (QGIS styles) / xlsx (台账).",
)
@click.option(
    "--layer",
    "layers",
    multiple=True,
    metavar="NAME",
    help=f"图层（可重复；默认 {', '.join(DEFAULT_EXPORT_LAYERS)}）。xlsx 总是输出完整台账。",
)
@click.option("--town", default=None, metavar="CODE", help="只导出该镇街（镇街代码）；默认全区。")
@click.option(
    "--labels",
    type=click.Choice(["en", "zh"]),
    default="en",
    show_default=True,
    help="GeoJSON 字段名与枚举值：en 英文代码，zh 中文标签。",
)
@click.option(
    "--with-ledger",
    is_flag=True,
    help="GeoJSON 的研判图层同时带台账信息（受让人、电子监管号、用途、面积及亩数、日期、出让价款、企业名称）。",
)
@click.option(
    "--with-cases",
    is_flag=True,
    help="GeoJSON 的研判图层同时带处置案件字段（案件编号、处置阶段、下一步、期限日、剩余天数、预警）。",
)
@click.option(
    "--as-of",
    "as_of",
    default=None,
    metavar="YYYY-MM-DD",
    help="处置阶段、期限与预警的基准日（--with-cases 与 xlsx 的处置台账/处置进度表）；默认今天。",
)
@click.option("--out", "out", required=True, type=click.Path(), help="输出文件夹或文件（.geojson/.gpkg/.xlsx）。")
@store_option
def command(
    fmt: str,
    layers: tuple[str, ...],
    town: str | None,
    labels: str,
    with_ledger: bool,
    with_cases: bool,
    as_of: str | None,
    out: str,
    store_url: str | None,
) -> None:
    """导出 GeoJSON / GeoPackage / Excel 台账，供上级部门使用。"""
    store = get_store(store_url)
    day = parse_as_of(as_of)
    if fmt == "geojson":
        paths = export_geojson(
            store,
            out,
            layers=layers or None,
            town=town,
            labels=labels,
            with_ledger=with_ledger,
            with_cases=with_cases,
            as_of=day,
        )
    elif fmt == "gpkg":
        paths = [export_gpkg(store, out, layers=layers or None, town=town)]
    else:
        paths = [write_ledger(store, out, town=town, disposal_as_of=day)]
    for p in paths:
        click.echo(f"已导出：{p}")
        if fmt != "xlsx":
            click.echo(f"  元数据：{p.with_name(p.stem + '.meta.json')}")
    if str(store.meta().get("synthetic", "")).lower() == "true":
        click.secho(f"注意：{SYNTHETIC_NOTE}", fg="yellow")
