"""``landrenew report``: the annual progress report as one self-contained HTML file."""

from __future__ import annotations

import datetime as dt

import click

from gis.report import build_report

from .options import get_store, store_option


@click.command("report")
@click.option("--year", type=int, default=None, help="报告年度（默认今年）。")
@click.option("--out", "out", required=True, type=click.Path(), help="输出 HTML 文件。")
@store_option
def command(year: int | None, out: str, store_url: str | None) -> None:
    """生成年度进展报告（单个 HTML 文件，可离线打开、可打印）。"""
    year = year or dt.date.today().year
    if not 2000 <= year <= 2100:
        raise click.BadParameter(f"“{year}” 不是有效年份", param_hint="--year")
    path = build_report(get_store(store_url), out, year=year)
    click.echo(f"已生成 {year} 年度报告：{path}")
