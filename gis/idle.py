"""Idle stock land: scope, idle determination, cause, capability and disposal route (docs/rules.md §1–§6).

The rules are data: ``layers/rules/idle.yaml`` holds every threshold and date, the recommendation table (ordered
rows of rule / route / sub_route / conditions / reason), the measures, the reason templates and their citations.
This module reads and checks that file (:func:`load_idle_rules`) and applies it (:func:`classify_idle_land`) in
the steps of docs/rules.md:

1. facts — the parcels as of the date (:class:`gis.idle_conditions.IdleFacts`);
2. conditions — named, vectorised masks (:data:`gis.idle_conditions.CONDITIONS`);
3. recommendation — the first row of the table that holds; every other holding row is an alternative;
4. measures, idle fee, reasons — rendered from the rule file's templates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .decision_table import (
    Clause,
    Evaluator,
    RowError,
    Template,
    TextRow,
    TextTable,
    Vocabulary,
    check_no_cycles,
    first_match,
    holding,
    parse_template,
    parse_text_rows,
    parse_text_table,
    parse_when,
)
from .errors import LandRenewError, RuleFileError
from .idle_conditions import CONDITIONS, PLACEHOLDERS, IdleFacts
from .rules import RuleSet, load_rules
from .schema import get_layer

__all__ = ["RULE_SPEC", "load_idle_rules", "classify_idle_land", "IdleTables", "idle_tables", "sub_route_map"]

#: What the idle rule file must hold (``gis.rules`` spec): dotted key -> (type, range or choices).  The
#: citations every rule id used in a table needs, and the sub-routes' citations, are checked by :func:`idle_tables`.
RULE_SPEC: dict[str, tuple[str, Any]] = {
    "scope.stock_cutoff": ("date", None),
    "idle.not_started_years": ("int", (1, 10)),
    "idle.halted_years": ("int", (1, 10)),
    "idle.halted_developed_ratio_below": ("float", (0.0, 1.0)),
    "idle.halted_invested_ratio_below": ("float", (0.0, 1.0)),
    "idle.leap_day_anniversary": ("str", {"feb28", "mar1"}),
    "idle.reclaim_without_compensation_years": ("int", (1, 10)),
    "fee.rate": ("float", (0.0, 0.2)),
    "continue.extend_start_max_years": ("float", (0.0, 1.0)),
    "transfer.min_invested_ratio": ("float", (0.0, 1.0)),
    "transfer.price_paid_full_ratio": ("float", (0.5, 1.0)),
    "reclaim.purchase_by_demand_distance_m": ("float", (0.0, 50_000.0)),
    "reclaim.residential_compatible_land_uses": ("list", None),
    "evidence.construction_min": ("float", None),
    "evidence.no_change_max": ("float", None),
    "market_prospect_default": ("str", {"high", "medium", "low"}),
    "citations": ("dict", None),
    "route_citations": ("dict", None),
    "cause_detail_articles": ("dict", None),
    "sub_routes": ("list", None),
    "recommendation.no_alternatives": ("list", None),
    "recommendation.rows": ("list", None),
    "measures": ("list", None),
    "reasons": ("list", None),
    "texts": ("dict", None),
}

_ROUTE = get_layer("idle_assessment").field("route")
_SUB_ROUTE = get_layer("idle_assessment").field("sub_route")
_OUT_OF_TABLE = ("sub_route",)  # placeholders only the recommendation's texts may use


# ------------------------------------------------------------------------------------------ rule tables
@dataclass(frozen=True)
class RecommendationRow:
    """One row of the recommendation table."""

    number: int
    rule: str | None
    route: str
    sub_route: str | None
    when: tuple[Clause, ...]
    reason: Template | None
    only_alternative: bool = False


@dataclass(frozen=True)
class ReasonSlot:
    """One reason of the output: a rule id, where it is given, and the rows that word it."""

    rule: str
    when: tuple[Clause, ...] | None
    rows: tuple[TextRow, ...]


@dataclass(frozen=True)
class IdleTables:
    """The checked tables of an idle rule file."""

    sub_routes: dict[str, str]
    recommendation: tuple[RecommendationRow, ...]
    no_alternatives: tuple[str, ...]
    measures: tuple[TextRow, ...]
    reasons: tuple[ReasonSlot, ...]
    texts: dict[str, TextTable]


def sub_route_map(rules: RuleSet) -> dict[str, str]:
    """``sub_routes`` of an idle rule file (a list of ``{sub_route: route}``) as an ordered dict."""
    out: dict[str, str] = {}
    for i, item in enumerate(rules["sub_routes"], start=1):
        if not isinstance(item, dict) or len(item) != 1:
            raise RowError(rules.path, "sub_routes", i).error(
                "(行)", f"应为 “具体方式: 处置路径”，现为 {item!r}", "每行写成 - on_schedule: continue"
            )
        ((sub, route),) = item.items()
        if str(sub) in out:
            raise RowError(rules.path, "sub_routes", i).error(str(sub), "重复", "每个具体方式只写一次")
        out[str(sub)] = str(route)
    return out


def _check_sub_routes(rules: RuleSet) -> dict[str, str]:
    subs = sub_route_map(rules)
    where = RowError(rules.path, "sub_routes")
    for sub, route in subs.items():
        if sub not in _SUB_ROUTE.values:
            raise where.error(
                sub,
                "不是已登记的具体方式",
                f"具体方式只能取 {', '.join(_SUB_ROUTE.values)}（中文名称在 layers/idle_assessment.yaml）",
            )
        if route not in _ROUTE.values:
            raise where.error(sub, f"的处置路径 “{route}” 未知", f"处置路径只能取 {', '.join(_ROUTE.values)}")
        if sub not in rules["route_citations"]:
            raise RuleFileError(
                f"规则文件 {rules.path} 缺少键 “route_citations.{sub}”",
                detail=f"missing rule key 'route_citations.{sub}'",
                fix="为每个具体方式写出出处",
            )
    return subs


def _recommendation(
    rules: RuleSet, subs: dict[str, str], vocab: Vocabulary, texts: list[str]
) -> tuple[RecommendationRow, ...]:
    rows = []
    placeholders = [*vocab.placeholders, *texts, *_OUT_OF_TABLE]
    for i, raw in enumerate(rules["recommendation.rows"], start=1):
        desc = f"{raw.get('route', '?')}/{raw.get('sub_route') or '—'}" if isinstance(raw, dict) else ""
        where = RowError(rules.path, "recommendation.rows", i, desc)
        if not isinstance(raw, dict):
            raise where.error(
                "(行)",
                f"应为键值映射，现为 {raw!r}",
                "每行写成 {rule: R4, route: …, sub_route: …, when: […], reason: …}",
            )
        alt_only = bool(raw.get("only_alternative", False))
        required = ["route", "when"] + ([] if alt_only else ["rule", "reason"])
        for key in required:
            if key not in raw:
                raise where.error(
                    key,
                    "缺失",
                    f"推荐路径表的每行须有键 {', '.join(required)}",
                    detail=f"recommendation.rows[{i}]: missing key {key!r}",
                )
        unknown = [k for k in raw if k not in ("rule", "route", "sub_route", "when", "reason", "only_alternative")]
        if unknown:
            raise where.error(
                unknown[0], "不是推荐路径表的键", "只能有 rule、route、sub_route、when、reason、only_alternative"
            )
        route = raw["route"]
        if route not in _ROUTE.values:
            raise where.error(
                "route",
                f"的处置路径 “{route}” 未知",
                f"处置路径只能取 {', '.join(_ROUTE.values)}",
                detail=f"recommendation.rows[{i}].route: unknown route {route!r}",
            )
        sub = raw.get("sub_route")
        needs_sub = route in set(subs.values())
        if needs_sub and sub is None:
            raise where.error(
                "sub_route",
                "缺失",
                f"处置路径 {route} 须写明具体方式",
                detail=f"recommendation.rows[{i}]: missing key 'sub_route'",
            )
        if sub is not None and (sub not in subs or subs[sub] != route):
            raise where.error(
                "sub_route",
                f"的具体方式 “{sub}” 不属于处置路径 {route}",
                f"按 sub_routes 表选取：{', '.join(s for s, r in subs.items() if r == route) or '（无）'}",
                detail=f"recommendation.rows[{i}].sub_route: {sub!r} is not a sub-route of {route!r}",
            )
        rule = raw.get("rule")
        if rule is not None and rule not in rules["citations"]:
            raise RuleFileError(
                f"规则文件 {rules.path} 缺少键 “citations.{rule}”（推荐路径表第 {i} 行使用）",
                detail=f"missing rule key 'citations.{rule}'",
                fix="在 citations 中写出该规则编号的出处",
            )
        reason = raw.get("reason")
        rows.append(
            RecommendationRow(
                number=i,
                rule=rule,
                route=route,
                sub_route=sub,
                when=parse_when(raw["when"], where, vocab),
                reason=None if reason is None else parse_template(reason, where, "reason", placeholders),
                only_alternative=alt_only,
            )
        )
    if not any(not r.only_alternative for r in rows):
        raise RowError(rules.path, "recommendation.rows").error(
            "rows", "没有可作推荐的行", "至少写一行不带 only_alternative 的行"
        )
    bad = [r for r in rules["recommendation.no_alternatives"] if r not in _ROUTE.values]
    if bad:
        raise RowError(rules.path, "recommendation").error(
            "no_alternatives", f"含未知处置路径 {bad}", f"处置路径只能取 {', '.join(_ROUTE.values)}"
        )
    return tuple(rows)


def _reasons(rules: RuleSet, vocab: Vocabulary, texts: list[str]) -> tuple[ReasonSlot, ...]:
    slots = []
    citations = set(rules["citations"])
    for i, raw in enumerate(rules["reasons"], start=1):
        where = RowError(rules.path, "reasons", i, raw.get("rule", "") if isinstance(raw, dict) else "")
        if not isinstance(raw, dict) or "rule" not in raw or "rows" not in raw:
            raise where.error("rule/rows", "缺失", "每条研判依据写成 {rule: S1, rows: [...]}")
        unknown = [k for k in raw if k not in ("rule", "when", "rows")]
        if unknown:
            raise where.error(unknown[0], "不是研判依据的键", "只能有 rule、when、rows")
        if raw["rule"] not in citations:
            raise RuleFileError(
                f"规则文件 {rules.path} 缺少键 “citations.{raw['rule']}”",
                detail=f"missing rule key 'citations.{raw['rule']}'",
                fix="在 citations 中写出该规则编号的出处",
            )
        rows = parse_text_rows(raw["rows"], rules.path, f"reasons[{i}].rows", vocab, texts, rule_ids=citations)
        when = parse_when(raw["when"], where, vocab) if "when" in raw else None
        slots.append(ReasonSlot(raw["rule"], when, rows))
    return tuple(slots)


def idle_tables(rules: RuleSet) -> IdleTables:
    """The checked tables of an idle rule file.

    Raises
    ------
    RuleFileError
        A row misses a key or has an unknown one, names an unknown condition, placeholder, route or
        sub-route, or a rule id without citation; the message names the table, the row and the key.
    """
    subs = _check_sub_routes(rules)
    vocab = Vocabulary(CONDITIONS, PLACEHOLDERS)
    names = [str(k) for k in rules["texts"]]
    texts: dict[str, TextTable] = {}
    for name, raw in rules["texts"].items():
        if name in PLACEHOLDERS or name in CONDITIONS or name in _OUT_OF_TABLE:
            raise RowError(rules.path, "texts").error(name, "与已有的占位符同名", "换一个名称")
        texts[name] = parse_text_table(name, raw, rules.path, vocab, [*names, *_OUT_OF_TABLE])
    check_no_cycles(texts, rules.path)
    recommendation = _recommendation(rules, subs, vocab, names)
    measure_vocab = Vocabulary(
        CONDITIONS, PLACEHOLDERS, {"route": tuple(_ROUTE.values), "sub_route": tuple(_SUB_ROUTE.values)}
    )
    measures = parse_text_rows(rules["measures"], rules.path, "measures", measure_vocab, names)
    return IdleTables(
        subs,
        recommendation,
        tuple(rules["recommendation.no_alternatives"]),
        measures,
        _reasons(rules, vocab, names),
        texts,
    )


def _cross_check(rules: RuleSet) -> None:
    where = f"规则文件 {rules.path}"
    if rules["evidence.no_change_max"] > rules["evidence.construction_min"]:
        raise RuleFileError(
            f"{where} 的键 “evidence.no_change_max” ({rules['evidence.no_change_max']}) 大于 "
            f"“evidence.construction_min” ({rules['evidence.construction_min']})",
            detail="evidence.no_change_max must not exceed evidence.construction_min",
            fix="“无变化”阈值应不大于“有施工”阈值",
        )
    uses = rules["reclaim.residential_compatible_land_uses"]
    allowed = get_layer("parcels").field("land_use").values
    bad = [u for u in uses if u not in allowed]
    if not uses or bad:
        raise RuleFileError(
            f"{where} 的键 “reclaim.residential_compatible_land_uses” 含无效用途 {bad}"
            if bad
            else f"{where} 的键 “reclaim.residential_compatible_land_uses” 为空",
            detail=f"reclaim.residential_compatible_land_uses must be a non-empty list of {list(allowed)}",
            fix=f"从 {', '.join(allowed)} 中选取",
        )
    idle_tables(rules)


def load_idle_rules(path: str | Path | None = None) -> RuleSet:
    """Read and validate the idle-land rule file.

    Parameters
    ----------
    path
        A district's own rule file; default ``layers/rules/idle.yaml``.

    Returns
    -------
    RuleSet
        ``rules["fee.rate"]`` etc.; ``rules.version`` goes into every assessment row.

    Raises
    ------
    RuleFileError
        A key is missing, has the wrong type or is out of range, or a table row is invalid; the message
        names the key (and the table and row).

    Examples
    --------
    >>> rules = load_idle_rules()
    >>> rules["fee.rate"], str(rules["scope.stock_cutoff"])
    (0.2, '2024-03-31')
    >>> sub_route_map(rules)["land_swap"]
    'reclaim'
    """
    rules = load_rules("idle", path, spec=RULE_SPEC)
    _cross_check(rules)
    return rules


# --------------------------------------------------------------------------------------------- apply
def _citation(rules: RuleSet, rule: str | None, sub: str | None) -> str:
    step = rules["citations"].get(rule, "") if rule else ""
    own = rules["route_citations"].get(sub, "") if sub else ""
    return step if not own or own in step else f"{step}；{own}"


def _recommend(
    ev: Evaluator, tables: IdleTables, parcel_ids: pd.Series
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[dict]]]:
    """(chosen row number per parcel, route, sub_route ("" when none), alternatives)."""
    rows = tables.recommendation
    held = holding(ev, rows)
    choosable = np.array([not r.only_alternative for r in rows])
    chosen = first_match(list((held & choosable[None, :]).T)) if len(rows) else np.zeros(ev.n, np.int64)
    if (chosen < 0).any():
        missing = parcel_ids.iloc[np.flatnonzero(chosen < 0)[:5]].astype(str).tolist()
        raise RuleFileError(
            f"推荐路径表对宗地 {', '.join(missing)} 等没有适用的行",
            detail=f"recommendation table: no row holds for {missing}",
            fix="在推荐路径表末尾补一行兜底条件（例如 route: review）",
        )
    route = np.array([r.route for r in rows], dtype=object)[chosen]
    sub = np.array([r.sub_route or "" for r in rows], dtype=object)[chosen]
    # alternatives: the sub-routes of every other holding row, ranked in the order of `sub_routes`
    order = list(tables.sub_routes)
    by_sub = np.zeros((ev.n, len(order)), bool)
    for j, r in enumerate(rows):
        if r.sub_route:
            by_sub[:, order.index(r.sub_route)] |= held[:, j]
    by_sub &= np.array(order, dtype=object)[None, :] != sub[:, None]
    by_sub[np.isin(route, tables.no_alternatives)] = False
    alternatives = _lists_of(by_sub, [{"route": tables.sub_routes[s], "sub_route": s} for s in order])
    alternatives = [[dict(a) for a in alts] for alts in alternatives]
    return chosen, route, sub, alternatives


def _lists_of(mat: np.ndarray, items: list) -> list[list]:
    """Per row of a boolean matrix, the items of its true columns (rows with the same pattern share the work)."""
    if mat.shape[1] == 0:
        return [[] for _ in range(len(mat))]
    if mat.shape[1] <= 62:
        keys = mat.astype(np.int64) @ (np.int64(1) << np.arange(mat.shape[1], dtype=np.int64))
        uniq, inverse = np.unique(keys, return_inverse=True)
        patterns = (uniq[:, None] >> np.arange(mat.shape[1], dtype=np.int64)) & 1
    else:
        patterns, inverse = np.unique(mat, axis=0, return_inverse=True)
    lists = [[items[j] for j in np.flatnonzero(row)] for row in patterns]
    return [list(lists[k]) for k in np.asarray(inverse).ravel().tolist()]


def _measures(ev: Evaluator, tables: IdleTables) -> list[list[str]]:
    """Per parcel, the text of every measure row that holds, in the table's order."""
    columns = []
    for row in tables.measures:
        col = np.full(ev.n, None, dtype=object)
        ix = np.flatnonzero(ev.mask(row.when))
        if len(ix):
            col[ix] = ev.render(row.text, ix)
        columns.append(col)
    if not columns:
        return [[] for _ in range(ev.n)]
    return [[m for m in row if m is not None] for row in zip(*(c.tolist() for c in columns))]


