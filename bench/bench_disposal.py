"""Benchmark: disposal warnings and progress for 10^5 parcels with 10^4 cases x 8 events.

Run: ``.venv/bin/python bench/bench_disposal.py [--parcels 100000] [--cases 10000] [--repeat 3]``

Times the vectorised ``disposal_warnings`` + ``parcel_stages`` + ``disposal_progress`` (target < 2 s) and, in the
same run, a naive reference: the same deadlines and stages computed per case in a Python loop over a ``groupby``
(replaying each case's events, the way one would write it first).  Checks that both find the same red/amber
warnings.  Cases and events are synthetic (模拟数据), in a valid order of the rule file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gis.disposal_progress import disposal_progress, parcel_stages  # noqa: E402
from gis.disposal_rules import default_disposal_rules  # noqa: E402
from gis.disposal_warnings import disposal_warnings  # noqa: E402

AS_OF = pd.Timestamp("2026-11-01")


def synthetic(n_parcels: int, n_cases: int, n_events: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    rules = default_disposal_rules()
    pid = np.char.add("P", np.arange(n_parcels).astype(str))
    identified = pd.DataFrame(
        {
            "parcel_id": pid,
            "town_code": rng.choice([f"T{i:02d}" for i in range(16)], n_parcels),
            "route": rng.choice(["continue", "transfer", "reclaim"], n_parcels),
            "area_m2": rng.uniform(2000, 80000, n_parcels),
        }
    )
    routes = [
        ("continue", "continue_with_fee"),
        ("continue", "extend_start"),
        ("reclaim", "negotiated_reclaim"),
        ("reclaim", "reclaim_without_compensation"),
        ("transfer", "whole_transfer"),
    ]
    ci = rng.choice(n_parcels, n_cases, replace=False)
    pick = rng.integers(0, len(routes), n_cases)
    cases = pd.DataFrame(
        {
            "case_id": np.char.add("C", np.arange(n_cases).astype(str)),
            "parcel_id": pid[ci],
            "town_code": identified["town_code"].to_numpy()[ci],
            "route": [routes[k][0] for k in pick],
            "sub_route": [routes[k][1] for k in pick],
            "opened_at": pd.Timestamp("2024-06-01", tz="UTC"),
        }
    )
    rows = []
    starts = AS_OF - pd.to_timedelta(rng.integers(200, 800, n_cases), unit="D")
    for c in range(n_cases):
        seq = [e for e in rules.sequence(*routes[pick[c]]) if not e.startswith("hearing")]
        full = min(n_events, len(seq))
        k = full if rng.random() < 0.75 else int(rng.integers(1, full + 1))  # most cases 8 events in
        events = seq[:k]
        if rng.random() < 0.1 and k >= 2:  # a review pending or closed
            events = events[:-1] + ["review_or_suit"] + (["review_or_suit_closed"] if rng.random() < 0.5 else [])
        day = starts[c]
        for j, e in enumerate(events):
            day = day + pd.Timedelta(days=int(rng.integers(5, 30)))
            data = None
            if e == "supplementary_agreement":
                data = {"new_start_date": str((day + pd.Timedelta(days=int(rng.integers(100, 360)))).date())}
            elif e == "reclaim_agreement":
                data = {"price_wan": 100.0, "due_date": str((day + pd.Timedelta(days=60)).date())}
            rows.append(
                (
                    cases["case_id"].iat[c],
                    cases["parcel_id"].iat[c],
                    j + 1,
                    e,
                    day,
                    day + pd.Timedelta(days=3)
                    if e in ("survey_notice", "fee_decision", "reclaim_decision")
                    else pd.NaT,
                    data,
                )
            )
    events = pd.DataFrame(rows, columns=["case_id", "parcel_id", "seq", "event", "event_date", "service_date", "data"])
    return identified, cases, events


def ours(identified, cases, events):
    w = disposal_warnings(cases, events, AS_OF, identified=identified)
    stages = parcel_stages(identified, cases, events, AS_OF)
    progress = disposal_progress(stages, AS_OF, by="town_code")
    return w, progress


def reference(cases, events):
    """Per-case loop: replay the events, pause spells, each deadline's due date, red/amber."""
    rules = default_disposal_rules()
    out = []
    for case_id, ev in events.sort_values(["case_id", "seq"]).groupby("case_id", sort=False):
        ev = ev.loc[ev["event_date"] <= AS_OF]
        codes = ev["event"].tolist()
        if "completed" in codes:
            continue
        spells, begin = [], None
        for e, d in zip(codes, ev["event_date"]):
            if e == "review_or_suit":
                begin = d
            elif e == "review_or_suit_closed" and begin is not None:
                spells.append((begin, d))
                begin = None
        pending = begin
        for dl in rules.deadlines:
            if dl.days is None or dl.after not in codes:
                continue
            i = len(codes) - 1 - codes[::-1].index(dl.after)
            row = ev.iloc[i]
            if dl.start == "service_date":
                start = row["service_date"] if pd.notna(row["service_date"]) else row["event_date"]
            elif dl.start == "event_date":
                start = row["event_date"]
            else:
                start = pd.Timestamp((row["data"] or {}).get(dl.start.removeprefix("field:")))
            if dl.until in codes[i + 1 :]:
                continue
            due = start + pd.Timedelta(days=dl.days)
            paused = False
            for b, e in spells + ([(pending, None)] if pending is not None else []):
                if b >= start and b <= due:
                    due += (e if e is not None else AS_OF) - b
                    paused = paused or e is None
            if paused:
                continue
            left = (due - AS_OF).days
            if left < 0:
                out.append((case_id, dl.id, "red"))
            elif left <= rules.amber_days:
                out.append((case_id, dl.id, "amber"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parcels", type=int, default=100_000)
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    identified, cases, events = synthetic(args.parcels, args.cases, args.events)
    print(
        f"{len(identified)} parcels, {len(cases)} cases, {len(events)} events ({len(events) / len(cases):.1f} per case)"
    )
    t_ours, t_ref, cpu_ours = [], [], []
    for _ in range(args.repeat):  # interleaved, best of N each
        t, c = time.perf_counter(), time.process_time()
        w, progress = ours(identified, cases, events)
        t_ours.append(time.perf_counter() - t)
        cpu_ours.append(time.process_time() - c)
        t = time.perf_counter()
        ref = reference(cases, events)
        t_ref.append(time.perf_counter() - t)
    got = sorted(
        map(
            tuple,
            w.loc[w["level"].isin(["red", "amber"]), ["case_id", "deadline_id", "level"]].itertuples(
                index=False, name=None
            ),
        )
    )
    assert got == sorted(ref), f"{len(got)} vs {len(ref)} red/amber warnings differ"
    print(f"warnings {w['level'].value_counts().to_dict()}; district rate {progress['rate'].iloc[-1]:.3f}")
    print(f"ours (warnings + stages + progress): {min(t_ours):.2f} s wall, {min(cpu_ours):.2f} s CPU  (target < 2 s)")
    print(f"reference per-case loop (deadlines only): {min(t_ref):.2f} s  ratio {min(t_ours) / min(t_ref):.3f}")
    print(f"same red/amber warnings: {len(got)}; {dt.date.today()}")


if __name__ == "__main__":
    main()
