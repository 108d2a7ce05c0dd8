"""The named conditions and placeholders of the idle-land rule tables (docs/rules.md §1–§6).

Each condition is one small vectorised function of :class:`IdleFacts` (the parcels as of a date, read once)
returning a boolean array over all parcels; the rule file ``layers/rules/idle.yaml`` names them in its tables.
Each placeholder renders one value as text for a set of rows (dates as YYYY-MM-DD, ratios as percentages, enum
values as their Chinese labels from ``layers/``).  Adding a condition here makes it usable in every table.

Choices made where the rules leave room (see docs/rules.md "解释与取舍"):

* "满一年" is reached on the anniversary day itself; a start date of 29 February has its anniversary on 28
  February in a common year (``idle.leap_day_anniversary: feb28``, 《民法典》第二百零二条) or on 1 March
  (``mar1``).  ``idle_years`` counts anniversaries plus the elapsed fraction of the current year, floored to
  3 decimals, so ``idle_years >= 2`` exactly when the second anniversary has passed.
* Dates are read *as of* ``as_of``: an actual start, completion or halt dated after ``as_of`` has not happened.
* A parcel without ``supply_date`` (and not completed) is kept in scope and sent to review naming 供地日期.
* A started parcel needs ``agreed_completion_date``; a parcel halted one year needs the ratios that decide I2.
* Capability (K1) needs the enterprise record; a parcel without one, or whose record lacks ``risk_level`` /
  ``in_default`` without another fact that already makes it not capable, goes to review (never a guess).
* A missing ``idle_cause`` counts as ``unknown``; a missing ``breach_party`` as ``none``; missing ``sealed`` /
  ``mortgaged`` / ``certificate_issued`` as false; a missing ``price_paid_ratio`` is neither paid nor unpaid.
* E1: a ``started`` parcel whose index shows no change is flagged unless the ledger records it as halted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from .errors import LandRenewError, RuleFileError
from .rules import RuleSet
from .schema import get_layer

__all__ = ["IdleFacts", "CONDITIONS", "PLACEHOLDERS", "add_years", "years_elapsed"]

_DATE_FIELDS = (
    "supply_date",
    "agreed_start_date",
    "agreed_completion_date",
    "actual_start_date",
    "actual_completion_date",
    "halted_since",
)


# ------------------------------------------------------------------------------------------ date helpers
def add_years(start: np.ndarray, years: int | np.ndarray, leap: str) -> np.ndarray:
    """``start`` + whole years; 29 Feb -> 28 Feb (``feb28``) or 1 Mar (``mar1``) in a common year."""
    month = start.astype("M8[M]")
    day = start - month.astype("M8[D]")
    target = month + 12 * np.asarray(years, dtype=np.int64)
    out = target.astype("M8[D]") + day
    if leap == "feb28":
        spill = (out.astype("M8[M]") != target) & ~np.isnat(out)
        out = np.where(spill, out - np.timedelta64(1, "D"), out)
    return out


def years_elapsed(start: np.ndarray, as_of: np.datetime64, leap: str) -> np.ndarray:
    """Whole anniversaries passed plus the fraction of the current year, floored to 3 decimals."""
    out = np.full(len(start), np.nan)
    ok = ~np.isnat(start) & (start <= as_of)
    if not ok.any():
        return out
    s = start[ok]
    k = as_of.astype("M8[Y]").astype(np.int64) - s.astype("M8[Y]").astype(np.int64)
    k = np.where(add_years(s, k, leap) > as_of, k - 1, k)
    a0, a1 = add_years(s, k, leap), add_years(s, k + 1, leap)
    frac = (as_of - a0).astype(np.int64) / (a1 - a0).astype(np.int64)
    out[ok] = np.floor(np.round((k + frac) * 1000, 6)) / 1000
    return out


def _rule_date(rules: RuleSet, key: str) -> np.datetime64:
    value = rules[key]
    try:
        return np.datetime64(pd.Timestamp(value).date(), "D")
    except (ValueError, TypeError) as exc:
        raise RuleFileError(
            f"规则键 “{key}” 的值 “{value}” 不是日期",
            detail=f"rule key {key!r}: {value!r}",
            fix="写成 YYYY-MM-DD，例如 2024-03-31",
        ) from exc


# ------------------------------------------------------------------------------------------ input access
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
                raise LandRenewError(
                    f"宗地表字段 “{name}” 含无法识别的日期",
                    detail=str(exc),
                    fix="日期写成 YYYY-MM-DD，或先经 ingest 读入",
                ) from exc
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
        return [
            v.copy() if type(v) is list else (list(v) if isinstance(v, (tuple, np.ndarray)) else [])
            for v in self.frame[name].tolist()
        ]


class IdleFacts:
    """The facts the idle-land conditions read: parcel fields, enterprise record, as-of date and rule values.

    Built once per assessment; conditions are cached by name (:meth:`cond`).
    """

    def __init__(self, parcels: pd.DataFrame, enterprises: pd.DataFrame | None, as_of: dt.date, rules: RuleSet):
        self._memo: dict[str, np.ndarray] = {}
        f = _Frame(parcels)
        self.frame = f
        self.n = f.n
        self.rules = rules
        self.T = np.datetime64(pd.Timestamp(as_of).date(), "D")
        self.leap = rules["idle.leap_day_anniversary"]
        self.cutoff = _rule_date(rules, "scope.stock_cutoff")
        self.d = {name: f.date(name) for name in _DATE_FIELDS}
        self.known = {name: ~np.isnat(a) for name, a in self.d.items()}
        self.dev = f.num("developed_area_ratio")
        self.inv = f.num("invested_ratio")
        self.price = f.num("land_price_wan")
        self.paid_ratio = f.num("price_paid_ratio")
        self.presold_n = f.num("presold_units", 0.0)
        self.activity = f.num("activity_index")
        self.cause_in = f.text("idle_cause")
        self.cause = np.where(self.cause_in == "", "unknown", self.cause_in)
        self.detail = f.text("idle_cause_detail")
        self.breach_party = f.text("breach_party")
        prospect_in = f.text("market_prospect")
        prospects = get_layer("parcels").field("market_prospect").values
        self.prospect_assumed = ~np.isin(prospect_in, prospects)
        self.prospect = np.where(self.prospect_assumed, rules["market_prospect_default"], prospect_in)
        self.eid = f.text("enterprise_id")
        self.cert, _ = f.flag("certificate_issued")
        self.mortgaged, _ = f.flag("mortgaged")
        self.sealed, _ = f.flag("sealed")
        self.public_need, _ = f.flag("public_need")
        self.since1 = add_years(self.d["agreed_start_date"], rules["idle.not_started_years"], self.leap)
        self.since2 = add_years(self.d["halted_since"], rules["idle.halted_years"], self.leap)
        self._enterprise(enterprises)

    def _enterprise(self, enterprises: pd.DataFrame | None) -> None:
        n, eid = self.n, self.eid
        self.enterprises_given = enterprises is not None
        self.found = np.zeros(n, bool)
        self.risk = np.full(n, "", dtype=object)
        self.willing = np.full(n, "", dtype=object)
        self.in_default = np.zeros(n, bool)
        self.default_known = np.zeros(n, bool)
        if enterprises is not None and len(enterprises) and "enterprise_id" in enterprises.columns:
            ef = _Frame(enterprises.drop_duplicates("enterprise_id"))
            pos = pd.Index(ef.text("enterprise_id")).get_indexer(eid)
            self.found = (pos >= 0) & (eid != "")
            take = np.where(self.found, pos, 0)
            self.risk = np.where(self.found, ef.text("risk_level")[take], "")
            self.willing = np.where(self.found, ef.text("willing_to_continue")[take], "")
            dflt, dknown = ef.flag("in_default")
            self.in_default = self.found & dflt[take]
            self.default_known = self.found & dknown[take]

    def cond(self, name: str) -> np.ndarray:
        """The named condition's mask (cached)."""
        if name not in self._memo:
            self._memo[name] = np.asarray(CONDITIONS[name](self), dtype=bool)
        return self._memo[name]

    def __getattr__(self, name: str) -> np.ndarray:  # f.completed etc. read a condition
        if name.startswith("_") or name not in CONDITIONS:
            raise AttributeError(name)
        return self.cond(name)

    # derived values (not conditions), computed once ------------------------------------------------------
    @cached_property
    def _idle_years(self) -> np.ndarray:
        from_start = years_elapsed(self.d["agreed_start_date"], self.T, self.leap)
        from_halt = years_elapsed(self.d["halted_since"], self.T, self.leap)
        return np.where(self.not_started_idle, from_start, np.where(self.halted_idle, from_halt, np.nan))

    def idle_years(self) -> np.ndarray:
        """I1: years from the agreed start date; I2: from halted_since; NaN when not idle."""
        return self._idle_years

    def idle_since(self) -> np.ndarray:
        return np.where(
            self.not_started_idle, self.since1, np.where(self.halted_idle, self.since2, np.datetime64("NaT"))
        )

    @cached_property
    def _idle_fee(self) -> np.ndarray:
        return np.where(self.idle_fee_due, np.round(self.price * self.rules["fee.rate"], 4), np.nan)

    def idle_fee(self) -> np.ndarray:
        """F1: land price x fee rate for not-started idle land with cause enterprise; NaN otherwise."""
        return self._idle_fee


