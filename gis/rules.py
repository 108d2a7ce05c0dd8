"""Versioned rule files (YAML) with validation.

A district edits ``layers/rules/<kind>.yaml``, not the code.  Each rule file has a
``version`` and an ``effective_date``; every output row records the version used.
The module that owns a kind of rules declares what its file must hold as a *spec*:
``{"dotted.key": (type, check)}`` where type is one of ``date int float str bool
list dict`` and check is ``None``, a ``(low, high)`` range or a set of choices.
An invalid file is refused with the key and the reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import RuleFileError
from .yaml_text import load_yaml

__all__ = ["RuleSet", "load_rules", "RULES_DIR"]

RULES_DIR = Path(__file__).resolve().parent.parent / "layers" / "rules"

_TYPES = {
    "int": int,
    "float": (int, float),
    "str": str,
    "bool": bool,
    "list": list,
    "dict": dict,
}


@dataclass(frozen=True)
class RuleSet:
    """A validated rule file: ``rules["idle.fee_rate"]`` reads a dotted key."""

    kind: str
    version: str
    effective_date: dt.date
    values: Mapping[str, Any]
    path: str
    spec: Mapping[str, tuple[str, Any]] = field(default_factory=dict, compare=False, repr=False)

    def __getitem__(self, key: str) -> Any:
        node: Any = self.values
        for part in key.split("."):
            node = node[part]
        return node

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except (KeyError, TypeError):
            return default

    def replace(self, **changes: Any) -> RuleSet:
        """A copy with some dotted keys changed (for what-if analysis); version gets a ``+whatif`` suffix.

        The changed values are validated against the same spec as the file (``a__b`` may stand for ``a.b``).
        """
        import copy

        values = copy.deepcopy(dict(self.values))
        for key, value in changes.items():
            key = key.replace("__", ".")
            node = values
            parts = key.split(".")
            for part in parts[:-1]:
                node = node[part]
            if key in self.spec:
                type_name, check = self.spec[key]
                value = _check(f"{self.path}（假设分析）", key, value, type_name, check)
            node[parts[-1]] = value
        return RuleSet(self.kind, f"{self.version}+whatif", self.effective_date, values, self.path, self.spec)


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _check(path: str, key: str, value: Any, type_name: str, check: Any) -> Any:
    where = f"规则文件 {path} 的键 “{key}”"
    if type_name == "date":
        parsed = _as_date(value)
        if parsed is None:
            raise RuleFileError(
                f"{where} 的值 “{value}” 不是日期",
                detail=f"rule key {key!r} must be a date (YYYY-MM-DD), got {value!r}",
                fix="写成 YYYY-MM-DD，例如 2024-03-31",
            )
        return parsed
    expected = _TYPES[type_name]
    if isinstance(value, bool) and type_name in ("int", "float"):
        expected = ()
    if not isinstance(value, expected):
        raise RuleFileError(
            f"{where} 的值 “{value}” 类型不对，应为 {type_name}",
            detail=f"rule key {key!r} must be {type_name}, got {type(value).__name__}",
            fix=f"把该值改为 {type_name} 类型",
        )
    if isinstance(check, tuple):
        low, high = check
        if (low is not None and value < low) or (high is not None and value > high):
            raise RuleFileError(
                f"{where} 的值 {value} 超出允许范围 [{low}, {high}]",
                detail=f"rule key {key!r} out of range [{low}, {high}]: {value!r}",
                fix=f"取 {low} 到 {high} 之间的值",
            )
    elif isinstance(check, (set, frozenset)):
        if value not in check:
            raise RuleFileError(
                f"{where} 的值 “{value}” 不在允许取值 {sorted(check)} 中",
                detail=f"rule key {key!r} must be one of {sorted(check)}: {value!r}",
                fix=f"改为 {', '.join(map(str, sorted(check)))} 之一",
            )
    return value


def load_rules(
    kind: str,
    path: str | Path | None = None,
    *,
    spec: Mapping[str, tuple[str, Any]],
) -> RuleSet:
    """Read and validate a rule file.

    Parameters
    ----------
    kind
        Which rules: ``"idle"`` or ``"renewal"``; the default file is ``layers/rules/<kind>.yaml``.
    path
        Another rule file (a district's own).
    spec
        Required dotted keys with their type and check, declared by the module that uses them.
    """
    path = Path(path) if path is not None else RULES_DIR / f"{kind}.yaml"
    if not path.exists():
        raise RuleFileError(
            f"找不到规则文件 {path}",
            detail=f"rule file not found: {path}",
            fix="检查路径，或不指定 --rules 使用默认规则",
        )
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RuleFileError(
            f"规则文件 {path} 不是合法的 YAML：{exc}", detail=str(exc), fix="按 YAML 语法改正（缩进、冒号后的空格）"
        ) from exc
    if not isinstance(raw, dict):
        raise RuleFileError(f"规则文件 {path} 顶层应为键值映射", fix="参照 layers/rules 下的默认文件")
    if raw.get("kind", kind) != kind:
        raise RuleFileError(
            f"规则文件 {path} 的 kind 为 “{raw.get('kind')}”，此处需要 “{kind}”",
            fix=f"使用 {kind} 类规则文件",
        )
    for key in ("version", "effective_date"):
        if key not in raw:
            raise RuleFileError(
                f"规则文件 {path} 缺少键 “{key}”", detail=f"missing key {key!r}", fix=f"在文件顶层加上 {key}"
            )
    version = str(raw["version"])
    effective = _check(str(path), "effective_date", raw["effective_date"], "date", None)
    values: dict[str, Any] = dict(raw)
    for key, (type_name, check) in spec.items():
        node: Any = values
        parts = key.split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                raise RuleFileError(
                    f"规则文件 {path} 缺少键 “{key}”",
                    detail=f"missing rule key {key!r}",
                    fix="参照 layers/rules 下的默认文件补上该键",
                )
            if i == len(parts) - 1:
                node[part] = _check(str(path), key, node[part], type_name, check)
            else:
                node = node[part]
    return RuleSet(kind=kind, version=version, effective_date=effective, values=values, path=str(path), spec=dict(spec))
