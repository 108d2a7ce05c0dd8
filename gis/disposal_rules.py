"""The disposal rule file (``layers/rules/disposal.yaml``): events, their order per route, deadlines, thresholds.

Loaded with :func:`gis.rules.load_rules` (version, effective date, typed keys) plus the checks of the
structure: every sequence names a known ``route/sub_route`` (codes of ``layers/idle_assessment.yaml``) and known
events, every deadline names known events and a valid start.  An invalid file is refused with
:class:`~gis.errors.RuleFileError` naming the key and the row.

>>> rules = load_disposal_rules()
>>> rules.label("survey_notice"), rules.sequence("continue", "extend_start")[-1]
('下达调查通知书', 'completed')
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .errors import RuleFileError
from .rules import RuleSet, load_rules
from .schema import get_layer
from .store.account_tables import ROLE_VALUES

__all__ = ["DisposalRules", "Deadline", "Step", "RULE_SPEC", "load_disposal_rules", "default_disposal_rules"]

RULE_SPEC: dict[str, tuple[str, Any]] = {
    "target_date": ("date", None),
    "warnings.amber_days": ("int", (0, 365)),
    "warnings.stale_days": ("int", (1, 3650)),
    "warnings.rate_months": ("int", (1, 60)),
    "roles.record": ("list", None),
    "roles.approve": ("list", None),
    "events": ("dict", None),
    "sequences": ("dict", None),
    "procedure": ("dict", None),
    "deadlines": ("list", None),
}
_PROCEDURE_KEYS = ("draft", "approve", "return", "pause", "resume", "close", "reopen", "complete")
_FIELD_TYPES = ("date", "float", "str")
_ROLES = ROLE_VALUES


@dataclass(frozen=True)
class Step:
    """One item of a sequence: a required event, or an optional group done whole or skipped."""

    events: tuple[str, ...]
    optional: bool = False


@dataclass(frozen=True)
class Deadline:
    """A statutory deadline: from the latest ``after`` event (its service date, date or a date field) + days,
    met by a later ``until`` event."""

    id: str
    label: str
    after: str
    until: str
    start: str  # "service_date" | "event_date" | "field:<name>"
    days: int | None
    citation: str


@dataclass(frozen=True)
class DisposalRules:
    """The validated disposal rules; ``rules.ruleset`` is the underlying :class:`~gis.rules.RuleSet`."""

    ruleset: RuleSet
    events: dict[str, dict]
    sequences: dict[tuple[str, str], tuple[Step, ...]]
    deadlines: tuple[Deadline, ...]
    procedure: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.ruleset.version

    @property
    def target_date(self) -> dt.date:
        return self.ruleset["target_date"]

    @property
    def amber_days(self) -> int:
        return int(self.ruleset["warnings.amber_days"])

    @property
    def stale_days(self) -> int:
        return int(self.ruleset["warnings.stale_days"])

    @property
    def rate_months(self) -> int:
        return int(self.ruleset["warnings.rate_months"])

    def roles(self, action: str) -> tuple[str, ...]:
        """Roles allowed to ``record`` events or ``approve`` plans."""
        return tuple(self.ruleset[f"roles.{action}"])

    def label(self, code: str) -> str:
        return self.events[code]["label"]

    def citation(self, code: str) -> str:
        return self.events[code].get("citation") or ""

    def sequence(self, route: str, sub_route: str) -> list[str]:
        """The events of a route's procedure, flat, optional ones included."""
        return [e for step in self.sequences[(route, sub_route)] for e in step.events]

    def steps(self, route: str, sub_route: str) -> tuple[Step, ...]:
        return self.sequences[(route, sub_route)]

    def has_route(self, route: str, sub_route: str | None) -> bool:
        return (route, sub_route) in self.sequences

    def routes(self) -> list[tuple[str, str]]:
        return list(self.sequences)


def _err(path: str, key: str, reason: str, fix: str) -> RuleFileError:
    return RuleFileError(f"规则文件 {path} 的 “{key}” {reason}", detail=f"disposal rule {key}: {reason}", fix=fix)


def _flatten(items: Any) -> list:
    out: list = []
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, list):
            out.extend(_flatten(item))
        else:
            out.append(item)
    return out


def _check_events(path: str, events: dict) -> dict[str, dict]:
    out = {}
    for code, spec in events.items():
        key = f"events.{code}"
        if not isinstance(spec, dict) or not isinstance(spec.get("label"), str) or not spec["label"].strip():
            raise _err(path, key, "缺少中文名称 label", "写成 {label: 名称, citation: 依据}")
        if not isinstance(spec.get("citation", ""), str):
            raise _err(path, f"{key}.citation", "应为文字", "写成引号内的法规条文")
        for fname, fspec in (spec.get("fields") or {}).items():
            fkey = f"{key}.fields.{fname}"
            if not isinstance(fspec, dict) or fspec.get("type") not in _FIELD_TYPES:
                raise _err(path, fkey, f"的 type 应为 {'/'.join(_FIELD_TYPES)} 之一", "例如 {type: date, label: 日期}")
            years = fspec.get("max_years_after_event")
            if years is not None and (fspec["type"] != "date" or not isinstance(years, int) or years < 0):
                raise _err(path, f"{fkey}.max_years_after_event", "只能用于日期字段，且为非负整数", "例如 1")
        out[str(code)] = dict(spec)
    return out