# -------------------------------------------------------------------------------------------- conditions
CONDITIONS: dict[str, Callable[[IdleFacts], np.ndarray]] = {}


def _condition(fn: Callable[[IdleFacts], np.ndarray]) -> Callable[[IdleFacts], np.ndarray]:
    CONDITIONS[fn.__name__] = fn
    return fn


# S2 development status, as of the date
@_condition
def completed(f: IdleFacts) -> np.ndarray:
    """S2 已竣工: actual completion date on or before the as-of date."""
    return f.known["actual_completion_date"] & (f.d["actual_completion_date"] <= f.T)


@_condition
def started(f: IdleFacts) -> np.ndarray:
    """S2 已动工未竣工: not completed, actual start date on or before the as-of date."""
    return ~f.completed & f.known["actual_start_date"] & (f.d["actual_start_date"] <= f.T)


@_condition
def not_started(f: IdleFacts) -> np.ndarray:
    """S2 未动工: neither completed nor started as of the date."""
    return ~f.completed & ~f.started


@_condition
def actual_start_known(f: IdleFacts) -> np.ndarray:
    """The ledger has an actual start date (possibly after the as-of date)."""
    return f.known["actual_start_date"]


# S1 scope
@_condition
def supply_date_missing(f: IdleFacts) -> np.ndarray:
    """S1: a parcel not completed without supply date (kept in scope, sent to review)."""
    return ~f.completed & ~f.known["supply_date"]


