"""Managing the app's users, kept in the store (:mod:`gis.store.accounts`): add, disable, enable, reset,
set the role, delete, list, change one's own password, and import an old ``users.yaml``.

Passwords are stored as Argon2id hashes (``argon2-cffi``) and must pass :func:`check_password`: at least
``password.min_length`` (10) characters and ``min_distinct`` different ones, not the user name, not in the
short list of common passwords (``gis/data/common_passwords.txt``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml
from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import LandRenewError
from .settings import security_settings
from .store import accounts as rows
from .store.account_tables import ROLE_VALUES
from .yaml_text import load_yaml

__all__ = [
    "ROLES",
    "ROLE_LABELS",
    "UserInfo",
    "check_password",
    "check_name",
    "hash_password",
    "verify_password",
    "add_user",
    "set_role",
    "set_disabled",
    "reset_password",
    "change_password",
    "delete_user",
    "list_users",
    "get_user",
    "import_users_yaml",
    "ImportReport",
    "LEGACY_USERS_FILE",
]

ROLES = ROLE_VALUES
ROLE_LABELS = {"viewer": "浏览", "planner": "规划审定", "approver": "审批（分管领导）", "admin": "管理员"}
LEGACY_USERS_FILE = "users.yaml"
_NAME = re.compile(r"^[\w.\-@]{1,64}$")
_HASHER = PasswordHasher()  # Argon2id, the library's recommended parameters
COMMON_FILE = Path(__file__).resolve().parent / "data" / "common_passwords.txt"


@dataclass(frozen=True)
class UserInfo:
    """A user as the admin sees it (never the hash)."""

    name: str
    role: str
    disabled: bool
    created_at: dt.datetime
    updated_at: dt.datetime


def _info(row: dict) -> UserInfo:
    return UserInfo(row["name"], row["role"], row["disabled"], row["created_at"], row["updated_at"])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@cache
def _common() -> frozenset[str]:
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(s.strip().lower() for s in lines if s.strip() and not s.startswith("#"))


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise LandRenewError(
            f"用户名“{name}”不合规",
            detail=f"bad user name {name!r}",
            fix="用户名为 1-64 个字母、数字、汉字或 . - _ @，不含空格",
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise LandRenewError(
            f"未知角色“{role}”",
            detail=f"role {role!r} not in {ROLES}",
            fix=f"可选：{'、'.join(f'{r}（{ROLE_LABELS[r]}）' for r in ROLES)}",
        )
    return role


def check_password(password: str, name: str, *, settings=None) -> None:
    """Raise :class:`LandRenewError` (naming the rule) unless ``password`` passes the policy."""
    s = settings or security_settings()
    password = password or ""
    fix = f"请设置不少于 {s.min_password_length} 位、不易猜的密码（可用一句话的拼音首字母加数字和符号）"
    if len(password) < s.min_password_length:
        raise LandRenewError(f"密码太短（至少 {s.min_password_length} 位）", detail="password too short", fix=fix)
    low = password.lower()
    if name and low in (name.lower(), name.lower()[::-1]):
        raise LandRenewError("密码不能与用户名相同", detail="password equals the user name", fix=fix)
    if len(set(password)) < s.min_password_distinct:
        raise LandRenewError(
            f"密码至少要有 {s.min_password_distinct} 个不同的字符", detail="too few distinct characters", fix=fix
        )
    if low in _common():
        raise LandRenewError("密码过于常见，容易被猜中", detail="password in the common-password list", fix=fix)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(hashed: str, password: str) -> bool:
    """One Argon2 verification (the same work whether it matches or not)."""
    try:
        return bool(_HASHER.verify(hashed, password or ""))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(hashed: str) -> bool:
    try:
        return _HASHER.check_needs_rehash(hashed)
    except InvalidHashError:
        return False


def _unknown(name: str) -> LandRenewError:
    return LandRenewError(f"用户 {name} 不存在", detail=f"no user {name!r}", fix="landrenew users list 查看现有用户")


def add_user(store, name: str, password: str, *, role: str, replace: bool = False, settings=None) -> UserInfo:
    """Create a user (with ``replace=True`` reset the password and role of an existing one, enabling it).

    Two concurrent adds of different names both land; of the same name exactly one (the other is told the
    name exists).
    """
    check_role(role)
    check_name(name)
    check_password(password, name, settings=settings)
    now = _now()
    new = {
        "name": name,
        "role": role,
        "password_hash": hash_password(password),
        "disabled": False,
        "created_at": now,
        "updated_at": now,
    }
    if not replace:
        rows.insert_user(store, new)
        return _info(new)
    out = rows.replace_user(store, name, lambda old: {**new, "created_at": old["created_at"] if old else now})
    return _info(out)


def _change(store, name: str, **changes) -> UserInfo:
    def apply(old):
        if old is None:
            raise _unknown(name)
        return {**old, **changes, "updated_at": _now()}

    return _info(rows.replace_user(store, name, apply))


def set_role(store, name: str, role: str) -> UserInfo:
    """Change a user's role (effective at the user's next page action)."""
    return _change(store, name, role=check_role(role))


def set_disabled(store, name: str, disabled: bool) -> UserInfo:
    """Disable (signed out at the next page action, cannot sign in) or enable a user."""
    return _change(store, name, disabled=bool(disabled))


def reset_password(store, name: str, password: str, *, settings=None) -> UserInfo:
    """Set a new password for a user (an admin's reset)."""
    check_password(password, name, settings=settings)
    return _change(store, name, password_hash=hash_password(password))


def change_password(store, name: str, current: str, new: str, *, settings=None) -> UserInfo:
    """A user's own change: the current password must match, the new one pass the policy and differ."""
    from .errors import PermissionDenied

    row = rows.get_user(store, name)
    if row is None or not verify_password(row["password_hash"], current):
        raise PermissionDenied("当前密码不正确", detail="current password does not match", fix="请重新输入当前密码")
    if new == current:
        raise LandRenewError(
            "新密码不能与当前密码相同", detail="new password equals the current one", fix="请换一个新密码"
        )
    return reset_password(store, name, new, settings=settings)


def delete_user(store, name: str) -> None:
    """Delete a user (its login events stay in the audit)."""
    if not rows.delete_user(store, name):
        raise _unknown(name)


def get_user(store, name: str) -> UserInfo | None:
    row = rows.get_user(store, name)
    return _info(row) if row else None


def list_users(store) -> list[UserInfo]:
    """All users, by name."""
    return [_info(r) for r in rows.list_users(store)]


@dataclass
class ImportReport:
    """What an import did with every entry of the file: imported, kept (exists) or refused (with why)."""

    imported: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.imported) + len(self.kept) + len(self.refused)


