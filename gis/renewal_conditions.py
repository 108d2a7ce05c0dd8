"""The named conditions and placeholders of the renewal status table (``status_order`` in
``layers/rules/renewal.yaml``, docs/rules.md §7).

:class:`VillageFacts` holds, per village, what the forecast step computed (latest percent, rate, projection,
stall check); each condition is one small vectorised function of it, each placeholder renders one value for a
set of villages (dates as YYYY-MM-DD, rates as percentages).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .decision_table import Clause, RowError, Template, Vocabulary, parse_template, parse_when
from .rules import RuleSet
from .schema import get_layer

__all__ = ["VillageFacts", "CONDITIONS", "PLACEHOLDERS", "StatusRow", "status_table"]

_EPS = 1e-9
_EPOCH = np.datetime64("1970-01-01", "D")


def _date_str(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(_EPOCH + np.asarray(days, dtype=np.int64))


def _pct(x: Any) -> np.ndarray:
    return np.char.mod("%.1f%%", np.asarray(x, dtype=float) * 100)


@dataclass
class VillageFacts:
    """Per-village arrays of the forecast step (``n`` villages) and the report history they come from."""

    rules: RuleSet
    as_of_day: int
    has_report: np.ndarray  # bool: at least one usable report
    percent: np.ndarray  # latest percent_complete (0 without report)
    stage: np.ndarray  # latest stage ("not_started" without report)
    last_day: np.ndarray  # float day of the last report (NaN without)
    deadline_day: np.ndarray  # float day of the deadline
    months_to_deadline: np.ndarray
    required: np.ndarray  # monthly rate still required
    has_rate: np.ndarray  # bool
    rate: np.ndarray  # monthly rate (NaN without)
    projected_day: np.ndarray  # float day (NaN when no projection)
    projection_overflow: np.ndarray  # bool: beyond the datetime range
    late_cut_day: np.ndarray  # deadline + status.late_margin_months
    stalled: np.ndarray  # bool
    stall_reference: np.ndarray  # report position of the stall reference
    rate_base: np.ndarray  # report position of the rate's base report
    report_day: np.ndarray  # int day of every report
    report_percent: np.ndarray  # percent of every report


# -------------------------------------------------------------------------------------------- conditions
CONDITIONS: dict[str, Callable[[VillageFacts], np.ndarray]] = {}


def _condition(fn: Callable[[VillageFacts], np.ndarray]) -> Callable[[VillageFacts], np.ndarray]:
    CONDITIONS[fn.__name__] = fn
    return fn


@_condition
def complete(v: VillageFacts) -> np.ndarray:
    """Every counted indicator at 100 % in the latest report (the indicators decide, not the stage)."""
    return v.has_report & (v.percent >= 1 - _EPS)


@_condition
def deadline_passed(v: VillageFacts) -> np.ndarray:
    """The deadline is today or past."""
    return v.months_to_deadline <= 0


@_condition
def no_report(v: VillageFacts) -> np.ndarray:
    """No usable report up to the as-of date."""
    return ~v.has_report


@_condition
def zero_at_early_stage(v: VillageFacts) -> np.ndarray:
    """percent_complete 0 at one of ``status.not_started_stages``."""
    return (v.percent <= _EPS) & np.isin(v.stage, list(v.rules["status.not_started_stages"]))


@_condition
def stalled(v: VillageFacts) -> np.ndarray:
    """No progress (<= ``status.stall_min_progress``) over ``status.stall_months`` before the last report."""
    return v.stalled


@_condition
def has_rate(v: VillageFacts) -> np.ndarray:
    """Two usable reports or more: a monthly rate can be computed."""
    return v.has_rate


@_condition
def rate_positive(v: VillageFacts) -> np.ndarray:
    """The recent monthly rate is above zero."""
    return v.rate > 0


@_condition
def projected_beyond_margin(v: VillageFacts) -> np.ndarray:
    """Projected completion more than ``status.late_margin_months`` after the deadline."""
    return v.projected_day > v.late_cut_day


@_condition
def projected_after_deadline(v: VillageFacts) -> np.ndarray:
    """Projected completion after the deadline."""
    return v.projected_day > v.deadline_day


@_condition
def required_above_threshold(v: VillageFacts) -> np.ndarray:
    """The monthly rate still required is above ``status.single_report_max_required_rate``."""
    return v.required > v.rules["status.single_report_max_required_rate"]


# ------------------------------------------------------------------------------------------ placeholders
def _last(v: VillageFacts, ix: np.ndarray) -> np.ndarray:
    return _date_str(np.nan_to_num(v.last_day[ix]).astype(np.int64))


def _projected(v: VillageFacts, ix: np.ndarray) -> np.ndarray:
    dates = _date_str(np.nan_to_num(v.projected_day[ix]).astype(np.int64))
    return np.where(v.projection_overflow[ix], "远超可推算范围", dates)


_STAGE = get_layer("village_progress").field("stage")

#: placeholder -> (facts, village positions) -> texts
PLACEHOLDERS: dict[str, Callable[[VillageFacts, np.ndarray], Any]] = {
    "as_of": lambda v, ix: str(_date_str(np.array([v.as_of_day]))[0]),
    "deadline": lambda v, ix: _date_str(v.deadline_day.astype(np.int64)[ix]),
    "last_report_date": _last,
    "percent": lambda v, ix: _pct(v.percent[ix]),
    "remaining": lambda v, ix: _pct(1 - v.percent[ix]),
    "required_rate": lambda v, ix: _pct(v.required[ix]),
    "rate": lambda v, ix: _pct(v.rate[ix]),
    "rate_base_date": lambda v, ix: _date_str(v.report_day[v.rate_base[ix]]),
    "projected_completion": _projected,
    "stage": lambda v, ix: np.array([_STAGE.value_labels.get(s, "?") for s in v.stage[ix].tolist()], dtype=object),
    "stall_months": lambda v, ix: str(v.rules["status.stall_months"]),
    "stall_reference_date": lambda v, ix: _date_str(v.report_day[v.stall_reference[ix]]),
    "stall_reference_percent": lambda v, ix: _pct(v.report_percent[v.stall_reference[ix]]),
    "late_margin_months": lambda v, ix: str(v.rules["status.late_margin_months"]),
    "single_report_threshold": lambda v, ix: _pct(np.full(len(ix), v.rules["status.single_report_max_required_rate"])),
}


# ------------------------------------------------------------------------------------------ status table
@dataclass(frozen=True)
class StatusRow:
    """One row of ``status_order``."""

    status: str
    when: tuple[Clause, ...]
    note: Template | None
    citation: str


def status_table(rules: RuleSet) -> tuple[StatusRow, ...]:
    """The checked ``status_order`` table of a renewal rule file.

    Raises
    ------
    RuleFileError
        A row misses a key or has an unknown one, names an unknown status, condition or placeholder.
    """
    statuses = get_layer("village_status").field("status").values
    vocab = Vocabulary(CONDITIONS, PLACEHOLDERS)
    rows = []
    raw_rows = rules["status_order"]
    for i, raw in enumerate(raw_rows, start=1):
        where = RowError(rules.path, "status_order", i, str(raw.get("status", "")) if isinstance(raw, dict) else "")
        if not isinstance(raw, dict):
            raise where.error("(行)", f"应为键值映射，现为 {raw!r}", "每行写成 {status: …, when: […], note: …}")
        for key in ("status", "when", "citation"):
            if key not in raw:
                raise where.error(
                    key, "缺失", "每行须有键 status、when、citation", detail=f"status_order[{i}]: missing key {key!r}"
                )
        unknown = [k for k in raw if k not in ("status", "when", "note", "citation")]
        if unknown:
            raise where.error(unknown[0], "不是进展状态表的键", "只能有 status、when、note、citation")
        if raw["status"] not in statuses:
            raise where.error("status", f"的状态 “{raw['status']}” 未知", f"状态只能取 {', '.join(statuses)}")
        note = raw.get("note")
        rows.append(
            StatusRow(
                raw["status"],
                parse_when(raw["when"], where, vocab),
                None if note is None else parse_template(note, where, "note", PLACEHOLDERS),
                str(raw["citation"]),
            )
        )
    if not rows or rows[-1].when:
        raise RowError(rules.path, "status_order", len(rows)).error(
            "when", "最后一行应无条件（when: []），使每个村都有状态", "在表末加一行 {status: on_track, when: [], …}"
        )
    return tuple(rows)