@_condition
def supplied_after_cutoff(f: IdleFacts) -> np.ndarray:
    """S1: supplied after ``scope.stock_cutoff``."""
    return f.known["supply_date"] & (f.d["supply_date"] > f.cutoff)


@_condition
def in_stock_scope(f: IdleFacts) -> np.ndarray:
    """S1 存量土地: not completed and not supplied after the cut-off."""
    return ~f.completed & ~f.supplied_after_cutoff


@_condition
def out_of_stock_scope(f: IdleFacts) -> np.ndarray:
    """S1: completed, or supplied after the cut-off."""
    return ~f.in_stock_scope


# I1 / I2 / I3 idle determination
@_condition
def agreed_start_missing(f: IdleFacts) -> np.ndarray:
    """I1 cannot be decided: not started and no agreed start date."""
    return f.not_started & ~f.known["agreed_start_date"]


@_condition
def agreed_start_known(f: IdleFacts) -> np.ndarray:
    """The ledger has an agreed start date."""
    return f.known["agreed_start_date"]


@_condition
def agreed_start_not_passed(f: IdleFacts) -> np.ndarray:
    """The as-of date is not after the agreed start date."""
    return f.known["agreed_start_date"] & (f.T <= f.d["agreed_start_date"])


@_condition
def not_started_idle(f: IdleFacts) -> np.ndarray:
    """I1 未动工闲置: not started ``idle.not_started_years`` after the agreed start date."""
    return f.not_started & f.known["agreed_start_date"] & (f.T >= f.since1)