def _reason_column(ev: Evaluator, slot: ReasonSlot, rules: RuleSet) -> list[dict | None]:
    masks = [ev.mask(r.when) for r in slot.rows]
    which = first_match(masks)
    shown = ev.mask(slot.when) if slot.when is not None else which >= 0
    out: list[dict | None] = [None] * ev.n
    for k, row in enumerate(slot.rows):
        ix = np.flatnonzero(shown & (which == k))
        if not len(ix):
            continue
        rid = row.rule or slot.rule
        cit = rules["citations"][rid]
        for i, text in zip(ix.tolist(), ev.render(row.text, ix).tolist()):
            out[i] = {"rule_id": rid, "text": text, "citation": cit}
    return out


def _recommendation_reasons(ev: Evaluator, tables: IdleTables, chosen: np.ndarray, rules: RuleSet) -> list[dict]:
    out: list[dict] = [{}] * ev.n
    for k, row in enumerate(tables.recommendation):
        ix = np.flatnonzero(chosen == k)
        if not len(ix) or row.reason is None:
            continue
        cit = _citation(rules, row.rule, row.sub_route)
        for i, text in zip(ix.tolist(), ev.render(row.reason, ix).tolist()):
            out[i] = {"rule_id": row.rule, "text": text, "citation": cit}
    return out


