"""Decision tables and text templates read from a rule file, evaluated over a whole frame at once.

A rule file states *which* named conditions decide and *what* is written; the code states only what each
named condition and placeholder means (``gis.idle_conditions``).  Two hit policies, as in DMN decision tables:

* **first** — rows in order; per parcel the first row whose conditions all hold is taken;
* **collect** — every row whose conditions hold is taken, in row order (a list, or a text joined by ``join``).

A condition list (``when``) is read as AND.  An item is a condition name, ``not <name>``, or a test of a value
already decided by an earlier table: ``route=reclaim``, ``sub_route!=on_schedule``, ``sub_route=a|b``.

A text is a template: literal text with ``{placeholder}`` names (``{label.supply_date}`` is a field label from
``layers/``, ``{sub_route}`` the label of the recommended sub-route, …).  Unknown condition or placeholder names,
missing or unknown keys are refused with :class:`~gis.errors.RuleFileError` naming the table, the row and the key.
See docs/rules.md for the tables of the default rule files.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import RuleFileError

__all__ = [
    "Clause",
    "Template",
    "TextRow",
    "TextTable",
    "Vocabulary",
    "Evaluator",
    "RowError",
    "parse_when",
    "parse_template",
    "parse_text_rows",
    "parse_text_table",
    "first_match",
    "holding",
    "join_texts",
    "check_no_cycles",
]

#: Fields whose decided value a condition may test (``route=...``), per table that allows it.
VALUE_TESTS = ("route", "sub_route")


@dataclass(frozen=True)
class Vocabulary:
    """The names a rule file may use: conditions, placeholders, and the value tests a table allows."""

    conditions: Mapping[str, Any]
    placeholders: Mapping[str, Any]
    value_tests: Mapping[str, Sequence[str]] = field(default_factory=dict)  # field -> allowed values


@dataclass(frozen=True)
class RowError:
    """Where a rule-file entry is: file, table, row number (1-based) and a short description of the row."""

    path: str
    table: str
    row: int | None = None
    what: str = ""

    def error(self, key: str, problem: str, fix: str, detail: str | None = None) -> RuleFileError:
        where = f"规则文件 {self.path} 的 “{self.table}”"
        if self.row is not None:
            where += f" 第 {self.row} 行" + (f"（{self.what}）" if self.what else "")
        return RuleFileError(
            f"{where}的键 “{key}” {problem}", detail=detail or f"{self.table}[{self.row}].{key}: {problem}", fix=fix
        )


# --------------------------------------------------------------------------------------------- clauses
@dataclass(frozen=True)
class Clause:
    """One item of a ``when`` list: a named condition (possibly negated) or a value test."""

    name: str
    negate: bool = False
    values: tuple[str, ...] = ()  # a value test when non-empty: field ``name`` in (or, negated, not in) values

    @property
    def is_value_test(self) -> bool:
        return bool(self.values)

    def __str__(self) -> str:
        if self.values:
            return f"{self.name}{'!=' if self.negate else '='}{'|'.join(self.values)}"
        return f"not {self.name}" if self.negate else self.name


def _parse_clause(item: Any, where: RowError, vocab: Vocabulary) -> Clause:
    if not isinstance(item, str) or not item.strip():
        raise where.error("when", f"含无效条件 {item!r}", "每个条件写成条件名、not 条件名 或 route=…")
    text = item.strip()
    if "=" in text:
        negate = "!=" in text
        name, _, values = text.partition("!=" if negate else "=")
        name = name.strip()
        vals = tuple(v.strip() for v in values.split("|") if v.strip())
        if name not in vocab.value_tests:
            allowed = ", ".join(vocab.value_tests) or "（此表不允许）"
            raise where.error("when", f"含未知的取值检验 “{text}”", f"此表可检验的字段：{allowed}")
        bad = [v for v in vals if v not in vocab.value_tests[name]]
        if bad or not vals:
            raise where.error(
                "when", f"的检验 “{text}” 含未知取值 {bad}", f"{name} 只能取 {', '.join(vocab.value_tests[name])}"
            )
        return Clause(name, negate, vals)
    negate = text.startswith("not ")
    name = text[4:].strip() if negate else text
    if name not in vocab.conditions:
        raise where.error(
            "when",
            f"含未知条件 “{name}”",
            f"可用的条件：{', '.join(sorted(vocab.conditions))}",
            detail=f"{where.table}[{where.row}].when: unknown condition {name!r}",
        )
    return Clause(name, negate)


def parse_when(value: Any, where: RowError, vocab: Vocabulary) -> tuple[Clause, ...]:
    """A ``when`` list (AND of clauses); absent or empty means: always."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise where.error("when", "应为条件列表", "写成 [条件1, 条件2]")
    return tuple(_parse_clause(item, where, vocab) for item in value)