@_condition
def halted(f: IdleFacts) -> np.ndarray:
    """Started and halted (``halted_since`` on or before the as-of date)."""
    return f.started & f.known["halted_since"] & (f.d["halted_since"] <= f.T)


@_condition
def halted_one_year(f: IdleFacts) -> np.ndarray:
    """Halted for ``idle.halted_years`` or more."""
    return f.halted & (f.T >= f.since2)


def _ratio_low(f: IdleFacts) -> np.ndarray:
    return (f.dev < f.rules["idle.halted_developed_ratio_below"]) | (
        f.inv < f.rules["idle.halted_invested_ratio_below"]
    )


def _ratio_high(f: IdleFacts) -> np.ndarray:
    return (f.dev >= f.rules["idle.halted_developed_ratio_below"]) & (
        f.inv >= f.rules["idle.halted_invested_ratio_below"]
    )


@_condition
def halted_idle(f: IdleFacts) -> np.ndarray:
    """I2 停工闲置 (discretionary): halted a year, developed area below 1/3 or investment below 25 %."""
    return f.halted_one_year & _ratio_low(f)


@_condition
def halted_ratios_missing(f: IdleFacts) -> np.ndarray:
    """I2 cannot be decided: halted a year and the ratios that decide it are missing."""
    return f.halted_one_year & ~_ratio_low(f) & ~_ratio_high(f)


@_condition
def developed_ratio_missing(f: IdleFacts) -> np.ndarray:
    """I2 cannot be decided and 已开发面积占比 is missing."""
    return f.halted_ratios_missing & np.isnan(f.dev)


@_condition
def invested_ratio_missing(f: IdleFacts) -> np.ndarray:
    """I2 cannot be decided and 已投资额占比 is missing."""
    return f.halted_ratios_missing & np.isnan(f.inv)


@_condition
def agreed_completion_missing(f: IdleFacts) -> np.ndarray:
    """A started parcel without agreed completion date (竣工违约 cannot be decided)."""
    return f.started & ~f.known["agreed_completion_date"]


@_condition
def idle(f: IdleFacts) -> np.ndarray:
    """I1 or I2."""
    return f.not_started_idle | f.halted_idle


@_condition
def idle_two_years(f: IdleFacts) -> np.ndarray:
    """Not-started idle for ``idle.reclaim_without_compensation_years`` or more (Art. 14(2))."""
    years = f.rules["idle.reclaim_without_compensation_years"]
    return f.not_started_idle & (f.T >= add_years(f.d["agreed_start_date"], years, f.leap))


@_condition
def past_agreed_start(f: IdleFacts) -> np.ndarray:
    """Not started, past the agreed start date, not yet idle (督促动工)."""
    return f.not_started & f.known["agreed_start_date"] & (f.T > f.d["agreed_start_date"]) & ~f.not_started_idle


@_condition
def past_agreed_completion(f: IdleFacts) -> np.ndarray:
    """Started, past the agreed completion date (竣工违约)."""
    return f.started & f.known["agreed_completion_date"] & (f.T > f.d["agreed_completion_date"])


# C1-C3 cause
@_condition
def government_cause(f: IdleFacts) -> np.ndarray:
    """C1: cause government or force majeure (treated alike)."""
    return np.isin(f.cause, ("government", "force_majeure"))


@_condition
def force_majeure_cause(f: IdleFacts) -> np.ndarray:
    """C1: cause force majeure (natural disaster, pandemic)."""
    return f.cause == "force_majeure"


@_condition
def enterprise_cause(f: IdleFacts) -> np.ndarray:
    """C2: cause enterprise."""
    return f.cause == "enterprise"


@_condition
def cause_missing(f: IdleFacts) -> np.ndarray:
    """No idle cause in the ledger (counts as unknown)."""
    return f.cause_in == ""


@_condition
def cause_relevant(f: IdleFacts) -> np.ndarray:
    """The cause is reported: the parcel is idle, or its cause is government/force majeure/enterprise."""
    return f.idle | f.government_cause | f.enterprise_cause


