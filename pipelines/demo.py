"""``landrenew demo``: build the synthetic Keqiao demo store (files -> ingest -> assess -> renewal)."""

from __future__ import annotations

import shutil

import click

from gis.workflow import DEMO_AS_OF, build_demo_store

from .options import get_store, parse_as_of, store_option
from .progress import progress_bar


@click.command("demo")
@store_option
@click.option(
    "--parcels",
    "n_parcels",
    type=click.IntRange(500, 100_000_000),
    default=5000,
    show_default=True,
    help="宗地数量（演示库最多 10^6；--format parquet 可到 10^7 以上）",
)
@click.option("--seed", type=int, default=20240926, show_default=True)
@click.option("--as-of", "as_of", default=DEMO_AS_OF.isoformat(), show_default=True, help="研判基准日")
@click.option("--force", is_flag=True, help="覆盖已有的存储")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["store", "parquet"]),
    default="store",
    show_default=True,
    help="store：演示库；parquet：分区 GeoParquet 输入（按镇街平铺的大范围模拟数据，逐块写出）",
)
@click.option("--out", type=click.Path(file_okay=False), default=None, help="--format parquet 的输出目录")
@click.option("--no-rasters", is_flag=True, help="--format parquet：不生成遥感影像")
def command(store_url, n_parcels, seed, as_of, force, fmt, out, no_rasters) -> None:
    """生成柯桥区模拟演示数据（synthetic），并导入、研判、跟踪。"""
    if fmt == "parquet":
        return _parquet(n_parcels, seed, parse_as_of(as_of), out, force, not no_rasters)
    if n_parcels > 1_000_000:
        raise click.UsageError("演示库最多 10^6 宗；更大规模请用 --format parquet --out 目录")
    store = get_store(store_url)
    if store.layer_counts().get("parcels"):
        if not force:
            raise click.UsageError(f"存储 {store.url} 已有数据；如需重建演示库请加 --force")
        if hasattr(store, "path"):
            store.path.unlink()
            shutil.rmtree(store.files_dir / "demo_sources", ignore_errors=True)
            shutil.rmtree(store.rasters_dir, ignore_errors=True)
        else:
            raise click.UsageError("--force 只用于 GeoPackage 演示库；数据库请由管理员清理")
    with progress_bar("演示数据") as on_progress:
        store, reports = build_demo_store(
            store.url, n_parcels=n_parcels, seed=seed, as_of=parse_as_of(as_of), on_progress=on_progress
        )
    for report in reports:
        click.echo(report.summary())
    from gis.demo_cases import build_demo_cases

    cases = build_demo_cases(store, parse_as_of(as_of))
    click.echo(f"模拟处置案件：{len(cases)} 件（各阶段均有，部分已超期）")
    click.echo(f"演示库（模拟数据）已生成：{store.url}")
    for name, count in store.layer_counts().items():
        click.echo(f"  {name:<20}{count:>8}")


def _parquet(n_parcels: int, seed: int, as_of, out: str | None, force: bool, rasters: bool) -> None:
    from pathlib import Path

    from gis.scale_demo import write_scale_demo

    if not out:
        raise click.UsageError("--format parquet 需要 --out 目录")
    folder = Path(out)
    if (folder / "parcels").exists() and not force:
        raise click.UsageError(f"{folder} 已有分区数据；如需重建请加 --force")
    with progress_bar("模拟数据（分区 GeoParquet）") as on_progress:
        paths = write_scale_demo(
            folder, n_parcels=n_parcels, seed=seed, as_of=as_of, rasters=rasters, on_progress=on_progress
        )
    click.echo(f"模拟数据（synthetic）已写出：{folder}")
    for name, path in paths.items():
        click.echo(f"  {name:<20}{path}")
    click.echo(
        "研判：landrenew assess --engine dask --parcels {0}/parcels --enterprises {0}/enterprises.parquet "
        "--projects {0}/projects.parquet --villages {0}/villages.parquet "
        "--progress {0}/village_progress.parquet "
        "--towns {0}/towns.parquet{1} --as-of {2} --out {0}/assessed".format(
            folder, f" --rasters {folder}/rasters" if rasters else "", as_of.isoformat()
        )
    )
