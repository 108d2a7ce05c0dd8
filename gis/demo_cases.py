"""Synthetic disposal cases for the demo store, built through the same library calls a planner makes.

:func:`build_demo_cases` opens cases on identified parcels of an assessed store and records their events with
:func:`gis.cases.record_event` (order check, approval by someone other than the drafter), so that every stage
is present — opened, at each step, approved, executing, completed, closed another way, paused by a review —
and some are overdue as of the demo date.  Everything is labelled synthetic (store meta ``demo_cases``,
document numbers ``演示〔…〕``, notes).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from .cases import is_identified, open_case, record_event
from .disposal_rules import DisposalRules, default_disposal_rules

__all__ = ["build_demo_cases", "DEMO_USERS"]

#: the demo's case workers (names in the users file are up to the demo; these are only recorded on events)
DEMO_USERS = {"planner": "demo_planner", "approver": "demo_approver"}
_SERVED = {"survey_notice", "idle_determination", "fee_decision", "reclaim_decision"}
_FALLBACK = {"continue": "extend_start", "transfer": "whole_transfer", "reclaim": "negotiated_reclaim"}


def _data(event: str, day: dt.date, fee: float, rng: np.random.Generator) -> dict | None:
    if event == "supplementary_agreement":
        return {"new_start_date": day + dt.timedelta(days=int(rng.integers(150, 360)))}
    if event in ("fee_decision", "fee_paid"):
        return {"amount_wan": round(fee if fee > 0 else 100.0, 2)}
    if event == "reclaim_agreement":
        return {
            "price_wan": round(float(rng.integers(2000, 20000)), 2),
            "due_date": day + dt.timedelta(days=int(rng.integers(30, 120))),
        }
    return None


def build_demo_cases(
    store, as_of: Any, *, max_cases: int = 60, seed: int = 13, rules: DisposalRules | None = None
) -> pd.DataFrame:
    """Open synthetic cases on up to ``max_cases`` identified parcels and record their events up to ``as_of``.

    Returns one row per case opened: ``case_id, parcel_id, route, sub_route, flavour, n_events``.
    Idempotence: parcels that already have a case are skipped.
    """
    rules = rules or default_disposal_rules()
    at = pd.Timestamp(as_of).date()
    rng = np.random.default_rng(seed)
    from .store import cases_store

    assessment = store.read_layer("idle_assessment")
    if assessment.empty:
        return pd.DataFrame(columns=["case_id", "parcel_id", "route", "sub_route", "flavour", "n_events"])
    done = set(cases_store.read_cases(store)["parcel_id"])
    pool = assessment.loc[is_identified(assessment) & ~assessment["parcel_id"].isin(done)]
    pool = pool.sort_values("parcel_id").reset_index(drop=True)
    # leave a share without a case (the "no case" warning), and pick the rest spread over the parcels
    n = min(max_cases, int(len(pool) * 0.7))
    pick = pool.iloc[np.sort(rng.choice(len(pool), size=n, replace=False))] if n else pool.iloc[0:0]
    flavours = [
        "complete",
        "executing",
        "approved",
        "drafted",
        "early",
        "overdue_answer",
        "overdue_exec",
        "review",
        "closed",
        "stale",
    ]
    out = []
    p, a = DEMO_USERS["planner"], DEMO_USERS["approver"]
    for i, row in enumerate(pick.itertuples(index=False)):
        route, sub = row.route, row.sub_route if isinstance(row.sub_route, str) else None
        reason = None
        if not rules.has_route(route, sub):
            route, sub = ("reclaim", "negotiated_reclaim") if route in ("review", "none") else (route, _FALLBACK[route])
            reason = "演示数据（合成）：经集体研究确定处置路径"
        flavour = flavours[i % len(flavours)]
        seq = rules.sequence(route, sub)
        main = [e for e in seq if e not in ("hearing_requested", "hearing_held")]
        if "hearing_requested" in seq and rng.random() < 0.3:
            main = seq
        k = {
            "complete": len(main),
            "executing": main.index("plan_approved") + 2,
            "approved": main.index("plan_approved") + 1,
            "drafted": main.index("plan_drafted") + 1,
            "early": min(3, len(main) - 1),
            "overdue_answer": 1,
            "overdue_exec": main.index("plan_approved") + 2,
            "review": main.index("plan_approved") + 2,
            "closed": min(2, len(main) - 1),
            "stale": min(2, len(main) - 1),
        }[flavour]
        k = min(k, len(main) if flavour == "complete" else len(main) - 1)
        steps = main[:k]
        gaps = rng.integers(12, 45, size=max(len(steps), 1))
        span = int(gaps[: len(steps)].sum())
        tail = {
            "overdue_answer": int(rng.integers(35, 90)),
            "overdue_exec": int(rng.integers(40, 120)),
            "stale": int(rng.integers(95, 200)),
            "review": 20,
        }.get(flavour, int(rng.integers(5, 30)))
        start = at - dt.timedelta(days=span + tail)
        opened = pd.Timestamp(start - dt.timedelta(days=int(rng.integers(3, 15))), tz="UTC")
        case = open_case(
            store,
            parcel_id=row.parcel_id,
            route=route,
            sub_route=sub,
            opened_by=p,
            role="planner",
            reason=reason,
            run_id=None,
            rules=rules,
            opened_at=opened,
        )
        day = start
        fee = float(row.idle_fee_wan) if pd.notna(row.idle_fee_wan) else 0.0
        recorded = 0
        for j, event in enumerate(steps):
            if j:
                day = day + dt.timedelta(days=int(gaps[j]))
            if flavour == "overdue_exec" and event in ("fee_paid", "deregistered", "completed", "transfer_registered"):
                break
            approving = event == "plan_approved"
            served = day + dt.timedelta(days=int(rng.integers(1, 5))) if event in _SERVED else None
            if served is not None and served > at:
                served = None
            data = _data(event, day, fee, rng)
            if flavour == "overdue_exec" and event == "supplementary_agreement":
                data = {"new_start_date": at - dt.timedelta(days=int(rng.integers(5, 40)))}
                if data["new_start_date"] < day:
                    data["new_start_date"] = day
            if flavour == "overdue_exec" and event == "reclaim_agreement":
                data = {**data, "due_date": max(day, at - dt.timedelta(days=int(rng.integers(5, 40))))}
            record_event(
                store,
                case_id=case["case_id"],
                event=event,
                event_date=day,
                service_date=served,
                doc_no=f"演示〔{day.year}〕{100 + i}-{j + 1}号" if event in _SERVED | {"plan_drafted"} else None,
                note="演示数据（合成）" if j == 0 else None,
                data=data,
                recorded_by=a if approving else p,
                role="approver" if approving else "planner",
                rules=rules,
                today=at,
            )
            recorded += 1
        if flavour == "review" and recorded:
            record_event(
                store,
                case_id=case["case_id"],
                event="review_or_suit",
                event_date=at - dt.timedelta(days=10),
                note="演示数据（合成）：使用权人申请行政复议",
                recorded_by=p,
                role="planner",
                rules=rules,
                today=at,
            )
            recorded += 1
        if flavour == "closed" and recorded:
            record_event(
                store,
                case_id=case["case_id"],
                event="closed_other",
                event_date=min(day + dt.timedelta(days=20), at),
                note="演示数据（合成）：经核查已动工开发，结案",
                recorded_by=p,
                role="planner",
                rules=rules,
                today=at,
            )
            recorded += 1
        out.append(
            {
                "case_id": case["case_id"],
                "parcel_id": row.parcel_id,
                "route": route,
                "sub_route": sub,
                "flavour": flavour,
                "n_events": recorded,
            }
        )
    if out:
        store.write_layers({}, meta={"demo_cases": f"synthetic:{len(out)}:{at.isoformat()}"})
    return pd.DataFrame(out)