@_condition
def cause_needs_review(f: IdleFacts) -> np.ndarray:
    """C3: an idle parcel with cause mixed or unknown."""
    return f.idle & ~f.government_cause & ~f.enterprise_cause


@_condition
def cause_detail_given(f: IdleFacts) -> np.ndarray:
    """The ledger names the detail of the cause (原因细类)."""
    return f.detail != ""


@_condition
def planning_change(f: IdleFacts) -> np.ndarray:
    """Cause government: planning lawfully revised or national policy change (art8_2, art8_3)."""
    return (f.cause == "government") & np.isin(f.detail, ("art8_2", "art8_3"))


@_condition
def planning_revised(f: IdleFacts) -> np.ndarray:
    """Cause government: planning lawfully revised (art8_2)."""
    return (f.cause == "government") & (f.detail == "art8_2")


# K1 capability
@_condition
def enterprise_id_missing(f: IdleFacts) -> np.ndarray:
    """The parcel has no enterprise code."""
    return f.eid == ""


@_condition
def enterprise_table_missing(f: IdleFacts) -> np.ndarray:
    """No enterprise table was given."""
    return np.full(f.n, not f.enterprises_given)


@_condition
def enterprise_not_found(f: IdleFacts) -> np.ndarray:
    """No enterprise record for the parcel."""
    return ~f.found


@_condition
def in_default(f: IdleFacts) -> np.ndarray:
    """The enterprise is in default (债务违约)."""
    return f.in_default


@_condition
def high_risk(f: IdleFacts) -> np.ndarray:
    """The enterprise's risk level is high."""
    return f.risk == "high"


@_condition
def unwilling(f: IdleFacts) -> np.ndarray:
    """The enterprise is not willing to continue."""
    return f.willing == "no"


@_condition
def risk_level_missing(f: IdleFacts) -> np.ndarray:
    """The enterprise record has no risk level."""
    return f.found & (f.risk == "")


@_condition
def default_unknown(f: IdleFacts) -> np.ndarray:
    """The enterprise record does not say whether it is in default."""
    return f.found & ~f.default_known


@_condition
def not_capable(f: IdleFacts) -> np.ndarray:
    """K1 无能力: in default, high risk, or not willing."""
    return f.found & (f.in_default | (f.risk == "high") | (f.willing == "no"))


@_condition
def capable(f: IdleFacts) -> np.ndarray:
    """K1 有能力: a complete record, not in default, not high risk, not unwilling."""
    return f.found & ~f.not_capable & f.default_known & (f.risk != "")


@_condition
def capability_unknown(f: IdleFacts) -> np.ndarray:
    """K1 cannot be decided (no record, or a record missing a fact)."""
    return ~f.capable & ~f.not_capable


@_condition
def willingness_unconfirmed(f: IdleFacts) -> np.ndarray:
    """Capable, but the willingness to continue is not confirmed."""
    return f.capable & (f.willing != "yes")


# E1 evidence
@_condition
def ledger_started_imagery_flat(f: IdleFacts) -> np.ndarray:
    """E1: started (and not halted) in the ledger, the imagery shows no change."""
    return f.started & ~f.halted & (f.activity < f.rules["evidence.no_change_max"])


@_condition
def ledger_not_started_imagery_active(f: IdleFacts) -> np.ndarray:
    """E1: not started in the ledger, the imagery shows construction."""
    return f.not_started & (f.activity >= f.rules["evidence.construction_min"])


@_condition
def evidence_conflict(f: IdleFacts) -> np.ndarray:
    """E1: the ledger and the imagery disagree."""
    return f.ledger_started_imagery_flat | f.ledger_not_started_imagery_active


# §6 routes
@_condition
def sealed(f: IdleFacts) -> np.ndarray:
    """The parcel is sealed (查封)."""
    return f.sealed


@_condition
def mortgaged(f: IdleFacts) -> np.ndarray:
    """The parcel is mortgaged (抵押)."""
    return f.mortgaged


@_condition
def inputs_missing(f: IdleFacts) -> np.ndarray:
    """A date or ratio a rule needs is missing."""
    return f.supply_date_missing | f.agreed_start_missing | f.agreed_completion_missing | f.halted_ratios_missing


