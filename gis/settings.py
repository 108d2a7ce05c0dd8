"""Security settings of a deployment: the rule file ``layers/rules/security.yaml``.

Login throttling and lockout, idle session expiry, password policy, upload limits and the optional
single sign-on.  ``$LANDRENEW_SECURITY`` names another file (a bureau's own copy).

>>> s = security_settings()
>>> s.max_failures, s.lockout_minutes, s.idle_minutes, s.min_password_length
(5, 15, 30, 10)
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from .rules import RULES_DIR, load_rules
from .store.account_tables import ROLE_VALUES

__all__ = ["SecuritySettings", "security_settings", "SPEC", "SETTINGS_ENV", "ROLE_CHOICES"]

SETTINGS_ENV = "LANDRENEW_SECURITY"
ROLE_CHOICES = frozenset(ROLE_VALUES)

SPEC = {
    "login.max_failures": ("int", (1, 1_000_000)),
    "login.window_minutes": ("float", (0, 24 * 60)),
    "login.lockout_minutes": ("float", (0, 24 * 60)),
    "login.client_max_failures": ("int", (1, 1_000_000)),
    "login.trust_forwarded_for": ("bool", None),
    "session.idle_minutes": ("float", (0, 7 * 24 * 60)),
    "password.min_length": ("int", (10, 256)),
    "password.min_distinct": ("int", (1, 64)),
    "uploads.max_file_mb": ("float", (0, 100_000)),
    "uploads.max_files": ("int", (1, 1000)),
    "uploads.max_total_mb": ("float", (0, 100_000)),
    "sso.enabled": ("bool", None),
    "sso.provider": ("str", None),
    "sso.name_claim": ("str", None),
    "sso.role_claim": ("str", None),
    "sso.roles": ("dict", None),
}


@dataclass(frozen=True)
class SecuritySettings:
    """The validated settings (see the comments in ``layers/rules/security.yaml``)."""

    version: str
    path: str
    max_failures: int
    window: dt.timedelta
    lockout: dt.timedelta
    client_max_failures: int
    trust_forwarded_for: bool
    idle: dt.timedelta
    min_password_length: int
    min_password_distinct: int
    max_file_bytes: int
    max_files: int
    max_total_bytes: int
    sso_enabled: bool
    sso_provider: str
    sso_name_claim: str
    sso_role_claim: str
    sso_roles: dict[str, str] = field(default_factory=dict)

    @property
    def lockout_minutes(self) -> int | float:
        m = self.lockout.total_seconds() / 60
        return int(m) if m == int(m) else m

    @property
    def idle_minutes(self) -> int | float:
        m = self.idle.total_seconds() / 60
        return int(m) if m == int(m) else m


_CACHE: dict[tuple[str, int], SecuritySettings] = {}


def security_settings(path: str | os.PathLike | None = None) -> SecuritySettings:
    """The settings of ``path``, else ``$LANDRENEW_SECURITY``, else ``layers/rules/security.yaml`` (cached
    until the file changes)."""
    from .errors import RuleFileError

    path = Path(path or os.environ.get(SETTINGS_ENV) or RULES_DIR / "security.yaml")
    key = (str(path), path.stat().st_mtime_ns if path.exists() else 0)
    if key in _CACHE:
        return _CACHE[key]
    rules = load_rules("security", path, spec=SPEC)
    roles = {str(k): str(v) for k, v in (rules["sso.roles"] or {}).items()}
    bad = {k: v for k, v in roles.items() if v not in ROLE_CHOICES}
    if bad:
        raise RuleFileError(
            f"规则文件 {path} 的 sso.roles 中角色 {bad} 不存在",
            detail=f"unknown roles in sso.roles: {bad}",
            fix=f"角色只能是 {'、'.join(ROLE_VALUES)}",
        )
    mb = 1024 * 1024
    settings = SecuritySettings(
        version=rules.version,
        path=str(path),
        max_failures=rules["login.max_failures"],
        window=dt.timedelta(minutes=rules["login.window_minutes"]),
        lockout=dt.timedelta(minutes=rules["login.lockout_minutes"]),
        client_max_failures=rules["login.client_max_failures"],
        trust_forwarded_for=rules["login.trust_forwarded_for"],
        idle=dt.timedelta(minutes=rules["session.idle_minutes"]),
        min_password_length=rules["password.min_length"],
        min_password_distinct=rules["password.min_distinct"],
        max_file_bytes=int(rules["uploads.max_file_mb"] * mb),
        max_files=rules["uploads.max_files"],
        max_total_bytes=int(rules["uploads.max_total_mb"] * mb),
        sso_enabled=rules["sso.enabled"],
        sso_provider=rules["sso.provider"],
        sso_name_claim=rules["sso.name_claim"],
        sso_role_claim=rules["sso.role_claim"],
        sso_roles=roles,
    )
    _CACHE[key] = settings
    return settings
