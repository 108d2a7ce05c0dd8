"""Warnings (预警) as of a date (docs/disposal.md §5), with the deadline that caused each.

* ``red`` — a statutory deadline passed without the event that meets it (from the day after the due date);
* ``amber`` — within ``warnings.amber_days`` of one (the due date itself included);
* ``no_case`` — a parcel identified for disposal without a case;
* ``stale`` — an open case with no event for ``warnings.stale_days`` days while none of its deadlines is
  running or paused (a case waiting out a one-year extension is not stale).

Completed cases and cases closed another way raise none.  Vectorised: 10^5 parcels and 10^4 cases in well under
a second (``bench/bench_disposal.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .deadlines import _NAT as _NAT_DAY
from .deadlines import _spells, deadline_arrays, prepare, str_isin
from .disposal_progress import stage_codes
from .disposal_rules import DisposalRules, default_disposal_rules

__all__ = ["disposal_warnings", "parcel_warning_level", "LEVELS", "LEVEL_LABELS", "WARNING_COLUMNS"]

LEVELS = ("red", "amber", "stale", "no_case")
LEVEL_LABELS = {"red": "红色预警（逾期）", "amber": "黄色预警（临期）", "stale": "停滞", "no_case": "未立案"}
WARNING_COLUMNS = [
    "parcel_id",
    "town_code",
    "case_id",
    "level",
    "level_label",
    "deadline_id",
    "deadline",
    "citation",
    "start_date",
    "due_date",
    "days",
    "message",
]


def visible_cases(cases: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """Cases opened on or before ``as_of``."""
    opened = pd.to_datetime(cases["opened_at"], utc=True).dt.tz_localize(None).dt.normalize()
    return cases.loc[(opened <= pd.Timestamp(pd.Timestamp(as_of).date())).to_numpy()]


def _dates(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[ms]")


def _ymd(days: np.ndarray) -> list[str]:
    return np.datetime_as_string(days.astype("datetime64[D]")).tolist()


def _obj(values: Any, n: int) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype == object and len(values) == n:
        return values
    if isinstance(values, (list, np.ndarray, pd.Series)):
        return np.asarray(values, dtype=object)
    out = np.empty(n, dtype=object)
    out[:] = values
    return out


def disposal_warnings(
    cases: pd.DataFrame,
    events: pd.DataFrame,
    as_of: Any,
    *,
    identified: pd.DataFrame | None = None,
    rules: DisposalRules | None = None,
) -> pd.DataFrame:
    """The warnings as of a date, worst first (red, amber, stale, no_case; then most overdue; then input order).

    Parameters
    ----------
    cases, events
        :func:`gis.cases.read_cases` / :func:`gis.cases.read_events`.
    identified
        Parcels identified for disposal (``parcel_id``, ``town_code``; e.g. the assessment rows where
        :func:`gis.cases.is_identified`): those without any case get ``no_case``.

    Returns
    -------
    DataFrame
        :data:`WARNING_COLUMNS`; ``days`` = days overdue (red), left (amber) or without an event (stale).
    """
    rules = rules or default_disposal_rules()
    at = pd.Timestamp(pd.Timestamp(as_of).date())
    cases = visible_cases(cases, at)
    pp = prepare(events.loc[str_isin(events["case_id"], cases["case_id"])], at, rules)
    case_ids = cases["case_id"].to_numpy(dtype=object)
    case_pid = cases["parcel_id"].to_numpy(dtype=object)
    case_town = cases["town_code"].to_numpy(dtype=object, na_value=None)
    code_of = pd.Index(pp.case_ids, dtype=object).get_indexer(case_ids)  # case row -> event case code (-1: none)
    n_ev = len(pp.case_ids)
    row_of = np.full(n_ev, -1, dtype=np.int64)
    has = code_of >= 0
    row_of[code_of[has]] = np.flatnonzero(has)
    stage = np.full(len(cases), "case_open", dtype=object)
    stage[has] = stage_codes(pp, rules)[code_of[has]]
    is_open = ~np.isin(stage, ["completed", "closed"])
    cols = {c: [] for c in ("row", "level", "deadline_id", "deadline", "citation", "start", "due", "days", "message")}

    def add(n, **values):
        for k in cols:
            cols[k].append(_obj(values[k], n) if k not in ("row", "start", "due", "days") else values[k])

    a = deadline_arrays(pp, rules)
    rows = row_of[a["cid"]] if len(a["cid"]) else np.zeros(0, np.int64)
    live = is_open[rows] & ~a["met"] if len(rows) else np.zeros(0, bool)
    run = live & ~a["paused"]
    left = a["due"] - pp.at
    dls = rules.deadlines
    for level, mask in (("red", run & (left < 0)), ("amber", run & (left >= 0) & (left <= rules.amber_days))):
        if not mask.any():
            continue
        k, due = a["k"][mask], a["due"][mask]
        days = -left[mask] if level == "red" else left[mask]
        label = [dls[x].label for x in k]
        msg = [
            f"{lb}：{ds}到期，" + (f"已逾期 {n} 天" if level == "red" else f"剩余 {n} 天")
            for lb, ds, n in zip(label, _ymd(due), days.tolist())
        ]
        add(
            int(mask.sum()),
            row=rows[mask],
            level=level,
            deadline_id=[dls[x].id for x in k],
            deadline=label,
            citation=[dls[x].citation for x in k],
            start=a["start"][mask],
            due=due,
            days=days,
            message=msg,
        )

    # stale: an open case with no event for N days, no deadline running or paused, no review pending
    last_day = np.full(n_ev, _NAT_DAY, dtype=np.int64)
    if n_ev:
        np.maximum.at(last_day, pp.cid, pp.day)
    opened = (
        pd.to_datetime(cases["opened_at"], utc=True)
        .dt.tz_localize(None)
        .dt.normalize()
        .to_numpy()
        .astype("datetime64[D]")
        .astype(np.int64)
    )
    last = opened.copy()
    last[has] = last_day[code_of[has]]
    sc, _, se = _spells(pp, rules)
    quiet = np.ones(len(cases), bool)
    quiet[row_of[sc[se == _NAT_DAY]]] = False  # a review pending
    quiet[rows[live]] = False  # a deadline running or paused
    idle_days = pp.at - last
    stale = is_open & quiet & (idle_days >= rules.stale_days)
    if stale.any():
        sd = last[stale]
        add(
            int(stale.sum()),
            row=np.flatnonzero(stale),
            level="stale",
            deadline_id="stale",
            deadline="案件停滞",
            citation="",
            start=sd,
            due=sd + rules.stale_days,
            days=idle_days[stale],
            message=[f"{n} 天无新事项（自 {d}）" for n, d in zip(idle_days[stale].tolist(), _ymd(sd))],
        )

    rows_all = np.concatenate(cols["row"]) if cols["row"] else np.zeros(0, np.int64)
    parcel = case_pid[rows_all]
    town = case_town[rows_all]
    case = case_ids[rows_all]
    extra = {
        k: (np.concatenate(v) if v else np.zeros(0, object if k not in ("start", "due", "days") else np.int64))
        for k, v in cols.items()
        if k != "row"
    }
    if identified is not None and len(identified):
        without = ~str_isin(identified["parcel_id"], cases["parcel_id"])
        n = int(without.sum())
        if n:
            parcel = np.concatenate([parcel, identified["parcel_id"].to_numpy(dtype=object)[without]])
            town = np.concatenate(
                [
                    town,
                    identified["town_code"].to_numpy(dtype=object, na_value=None)[without]
                    if "town_code" in identified
                    else _obj(None, n),
                ]
            )
            case = np.concatenate([case, _obj(None, n)])
            for k, v in (
                ("level", "no_case"),
                ("deadline_id", None),
                ("deadline", None),
                ("citation", "《闲置土地处置办法》第五条（市、县国土资源主管部门应当调查核实）"),
                ("message", "已认定闲置或纳入处置，尚未立案"),
            ):
                extra[k] = np.concatenate([extra[k], _obj(v, n)])
            for k in ("start", "due", "days"):
                extra[k] = np.concatenate([extra[k], np.full(n, _NAT_DAY, dtype=np.int64)])
    level = extra["level"]
    lv_codes, lv_names = pd.factorize(level)
    order = np.array([LEVELS.index(x) for x in lv_names], dtype=np.int64)[lv_codes] if len(level) else lv_codes
    days = extra["days"]
    idx = np.lexsort((np.where(days == _NAT_DAY, 0, -days), order))  # stable: input order among equals

    def date_col(d):
        d = d[idx]
        return pd.Series(
            np.where(d == _NAT_DAY, np.datetime64("NaT"), d.astype("datetime64[D]")).astype("datetime64[ms]")
        )

    labels = np.array([LEVEL_LABELS[x] for x in lv_names], dtype=object)[lv_codes] if len(level) else level
    obj = lambda v: pd.Series(v[idx], dtype=object)  # noqa: E731 (no string inference: fast)
    out = pd.DataFrame(
        {
            "parcel_id": obj(parcel),
            "town_code": obj(town),
            "case_id": obj(case),
            "level": obj(level),
            "level_label": obj(labels),
            "deadline_id": obj(extra["deadline_id"]),
            "deadline": obj(extra["deadline"]),
            "citation": obj(extra["citation"]),
            "start_date": date_col(extra["start"]),
            "due_date": date_col(extra["due"]),
            "days": pd.array(
                np.where(days[idx] == _NAT_DAY, None, days[idx]).tolist() if len(idx) else [], dtype="Int64"
            ),
            "message": obj(extra["message"]),
        }
    )
    return out[WARNING_COLUMNS]


def parcel_warning_level(warnings: pd.DataFrame) -> pd.Series:
    """The worst warning level per parcel (for the map's 预警 colouring)."""
    if warnings.empty:
        return pd.Series(dtype=object)
    order = warnings["level"].map({lv: i for i, lv in enumerate(LEVELS)})
    worst = warnings.assign(_o=order).sort_values("_o").drop_duplicates("parcel_id")
    return worst.set_index("parcel_id")["level"]