# ------------------------------------------------------------------------------------------- templates
@dataclass(frozen=True)
class Template:
    """Literal text with ``{name}`` placeholders; ``parts`` alternates (is_placeholder, text)."""

    text: str
    parts: tuple[tuple[bool, str], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t for is_ph, t in self.parts if is_ph)


def parse_template(value: Any, where: RowError, key: str, known: Iterable[str]) -> Template:
    if not isinstance(value, str):
        raise where.error(key, f"应为文字，现为 {value!r}", "写成带 {占位符} 的文字")
    known = set(known)
    parts: list[tuple[bool, str]] = []
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise where.error(key, f"的花括号不成对：{value}", "占位符写成 {名称}，文字中的花括号写成 {{ }}") from exc
    for literal, name, spec, conv in parsed:
        if literal:
            parts.append((False, literal))
        if name is None:
            continue
        if spec or conv or name not in known:
            raise where.error(
                key,
                f"含未知占位符 “{{{name}}}”",
                f"可用的占位符：{', '.join(sorted(known))}",
                detail=f"{where.table}[{where.row}].{key}: unknown placeholder {name!r}",
            )
        parts.append((True, name))
    return Template(value, tuple(parts))


# ------------------------------------------------------------------------------------------ text rows
@dataclass(frozen=True)
class TextRow:
    """A row of a text table: conditions, a template, and optionally a rule id."""

    when: tuple[Clause, ...]
    text: Template
    rule: str | None = None


@dataclass(frozen=True)
class TextTable:
    """A named text: ``first`` (the text of the first holding row) or ``collect`` (holding rows joined)."""

    name: str
    rows: tuple[TextRow, ...]
    policy: str = "first"  # or "collect"
    join: str = ""


def _check_keys(raw: Any, where: RowError, required: Sequence[str], optional: Sequence[str]) -> dict:
    if not isinstance(raw, dict):
        raise where.error("(行)", f"应为键值映射，现为 {raw!r}", f"每行写成 {{{', '.join(required)}: …}}")
    for key in required:
        if key not in raw:
            raise where.error(
                key,
                "缺失",
                f"每行须有键 {', '.join(required)}",
                detail=f"{where.table}[{where.row}]: missing key {key!r}",
            )
    unknown = [k for k in raw if k not in (*required, *optional)]
    if unknown:
        raise where.error(
            unknown[0],
            "不是此表的键",
            f"此表的行只能有 {', '.join((*required, *optional))}",
            detail=f"{where.table}[{where.row}]: unknown key {unknown[0]!r}",
        )
    return raw


def parse_text_rows(
    raw: Any,
    path: str,
    table: str,
    vocab: Vocabulary,
    known_texts: Iterable[str],
    *,
    rule_ids: Iterable[str] | None = None,
) -> tuple[TextRow, ...]:
    """Rows ``{when, text[, rule]}``; ``rule`` only where ``rule_ids`` is given (and then one of them)."""
    if not isinstance(raw, list) or not raw:
        raise RowError(path, table).error("rows", "应为非空的行列表", "参照默认规则文件写出各行")
    placeholders = [*vocab.placeholders, *known_texts]
    out = []
    for i, row in enumerate(raw, start=1):
        where = RowError(path, table, i, (row.get("text", "") if isinstance(row, dict) else "")[:20])
        row = _check_keys(row, where, ["text"], ["when", "rule"] if rule_ids is not None else ["when"])
        rule = row.get("rule")
        if rule is not None and rule not in set(rule_ids or ()):
            raise where.error("rule", f"的规则编号 “{rule}” 不在 citations 中", "先在 citations 中写出该编号的出处")
        out.append(
            TextRow(
                parse_when(row.get("when"), where, vocab),
                parse_template(row["text"], where, "text", placeholders),
                rule,
            )
        )
    return tuple(out)


def parse_text_table(name: str, raw: Any, path: str, vocab: Vocabulary, known_texts: Iterable[str]) -> TextTable:
    """``{first: [rows]}`` or ``{collect: [rows], join: "、"}``."""
    where = RowError(path, f"texts.{name}")
    if not isinstance(raw, dict) or len({"first", "collect"} & set(raw)) != 1:
        raise where.error("first/collect", "应有且只有一个", "写成 {first: [行…]} 或 {collect: [行…], join: 、}")
    unknown = [k for k in raw if k not in ("first", "collect", "join")]
    if unknown:
        raise where.error(unknown[0], "不是文字表的键", "只能有 first、collect、join")
    policy = "first" if "first" in raw else "collect"
    rows = parse_text_rows(raw[policy], path, f"texts.{name}", vocab, known_texts)
    return TextTable(name, rows, policy, str(raw.get("join", "")))