@_condition
def needs_review(f: IdleFacts) -> np.ndarray:
    """Step 2: in scope, and an input missing, sealed, cause to verify, or capability unknown."""
    return f.in_stock_scope & (f.inputs_missing | f.sealed | f.cause_needs_review | f.capability_unknown)


@_condition
def decided(f: IdleFacts) -> np.ndarray:
    """In scope and not sent to review."""
    return f.in_stock_scope & ~f.needs_review


@_condition
def presold(f: IdleFacts) -> np.ndarray:
    """A project on the parcel has presold units (保交房)."""
    return f.presold_n > 0


@_condition
def breach(f: IdleFacts) -> np.ndarray:
    """A breach by the government, the enterprise or both (``breach_party`` not none)."""
    return np.isin(f.breach_party, ("government", "enterprise", "both"))


@_condition
def breach_by_both(f: IdleFacts) -> np.ndarray:
    """Breach by both parties."""
    return f.breach_party == "both"


@_condition
def breach_or_government_cause(f: IdleFacts) -> np.ndarray:
    """A breach by either party, or cause government/force majeure."""
    return f.breach | f.government_cause


@_condition
def price_fully_paid(f: IdleFacts) -> np.ndarray:
    """``price_paid_ratio`` at or above ``transfer.price_paid_full_ratio``."""
    return f.paid_ratio >= f.rules["transfer.price_paid_full_ratio"]


@_condition
def price_not_fully_paid(f: IdleFacts) -> np.ndarray:
    """``price_paid_ratio`` known and below ``transfer.price_paid_full_ratio``."""
    return f.paid_ratio < f.rules["transfer.price_paid_full_ratio"]


@_condition
def certificate_issued(f: IdleFacts) -> np.ndarray:
    """The land certificate is issued (已办证)."""
    return f.cert


@_condition
def whole_transfer_eligible(f: IdleFacts) -> np.ndarray:
    """Not capable, price fully paid, certificate issued, invested ratio >= ``transfer.min_invested_ratio``."""
    return f.not_capable & f.price_fully_paid & f.cert & (f.inv >= f.rules["transfer.min_invested_ratio"])


@_condition
def preregistered_transfer_eligible(f: IdleFacts) -> np.ndarray:
    """Not capable, price fully paid, and invested ratio below the minimum or no certificate."""
    return f.not_capable & f.price_fully_paid & ((f.inv < f.rules["transfer.min_invested_ratio"]) | ~f.cert)


@_condition
def joint_development_eligible(f: IdleFacts) -> np.ndarray:
    """Not capable; price not fully paid, or eligible for whole or pre-registered transfer."""
    return f.not_capable & (~f.price_fully_paid | f.whole_transfer_eligible | f.preregistered_transfer_eligible)


@_condition
def reclaim_without_compensation_eligible(f: IdleFacts) -> np.ndarray:
    """Not-started idle, cause enterprise, idle two years or more (Art. 14(2))."""
    return f.not_started_idle & f.enterprise_cause & f.idle_two_years


@_condition
def public_need(f: IdleFacts) -> np.ndarray:
    """Residential-compatible land near a village still needing resettlement units (join column)."""
    return f.public_need


@_condition
def low_prospect(f: IdleFacts) -> np.ndarray:
    """Market prospect low (a missing prospect counts as ``market_prospect_default``)."""
    return f.prospect == "low"


@_condition
def prospect_assumed(f: IdleFacts) -> np.ndarray:
    """The market prospect is missing and assumed."""
    return f.prospect_assumed


@_condition
def idle_fee_due(f: IdleFacts) -> np.ndarray:
    """F1: not-started idle with cause enterprise."""
    return f.not_started_idle & f.enterprise_cause


@_condition
def land_price_missing(f: IdleFacts) -> np.ndarray:
    """No land price in the ledger."""
    return np.isnan(f.price)