def _check_sequences(path: str, sequences: dict, events: dict) -> dict[tuple[str, str], tuple[Step, ...]]:
    layer = get_layer("idle_assessment")
    routes, subs = layer.field("route").values, layer.field("sub_route").values
    out = {}
    for name, items in sequences.items():
        key = f"sequences.{name}"
        route, _, sub = str(name).partition("/")
        if route not in routes or route in ("none", "review") or sub not in subs:
            raise _err(
                path,
                key,
                "不是有效的 路径/具体方式（见 layers/idle_assessment.yaml）",
                "写成例如 continue/extend_start",
            )
        steps: list[Step] = []
        seen: set[str] = set()
        for row, item in enumerate(_flatten(items), start=1):
            group = item.get("optional") if isinstance(item, dict) else None
            codes = _flatten(group) if group is not None else [item]
            for code in codes:
                if code not in events:
                    raise _err(
                        path,
                        f"{key} 第 {row} 项",
                        f"事项 “{code}” 未在 events 中定义",
                        "改为 events 中已有的事项代码，或先在 events 中定义它",
                    )
                if code in seen:
                    raise _err(path, f"{key} 第 {row} 项", f"事项 “{code}” 重复", "每个事项在一个程序中只列一次")
                seen.add(code)
            steps.append(Step(tuple(codes), optional=group is not None))
        if not steps or steps[-1].events != ("completed",) or steps[-1].optional:
            raise _err(path, key, "应以 completed（处置完成）结束", "在程序最后加上 completed")
        out[(route, sub)] = tuple(steps)
    for sub in subs:
        owner = [r for r, s in out if s == sub]
        if not owner:
            raise _err(path, "sequences", f"缺少具体方式 “{sub}” 的处置程序", f"加上 <路径>/{sub}: [...]")
    return out


def _check_deadlines(path: str, rows: list, events: dict) -> tuple[Deadline, ...]:
    out, ids = [], set()
    for row, spec in enumerate(rows, start=1):
        key = f"deadlines 第 {row} 行"
        if not isinstance(spec, dict):
            raise _err(path, key, "应为键值映射", "写成 {id: ..., after: ..., until: ..., from: ..., days: ...}")
        for k in ("id", "label", "after", "until", "from", "citation"):
            if not isinstance(spec.get(k), str) or not spec[k].strip():
                raise _err(path, f"{key}.{k}", "缺失或为空", f"补上 {k}")
        if spec["id"] in ids:
            raise _err(path, f"{key}.id", f"“{spec['id']}” 重复", "每个期限的 id 唯一")
        ids.add(spec["id"])
        for k in ("after", "until"):
            if spec[k] not in events:
                raise _err(path, f"{key}.{k}", f"事项 “{spec[k]}” 未在 events 中定义", "改为 events 中已有的事项代码")
        start = spec["from"]
        if start not in ("service_date", "event_date"):
            fname = start.removeprefix("field:")
            fields = events[spec["after"]].get("fields") or {}
            if not start.startswith("field:") or fields.get(fname, {}).get("type") != "date":
                raise _err(
                    path,
                    f"{key}.from",
                    f"“{start}” 应为 service_date、event_date 或 field:<{spec['after']} 的日期字段>",
                    "例如 from: service_date",
                )
        days = spec.get("days")
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 3650):
            raise _err(path, f"{key}.days", f"“{days}” 应为 0–3650 的整数或 null（不设期限）", "例如 days: 30")
        out.append(Deadline(spec["id"], spec["label"], spec["after"], spec["until"], start, days, spec["citation"]))
    return tuple(out)


def _check_procedure(path: str, procedure: dict, events: dict, rules: RuleSet) -> dict:
    for k in _PROCEDURE_KEYS:
        if procedure.get(k) not in events:
            raise _err(
                path, f"procedure.{k}", f"“{procedure.get(k)}” 未在 events 中定义", "改为 events 中已有的事项代码"
            )
    for code in procedure.get("execution") or []:
        if code not in events:
            raise _err(path, "procedure.execution", f"事项 “{code}” 未在 events 中定义", "改为 events 中已有的事项代码")
    for action in ("record", "approve"):
        for role in rules[f"roles.{action}"]:
            if role not in _ROLES:
                raise _err(path, f"roles.{action}", f"角色 “{role}” 未知", f"可选：{'、'.join(_ROLES)}")
    return dict(procedure)


def load_disposal_rules(path: str | Path | None = None) -> DisposalRules:
    """Read and validate the disposal rule file (default ``layers/rules/disposal.yaml``).

    Raises
    ------
    RuleFileError
        A missing or mistyped key, an unknown event or route in a sequence, a bad deadline row.
    """
    rules = load_rules("disposal", path, spec=RULE_SPEC)
    p = rules.path
    events = _check_events(p, rules["events"])
    sequences = _check_sequences(p, rules["sequences"], events)
    deadlines = _check_deadlines(p, rules["deadlines"], events)
    procedure = _check_procedure(p, rules["procedure"], events, rules)
    return DisposalRules(rules, events, sequences, deadlines, procedure)


@cache
def default_disposal_rules() -> DisposalRules:
    """The default rule file, read once."""
    return load_disposal_rules()
