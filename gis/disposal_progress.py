"""Disposal progress (docs/disposal.md §6): what goes up the chain, per town or route, and the year's movements.

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

PROGRESS_COLUMNS = [
    "identified",
    "identified_ha",
    "with_case",
    "with_case_ha",
    "approved",
    "approved_ha",
    "executing",
    "executing_ha",
    "completed",
    "completed_ha",
    "rate",
    "rate_area",
    "completed_this_year",
    "completed_this_year_ha",
    "monthly_rate",
    "monthly_rate_ha",
    "projected_date",
    "target_date",
    "on_track",
]


def stage_codes(pp, rules: DisposalRules) -> np.ndarray:
    """The stage per case code of a :class:`gis.deadlines.Prepared` (see :func:`stages_of`)."""
    p = rules.procedure
    last = pp.last_seq
    done = last(pp.is_(p["complete"])) >= 0
    closed = last(pp.is_(p["close"])) > last(pp.is_(p["reopen"]))
    approve = last(pp.is_(p["approve"]))
    approved = approve > last(pp.is_(p["return"]))
    executing = approved & (last(pp.is_(*(p.get("execution") or ()))) > approve)
    return np.select(
        [done, closed, executing, approved], ["completed", "closed", "executing", "approved"], "case_open"
    ).astype(object)


def stages_of(events: pd.DataFrame, rules: DisposalRules | None = None) -> pd.Series:
    """The stage of each case (index ``case_id``) from its events: case_open, approved, executing, completed,
    closed.  Approved = the last approval came after the last return; executing = an execution event after it;
    closed = the last close came after the last reopen."""
    from .deadlines import prepare

    rules = rules or default_disposal_rules()
    if events.empty:
        return pd.Series(dtype=object)
    if "event_date" not in events:
        events = events.assign(event_date=pd.Timestamp("2000-01-01"), service_date=pd.NaT, data=None)
    pp = prepare(events, "2262-01-01", rules)
    return pd.Series(stage_codes(pp, rules), index=pp.case_ids, dtype=object)


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
    from .deadlines import joint_codes, prepare, str_isin
    from .disposal_warnings import visible_cases

    at = pd.Timestamp(pd.Timestamp(as_of).date())
    cases = visible_cases(cases, at)
    latest = cases.sort_values("opened_at", kind="stable").drop_duplicates("parcel_id", keep="last")
    pp = prepare(events.loc[str_isin(events["case_id"], latest["case_id"])], at, rules)
    code_of = pd.Index(pp.case_ids).get_indexer(latest["case_id"].to_numpy(dtype=object))
    has = code_of >= 0
    stage = np.full(len(latest), "case_open", dtype=object)
    done_day = np.full(len(latest), np.datetime64("NaT"), dtype="datetime64[ms]")
    if has.any():
        stage[has] = stage_codes(pp, rules)[code_of[has]]
        c, pos = pp.last_pos(pp.is_(rules.procedure["complete"]))
        day = np.full(len(pp.case_ids), np.iinfo(np.int64).min, dtype=np.int64)
        day[c] = pp.day[pos]
        d = day[code_of[has]]
        done_day[has] = np.where(d == np.iinfo(np.int64).min, np.datetime64("NaT"), d.astype("datetime64[D]")).astype(
            "datetime64[ms]"
        )
    # an outer join on parcel_id through integer codes (pandas' string merge is slow)
    (ci, cc), pids = joint_codes(identified["parcel_id"], latest["parcel_id"])
    n = len(pids)

    def spread(codes, values, dtype=object, fill=None):
        arr = np.full(n, fill, dtype=dtype)
        arr[codes] = np.asarray(values)
        return arr

    def ident(col, dtype=object, fill=None):
        return (
            spread(ci, identified[col].to_numpy(dtype=dtype, na_value=fill), dtype, fill)
            if col in identified
            else np.full(n, fill, dtype=dtype)
        )

    town = ident("town_code")
    case_town = spread(cc, latest["town_code"].to_numpy(dtype=object))
    town = np.where(pd.isna(town), case_town, town)
    route = ident("route")
    case_route = spread(cc, latest["route"].to_numpy(dtype=object))
    route = np.where(pd.isna(case_route), route, case_route)
    obj = lambda v: pd.Series(v, dtype=object)  # noqa: E731 (no string inference: fast)
    out = pd.DataFrame(
        {
            "parcel_id": obj(pids),
            "town_code": obj(town),
            "route": obj(route),
            "area_m2": ident("area_m2", np.float64, np.nan),
            "case_id": obj(spread(cc, latest["case_id"].to_numpy(dtype=object))),
            "stage": obj(spread(cc, stage, object, "none")),
            "completed_on": spread(cc, done_day, "datetime64[ms]", np.datetime64("NaT")),
        }
    )
    return out[["parcel_id", "town_code", "route", "area_m2", "case_id", "stage", "completed_on"]]


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
    stage = stages["stage"].to_numpy(dtype=object)
    ha = stages["area_m2"].astype("float64").fillna(0.0).to_numpy() / 10_000.0
    done_on = pd.to_datetime(stages["completed_on"]).to_numpy()
    completed = stage == "completed"
    months = rules.rate_months
    since = (at - pd.DateOffset(months=months)).to_datetime64()
    masks = {
        "identified": np.ones(len(stages), bool),
        "with_case": stage != "none",
        "approved": np.isin(stage, ["approved", "executing", "completed"]),
        "executing": np.isin(stage, ["approved", "executing"]),
        "completed": completed,
        "completed_this_year": completed
        & (done_on >= _year_start(at).to_datetime64())
        & (done_on <= at.to_datetime64()),
        "recent": completed & (done_on > since) & (done_on <= at.to_datetime64()),
    }
    cols = {}
    for k, m in masks.items():
        cols[k] = m.astype(np.int64)
        cols[f"{k}_ha"] = np.where(m, ha, 0.0)
    frame = pd.DataFrame(cols)
    keys = stages[by].astype(object).fillna("（未知）").to_numpy() if by is not None else None
    grouped = frame.groupby(keys, sort=True).sum() if by is not None else frame.iloc[0:0].sum().to_frame().T
    total = frame.sum().to_frame().T
    total.index = ["合计"]
    table = pd.concat([grouped, total]) if by is not None else total
    out = pd.DataFrame(index=table.index)
    for k in ("identified", "with_case", "approved", "executing", "completed", "completed_this_year"):
        out[k] = table[k].astype(int)
        out[f"{k}_ha"] = table[f"{k}_ha"].round(4)
    out["rate"] = np.where(
        out["identified"] > 0, out["completed"] / out["identified"].where(out["identified"] > 0), np.nan
    )
    out["rate_area"] = np.where(
        out["identified_ha"] > 0, out["completed_ha"] / out["identified_ha"].where(out["identified_ha"] > 0), np.nan
    )
    out["monthly_rate"] = table["recent"] / months
    out["monthly_rate_ha"] = (table["recent_ha"] / months).round(4)
    remaining = out["identified"] - out["completed"]
    with np.errstate(divide="ignore", invalid="ignore"):
        days = np.round(remaining / out["monthly_rate"] * 365.25 / 12)
    projected = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ms]")
    ok = out["monthly_rate"] > 0
    projected[ok] = (at + pd.to_timedelta(days[ok], unit="D")).dt.normalize() if ok.any() else projected[ok]
    projected[remaining == 0] = at
    out["projected_date"] = projected
    out["target_date"] = pd.Timestamp(rules.target_date)
    out["on_track"] = out["projected_date"].notna() & (out["projected_date"] <= out["target_date"])
    out = out.reset_index(names=by or "_")
    if by is None:
        out = out.drop(columns="_")
    return out[[*([by] if by is not None else []), *PROGRESS_COLUMNS]]


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
    opened = pd.DataFrame(
        {
            "year": pd.to_datetime(cases["opened_at"], utc=True).dt.tz_convert("Asia/Shanghai").dt.year,
            "parcel_id": cases["parcel_id"],
            "what": "opened",
        }
    )
    parts = [opened]
    for what, code in (("approved", rules.procedure["approve"]), ("completed", rules.procedure["complete"])):
        e = events.loc[events["event"] == code]
        parts.append(
            pd.DataFrame({"year": pd.to_datetime(e["event_date"]).dt.year, "parcel_id": e["parcel_id"], "what": what})
        )
    mv = pd.concat(parts, ignore_index=True)
    mv["ha"] = mv["parcel_id"].map(area).fillna(0.0)
    counts = mv.pivot_table(index="year", columns="what", values="parcel_id", aggfunc="count", fill_value=0)
    has = mv.pivot_table(index="year", columns="what", values="ha", aggfunc="sum", fill_value=0.0).round(4)
    out = pd.DataFrame(index=counts.index)
    for what in ("opened", "approved", "completed"):
        out[what] = counts[what].astype(int) if what in counts else 0
        out[f"{what}_ha"] = has[what] if what in has else 0.0
    return out.reset_index().astype({"year": int})
