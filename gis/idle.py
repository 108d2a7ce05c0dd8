"""Idle stock land: scope, idle determination, cause, capability and disposal route (RULES.md §1–§6).

Every threshold, date and rate is read from the versioned rule file ``layers/rules/idle.yaml``
(:data:`RULE_SPEC` says what it must hold).  :func:`classify_idle_land` evaluates every condition as a
vectorised boolean mask over the whole frame and only assembles the per-row lists (alternatives,
measures, reasons) at the end.

Choices made where RULES.md leaves room (documented here and in the rule file):

* "满一年" is reached on the anniversary day itself; a start date of 29 February has its anniversary
  on 28 February in a common year (``idle.leap_day_anniversary: feb28``, 《民法典》第二百零二条) or on
  1 March (``mar1``).  ``idle_years`` is counted in anniversaries plus the elapsed fraction of the current
  year, floored to 3 decimals, so ``idle_years >= 2`` exactly when the second anniversary has passed.
* Dates are read *as of* ``as_of``: an actual start, completion or halt dated after ``as_of`` has not
  happened yet on that day.
* A parcel without a ``supply_date`` (and not completed) cannot be placed outside the stock scope: it
  is kept in scope (``in_stock_scope = True``) and sent to ``review`` naming 供地日期.
* A started parcel needs ``agreed_completion_date`` (I3, 竣工违约); a halted parcel (``halted_since``
  set) that has been halted one year needs the ratios that decide I2 — when they cannot decide it, the
  parcel goes to ``review`` naming them.  A started parcel without ``halted_since`` is not halted.
* Capability (K1) needs the enterprise record: a parcel without ``enterprise_id``, or whose
  ``enterprise_id`` is not in ``enterprises`` (or ``enterprises`` is None), or whose record lacks
  ``risk_level`` / ``in_default`` without another fact that already makes it not capable, goes to
  ``review`` naming the missing item (never a guess).
* A missing ``idle_cause`` counts as ``unknown`` (``cause`` column), so an idle parcel without a cause
  goes to ``review`` (C3).  A missing ``breach_party`` counts as ``none``; missing ``sealed`` /
  ``mortgaged`` / ``certificate_issued`` count as false; a missing ``price_paid_ratio`` is neither fully
  paid nor known unpaid (the transfer reason says it is unknown).
* Idle determination, the idle fee and the fact-based measures 督促动工 / 竣工违约 are computed for
  every parcel that is not completed — also for parcels outside the stock scope (route ``none``), as
  the law applies to them; only the route depends on the scope.
* ``idle_fee_wan`` follows the facts (not-started idle, cause enterprise), whatever the route — also on a
  ``review`` row (e.g. a sealed parcel).
* E1: a ``started`` parcel whose index shows no change is flagged unless the ledger records it as halted
  (``halted_since`` on or before the as-of date) — flat imagery is what a halted site looks like, so it agrees
  with the ledger; the flag never changes the route.
* Alternatives are ranked in the order of the RULES.md §6 table (continue, transfer, reclaim); reclaim
  rows are never offered for a parcel with presold units; ``none`` and ``review`` get no alternatives.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import LandRenewError, RuleFileError
from .rules import RuleSet, load_rules
from .schema import get_layer

__all__ = ["RULE_SPEC", "load_idle_rules", "classify_idle_land"]

#: Rule ids used in ``reasons``; each needs ``citations.<id>`` in the rule file.
RULE_IDS = ("S1", "S2", "I1", "I2", "I3", "C1", "C2", "C3", "E1", "K1", "F1",
            "R1", "R2", "R3", "R4", "R5", "R6", "R7")

#: Sub-routes in the order of the RULES.md §6 table (the ranking of alternatives), with their route.
SUB_ROUTES: dict[str, str] = {
    "on_schedule": "continue",
    "extend_start": "continue",
    "adjust_planning": "continue",
    "continue_with_fee": "continue",
    "resume_works": "continue",
    "whole_transfer": "transfer",
    "preregistered_transfer": "transfer",
    "joint_development": "transfer",
    "negotiated_reclaim": "reclaim",
    "reclaim_without_compensation": "reclaim",
    "purchase_by_demand": "reclaim",
    "land_swap": "reclaim",
}

#: What the idle rule file must hold (``gis.rules`` spec): dotted key -> (type, range or choices).
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
    **{f"citations.{rid}": ("str", None) for rid in RULE_IDS},
    **{f"route_citations.{sub}": ("str", None) for sub in SUB_ROUTES},
}

_DATE_FIELDS = ("supply_date", "agreed_start_date", "agreed_completion_date", "actual_start_date",
                "actual_completion_date", "halted_since")
_GOV = ("government", "force_majeure")
_CAUSE_ZH = {"government": "政府原因", "force_majeure": "不可抗力", "enterprise": "企业原因",
             "mixed": "混合原因", "unknown": "原因不明"}
_DETAIL_ZH = {"art8_1": "第八条第（一）项 未按约定交付土地", "art8_2": "第八条第（二）项 规划依法修改",
              "art8_3": "第八条第（三）项 国家政策调整", "art8_4": "第八条第（四）项 信访等群体性事件",
              "art8_5": "第八条第（五）项 军事管制或文物保护", "art8_6": "第八条第（六）项 其他政府行为",
              "disaster": "自然灾害", "pandemic": "疫情"}
_PROSPECT_ZH = {"high": "好", "medium": "一般", "low": "差"}
_BREACH_ZH = {"government": "政府", "enterprise": "企业", "both": "政府和企业双方"}
_MEASURES = ("免除疫情/灾害违约责任", "放宽分期开发和价款缴纳", "合理调整开竣工日期", "督促动工", "竣工违约",
             "带押过户", "抄送抵押权人", "收地价格 = min(评估价, 企业土地成本) 下浮", "不得新增政府隐性债务")


# ----------------------------------------------------------------------------------------------- rules
def _rule_date(rules: RuleSet, key: str) -> np.datetime64:
    value = rules[key]
    try:
        return np.datetime64(pd.Timestamp(value).date(), "D")
    except (ValueError, TypeError) as exc:
        raise RuleFileError(f"规则键 “{key}” 的值 “{value}” 不是日期", detail=f"rule key {key!r}: {value!r}",
                            fix="写成 YYYY-MM-DD，例如 2024-03-31") from exc


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
            f"{where} 的键 “reclaim.residential_compatible_land_uses” 含无效用途 {bad}" if bad else
            f"{where} 的键 “reclaim.residential_compatible_land_uses” 为空",
            detail=f"reclaim.residential_compatible_land_uses must be a non-empty list of {list(allowed)}",
            fix=f"从 {', '.join(allowed)} 中选取",
        )


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
        A key is missing, has the wrong type or is out of range; the message names the key.

    Examples
    --------
    >>> rules = load_idle_rules()
    >>> rules["fee.rate"], str(rules["scope.stock_cutoff"])
    (0.2, '2024-03-31')
    """
    rules = load_rules("idle", path, spec=RULE_SPEC)
    _cross_check(rules)
    return rules


