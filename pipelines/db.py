"""``landrenew db``: schema migrations and the application role of the PostGIS store.

Run as the database owner (the URL of the owner account)::

    landrenew db upgrade --store postgresql://landrenew_owner:…@db/landrenew
    landrenew db grant-app-role --store postgresql://landrenew_owner:…@db/landrenew --role landrenew_app --password …
    landrenew db current
    landrenew db downgrade --revision base --yes      # drops every landrenew table

The app, notebooks and pipelines then use ``DATABASE_URL=postgresql://landrenew_app:…@db/landrenew``.
"""

from __future__ import annotations

import click

from gis.errors import StoreError
from gis.store import default_store_url

from .options import store_option

__all__ = ["command"]


def _url(store_url: str | None) -> str:
    url = store_url or default_store_url()
    if not url.startswith(("postgresql://", "postgresql+", "postgres://")):
        raise StoreError(
            f"db 命令只用于 PostgreSQL/PostGIS 存储，当前存储为：{url}",
            detail=f"not a postgresql:// URL: {url}",
            fix="加 --store postgresql://所有者:密码@主机/数据库，或设置 DATABASE_URL",
        )
    return url


@click.group("db")
def command() -> None:
    """PostGIS 数据库：表结构迁移与应用账号授权（用数据库所有者账号运行）。"""


@command.command("upgrade")
@store_option
@click.option("--revision", default="head", show_default=True, help="目标版本")
def upgrade_cmd(store_url: str | None, revision: str) -> None:
    """建立或升级表结构（Alembic 迁移）。"""
    from gis.store.postgis import upgrade

    click.echo(f"表结构版本：{upgrade(_url(store_url), revision)}")


@command.command("downgrade")
@store_option
@click.option("--revision", default="base", show_default=True, help="目标版本（base = 删除全部平台表）")
@click.option("--yes", is_flag=True, help="确认：降级会删除表及其中数据（含审定记录）")
def downgrade_cmd(store_url: str | None, revision: str, yes: bool) -> None:
    """降级表结构（降到 base 会删除全部平台表及数据）。"""
    from gis.store.postgis import downgrade

    url = _url(store_url)
    if not yes:
        raise click.UsageError("降级会删除数据表及其中数据（含审定记录）；确认请加 --yes")
    click.echo(f"表结构版本：{downgrade(url, revision) or '无（已清空）'}")


@command.command("current")
@store_option
def current_cmd(store_url: str | None) -> None:
    """显示数据库表结构版本与程序版本。"""
    from gis.store import migrations
    from gis.store.postgis import schema_revision

    click.echo(f"数据库：{schema_revision(_url(store_url)) or '无'}；程序：{migrations.head_revision()}")


@command.command("grant-app-role")
@store_option
@click.option("--role", required=True, help="应用连接数据库所用的账号，例如 landrenew_app")
@click.option(
    "--password",
    default=None,
    envvar="LANDRENEW_APP_PASSWORD",
    help="给出则创建账号或重设密码（也可用环境变量 LANDRENEW_APP_PASSWORD）",
)
def grant_cmd(store_url: str | None, role: str, password: str | None) -> None:
    """授予应用账号最小权限：可读、可写图层、只能追加审定记录；不能修改/删除审定记录，不能改表结构。"""
    from gis.store.postgis import grant_app_role

    grant_app_role(_url(store_url), role, password=password)
    click.echo(f"已授权账号 {role}：读取全部图层；写入图层与元数据；审定记录只能追加（每次 db upgrade 后请重新运行）")