# ------------------------------------------------------------------------------------------ placeholders
def _dstr(a: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(a, unit="D").astype(object)


def _fmt(a: np.ndarray, spec: str) -> np.ndarray:
    return np.array([format(v, spec) if v == v else "未知" for v in a.tolist()], dtype=object)


def _labels_of(layer: str, field: str, values: np.ndarray) -> np.ndarray:
    labels = get_layer(layer).field(field).value_labels
    return np.array([labels.get(v, v) for v in values.tolist()], dtype=object)


def _date(name: str) -> Callable[[IdleFacts, np.ndarray], Any]:
    def render(f: IdleFacts, ix: np.ndarray) -> np.ndarray:
        return _dstr(f.d[name][ix])

    render.__doc__ = f"``{name}`` as YYYY-MM-DD."
    return render


def _cause_detail(f: IdleFacts, ix: np.ndarray) -> np.ndarray:
    """The detail of the cause: its article (``cause_detail_articles``) and label, e.g. 第八条第（二）项 规划依法修改."""
    articles = f.rules["cause_detail_articles"]
    codes = f.detail[ix].tolist()
    labels = _labels_of("parcels", "idle_cause_detail", np.array(codes, dtype=object)).tolist()
    return np.array(
        [(f"{articles[c]} " if articles.get(c) else "") + lab for c, lab in zip(codes, labels)], dtype=object
    )


#: placeholder -> (facts, row positions) -> texts; ``label.<field>`` for every ``parcels`` field is added below.
PLACEHOLDERS: dict[str, Callable[[IdleFacts, np.ndarray], Any]] = {
    **{name: _date(name) for name in _DATE_FIELDS},
    "as_of": lambda f, ix: str(f.T),
    "stock_cutoff": lambda f, ix: str(f.cutoff),
    "not_started_idle_from": lambda f, ix: _dstr(f.since1[ix]),
    "not_started_years": lambda f, ix: f"{f.rules['idle.not_started_years']}",
    "halted_years": lambda f, ix: f"{f.rules['idle.halted_years']}",
    "halted_invested_below": lambda f, ix: f"{f.rules['idle.halted_invested_ratio_below']:.0%}",
    "idle_years": lambda f, ix: _fmt(f.idle_years()[ix], "g"),
    "developed_area_ratio": lambda f, ix: _fmt(f.dev[ix], ".1%"),
    "invested_ratio": lambda f, ix: _fmt(f.inv[ix], ".1%"),
    "activity_index": lambda f, ix: _fmt(f.activity[ix], ".3f"),
    "evidence_no_change_max": lambda f, ix: f"{f.rules['evidence.no_change_max']}",
    "evidence_construction_min": lambda f, ix: f"{f.rules['evidence.construction_min']}",
    "land_price_wan": lambda f, ix: _fmt(f.price[ix], "g"),
    "fee_rate": lambda f, ix: f"{f.rules['fee.rate']:.0%}",
    "idle_fee_wan": lambda f, ix: _fmt(f.idle_fee()[ix], "g"),
    "presold_units": lambda f, ix: _fmt(f.presold_n[ix], ".0f"),
    "extend_start_max_years": lambda f, ix: f"{f.rules['continue.extend_start_max_years']:g}",
    "reclaim_without_compensation_years": lambda f, ix: f"{f.rules['idle.reclaim_without_compensation_years']}",
    "purchase_by_demand_distance_m": lambda f, ix: f"{f.rules['reclaim.purchase_by_demand_distance_m']:g}",
    "enterprise_id": lambda f, ix: f.eid[ix],
    "dev_status": lambda f, ix: _labels_of(
        "idle_assessment",
        "dev_status",
        np.select([f.completed[ix], f.started[ix]], ["completed", "started"], "not_started").astype(object),
    ),
    "cause": lambda f, ix: _labels_of("idle_assessment", "cause", f.cause[ix]),
    "cause_detail": _cause_detail,
    "breach_party": lambda f, ix: _labels_of("parcels", "breach_party", f.breach_party[ix]),
    "market_prospect": lambda f, ix: _labels_of("parcels", "market_prospect", f.prospect[ix]),
    "market_prospect_default": lambda f, ix: (
        get_layer("parcels").field("market_prospect").label_of(f.rules["market_prospect_default"])
    ),
}
PLACEHOLDERS.update(
    {f"label.{name}": (lambda text: lambda f, ix: text)(label) for name, label in get_layer("parcels").labels().items()}
)
