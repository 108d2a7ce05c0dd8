"""``landrenew demo``: build the synthetic Keqiao demo store (files -> ingest -> assess -> renewal)."""
from __future__ import annotations

import shutil

import click

from gis.workflow import DEMO_AS_OF, build_demo_store

from .options import get_store, parse_as_of, store_option
from .progress import progress_bar


@click.command("demo")
@store_option
@click.option("--parcels", "n_parcels", type=click.IntRange(500, 1_000_000), default=5000, show_default=True,
              help="宗地数量（基准测试可到 10^6）")
@click.option("--seed", type=int, default=20240926, show_default=True)
@click.option("--as-of", "as_of", default=DEMO_AS_OF.isoformat(), show_default=True, help="研判基准日")
@click.option("--force", is_flag=True, help="覆盖已有的存储")
def command(store_url, n_parcels, seed, as_of, force) -> None:
    """生成柯桥区模拟演示数据（synthetic），并导入、研判、跟踪。"""
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
        store, reports = build_demo_store(store.url, n_parcels=n_parcels, seed=seed, as_of=parse_as_of(as_of),
                                          on_progress=on_progress)
    for report in reports:
        click.echo(report.summary())
    click.echo(f"演示库（模拟数据）已生成：{store.url}")
    for name, count in store.layer_counts().items():
        click.echo(f"  {name:<20}{count:>8}")