def classify_idle_land(
    parcels: pd.DataFrame,
    *,
    enterprises: pd.DataFrame | None,
    as_of: dt.date,
    rules: RuleSet | None = None,
) -> pd.DataFrame:
    """Classify parcels: stock scope, idle type, cause, capability, recommended route and reasons.

    Parameters
    ----------
    parcels
        Layer ``parcels`` fields (dates as naive datetime64; optional fields may be absent or NA) plus
        the join columns ``project_ids`` (list of str), ``presold_units`` (int, sum over the parcel's
        projects), ``village_ids`` (list of str), ``public_need`` (bool: residential-compatible parcel
        within ``reclaim.purchase_by_demand_distance_m`` of a village still needing resettlement units)
        and ``activity_index`` (float, NaN without imagery).  Absent join columns read as empty.
    enterprises
        Table ``enterprises`` (``enterprise_id``, ``risk_level``, ``in_default``,
        ``willing_to_continue``); None when not available (then capability is unknown -> review).
    as_of
        The assessment date (研判基准日).
    rules
        Idle rules; default :func:`load_idle_rules`.  Use ``rules.replace(...)`` for a what-if.

    Returns
    -------
    pandas.DataFrame
        Same index as ``parcels``; the ``idle_assessment`` columns except ``geometry`` and ``decision``.

    Examples
    --------
    >>> import pandas as pd, datetime as dt
    >>> p = pd.DataFrame({"parcel_id": ["P1"], "enterprise_id": ["E1"], "land_price_wan": [1000.0],
    ...     "supply_date": pd.to_datetime(["2019-05-01"]), "agreed_start_date": pd.to_datetime(["2020-06-30"]),
    ...     "agreed_completion_date": pd.to_datetime(["2023-06-30"]), "idle_cause": ["enterprise"]})
    >>> e = pd.DataFrame({"enterprise_id": ["E1"], "risk_level": ["normal"], "in_default": [False],
    ...     "willing_to_continue": ["yes"]})
    >>> row = classify_idle_land(p, enterprises=e, as_of=dt.date(2021, 6, 30)).iloc[0]
    >>> row.route, row.sub_route, row.idle_type, float(row.idle_fee_wan)
    ('continue', 'continue_with_fee', 'not_started_idle', 200.0)
    >>> [r["rule_id"] for r in row.reasons]
    ['S1', 'S2', 'I1', 'C2', 'K1', 'F1', 'R4']
    """
    rules = load_idle_rules() if rules is None else rules
    if rules.kind != "idle":
        raise RuleFileError(
            f"规则 “{rules.kind}” 不是闲置土地规则",
            detail=f"expected kind 'idle', got {rules.kind!r}",
            fix="使用 load_idle_rules() 读入的规则",
        )
    if "parcel_id" not in parcels.columns:
        raise LandRenewError(
            "宗地表缺少字段 “宗地编号”(parcel_id)",
            detail="parcels has no column 'parcel_id'",
            fix="先经 ingest 读入宗地台账",
        )
    tables = idle_tables(rules)
    facts = IdleFacts(parcels, enterprises, as_of, rules)
    n = facts.n
    decided_sub = np.full(n, "", dtype=object)

    def placeholder(name: str, ix: np.ndarray) -> Any:
        if name == "sub_route":
            return np.array([_SUB_ROUTE.value_labels.get(s, "") for s in decided_sub[ix].tolist()], dtype=object)
        return PLACEHOLDERS[name](facts, ix)

    ev = Evaluator(n, facts.cond, placeholder, tables.texts)
    chosen, route, sub, alternatives = _recommend(ev, tables, parcels["parcel_id"])
    decided_sub[:] = sub
    ev.values.update(route=route, sub_route=sub)
    measures = _measures(ev, tables)
    slots = [_reason_column(ev, slot, rules) for slot in tables.reasons]
    slots.append(_recommendation_reasons(ev, tables, chosen, rules))
    reasons = [[r for r in row if r] for row in zip(*slots)]

    f = facts.frame
    index = parcels.index
    town = (
        parcels["town_code"].astype("string") if f.has("town_code") else pd.Series(pd.NA, index=index, dtype="string")
    )
    dev_status = np.select([facts.completed, facts.started], ["completed", "started"], "not_started")
    idle_type = np.select([facts.not_started_idle, facts.halted_idle], ["not_started_idle", "halted_idle"], "none")
    return pd.DataFrame(
        {
            "parcel_id": parcels["parcel_id"].astype("string"),
            "town_code": town,
            "as_of": pd.Series(np.full(n, facts.T), index=index).astype("datetime64[ms]"),
            "rules_version": pd.Series(rules.version, index=index, dtype="string"),
            "in_stock_scope": pd.Series(facts.in_stock_scope, index=index, dtype="boolean"),
            "dev_status": pd.Series(dev_status, index=index, dtype="string"),
            "idle_type": pd.Series(idle_type, index=index, dtype="string"),
            "idle_discretionary": pd.Series(facts.halted_idle, index=index, dtype="boolean"),
            "idle_since": pd.Series(facts.idle_since(), index=index).astype("datetime64[ms]"),
            "idle_years": pd.Series(facts.idle_years(), index=index, dtype="float64"),
            "cause": pd.Series(facts.cause, index=index, dtype="string"),
            "route": pd.Series(route, index=index, dtype="string"),
            "sub_route": pd.Series(np.where(sub == "", None, sub), index=index, dtype="string"),
            "alternatives": pd.Series(alternatives, index=index, dtype=object),
            "measures": pd.Series(measures, index=index, dtype=object),
            "reasons": pd.Series(reasons, index=index, dtype=object),
            "idle_fee_wan": pd.Series(facts.idle_fee(), index=index, dtype="float64"),
            "activity_index": pd.Series(facts.activity, index=index, dtype="float64"),
            "evidence_conflict": pd.Series(facts.evidence_conflict, index=index, dtype="boolean"),
            "project_ids": pd.Series(f.lists("project_ids"), index=index, dtype=object),
            "village_ids": pd.Series(f.lists("village_ids"), index=index, dtype=object),
        },
        index=index,
    )
