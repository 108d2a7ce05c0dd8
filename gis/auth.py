"""Users, roles and passwords of the map app.

Users live in ``users.yaml`` beside the store (``store.files_dir / "users.yaml"``), one entry per
user with the role and an Argon2id hash (``argon2-cffi``, the maintained reference binding; never a
home-made hash).  The file is rewritten atomically and readable by its owner only.  The first admin
is created on the command line: ``landrenew users add NAME --role admin``.

Roles, each including the one before:

* ``viewer`` — read and export;
* ``planner`` — also record decisions;
* ``approver`` — also approve or return disposal plans (分管领导; never one's own, :mod:`gis.cases`);
* ``admin`` — planner's rights, and manage users and run the pipelines from the app (not approve).

>>> can("viewer", "decide"), can("planner", "decide"), can("admin", "run_pipelines")
(False, True, True)
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import LandRenewError, PermissionDenied

__all__ = ["ROLES", "ROLE_LABELS", "PERMISSIONS", "User", "users_path", "add_user", "list_users",
           "authenticate", "can", "require"]

ROLES = ("viewer", "planner", "approver", "admin")
ROLE_LABELS = {"viewer": "浏览", "planner": "规划审定", "approver": "审批（分管领导）", "admin": "管理员"}
_ACTION_LABELS = {"read": "查看", "export": "导出", "decide": "审定", "manage_users": "管理用户",
                  "run_pipelines": "运行数据流程", "approve": "审批处置方案"}
PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read", "export"}),
    "planner": frozenset({"read", "export", "decide"}),
    "approver": frozenset({"read", "export", "decide", "approve"}),
    "admin": frozenset({"read", "export", "decide", "manage_users", "run_pipelines"}),
}
USERS_FILE = "users.yaml"
MIN_PASSWORD = 8
_NAME = re.compile(r"^[\w.\-@]{1,64}$")
_HASHER = PasswordHasher()  # Argon2id, the library's recommended parameters


@dataclass(frozen=True)
class User:
    """A signed-in user: name and role (never the hash)."""

    name: str
    role: str

    def can(self, action: str) -> bool:
        return can(self.role, action)


def users_path(store) -> Path:
    """The users file of a store: ``<store.files_dir>/users.yaml``."""
    return Path(store.files_dir) / USERS_FILE


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise LandRenewError(f"未知角色“{role}”", detail=f"role {role!r} not in {ROLES}",
                             fix=f"可选：{'、'.join(f'{r}（{ROLE_LABELS[r]}）' for r in ROLES)}")
    return role


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
        raise PermissionDenied(f"{who}无权{_ACTION_LABELS[action]}",
                               detail=f"role {role!r} may not {action}",
                               fix=f"请由{'或'.join(needed)}角色的用户操作，或请管理员调整角色")


def _read(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    users = raw.get("users") or {}
    if not isinstance(users, dict):
        raise LandRenewError(f"用户文件格式错误：{path}", detail="'users' is not a mapping",
                             fix="删除该文件后用 landrenew users add 重新创建用户")
    return users


def _write(path: Path, users: dict[str, dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".users.", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yaml.safe_dump({"users": users}, fh, allow_unicode=True, sort_keys=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_user(path: str | Path, name: str, password: str, *, role: str, replace: bool = False) -> User:
    """Create (or with ``replace=True`` reset) a user with an Argon2id password hash.

    Raises
    ------
    LandRenewError
        Bad name, unknown role, a password shorter than 8 characters, or an existing user
        without ``replace``.
    """
    path = Path(path)
    _check_role(role)
    if not _NAME.match(name or ""):
        raise LandRenewError(f"用户名“{name}”不合规", detail=f"bad user name {name!r}",
                             fix="用户名为 1-64 个字母、数字、汉字或 . - _ @，不含空格")
    if len(password or "") < MIN_PASSWORD:
        raise LandRenewError(f"密码太短（至少 {MIN_PASSWORD} 位）", detail="password too short",
                             fix=f"请设置不少于 {MIN_PASSWORD} 位的密码")
    users = _read(path)
    if name in users and not replace:
        raise LandRenewError(f"用户 {name} 已存在", detail=f"user {name!r} exists",
                             fix="换一个用户名，或加 --replace 重设其密码和角色")
    users[name] = {"role": role, "password_hash": _HASHER.hash(password)}
    _write(path, users)
    return User(name, role)


def list_users(path: str | Path) -> list[User]:
    """The users of a file (name order)."""
    return [User(n, str(u.get("role"))) for n, u in sorted(_read(Path(path)).items())]


def authenticate(path: str | Path, name: str, password: str) -> User:
    """The user when the password matches its hash.

    Raises
    ------
    PermissionDenied
        Unknown user or wrong password (one message for both, so names cannot be probed).
    """
    entry = _read(Path(path)).get(name or "")
    hashed = entry.get("password_hash") if entry else None
    try:
        ok = bool(hashed) and _HASHER.verify(hashed, password or "")
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        raise PermissionDenied("用户名或密码错误", detail=f"authentication failed for {name!r}",
                               fix="检查用户名和密码；忘记密码请管理员用 landrenew users add NAME --replace 重设")
    return User(name, _check_role(str(entry["role"])))
