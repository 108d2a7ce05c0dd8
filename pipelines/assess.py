"""``landrenew assess``: the idle-land assessment, on the store or on files."""
from __future__ import annotations

from pathlib import Path

import click

from gis.assess import assess_idle_land
from gis.idle import load_idle_rules
from gis.ingest import read_layer_file
from gis.output import write_layer_file
from gis.workflow import assess_store

from .options import INPUT_FILE, as_of_option, get_store, parse_as_of, store_option
from .progress import progress_bar


@click.command("assess")
@store_option
@as_of_option
@click.option("--rules", "rules_path", type=INPUT_FILE, help="规则文件（默认 layers/rules/idle.yaml）")
@click.option("--parcels", type=INPUT_FILE, help="文件模式：宗地（任意可导入格式）")
@click.option("--parcel-geometry", type=INPUT_FILE, help="文件模式：台账对应的图形文件")
@click.option("--enterprises", type=INPUT_FILE)
@click.option("--projects", type=INPUT_FILE)
@click.option("--villages", type=INPUT_FILE)
@click.option("--progress", type=INPUT_FILE)
@click.option("--towns", type=INPUT_FILE)
@click.option("--rasters", multiple=True, type=INPUT_FILE)
@click.option("--crs", default=None, help="无坐标系文件的坐标系")
@click.option("--out", type=click.Path(dir_okay=False), help="文件模式输出（.gpkg / .geojson / .csv）")
def command(store_url, as_of, rules_path, parcels, parcel_geometry, enterprises, projects, villages, progress,
            towns, rasters, crs, out) -> None:
    """闲置土地研判：存量范围、闲置认定、处置路径与依据、遥感证据。"""
    day = parse_as_of(as_of)
    rules = load_idle_rules(rules_path)
    if parcels is None:
        if out:
            raise click.UsageError("--out 只用于文件模式（同时给出 --parcels 和 --enterprises）")
        store = get_store(store_url)
        with progress_bar("闲置土地研判") as on_progress:
            result = assess_store(store, as_of=day, rules=rules, on_progress=on_progress)
        _summary(result)
        click.echo(f"已写入 {store.url} 的 idle_assessment 图层")
        return
    if not enterprises or not out:
        raise click.UsageError("文件模式需要 --parcels、--enterprises 和 --out")
    frames = {}
    for name, path, extra in (("parcels", parcels, {"geometry": parcel_geometry}),
                              ("enterprises", enterprises, {}), ("projects", projects, {}),
                              ("villages", villages, {}), ("village_progress", progress, {}), ("towns", towns, {})):
        if path:
            frame, report = read_layer_file(name, path, crs=crs, **{k: v for k, v in extra.items() if v})
            click.echo(report.summary())
            frames[name] = frame
    with progress_bar("闲置土地研判") as on_progress:
        result = assess_idle_land(
            frames["parcels"], enterprises=frames["enterprises"], projects=frames.get("projects"),
            villages=frames.get("villages"), progress=frames.get("village_progress"), towns=frames.get("towns"),
            rasters=list(rasters), as_of=day, rules=rules, on_progress=on_progress)
    path = write_layer_file(result, "idle_assessment", Path(out))
    _summary(result)
    click.echo(f"已写出 {path}")


def _summary(result) -> None:
    from gis.schema import get_layer

    route = get_layer("idle_assessment").field("route")
    counts = result["route"].value_counts()
    click.echo("处置路径：" + "，".join(f"{route.label_of(k)} {v}" for k, v in counts.items()))
