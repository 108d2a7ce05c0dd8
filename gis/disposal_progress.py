"""Disposal progress (DISPOSAL.md §6): what goes up the chain, per town or route, and the year's movements.

Per group: parcels and hectares identified (idle or in scope, or with a case), with a case, with an approved
plan, executing (approved, not completed), completed; the disposal rate (completed / identified, by count and
area); completed this year; the monthly rate over the last ``warnings.rate_months`` months and the date all
identified land is disposed at that rate, against the rule file's ``target_date``.  Vectorised with pandas.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .disposal_rules import DisposalRules, default_disposal_rules

__all__ = ["stages_of", "parcel_stages", "disposal_progress", "disposal_movements", "PROGRESS_COLUMNS"]

PROGRESS_COLUMNS = ["identified", "identified_ha", "with_case", "with_case_ha", "approved", "approved_ha",
                    "executing", "executing_ha", "completed", "completed_ha", "rate", "rate_area",
                    "completed_this_year", "completed_this_year_ha", "monthly_rate", "monthly_rate_ha",
                    "projected_date", "target_date", "on_track"]


def stages_of(events: pd.DataFrame, rules: DisposalRules | None = None) -> pd.Series:
    """The stage of each case (index ``case_id``) from its events: case_open, approved, executing, completed,
    closed.  Approved = the last approval came after the last return; executing = an execution event after it;
    closed = the last close came after the last reopen."""
    rules = rules or default_disposal_rules()
    p = rules.procedure
    if events.empty:
        return pd.Series(dtype=object)
    ev = events[["case_id", "seq", "event"]]
    seq = ev["seq"].astype("float64")

    def last(codes) -> pd.Series:
        mask = ev["event"].isin(codes if isinstance(codes, (list, tuple)) else [codes])
        return seq.where(mask).groupby(ev["case_id"]).max().fillna(-1.0)

    done = last(p["complete"]) >= 0
    closed = last(p["close"]) > last(p["reopen"])
    approve = last(p["approve"])
    approved = approve > last(p["return"])
    executing = approved & (last(list(p.get("execution") or [])) > approve)
    stage = np.select([done, closed, executing, approved], ["completed", "closed", "executing", "approved"],
                      "case_open")
    return pd.Series(stage, index=done.index, dtype=object)


def _year_start(at: pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(at.year, 1, 1)


def parcel_stages(
    identified: pd.DataFrame,
    cases: pd.DataFrame,
    events: pd.DataFrame,
    as_of: Any,
    *,
    rules: DisposalRules | None = None,
) -> pd.DataFrame:
    """One row per parcel identified or with a case: ``parcel_id, town_code, route, area_m2, case_id, stage,
    completed_on`` as of a date (the parcel's latest case; route = the case's adopted route, else the
    recommendation)."""
    rules = rules or default_disposal_rules()
    from .deadlines import lookup, visible_events
    from .disposal_warnings import visible_cases

    at = pd.Timestamp(pd.Timestamp(as_of).date())
    cases = visible_cases(cases, at)
    ev = visible_events(events.loc[events["case_id"].isin(cases["case_id"])], at)
    latest = cases.sort_values("opened_at", kind="stable").drop_duplicates("parcel_id", keep="last")
    stage = latest["case_id"].map(stages_of(ev, rules)).fillna("case_open")
    done = ev.loc[ev["event"] == rules.procedure["complete"]].drop_duplicates("case_id", keep="last")
    done_on = lookup(latest["case_id"], done.set_index("case_id")["event_date"])
    by_case = pd.DataFrame({"parcel_id": latest["parcel_id"].to_numpy(), "case_id": latest["case_id"].to_numpy(),
                            "case_route": latest["route"].to_numpy(), "case_town": latest["town_code"].to_numpy(),
                            "stage": stage.to_numpy(), "completed_on": pd.to_datetime(done_on).to_numpy()})
    base = identified[["parcel_id", *[c for c in ("town_code", "route", "area_m2") if c in identified]]]
    out = base.merge(by_case, on="parcel_id", how="outer")
    out["route"] = out["case_route"].where(out["case_route"].notna(), out.get("route"))
    out["town_code"] = out.get("town_code", pd.Series(index=out.index, dtype=object)).where(
        lambda s: s.notna(), out["case_town"])
    out["stage"] = out["stage"].fillna("none")
    if "area_m2" not in out:
        out["area_m2"] = np.nan
    return out[["parcel_id", "town_code", "route", "area_m2", "case_id", "stage", "completed_on"]]


def _summarise(g: pd.DataFrame, at: pd.Timestamp, rules: DisposalRules) -> dict:
    ha = g["area_m2"].astype("float64").fillna(0.0) / 10_000.0
    stage = g["stage"]
    masks = {
        "identified": pd.Series(True, index=g.index),
        "with_case": stage != "none",
        "approved": stage.isin(["approved", "executing", "completed"]),
        "executing": stage.isin(["approved", "executing"]),
        "completed": stage == "completed",
    }
    row: dict[str, Any] = {}
    for k, m in masks.items():
        row[k] = int(m.sum())
        row[f"{k}_ha"] = round(float(ha[m].sum()), 4)
    row["rate"] = row["completed"] / row["identified"] if row["identified"] else np.nan
    row["rate_area"] = row["completed_ha"] / row["identified_ha"] if row["identified_ha"] else np.nan
    done_on = pd.to_datetime(g["completed_on"])
    this_year = masks["completed"] & (done_on >= _year_start(at)) & (done_on <= at)
    row["completed_this_year"] = int(this_year.sum())
    row["completed_this_year_ha"] = round(float(ha[this_year].sum()), 4)
    months = rules.rate_months
    since = at - pd.DateOffset(months=months)
    recent = masks["completed"] & (done_on > since) & (done_on <= at)
    row["monthly_rate"] = float(recent.sum()) / months
    row["monthly_rate_ha"] = round(float(ha[recent].sum()) / months, 4)
    remaining = row["identified"] - row["completed"]
    target = pd.Timestamp(rules.target_date)
    if remaining == 0:
        projected = at
    elif row["monthly_rate"] > 0:
        projected = (at + pd.Timedelta(days=round(remaining / row["monthly_rate"] * 365.25 / 12))).normalize()
    else:
        projected = pd.NaT
    row["projected_date"] = projected
    row["target_date"] = target
    row["on_track"] = bool(pd.notna(projected) and projected <= target)
    return row


def disposal_progress(
    stages: pd.DataFrame,
    as_of: Any,
    *,
    by: str | None = "town_code",
    rules: DisposalRules | None = None,
) -> pd.DataFrame:
    """Progress per ``by`` (``town_code``, ``route`` or None for the district), with a 合计 row last.

    ``stages`` is :func:`parcel_stages`.
    """
    rules = rules or default_disposal_rules()
    at = pd.Timestamp(pd.Timestamp(as_of).date())
    rows = []
    if by is not None:
        for key, g in stages.groupby(stages[by].fillna("（未知）"), sort=True):
            rows.append({by: key, **_summarise(g, at, rules)})
    rows.append({**({by: "合计"} if by is not None else {}), **_summarise(stages, at, rules)})
    frame = pd.DataFrame(rows)
    frame["projected_date"] = pd.to_datetime(frame["projected_date"])
    return frame[[*([by] if by is not None else []), *PROGRESS_COLUMNS]]


def disposal_movements(
    stages: pd.DataFrame,
    cases: pd.DataFrame,
    events: pd.DataFrame,
    *,
    rules: DisposalRules | None = None,
) -> pd.DataFrame:
    """The year's movements (Plan §三(四)): per year, cases opened, plans approved and parcels completed
    (count and hectares)."""
    rules = rules or default_disposal_rules()
    area = stages.set_index("parcel_id")["area_m2"].astype("float64") / 10_000.0
    opened = pd.DataFrame({"year": pd.to_datetime(cases["opened_at"], utc=True).dt.year,
                           "parcel_id": cases["parcel_id"], "what": "opened"})
    parts = [opened]
    for what, code in (("approved", rules.procedure["approve"]), ("completed", rules.procedure["complete"])):
        e = events.loc[events["event"] == code]
        parts.append(pd.DataFrame({"year": pd.to_datetime(e["event_date"]).dt.year, "parcel_id": e["parcel_id"],
                                   "what": what}))
    mv = pd.concat(parts, ignore_index=True)
    mv["ha"] = mv["parcel_id"].map(area).fillna(0.0)
    counts = mv.pivot_table(index="year", columns="what", values="parcel_id", aggfunc="count", fill_value=0)
    has = mv.pivot_table(index="year", columns="what", values="ha", aggfunc="sum", fill_value=0.0).round(4)
    out = pd.DataFrame(index=counts.index)
    for what in ("opened", "approved", "completed"):
        out[what] = counts[what].astype(int) if what in counts else 0
        out[f"{what}_ha"] = has[what] if what in has else 0.0
    return out.reset_index().astype({"year": int})
