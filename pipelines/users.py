"""``landrenew users``: the app's users, kept in the store (tables ``users`` and ``login_events``).

landrenew users add NAME --role admin [--password-stdin] [--replace]
landrenew users list | disable NAME | enable NAME | reset NAME | role NAME ROLE | delete NAME --yes
landrenew users import var/users.yaml [--replace]      # users of an old users.yaml (hashes kept)
landrenew users events [--limit 50]                    # the login audit
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gis import accounts
from gis.accounts import ROLE_LABELS, ROLES
from gis.errors import LandRenewError
from gis.redact import mask_url
from gis.store import accounts as rows

from .options import get_store, store_option

_OUTCOME_LABELS = {
    "success": "登录成功",
    "failure": "失败",
    "locked": "已锁定",
    "disabled": "账号停用",
    "sso": "统一身份认证",
    "sso_denied": "统一认证无权限",
    "password_changed": "修改密码",
    "logout": "退出",
    "expired": "超时退出",
}


def _password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("密码", hide_input=True, confirmation_prompt="再次输入密码")


@click.group("users")
def command() -> None:
    """管理地图应用的用户（保存在存储中：GeoPackage 或 PostGIS 的 users 表）。"""


@command.command("add")
@click.argument("name")
@click.option(
    "--role", type=click.Choice(ROLES), required=True, help="viewer（浏览）、planner（规划审定）或 admin（管理员）。"
)
@click.option("--password-stdin", is_flag=True, help="从标准输入读取密码（脚本用），否则交互输入两次。")
@click.option("--replace", is_flag=True, help="用户已存在时重设其密码和角色（并启用）。")
@store_option
def add(name: str, role: str, password_stdin: bool, replace: bool, store_url: str | None) -> None:
    """添加用户 NAME（首个管理员：landrenew users add NAME --role admin）。"""
    password = _password(password_stdin)
    store = get_store(store_url)
    user = accounts.add_user(store, name, password, role=role, replace=replace)
    click.echo(f"已添加用户 {user.name}（{ROLE_LABELS[user.role]}），存储：{mask_url(store.url)}")


@command.command("list")
@store_option
def list_(store_url: str | None) -> None:
    """列出用户、角色与状态。"""
    store = get_store(store_url)
    users = accounts.list_users(store)
    if not users:
        click.echo(f"尚无用户（{mask_url(store.url)}）。先运行：landrenew users add NAME --role admin")
    for u in users:
        click.echo(f"{u.name}\t{u.role}\t{ROLE_LABELS.get(u.role, u.role)}\t{'停用' if u.disabled else '启用'}")


@command.command("disable")
@click.argument("name")
@store_option
def disable(name: str, store_url: str | None) -> None:
    """停用用户（其已登录的会话在下一次操作时退出）。"""
    accounts.set_disabled(get_store(store_url), name, True)
    click.echo(f"已停用用户 {name}")


@command.command("enable")
@click.argument("name")
@store_option
def enable(name: str, store_url: str | None) -> None:
    """启用被停用的用户。"""
    accounts.set_disabled(get_store(store_url), name, False)
    click.echo(f"已启用用户 {name}")


@command.command("reset")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取新密码，否则交互输入两次。")
@store_option
def reset(name: str, password_stdin: bool, store_url: str | None) -> None:
    """为用户设置新密码（忘记密码时由管理员执行）。"""
    store = get_store(store_url)
    if accounts.get_user(store, name) is None:  # before asking for a password
        raise LandRenewError(f"用户 {name} 不存在", detail=f"no user {name!r}", fix="landrenew users list 查看现有用户")
    accounts.reset_password(store, name, _password(password_stdin))
    click.echo(f"已重设用户 {name} 的密码")


@command.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@store_option
def role(name: str, role: str, store_url: str | None) -> None:
    """修改用户角色（其已登录的会话在下一次操作时生效）。"""
    accounts.set_role(get_store(store_url), name, role)
    click.echo(f"用户 {name} 的角色改为 {ROLE_LABELS[role]}")


@command.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="确认删除（登录审计记录保留）")
@store_option
def delete(name: str, yes: bool, store_url: str | None) -> None:
    """删除用户（登录审计记录保留）。"""
    if not yes:
        raise click.UsageError(f"删除用户 {name} 请加 --yes 确认")
    accounts.delete_user(get_store(store_url), name)
    click.echo(f"已删除用户 {name}")


@command.command("import")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--replace", is_flag=True, help="同名用户已存在时用文件中的角色和口令散列替换。")
@store_option
def import_(path: str | None, replace: bool, store_url: str | None) -> None:
    """导入旧版 users.yaml 中的用户（口令散列原样导入，密码不变）；默认读取存储目录下的 users.yaml。"""
    store = get_store(store_url)
    path = Path(path) if path else Path(store.files_dir) / accounts.LEGACY_USERS_FILE
    report = accounts.import_users_yaml(store, path, replace=replace)
    click.echo(
        f"{path}：共 {report.total} 个用户，导入 {len(report.imported)}，"
        f"已存在未改 {len(report.kept)}，拒收 {len(report.refused)}"
    )
    for name in report.kept:
        click.echo(f"  已存在（未改动，加 --replace 替换）：{name}")
    for name, why in report.refused:
        click.echo(f"  拒收：{name}：{why}")
    if report.refused:
        sys.exit(1)


@command.command("events")
@click.option("--limit", default=50, show_default=True, help="显示最近多少条")
@click.option("--user", "user_name", default=None, help="只看某个用户名")
@store_option
def events(limit: int, user_name: str | None, store_url: str | None) -> None:
    """登录审计：时间（UTC）、用户名、客户端地址、结果，最新在前。"""
    for e in rows.login_events(get_store(store_url), user_name=user_name, limit=limit):
        click.echo(
            f"{e['at']:%Y-%m-%d %H:%M:%S}\t{e['user_name']}\t{e['client']}\t"
            f"{_OUTCOME_LABELS.get(e['outcome'], e['outcome'])}"
        )