# ----------------------------------------------------------------------------------------- input access
class _Frame:
    """Column access with defaults: an absent column reads as all-missing."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.n = len(frame)

    def has(self, name: str) -> bool:
        return name in self.frame.columns

    def date(self, name: str) -> np.ndarray:
        if not self.has(name):
            return np.full(self.n, np.datetime64("NaT"), dtype="M8[D]")
        s = self.frame[name]
        if not pd.api.types.is_datetime64_any_dtype(s):
            try:
                s = pd.to_datetime(s, errors="raise")
            except (ValueError, TypeError) as exc:
                raise LandRenewError(f"宗地表字段 “{name}” 含无法识别的日期", detail=str(exc),
                                     fix="日期写成 YYYY-MM-DD，或先经 ingest 读入") from exc
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_localize(None)
        return s.to_numpy().astype("M8[D]")

    def num(self, name: str, default: float = np.nan) -> np.ndarray:
        if not self.has(name):
            return np.full(self.n, default, dtype=float)
        out = pd.to_numeric(self.frame[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        return out if np.isnan(default) else np.where(np.isnan(out), default, out)

    def text(self, name: str) -> np.ndarray:
        """Object array of str, ``""`` where missing."""
        if not self.has(name):
            return np.full(self.n, "", dtype=object)
        s = self.frame[name].astype("string").str.strip().fillna("")
        return s.to_numpy(dtype=object)

    def flag(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(value, known) boolean arrays; missing reads as (False, False)."""
        if not self.has(name):
            return np.zeros(self.n, bool), np.zeros(self.n, bool)
        s = self.frame[name]
        if s.dtype == object:
            s = s.map(lambda v: pd.NA if v is None or (isinstance(v, float) and np.isnan(v)) else bool(v))
        s = s.astype("boolean")
        known = s.notna().to_numpy()
        return s.fillna(False).to_numpy(dtype=bool), known

    def lists(self, name: str) -> list[list]:
        if not self.has(name):
            return [[] for _ in range(self.n)]
        return [v.copy() if type(v) is list else (list(v) if isinstance(v, (tuple, np.ndarray)) else [])
                for v in self.frame[name].tolist()]


# ------------------------------------------------------------------------------------------ date helpers
def _add_years(start: np.ndarray, years: int | np.ndarray, leap: str) -> np.ndarray:
    """``start`` + whole years; 29 Feb -> 28 Feb (``feb28``) or 1 Mar (``mar1``) in a common year."""
    month = start.astype("M8[M]")
    day = start - month.astype("M8[D]")
    target = month + 12 * np.asarray(years, dtype=np.int64)
    out = target.astype("M8[D]") + day
    if leap == "feb28":
        spill = (out.astype("M8[M]") != target) & ~np.isnat(out)
        out = np.where(spill, out - np.timedelta64(1, "D"), out)
    return out


