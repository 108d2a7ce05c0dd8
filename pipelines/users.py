"""``landrenew users``: the app's users (stored with Argon2id hashes in ``users.yaml`` beside the store)."""
from __future__ import annotations

import sys

import click

from gis.auth import ROLE_LABELS, ROLES, add_user, list_users, users_path

from .options import get_store, store_option


@click.group("users")
def command() -> None:
    """管理地图应用的用户（用户文件：存储目录下的 users.yaml）。"""


@command.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="viewer（浏览）、planner（规划审定）或 admin（管理员）。")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取密码（脚本用），否则交互输入两次。")
@click.option("--replace", is_flag=True, help="用户已存在时重设其密码和角色。")
@store_option
def add(name: str, role: str, password_stdin: bool, replace: bool, store_url: str | None) -> None:
    """添加用户 NAME（首个管理员：landrenew users add NAME --role admin）。"""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("密码", hide_input=True, confirmation_prompt="再次输入密码")
    path = users_path(get_store(store_url))
    user = add_user(path, name, password, role=role, replace=replace)
    click.echo(f"已添加用户 {user.name}（{ROLE_LABELS[user.role]}），用户文件：{path}")


@command.command("list")
@store_option
def list_(store_url: str | None) -> None:
    """列出用户及角色。"""
    path = users_path(get_store(store_url))
    users = list_users(path)
    if not users:
        click.echo(f"尚无用户（{path}）。先运行：landrenew users add NAME --role admin")
    for u in users:
        click.echo(f"{u.name}\t{u.role}\t{ROLE_LABELS.get(u.role, u.role)}")