def import_users_yaml(store, path: str | Path, *, replace: bool = False) -> ImportReport:
    """Bring the users of an old ``users.yaml`` (``users: {name: {role, password_hash}}``) into the store.

    Hashes are taken as they are (the passwords are not known, so the length policy cannot be checked; the
    users keep their passwords).  Every entry ends up imported, kept (the name exists, without ``replace``)
    or refused with the reason; the valid ones are written in one transaction.
    """
    path = Path(path)
    if not path.exists():
        raise LandRenewError(f"找不到用户文件 {path}", detail=f"no such file: {path}", fix="检查路径")
    try:
        raw = load_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise LandRenewError(f"用户文件 {path} 不是合法的 YAML", detail=str(exc), fix="检查文件内容") from exc
    users = raw.get("users") if isinstance(raw, dict) else None
    if not isinstance(users, dict):
        raise LandRenewError(
            f"用户文件格式错误：{path}",
            detail="'users' is not a mapping",
            fix="文件应为 users: {用户名: {role: …, password_hash: …}}",
        )
    report, good, now = ImportReport(), [], _now()
    for name, entry in users.items():
        name = str(name)
        entry = entry if isinstance(entry, dict) else {}
        role, hashed = str(entry.get("role", "")), str(entry.get("password_hash") or "")
        try:
            check_name(name)
            check_role(role)
            if not hashed.startswith("$argon2"):
                raise LandRenewError("口令散列不是 Argon2 格式")
            extract_parameters(hashed)
        except (LandRenewError, InvalidHashError) as exc:
            report.refused.append((name, str(exc) if isinstance(exc, LandRenewError) else "口令散列无法解析"))
            continue
        good.append(
            {
                "name": name,
                "role": role,
                "password_hash": hashed,
                "disabled": bool(entry.get("disabled", False)),
                "created_at": now,
                "updated_at": now,
            }
        )
    if good:
        report.imported, report.kept = rows.import_user_rows(store, good, replace=replace)
    return report