def _years_elapsed(start: np.ndarray, as_of: np.datetime64, leap: str) -> np.ndarray:
    """Whole anniversaries passed plus the fraction of the current year, floored to 3 decimals."""
    out = np.full(len(start), np.nan)
    ok = ~np.isnat(start) & (start <= as_of)
    if not ok.any():
        return out
    s = start[ok]
    k = as_of.astype("M8[Y]").astype(np.int64) - s.astype("M8[Y]").astype(np.int64)
    k = np.where(_add_years(s, k, leap) > as_of, k - 1, k)
    a0, a1 = _add_years(s, k, leap), _add_years(s, k + 1, leap)
    frac = (as_of - a0).astype(np.int64) / (a1 - a0).astype(np.int64)
    out[ok] = np.floor(np.round((k + frac) * 1000, 6)) / 1000
    return out


def _dstr(a: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(a, unit="D").astype(object)


def _fmt(a: np.ndarray, spec: str) -> np.ndarray:
    return np.array([format(v, spec) if v == v else "未知" for v in a.tolist()], dtype=object)


def _take(value: Any, ix: np.ndarray) -> Any:
    if callable(value):
        return value(ix)
    if isinstance(value, np.ndarray):
        return value[ix]
    return value


def _pick(n: int, choices: list[tuple[np.ndarray, Any]], default: Any = "") -> np.ndarray:
    """Object array: per row, the value of the first true mask, else ``default``.

    A value is a scalar, a full-length array, or a function of the row positions that builds the values
    only for the rows that take it (so texts are formatted only where they are used).
    """
    out = np.full(n, None, dtype=object)
    todo = np.ones(n, bool)
    for mask, value in [*choices, (todo, default)]:
        hit = todo & mask
        if hit.any():
            ix = np.flatnonzero(hit)
            out[ix] = _take(value, ix)
            todo = todo & ~hit
    return out


def _join(parts: list[tuple[np.ndarray, Any]], sep: str, n: int) -> np.ndarray:
    """Per row, the values whose mask is true joined with ``sep`` (``""`` when none)."""
    out = np.full(n, "", dtype=object)
    for mask, value in parts:
        ix = np.flatnonzero(mask)
        if len(ix):
            cur = out[ix]
            out[ix] = np.where(cur != "", cur + sep, cur) + _take(value, ix)
    return out


def _reasons_slot(mask: np.ndarray, rule_id: Any, text: np.ndarray, citation: Any) -> list[dict | None]:
    out: list[dict | None] = [None] * len(mask)
    ix = np.flatnonzero(mask)
    rid = _take(rule_id, ix)
    cit = _take(citation, ix)
    rid = rid.tolist() if isinstance(rid, np.ndarray) else [rid] * len(ix)
    cit = cit.tolist() if isinstance(cit, np.ndarray) else [cit] * len(ix)
    for i, r, t, c in zip(ix.tolist(), rid, text[ix].tolist(), cit):
        out[i] = {"rule_id": r, "text": t, "citation": c}
    return out


# --------------------------------------------------------------------------------------------- classify
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
        raise RuleFileError(f"规则 “{rules.kind}” 不是闲置土地规则", detail=f"expected kind 'idle', got {rules.kind!r}",
                            fix="使用 load_idle_rules() 读入的规则")
    if "parcel_id" not in parcels.columns:
        raise LandRenewError("宗地表缺少字段 “宗地编号”(parcel_id)", detail="parcels has no column 'parcel_id'",
                             fix="先经 ingest 读入宗地台账")
    f = _Frame(parcels)
    n = f.n
    T = np.datetime64(pd.Timestamp(as_of).date(), "D")
    t_str = str(T)
    leap = rules["idle.leap_day_anniversary"]
    labels = get_layer("parcels").labels()
    sub_zh = get_layer("idle_assessment").field("sub_route").value_labels
    cit = rules["citations"]
    rcit = rules["route_citations"]

    # ---- inputs
    d = {name: f.date(name) for name in _DATE_FIELDS}
    known = {name: ~np.isnat(a) for name, a in d.items()}
    dev = f.num("developed_area_ratio")
    inv = f.num("invested_ratio")
    price = f.num("land_price_wan")
    paid_ratio = f.num("price_paid_ratio")
    presold_n = f.num("presold_units", 0.0)
    activity = f.num("activity_index")
    cause_in = f.text("idle_cause")
    detail = f.text("idle_cause_detail")
    breach_party = f.text("breach_party")
    prospect_in = f.text("market_prospect")
    eid = f.text("enterprise_id")
    cert, _ = f.flag("certificate_issued")
    mortgaged, _ = f.flag("mortgaged")
    sealed, _ = f.flag("sealed")
    public_need, _ = f.flag("public_need")

    # ---- S2 development status, as of T
    completed = known["actual_completion_date"] & (d["actual_completion_date"] <= T)
    started = ~completed & known["actual_start_date"] & (d["actual_start_date"] <= T)
    not_started = ~completed & ~started
    dev_status = _pick(n, [(completed, "completed"), (started, "started")], "not_started")

    # ---- S1 scope
    cutoff = _rule_date(rules, "scope.stock_cutoff")
    miss_supply = ~completed & ~known["supply_date"]
    after_cutoff = known["supply_date"] & (d["supply_date"] > cutoff)
    in_scope = ~completed & ~after_cutoff
    out_scope = ~in_scope

    # ---- §2 idle determination
    ns_years = rules["idle.not_started_years"]
    h_years = rules["idle.halted_years"]
    asd = d["agreed_start_date"]
    since1 = _add_years(asd, ns_years, leap)
    miss_asd = not_started & ~known["agreed_start_date"]
    I1 = not_started & known["agreed_start_date"] & (T >= since1)
    hs = d["halted_since"]
    halted = started & known["halted_since"] & (hs <= T)
    since2 = _add_years(hs, h_years, leap)
    halted_1y = halted & (T >= since2)
    thr_dev = rules["idle.halted_developed_ratio_below"]
    thr_inv = rules["idle.halted_invested_ratio_below"]
    ratio_low = (dev < thr_dev) | (inv < thr_inv)
    ratio_high = (dev >= thr_dev) & (inv >= thr_inv)
    ratio_unknown = ~ratio_low & ~ratio_high
    I2 = halted_1y & ratio_low
    miss_ratios = halted_1y & ratio_unknown
    miss_dev = miss_ratios & np.isnan(dev)
    miss_inv = miss_ratios & np.isnan(inv)
    miss_acd = started & ~known["agreed_completion_date"]
    idle = I1 | I2
    idle_type = _pick(n, [(I1, "not_started_idle"), (I2, "halted_idle")], "none")
    idle_since = np.where(I1, since1, np.where(I2, since2, np.datetime64("NaT")))
    years_from_start = _years_elapsed(asd, T, leap)
    idle_years = np.where(I1, years_from_start, np.where(I2, _years_elapsed(hs, T, leap), np.nan))
    rwc_years = rules["idle.reclaim_without_compensation_years"]
    two_years = I1 & (T >= _add_years(asd, rwc_years, leap))
    past_start = not_started & known["agreed_start_date"] & (T > asd) & ~I1
    past_completion = started & known["agreed_completion_date"] & (T > d["agreed_completion_date"])

    # ---- §3 cause
    cause = np.where(cause_in == "", "unknown", cause_in)
    gov = np.isin(cause, _GOV)
    ent = cause == "enterprise"
    unclear = ~gov & ~ent
    planning = (cause == "government") & np.isin(detail, ("art8_2", "art8_3"))

    # ---- §5 enterprise capability (K1)
    found = np.zeros(n, bool)
    risk = np.full(n, "", dtype=object)
    willing = np.full(n, "", dtype=object)
    in_default = np.zeros(n, bool)
    default_known = np.zeros(n, bool)
    if enterprises is not None and len(enterprises) and "enterprise_id" in enterprises.columns:
        etab = enterprises.drop_duplicates("enterprise_id")
        ef = _Frame(etab)
        pos = pd.Index(ef.text("enterprise_id")).get_indexer(eid)
        found = (pos >= 0) & (eid != "")
        take = np.where(found, pos, 0)
        risk = np.where(found, ef.text("risk_level")[take], "")
        willing = np.where(found, ef.text("willing_to_continue")[take], "")
        dflt, dknown = ef.flag("in_default")
        in_default = found & dflt[take]
        default_known = found & dknown[take]
    not_cap = found & (in_default | (risk == "high") | (willing == "no"))
    cap = found & ~not_cap & default_known & (risk != "")
    cap_unknown = ~cap & ~not_cap
    unconfirmed = cap & (willing != "yes")

    # ---- E1 evidence
    # a parcel the ledger records as halted is expected to show no change: only a started parcel that is
    # neither halted nor completed conflicts with flat imagery
    conflict_started = started & ~halted & (activity < rules["evidence.no_change_max"])
    conflict_not_started = not_started & (activity >= rules["evidence.construction_min"])
    conflict = conflict_started | conflict_not_started

    # ---- §6 routes
    review_cause = idle & unclear
    review = in_scope & (miss_supply | miss_asd | miss_acd | miss_ratios | sealed | review_cause | cap_unknown)
    decided = in_scope & ~review
    presold = presold_n > 0
    breach = np.isin(breach_party, ("government", "enterprise", "both"))
    paid = paid_ratio >= rules["transfer.price_paid_full_ratio"]
    unpaid = paid_ratio < rules["transfer.price_paid_full_ratio"]
    min_inv = rules["transfer.min_invested_ratio"]
    whole = not_cap & paid & cert & (inv >= min_inv)
    prereg = not_cap & paid & ((inv < min_inv) | ~cert)
    cond = {
        "on_schedule": cap & ~idle,
        "extend_start": cap & idle & gov,
        "adjust_planning": cap & planning,
        "continue_with_fee": cap & I1 & ent & ~two_years,
        "resume_works": cap & I2 & ent,
        "whole_transfer": whole,
        "preregistered_transfer": prereg,
        "joint_development": not_cap & (~paid | whole | prereg),
        "negotiated_reclaim": not_cap & (breach | gov),
        "reclaim_without_compensation": I1 & ent & two_years,
        "purchase_by_demand": not_cap & public_need,
        "land_swap": (cause == "government") & (detail == "art8_2") & paid,
    }
    cap_sub = _pick(n, [
        (~idle, "on_schedule"),
        (idle & planning, "adjust_planning"),
        (idle & gov, "extend_start"),
        (I1 & ent & ~two_years, "continue_with_fee"),
        (I1 & ent & two_years, "reclaim_without_compensation"),
        (I2 & ent, "resume_works"),
    ], "")
    transfer_sub = _pick(n, [(whole, "whole_transfer"), (prereg, "preregistered_transfer")], "joint_development")
    prospect_assumed = ~np.isin(prospect_in, tuple(_PROSPECT_ZH))
    prospect = np.where(prospect_assumed, rules["market_prospect_default"], prospect_in)
    low = prospect == "low"
    rwc_ok = cond["reclaim_without_compensation"]
    low_sub = _pick(n, [(rwc_ok, "reclaim_without_compensation"), (public_need, "purchase_by_demand")],
                    "negotiated_reclaim")
    step3 = decided & presold
    rest = decided & ~presold
    step4 = rest & cap
    step5 = rest & not_cap & breach
    step6 = rest & not_cap & ~breach & gov
    step7 = rest & not_cap & ~breach & ~gov
    step = _pick(n, [(out_scope, 1), (review, 2), (step3, 3), (step4, 4), (step5, 5), (step6, 6), (step7, 7)], 0)
    step = step.astype(np.int64)
    sub_route = _pick(n, [
        (step3 & cap, np.where(cap_sub == "reclaim_without_compensation", "continue_with_fee", cap_sub)),
        (step3, transfer_sub),
        (step4, cap_sub),
        (step5 | step6, "negotiated_reclaim"),
        (step7 & ~low, transfer_sub),
        (step7, low_sub),
    ], "")
    route = _pick(n, [(out_scope, "none"), (review, "review")], "")
    for sub, rt in SUB_ROUTES.items():
        route = np.where(decided & (sub_route == sub), rt, route)

    # ---- alternatives: every other table row whose conditions hold, in table order
    subs = list(SUB_ROUTES)
    mat = np.column_stack([cond[s] for s in subs]) & decided[:, None]
    mat[:, subs.index("continue_with_fee")] |= step4 & (sub_route == "reclaim_without_compensation")
    mat &= np.array(subs, dtype=object)[None, :] != sub_route[:, None]
    reclaim_cols = np.array([SUB_ROUTES[s] == "reclaim" for s in subs])
    mat[np.ix_(presold, reclaim_cols)] = False
    bits = mat.astype(np.int64) @ (1 << np.arange(len(subs), dtype=np.int64))
    alt_of = {int(b): [subs[j] for j in range(len(subs)) if b >> j & 1] for b in np.unique(bits)}
    alternatives = [[{"route": SUB_ROUTES[s], "sub_route": s} for s in alt_of[b]] for b in bits.tolist()]

    # ---- measures (RULES.md §6, end), in the order listed there
    cont = (route == "continue") & (sub_route != "on_schedule")
    m_masks = [
        decided & (cause == "force_majeure"),
        cont,
        cont,
        past_start,
        past_completion,
        mortgaged & (route == "transfer"),
        mortgaged & (sub_route == "reclaim_without_compensation"),
        np.isin(sub_route, ("negotiated_reclaim", "purchase_by_demand")),
        route == "reclaim",
    ]
    mbits = np.column_stack(m_masks).astype(np.int64) @ (1 << np.arange(len(_MEASURES), dtype=np.int64))
    m_of = {int(b): [_MEASURES[j] for j in range(len(_MEASURES)) if b >> j & 1] for b in np.unique(mbits)}
    measures = [list(m_of[b]) for b in mbits.tolist()]

    # ---- idle fee (F1)
    fee_rate = rules["fee.rate"]
    fee_due = I1 & ent
    fee = np.where(fee_due, np.round(price * fee_rate, 4), np.nan)

    # ---- reasons: per slot a mask and a text built only on the rows that carry it
    act, ast = d["actual_completion_date"], d["actual_start_date"]
    acd, sup = d["agreed_completion_date"], d["supply_date"]
    cutoff_s = str(cutoff)
    pct_inv = f"{thr_inv:.0%}"

    s1_text = _pick(n, [
        (completed, lambda ix: "已竣工（实际竣工日期 " + _dstr(act[ix]) + "），不属存量土地"),
        (miss_supply, f"缺少{labels['supply_date']}，无法判断是否在存量土地截止日 {cutoff_s} 之前供应；暂按存量土地研判"),
        (after_cutoff, lambda ix: "供地日期 " + _dstr(sup[ix]) + f" 晚于存量土地截止日 {cutoff_s}，不属存量土地"),
    ], lambda ix: "供地日期 " + _dstr(sup[ix]) + f" 不晚于存量土地截止日 {cutoff_s} 且未竣工，属存量土地")
    s2_text = _pick(n, [
        (completed, lambda ix: "实际竣工日期 " + _dstr(act[ix]) + "，开发状态：已竣工"),
        (started, lambda ix: "实际动工日期 " + _dstr(ast[ix]) + "，开发状态：已动工未竣工（以台账动工日期为准）"),
        (known["actual_start_date"], lambda ix: "实际动工日期 " + _dstr(ast[ix])
         + f" 晚于研判基准日 {t_str}，开发状态：未动工"),
    ], "台账无实际动工日期，开发状态：未动工")

    ratio_missing = _join([(miss_dev, labels["developed_area_ratio"]), (miss_inv, labels["invested_ratio"])], "、", n)

    def ratios(ix: np.ndarray) -> np.ndarray:
        return "已开发面积占比 " + _fmt(dev[ix], ".1%") + "、已投资额占比 " + _fmt(inv[ix], ".1%")

    i_rows = [
        (miss_asd, "I1", f"缺少{labels['agreed_start_date']}，无法认定是否未动工闲置"),
        (I1, "I1", lambda ix: "约定动工日期 " + _dstr(asd[ix]) + f"，至研判基准日 {t_str} 超过约定动工日期满 "
         f"{ns_years} 年（" + _dstr(since1[ix]) + " 起）未动工，认定为未动工闲置，闲置 "
         + _fmt(idle_years[ix], "g") + " 年"),
        (not_started & known["agreed_start_date"] & (T <= asd), "I3", lambda ix: "约定动工日期 " + _dstr(asd[ix])
         + f"，至研判基准日 {t_str} 尚未超过约定动工日期，不认定闲置"),
        (not_started & known["agreed_start_date"], "I3", lambda ix: "约定动工日期 " + _dstr(asd[ix])
         + f"，至研判基准日 {t_str} 未满 {ns_years} 年（" + _dstr(since1[ix]) + " 方满），不认定闲置"),
        (I2, "I2", lambda ix: _dstr(hs[ix]) + f" 起中止开发满 {h_years} 年，" + ratios(ix)
         + f"（不足 1/3 或不足 {pct_inv}），可认定为停工闲置（“也可以认定”，非必然）"),
        (miss_ratios, "I2", lambda ix: _dstr(hs[ix]) + f" 起中止开发满 {h_years} 年，但缺少" + ratio_missing[ix]
         + "，无法认定是否停工闲置"),
        (halted_1y, "I3", lambda ix: _dstr(hs[ix]) + f" 起中止开发满 {h_years} 年，但" + ratios(ix)
         + f" 均不低于 1/3 和 {pct_inv}，不认定闲置"),
        (halted, "I3", lambda ix: _dstr(hs[ix]) + f" 起中止开发，至研判基准日 {t_str} 未满 {h_years} 年，不认定闲置"),
        (started, "I3", "已动工，无停工记录，不认定闲置"),
    ]
    i_mask = np.logical_or.reduce([m for m, _, _ in i_rows])
    i_id = _pick(n, [(m, r) for m, r, _ in i_rows])
    i_text = _pick(n, [(m, t) for m, _, t in i_rows])
    i_cit = _pick(n, [(i_id == r, cit[r]) for r in ("I1", "I2", "I3")])
    i3b_mask = miss_acd | past_completion
    i3b_text = _pick(n, [(miss_acd, f"缺少{labels['agreed_completion_date']}，无法判断是否竣工违约")],
                     lambda ix: "已超过约定竣工日期 " + _dstr(acd[ix]) + " 仍未竣工：竣工违约（不属闲置，列入配套措施）")

    def cause_zh(ix: np.ndarray) -> np.ndarray:
        return np.array([_CAUSE_ZH.get(c, c) for c in cause[ix]], dtype=object)

    def detail_zh(ix: np.ndarray) -> np.ndarray:
        return np.array([("（" + _DETAIL_ZH.get(x, x) + "）") if x else "" for x in detail[ix]], dtype=object)

    c_mask = in_scope & (idle | gov | ent)
    c_id = _pick(n, [(gov, "C1"), (ent, "C2")], "C3")
    c_text = _pick(n, [
        (cause == "force_majeure", lambda ix: "闲置原因：不可抗力" + detail_zh(ix) + "，与政府原因同等对待"),
        (gov, lambda ix: "闲置原因：政府原因" + detail_zh(ix)),
        (ent, "闲置原因：企业原因"),
        (cause_in == "", f"未填{labels['idle_cause']}，按原因不明处理，53号令无分责规则，须审核属实后再定处置方式"),
    ], lambda ix: "闲置原因：" + cause_zh(ix) + "，53号令无分责规则，须审核属实后再定处置方式")
    c_cit = _pick(n, [(c_id == r, cit[r]) for r in ("C1", "C2", "C3")])

    not_cap_why = _join([(in_default, "债务违约"), (risk == "high", "风险等级为高风险"),
                         (willing == "no", "无继续开发意愿")], "、", n)
    ent_missing = _join([(found & (risk == ""), "风险等级"), (found & ~default_known, "债务违约")], "、", n)
    k_text = _pick(n, [
        (eid == "", f"缺少{labels['enterprise_id']}，无法判断企业开发能力"),
        (~found & (enterprises is None), lambda ix: "未提供企业表，无法判断企业 " + eid[ix] + " 的开发能力"),
        (~found, lambda ix: "企业表中无企业代码 " + eid[ix] + "，无法判断企业开发能力"),
        (not_cap, lambda ix: "企业 " + eid[ix] + " " + not_cap_why[ix] + "，无能力继续开发"),
        (cap_unknown, lambda ix: "企业 " + eid[ix] + " 缺少" + ent_missing[ix] + "信息，无法判断企业开发能力"),
        (unconfirmed, lambda ix: "企业 " + eid[ix] + " 无债务违约、非高风险，继续开发意愿未确认，"
         "按有能力继续开发处理（意愿须核实）"),
    ], lambda ix: "企业 " + eid[ix] + " 无债务违约、非高风险且愿意继续开发，有能力继续开发")
    k_mask = in_scope

    e_tail = "：台账与遥感影像不符，请核查（不改变推荐路径）"
    e_text = _pick(n, [
        (conflict_started, lambda ix: "台账记载已动工（实际动工日期 " + _dstr(ast[ix]) + "），遥感影像变化指数 "
         + _fmt(activity[ix], ".3f") + f" < {rules['evidence.no_change_max']}，显示无变化" + e_tail),
        (conflict_not_started, lambda ix: "台账无实际动工日期（未动工），遥感影像变化指数 " + _fmt(activity[ix], ".3f")
         + f" ≥ {rules['evidence.construction_min']}，显示有施工" + e_tail),
    ], None)

    f_text = _pick(n, [
        (fee_due & np.isnan(price), f"未动工闲置且为企业原因，但缺少{labels['land_price_wan']}，无法计算土地闲置费"),
        (fee_due, lambda ix: "未动工闲置且为企业原因：土地闲置费 = 出让价款 " + _fmt(price[ix], "g")
         + f" 万元 × {fee_rate:.0%} = " + _fmt(fee[ix], "g") + " 万元"),
    ], None)

    # R: the recommendation step that decided
    def sub_zh_of(ix: np.ndarray) -> np.ndarray:
        return np.array([sub_zh.get(x, "") for x in sub_route[ix]], dtype=object)

    miss_fields = _join([(in_scope & miss_supply, labels["supply_date"]),
                         (in_scope & miss_asd, labels["agreed_start_date"]),
                         (in_scope & miss_acd, labels["agreed_completion_date"]),
                         (in_scope & miss_dev, labels["developed_area_ratio"]),
                         (in_scope & miss_inv, labels["invested_ratio"])], "、", n)
    issues = _join([
        (review & (miss_fields != ""), lambda ix: "缺少" + miss_fields[ix]),
        (review & sealed, "宗地已查封"),
        (review & review_cause, lambda ix: "闲置原因：" + cause_zh(ix) + "，须审核属实"),
        (review & cap_unknown, k_text),
    ], "；", n)

    def transfer_text(ix: np.ndarray) -> np.ndarray:
        paid_zh = np.where(paid[ix], "价款已缴清", np.where(unpaid[ix], "价款未缴清", "价款缴纳比例未知"))
        return ("市场流通转让：" + sub_zh_of(ix) + "（" + paid_zh.astype(object) + "，"
                + np.where(cert[ix], "已办证", "未办证").astype(object) + "，已投资额占比 " + _fmt(inv[ix], ".1%") + "）")

    def prospect_text(ix: np.ndarray) -> np.ndarray:
        zh = np.array([_PROSPECT_ZH[x] for x in prospect[ix]], dtype=object)
        assumed = np.where(prospect_assumed[ix], f"（未填{labels['market_prospect']}，按“"
                           + _PROSPECT_ZH[rules["market_prospect_default"]] + "”假定）", "").astype(object)
        return "市场前景" + zh + assumed

    def presold_text(ix: np.ndarray) -> np.ndarray:
        return "宗地上项目已预售 " + _fmt(presold_n[ix], ".0f") + " 套（保交房），不建议收回；"

    dist = rules["reclaim.purchase_by_demand_distance_m"]
    cap_text = _pick(n, [
        (sub_route == "on_schedule", "未认定闲置，按期开发"),
        (sub_route == "adjust_planning", "因规划依法修改或国家政策调整造成闲置，调整土地用途、规划条件后继续开发"),
        (sub_route == "extend_start", "因政府原因或不可抗力造成闲置，延长动工开发期限（新的动工日期不超过原约定后 "
                                      f"{rules['continue.extend_start_max_years']:g} 年）"),
        (sub_route == "continue_with_fee", lambda ix: "企业原因未动工闲置 " + _fmt(idle_years[ix], "g")
         + " 年，缴纳土地闲置费后继续开发"),
        (sub_route == "reclaim_without_compensation", lambda ix: "企业原因未动工闲置 "
         + _fmt(idle_years[ix], "g") + f" 年，已满 {rwc_years} 年，依法可无偿收回；2024 年政策鼓励有能力的企业继续开发，"
         "缴纳闲置费后继续开发列为备选"),
        (sub_route == "resume_works", "企业原因停工闲置，责令限期复工"),
    ], None)
    r_text = _pick(n, [
        (step == 1, "不属存量土地，不纳入处置"),
        (step == 2, lambda ix: "需人工研判：" + issues[ix]),
        (step3 & cap, lambda ix: presold_text(ix) + "企业有能力继续开发，继续开发并争取纳入白名单融资："
         + sub_zh_of(ix)),
        (step3, lambda ix: presold_text(ix) + "企业无能力继续开发，由国有企业等市场化并购，" + transfer_text(ix)),
        (step == 4, lambda ix: "企业有能力继续开发：" + cap_text[ix]),
        (step == 5, lambda ix: "企业无能力继续开发，且"
         + np.array([_BREACH_ZH.get(b, b) for b in breach_party[ix]], dtype=object) + "违约，主动与企业协商收回"),
        (step == 6, "企业无能力继续开发，闲置因政府原因或不可抗力，协议有偿收回（置换土地、转让等符合条件的列为备选）"),
        (step7 & ~low, lambda ix: "企业无能力继续开发，" + prospect_text(ix) + "，" + transfer_text(ix)),
        (step7 & (sub_route == "reclaim_without_compensation"), lambda ix: "企业无能力继续开发，" + prospect_text(ix)
         + f"，企业原因未动工满 {rwc_years} 年，无偿收回"),
        (step7 & (sub_route == "purchase_by_demand"), lambda ix: "企业无能力继续开发，" + prospect_text(ix)
         + f"，宗地为宜居用地且 {dist:g} 米内有尚需安置房的城中村，以需定购收购"),
        (step7, lambda ix: "企业无能力继续开发，" + prospect_text(ix) + "，协商收回"),
    ], None)
    step_id = np.array([f"R{k}" for k in range(8)], dtype=object)[step]
    step_cit = np.array([""] + [cit[f"R{k}"] for k in range(1, 8)], dtype=object)[step]
    sub_cit = np.array([""] + [rcit[x] for x in SUB_ROUTES], dtype=object)[
        pd.Index(list(SUB_ROUTES)).get_indexer(sub_route) + 1]
    r_cit = np.array([s if not c or c in s else f"{s}；{c}" for s, c in zip(step_cit.tolist(), sub_cit.tolist())],
                     dtype=object)

    slots = [
        _reasons_slot(np.ones(n, bool), "S1", s1_text, cit["S1"]),
        _reasons_slot(np.ones(n, bool), "S2", s2_text, cit["S2"]),
        _reasons_slot(i_mask, i_id, i_text, i_cit),
        _reasons_slot(i3b_mask, "I3", i3b_text, cit["I3"]),
        _reasons_slot(c_mask, c_id, c_text, c_cit),
        _reasons_slot(k_mask, "K1", k_text, cit["K1"]),
        _reasons_slot(conflict, "E1", e_text, cit["E1"]),
        _reasons_slot(fee_due, "F1", f_text, cit["F1"]),
        _reasons_slot(np.ones(n, bool), step_id, r_text, r_cit),
    ]
    reasons = [[r for r in row if r is not None] for row in zip(*slots)]

    # ---- output frame
    index = parcels.index
    town = (parcels["town_code"].astype("string") if f.has("town_code")
            else pd.Series(pd.NA, index=index, dtype="string"))
    out = pd.DataFrame({
        "parcel_id": parcels["parcel_id"].astype("string"),
        "town_code": town,
        "as_of": pd.Series(np.full(n, T), index=index).astype("datetime64[ms]"),
        "rules_version": pd.Series(rules.version, index=index, dtype="string"),
        "in_stock_scope": pd.Series(in_scope, index=index, dtype="boolean"),
        "dev_status": pd.Series(dev_status, index=index, dtype="string"),
        "idle_type": pd.Series(idle_type, index=index, dtype="string"),
        "idle_discretionary": pd.Series(I2, index=index, dtype="boolean"),
        "idle_since": pd.Series(idle_since, index=index).astype("datetime64[ms]"),
        "idle_years": pd.Series(idle_years, index=index, dtype="float64"),
        "cause": pd.Series(cause, index=index, dtype="string"),
        "route": pd.Series(route, index=index, dtype="string"),
        "sub_route": pd.Series(np.where(sub_route == "", None, sub_route), index=index, dtype="string"),
        "alternatives": pd.Series(alternatives, index=index, dtype=object),
        "measures": pd.Series(measures, index=index, dtype=object),
        "reasons": pd.Series(reasons, index=index, dtype=object),
        "idle_fee_wan": pd.Series(fee, index=index, dtype="float64"),
        "activity_index": pd.Series(activity, index=index, dtype="float64"),
        "evidence_conflict": pd.Series(conflict, index=index, dtype="boolean"),
        "project_ids": pd.Series(f.lists("project_ids"), index=index, dtype=object),
        "village_ids": pd.Series(f.lists("village_ids"), index=index, dtype=object),
    }, index=index)
    return out
