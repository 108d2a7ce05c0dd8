"""Warnings (预警) as of a date (DISPOSAL.md §5), with the deadline that caused each.

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

import pandas as pd

from .deadlines import case_deadlines, lookup, visible_events
from .disposal_progress import stages_of
from .disposal_rules import DisposalRules, default_disposal_rules

__all__ = ["disposal_warnings", "parcel_warning_level", "LEVELS", "LEVEL_LABELS", "WARNING_COLUMNS"]

LEVELS = ("red", "amber", "stale", "no_case")
LEVEL_LABELS = {"red": "红色预警（逾期）", "amber": "黄色预警（临期）", "stale": "停滞", "no_case": "未立案"}
WARNING_COLUMNS = ["parcel_id", "town_code", "case_id", "level", "level_label", "deadline_id", "deadline",
                   "citation", "start_date", "due_date", "days", "message"]


def visible_cases(cases: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """Cases opened on or before ``as_of``."""
    opened = pd.to_datetime(cases["opened_at"], utc=True).dt.tz_localize(None).dt.normalize()
    return cases.loc[opened <= pd.Timestamp(pd.Timestamp(as_of).date())]


def disposal_warnings(
    cases: pd.DataFrame,
    events: pd.DataFrame,
    as_of: Any,
    *,
    identified: pd.DataFrame | None = None,
    rules: DisposalRules | None = None,
) -> pd.DataFrame:
    """The warnings as of a date, worst first (red, amber, stale, no_case; then most overdue).

    Parameters
    ----------
    cases, events
        :func:`gis.cases.read_cases` / :func:`gis.cases.read_events`.
    identified
        Parcels identified for disposal (``parcel_id``, ``town_code``; e.g. the assessment rows where
        :func:`gis.cases.is_identified`): those without any case get ``no_case``.
    """
    rules = rules or default_disposal_rules()
    at = pd.Timestamp(pd.Timestamp(as_of).date())
    cases = visible_cases(cases, at)
    ev = visible_events(events.loc[events["case_id"].isin(cases["case_id"])], at)
    stage = cases["case_id"].map(stages_of(ev, rules)).fillna("case_open")
    open_cases = cases.loc[~stage.isin(["completed", "closed"]).to_numpy()]
    info = open_cases.set_index("case_id")[["parcel_id", "town_code"]]
    parts = []

    dl = case_deadlines(ev, at, rules=rules)
    dl = dl.loc[dl["case_id"].isin(open_cases["case_id"])]
    live = dl.loc[~dl["met"]]
    running = live.loc[~live["paused"]]
    red = running.loc[running["days_left"] < 0]
    amber = running.loc[(running["days_left"] >= 0) & (running["days_left"] <= rules.amber_days)]
    for level, frame in (("red", red), ("amber", amber)):
        if frame.empty:
            continue
        days = frame["days_left"]
        msg = (frame["label"] + "：" + frame["due_date"].dt.strftime("%Y-%m-%d") +
               (("到期，已逾期 " + (-days).astype(str) + " 天") if level == "red" else
                ("到期，剩余 " + days.astype(str) + " 天")))
        parts.append(pd.DataFrame({
            "case_id": frame["case_id"], "level": level, "deadline_id": frame["deadline_id"],
            "deadline": frame["label"], "citation": frame["citation"], "start_date": frame["start_date"],
            "due_date": frame["due_date"], "days": -days if level == "red" else days, "message": msg}))

    # stale: no event for N days, no deadline running or paused, no review pending
    busy = set(live["case_id"])
    last = ev.groupby("case_id")["event_date"].max()
    opened = pd.to_datetime(open_cases["opened_at"], utc=True).dt.tz_localize(None).dt.normalize()
    last_date = pd.to_datetime(lookup(open_cases["case_id"], last)).astype("datetime64[ms]").fillna(
        opened.astype("datetime64[ms]"))
    from .deadlines import pause_spells

    spells = pause_spells(ev, rules)
    pending = set(spells.loc[spells["end"].isna(), "case_id"])
    idle_days = ((at - last_date) / pd.Timedelta(days=1)).astype("int64")
    stale_mask = (idle_days >= rules.stale_days) & ~open_cases["case_id"].isin(busy | pending)
    st = open_cases.loc[stale_mask.to_numpy()]
    if len(st):
        sd = last_date.loc[st.index]
        parts.append(pd.DataFrame({
            "case_id": st["case_id"], "level": "stale", "deadline_id": "stale", "deadline": "案件停滞",
            "citation": "", "start_date": sd, "due_date": sd + pd.Timedelta(days=rules.stale_days),
            "days": idle_days.loc[st.index], "message": idle_days.loc[st.index].astype(str) + " 天无新事项（自 " +
            sd.dt.strftime("%Y-%m-%d") + "）"}))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=WARNING_COLUMNS)
    out["parcel_id"] = out["case_id"].map(info["parcel_id"])
    out["town_code"] = out["case_id"].map(info["town_code"])

    if identified is not None and len(identified):
        without = identified.loc[~identified["parcel_id"].isin(cases["parcel_id"])]
        if len(without):
            nc = pd.DataFrame({"parcel_id": without["parcel_id"].to_numpy(),
                               "town_code": without["town_code"].to_numpy() if "town_code" in without else None,
                               "case_id": None, "level": "no_case", "deadline_id": None, "deadline": None,
                               "citation": "《闲置土地处置办法》第五条（市、县国土资源主管部门应当调查核实）",
                               "start_date": pd.NaT, "due_date": pd.NaT, "days": pd.NA,
                               "message": "已认定闲置或纳入处置，尚未立案"})
            out = pd.concat([out, nc], ignore_index=True) if len(out) else nc
    out["level_label"] = out["level"].map(LEVEL_LABELS)
    order = out["level"].map({lv: i for i, lv in enumerate(LEVELS)})
    out = out.assign(_o=order, _d=-pd.to_numeric(out["days"], errors="coerce").fillna(0))
    out = out.sort_values(["_o", "_d", "parcel_id"], kind="stable").drop(columns=["_o", "_d"])
    out["due_date"] = pd.to_datetime(out["due_date"])
    out["start_date"] = pd.to_datetime(out["start_date"])
    return out[WARNING_COLUMNS].reset_index(drop=True)


def parcel_warning_level(warnings: pd.DataFrame) -> pd.Series:
    """The worst warning level per parcel (for the map's 预警 colouring)."""
    if warnings.empty:
        return pd.Series(dtype=object)
    order = warnings["level"].map({lv: i for i, lv in enumerate(LEVELS)})
    worst = warnings.assign(_o=order).sort_values("_o").drop_duplicates("parcel_id")
    return worst.set_index("parcel_id")["level"]
