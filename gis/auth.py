"""Roles, permissions and signing in to the map app.

Users live in the store (:mod:`gis.accounts`, tables ``users`` and ``login_events``), so every app server
and every ``landrenew users`` run on one store sees the same users.  The first admin is created on the
command line: ``landrenew users add NAME --role admin``.

Roles, each including the one before:

* ``viewer`` — read and export;
* ``planner`` — also record decisions;
* ``approver`` — also approve or return disposal plans (分管领导; never one's own, :mod:`gis.cases`);
* ``admin`` — planner's rights, and manage users and run the pipelines from the app (not approve).

Signing in (:func:`authenticate`) always does exactly one Argon2 verification — against the user's hash, or
against a dummy hash when the name is unknown or locked — so the response time does not tell which names
exist; every attempt is recorded in ``login_events``; names and client addresses are locked after repeated
failures (:mod:`gis.login_guard`, limits in ``layers/rules/security.yaml``).  The role and the disabled flag
are read from the store again on every page action (:func:`session_user`), so a change applies at once.

>>> can("viewer", "decide"), can("planner", "decide"), can("admin", "run_pipelines")
(False, True, True)
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from .accounts import ROLE_LABELS, ROLES, hash_password, needs_rehash, verify_password
from .errors import PermissionDenied
from .login_guard import Lock, lock_for, session_expired
from .settings import security_settings
from .store import accounts as rows

__all__ = [
    "ROLES",
    "ROLE_LABELS",
    "PERMISSIONS",
    "User",
    "LoginLocked",
    "authenticate",
    "session_user",
    "record_event",
    "can",
    "require",
    "session_expired",
    "BAD_LOGIN",
]

_ACTION_LABELS = {
    "read": "查看",
    "export": "导出",
    "decide": "审定",
    "manage_users": "管理用户",
    "run_pipelines": "运行数据流程",
    "approve": "审批处置方案",
}
PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read", "export"}),
    "planner": frozenset({"read", "export", "decide"}),
    "approver": frozenset({"read", "export", "decide", "approve"}),
    "admin": frozenset({"read", "export", "decide", "manage_users", "run_pipelines"}),
}
BAD_LOGIN = "用户名或密码错误"
#: verified instead of a real hash when the name is unknown (same parameters, so the same work)
_DUMMY_HASH = hash_password(secrets.token_urlsafe(24))


@dataclass(frozen=True)
class User:
    """A signed-in user: name and role (never the hash)."""

    name: str
    role: str

    def can(self, action: str) -> bool:
        return can(self.role, action)


class LoginLocked(PermissionDenied):
    """Too many failed sign-ins for this name or from this address."""


def can(role: str, action: str) -> bool:
    """Whether a role may do an action (read, export, decide, manage_users, run_pipelines)."""
    if action not in _ACTION_LABELS:
        raise ValueError(f"unknown action {action!r}; one of {sorted(_ACTION_LABELS)}")
    return action in PERMISSIONS.get(role, frozenset())


def require(user: User | None, action: str) -> None:
    """Raise :class:`~gis.errors.PermissionDenied` unless ``user`` may do ``action``."""
    role = user.role if user is not None else None
    if role is None or not can(role, action):
        who = f"用户 {user.name}（{ROLE_LABELS.get(role, role)}）" if user is not None else "未登录用户"
        needed = [ROLE_LABELS[r] for r in ROLES if can(r, action)]
        raise PermissionDenied(
            f"{who}无权{_ACTION_LABELS[action]}",
            detail=f"role {role!r} may not {action}",
            fix=f"请由{'或'.join(needed)}角色的用户操作，或请管理员调整角色",
        )


def record_event(store, user_name: str, client: str, outcome: str, *, now: dt.datetime | None = None) -> None:
    """Append one entry to the login audit."""
    rows.append_login_event(store, user_name=user_name, client=client, outcome=outcome, at=now)


def authenticate(
    store, name: str, password: str, *, client: str = "unknown", now: dt.datetime | None = None, settings=None
) -> User:
    """The user when the name is not locked, the password matches and the account is enabled.

    Raises
    ------
    LoginLocked
        Too many failures for the name or the address (same message for every name).
    PermissionDenied
        Unknown user or wrong password (one message for both), or a disabled account.
    """
    s = settings or security_settings()
    now = now or dt.datetime.now(dt.UTC)
    name = (name or "").strip()[:200]
    client = (client or "unknown")[:200]
    lock: Lock | None = lock_for(store, name, client, now=now, settings=s)
    row = rows.get_user(store, name) if name and lock is None else None
    ok = verify_password(row["password_hash"] if row else _DUMMY_HASH, password or "")  # always one verify
    if lock is not None:
        record_event(store, name, client, "locked", now=now)
        who = "该用户名" if lock.scope == "user" else "本机地址"
        raise LoginLocked(
            f"{who}登录失败次数过多，已暂时锁定，请 {lock.minutes_left(now)} 分钟后再试",
            detail=f"{lock.scope} locked until {lock.until:%Y-%m-%dT%H:%M:%SZ}",
            fix="忘记密码请联系管理员重设（landrenew users reset）",
        )
    if row is None or not ok:
        record_event(store, name, client, "failure", now=now)
        raise PermissionDenied(
            BAD_LOGIN,
            detail="authentication failed",
            fix="检查用户名和密码；忘记密码请管理员用 landrenew users reset 重设",
        )
    if row["disabled"]:
        record_event(store, name, client, "disabled", now=now)
        raise PermissionDenied("该账号已停用", detail=f"user {name!r} is disabled", fix="请联系管理员启用")
    record_event(store, name, client, "success", now=now)
    if needs_rehash(row["password_hash"]):  # parameters raised since the hash was made
        rows.replace_user(store, name, lambda old: old and {**old, "password_hash": hash_password(password)})
    return User(name, row["role"])


def session_user(store, name: str | None) -> User | None:
    """The signed-in user as the store has it now: None when deleted or disabled (read on every rerun)."""
    if not name:
        return None
    row = rows.get_user(store, name)
    if row is None or row["disabled"] or row["role"] not in ROLES:
        return None
    return User(name, row["role"])
