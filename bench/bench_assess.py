"""Whole-assessment benchmark (issue #3): `assess_idle_land` on N parcels with the demo rasters
(joins + 4 dated rasters + rules), on this machine.

    .venv/bin/python bench/bench_assess.py [--n 100000]

Target: under 20 s for 10^5 parcels with rasters on the 2-core machine.  Prints the time of each stage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gis.assess import assess_idle_land  # noqa: E402
from gis.demo import build_demo_layers, write_demo_rasters  # noqa: E402
from gis.frames import conform  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        layers = build_demo_layers(n_parcels=args.n)
        layers = {k: (conform(v, k) if not k.startswith("_") else v) for k, v in layers.items()}
        rasters = write_demo_rasters(layers["parcels"], Path(tmp) / "rasters")
        print(
            f"data: {len(layers['parcels'])} parcels, {len(rasters)} rasters, built in {time.perf_counter() - t:.1f} s"
        )
        stages = []
        last = [time.perf_counter()]

        def on_progress(step, total, label):
            now = time.perf_counter()
            stages.append((label, now - last[0]))
            last[0] = now

        t = time.perf_counter()
        out = assess_idle_land(
            layers["parcels"],
            enterprises=layers["enterprises"],
            projects=layers["projects"],
            villages=layers["villages"],
            progress=layers["village_progress"],
            towns=layers["towns"],
            rasters=rasters,
            as_of=dt.date(2026, 11, 1),
            on_progress=on_progress,
        )
        total = time.perf_counter() - t
        for (label, _), (_, seconds) in zip(stages, stages[1:]):
            print(f"  {label:<24}{seconds:>8.2f} s")
        print(f"assess_idle_land: {len(out)} parcels in {total:.2f} s (target < 20 s)")
        print(out["route"].value_counts().to_string())


if __name__ == "__main__":
    main()
