"""Benchmark: ``gis.renewal.village_status`` on 10^4 villages x 24 monthly reports.

Run: ``.venv/bin/python bench/bench_renewal.py [--villages 10000] [--reports 24] [--repeat 3]``

Times the vectorised ``village_status`` (target < 2 s) and, in the same run, a naive reference: the same
rate / projection / status arithmetic written as a per-village Python loop over a ``groupby`` (the way one
would write it first).  Prints both timings, the ratio, and checks the two agree on status.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gis.renewal import DAYS_PER_MONTH, load_renewal_rules, percent_complete, village_status  # noqa: E402


def synthetic(n_villages: int, n_reports: int, seed: int = 0) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Synthetic villages (模拟数据) and monthly month-end reports up to 2025-12."""
    rng = np.random.default_rng(seed)
    ids = np.char.add("V", np.arange(n_villages).astype(str))
    modes = rng.choice(["拆除新建", "整治提升", "拆整结合"], n_villages, p=[0.5, 0.3, 0.2])
    households = rng.integers(50, 1500, n_villages)
    x = 500_000 + rng.uniform(-20_000, 20_000, n_villages)
    y = 3_320_000 + rng.uniform(-20_000, 20_000, n_villages)
    villages = gpd.GeoDataFrame(
        {
            "village_id": ids,
            "name": np.char.add(ids, "村"),
            "town_code": rng.choice([f"T{i:02d}" for i in range(16)], n_villages),
            "mode": modes,
            "households": households,
            "planned_demolition_m2": households * rng.uniform(80, 150, n_villages),
            "planned_resettlement_units": (households * rng.uniform(0.8, 1.5, n_villages)).round(),
        },
        geometry=shapely.box(x, y, x + 400, y + 400),
        crs="EPSG:4549",
    ).to_crs("EPSG:4490")

    months = pd.date_range(end="2025-12-31", periods=n_reports, freq="ME")
    vi = np.repeat(np.arange(n_villages), n_reports)
    t = np.tile(np.arange(n_reports), n_villages) / max(n_reports - 1, 1)
    speed = rng.uniform(0.2, 1.3, n_villages)[vi]
    f = np.clip(t * speed + rng.normal(0, 0.01, vi.size), 0, 1)
    f = np.maximum.accumulate(f.reshape(n_villages, n_reports), axis=1).ravel()  # monotone per village
    hh = households[vi]
    progress = pd.DataFrame(
        {
            "village_id": ids[vi],
            "report_date": np.tile(months.to_numpy(), n_villages),
            "stage": np.where(f >= 1, "done", np.where(modes[vi] == "整治提升", "works", "signing")),
            "signed_households": np.minimum(hh, np.round(hh * np.minimum(1, f * 2))),
            "relocated_households": np.minimum(hh, np.round(hh * np.minimum(1, f * 1.5))),
            "demolished_m2": villages["planned_demolition_m2"].to_numpy()[vi] * np.minimum(1, f * 1.2),
            "resettlement_units_delivered": np.round(villages["planned_resettlement_units"].to_numpy()[vi] * f),
            "works_progress": f,
        }
    )
    return villages, progress


def naive_status(villages: pd.DataFrame, progress: pd.DataFrame, as_of: dt.date, rules) -> pd.Series:
    """Reference: a per-village Python loop with the same arithmetic (no notes, no data-error handling)."""
    pct = percent_complete(villages, progress, rules=rules)  # shared: compare the forecast loop only
    prog = progress.assign(p=pct, d=pd.to_datetime(progress["report_date"]))
    deadline = pd.Timestamp(rules["deadline.default"])
    asof = pd.Timestamp(as_of)
    out = {}
    for vid, grp in prog[prog["d"] <= asof].groupby("village_id"):
        grp = grp.sort_values("d")
        last = grp.iloc[-1]
        p = last["p"]
        if p >= 1 - 1e-9:
            out[vid] = "done"
            continue
        cut = last["d"] - pd.DateOffset(months=rules["forecast.rate_window_months"])
        before = grp[grp["d"] <= cut]
        base = before.iloc[-1] if len(before) else grp.iloc[0]
        months_left = (deadline - asof).days / DAYS_PER_MONTH
        if base["d"] == last["d"]:
            out[vid] = (
                "at_risk" if (1 - p) / months_left > rules["status.single_report_max_required_rate"] else "on_track"
            )
            continue
        rate = (p - base["p"]) / ((last["d"] - base["d"]).days / DAYS_PER_MONTH)
        if rate <= rules["status.stall_min_progress"]:
            out[vid] = "late"
            continue
        projected = last["d"] + pd.Timedelta(days=float(np.ceil((1 - p) / rate * DAYS_PER_MONTH - 1e-6)))
        if projected > deadline + pd.DateOffset(months=rules["status.late_margin_months"]):
            out[vid] = "late"
        elif projected > deadline:
            out[vid] = "at_risk"
        else:
            out[vid] = "on_track"
    return pd.Series(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--villages", type=int, default=10_000)
    ap.add_argument("--reports", type=int, default=24)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    villages, progress = synthetic(args.villages, args.reports)
    rules = load_renewal_rules()
    as_of = dt.date(2026, 1, 15)
    print(f"villages={len(villages)} reports={len(progress)} as_of={as_of}")

    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        status = village_status(villages, progress, as_of=as_of, rules=rules)
        times.append(time.perf_counter() - t0)
    ours = min(times)
    print(
        f"village_status (vectorised): {ours:.3f} s (best of {args.repeat}; target < 2 s) "
        f"{'OK' if ours < 2 else 'SLOW'}"
    )
    print("status counts:", status["status"].value_counts().to_dict())

    t0 = time.perf_counter()
    ref = naive_status(villages, progress, as_of, rules)
    naive = time.perf_counter() - t0
    print(f"naive per-village loop:      {naive:.3f} s")
    print(f"ratio naive / vectorised:    {naive / ours:.1f}x")
    agree = (status.set_index("village_id")["status"].reindex(ref.index) == ref).mean()
    print(f"status agreement with the naive loop: {agree:.2%}")


if __name__ == "__main__":
    main()
