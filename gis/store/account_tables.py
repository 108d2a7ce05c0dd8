"""The PostGIS tables of the accounts: ``users`` and ``login_events`` (see :mod:`gis.store.accounts`).

Kept apart from the layer tables: they are not contract layers (no registry entry, never exported).

* ``users(name PK, role, password_hash, disabled, created_at, updated_at)`` — Argon2id hashes only.
* ``login_events(id, at, user_name, client, outcome)`` — the audit of sign-in attempts; the application
  role may INSERT and SELECT it, not change or delete it.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["USERS_TABLE", "EVENTS_TABLE", "ROLE_VALUES", "OUTCOMES", "add_account_tables"]

USERS_TABLE = "users"
EVENTS_TABLE = "login_events"
#: the roles, each including the one before (admin does not approve plans); the one list of them
ROLE_VALUES = ("viewer", "planner", "approver", "admin")
#: success / failure (wrong name or password) / locked (refused unchecked) / disabled (right password,
#: account disabled) / sso (single sign-on) / sso_denied (no role claim) / password_changed / logout / expired
OUTCOMES = ("success", "failure", "locked", "disabled", "sso", "sso_denied", "password_changed", "logout", "expired")


def _in(col: str, values: tuple[str, ...]) -> str:
    return f'"{col}" IN ({", ".join(repr(v) for v in values)})'


def add_account_tables(md: sa.MetaData) -> None:
    """Add ``users`` and ``login_events`` to ``md``."""
    sa.Table(
        USERS_TABLE,
        md,
        sa.Column("name", sa.Text, primary_key=True, comment="用户名"),
        sa.Column("role", sa.Text, nullable=False, comment="角色"),
        sa.Column("password_hash", sa.Text, nullable=False, comment="Argon2id 口令散列"),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false(), comment="已停用"),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint(_in("role", ROLE_VALUES), name="ck_users_role"),
        sa.CheckConstraint("password_hash LIKE '$argon2%'", name="ck_users_hash"),
        comment="地图应用用户（口令只存 Argon2id 散列）",
    )
    sa.Table(
        EVENTS_TABLE,
        md,
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("at", sa.TIMESTAMP(timezone=True), nullable=False, comment="时间"),
        sa.Column("user_name", sa.Text, nullable=False, comment="用户名（按输入记录）"),
        sa.Column("client", sa.Text, nullable=False, comment="客户端地址"),
        sa.Column("outcome", sa.Text, nullable=False, comment="结果"),
        sa.CheckConstraint(_in("outcome", OUTCOMES), name="ck_login_events_outcome"),
        sa.Index("ix_login_events_user_at", "user_name", "at"),
        sa.Index("ix_login_events_client_at", "client", "at"),
        comment="登录审计",
    )