def check_no_cycles(texts: Mapping[str, TextTable], path: str) -> None:
    """Refuse named texts that use each other in a circle (a -> b -> a)."""
    uses = {name: {n for row in t.rows for n in row.text.names if n in texts} for name, t in texts.items()}
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            loop = " -> ".join([*trail[trail.index(name) :], name])
            raise RowError(path, f"texts.{name}").error("text", f"循环引用：{loop}", "去掉其中一处引用")
        state[name] = 1
        for other in sorted(uses[name]):
            visit(other, [*trail, name])
        state[name] = 2

    for name in texts:
        visit(name, [])


# ----------------------------------------------------------------------------------------- evaluation
class Evaluator:
    """Evaluates clauses and renders templates over ``n`` rows.

    Parameters
    ----------
    n
        Number of rows (parcels).
    condition
        ``name -> bool array`` (length n); called once per name, then cached.
    placeholder
        ``(name, ix) -> object array`` of texts for the rows ``ix``.
    texts
        Named text tables, usable as placeholders.
    """

    def __init__(
        self,
        n: int,
        condition: Callable[[str], np.ndarray],
        placeholder: Callable[[str, np.ndarray], Any],
        texts: Mapping[str, TextTable] | None = None,
    ):
        self.n = n
        self._condition = condition
        self._placeholder = placeholder
        self._masks: dict[str, np.ndarray] = {}
        self.texts = dict(texts or {})
        self.values: dict[str, np.ndarray] = {}  # decided values for value tests (route, sub_route)

    def condition(self, name: str) -> np.ndarray:
        if name not in self._masks:
            self._masks[name] = np.asarray(self._condition(name), dtype=bool)
        return self._masks[name]

    def clause(self, c: Clause) -> np.ndarray:
        if c.is_value_test:
            hit = np.isin(self.values[c.name], c.values)
        else:
            hit = self.condition(c.name)
        return ~hit if c.negate else hit

    def mask(self, when: Sequence[Clause]) -> np.ndarray:
        out = np.ones(self.n, bool)
        for c in when:
            out &= self.clause(c)
        return out

    def render(self, template: Template, ix: np.ndarray) -> np.ndarray:
        """The template's text for the rows ``ix`` (object array)."""
        out = np.full(len(ix), "", dtype=object)
        for is_ph, text in template.parts:
            if not is_ph:
                out = out + text
            elif text in self.texts:
                out = out + self.render_table(self.texts[text], ix)
            else:
                value = self._placeholder(text, ix)
                out = out + (value if isinstance(value, np.ndarray) else str(value))
        return out

    def render_table(self, table: TextTable, ix: np.ndarray) -> np.ndarray:
        if table.policy == "first":
            return self.render_first(table.rows, ix, default="")
        return join_texts(self, table.rows, ix, table.join)

    def render_first(self, rows: Sequence[TextRow], ix: np.ndarray, *, default: Any = None) -> np.ndarray:
        """Per row of ``ix``, the text of the first holding row (``default`` where none holds)."""
        out = np.full(len(ix), default, dtype=object)
        which = first_match([self.mask(r.when)[ix] for r in rows])
        for k, row in enumerate(rows):
            sel = np.flatnonzero(which == k)
            if len(sel):
                out[sel] = self.render(row.text, ix[sel])
        return out


def first_match(masks: Sequence[np.ndarray]) -> np.ndarray:
    """Index of the first true mask per row; -1 where none is true."""
    if not masks:
        return np.zeros(0, dtype=np.int64)
    mat = np.column_stack(masks)
    return np.where(mat.any(axis=1), mat.argmax(axis=1), -1)


def holding(ev: Evaluator, rows: Sequence[Any]) -> np.ndarray:
    """Boolean matrix (n x rows): which rows' ``when`` hold."""
    if not rows:
        return np.zeros((ev.n, 0), bool)
    return np.column_stack([ev.mask(r.when) for r in rows])


def join_texts(ev: Evaluator, rows: Sequence[TextRow], ix: np.ndarray, sep: str) -> np.ndarray:
    """Per row of ``ix``, the texts of every holding row joined with ``sep`` (``""`` when none)."""
    out = np.full(len(ix), "", dtype=object)
    for row in rows:
        sel = np.flatnonzero(ev.mask(row.when)[ix])
        if len(sel):
            cur = out[sel]
            out[sel] = np.where(cur != "", cur + sep, cur) + ev.render(row.text, ix[sel])
    return out
