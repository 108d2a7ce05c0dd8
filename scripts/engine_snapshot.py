"""Snapshot of the rules engine's output on the demo store (the held-out behaviour of the engine).

Builds the demo store as the test suite does (``gis.workflow.build_demo_store`` with the conftest's 1500
parcels, as of the demo date), reads back ``idle_assessment`` and ``village_status`` and writes them, every
field, to ``tests/data/engine_snapshot_<layer>.parquet`` (zstd).  List and dict columns are stored as JSON
text, geometry as WKB, so the snapshot is plain columns that compare exactly.

``tests/test_engine_equivalence.py`` compares the current engine with this snapshot, row for row.  Re-run
only when a change of the engine's output is intended (and say so in the commit):

    .venv/bin/python scripts/engine_snapshot.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SNAPSHOT_DIR = ROOT / "tests" / "data"
LAYERS = ("idle_assessment", "village_status")


def _plain(value):
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def flatten(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain columns: geometry -> WKB bytes, lists/dicts -> JSON text (keys in their order), rest as is."""
    import geopandas as gpd

    out = {}
    for name in frame.columns:
        s = frame[name]
        if isinstance(s, gpd.GeoSeries) or str(s.dtype) == "geometry":
            out[name] = pd.Series([None if g is None else g.wkb for g in s], index=frame.index, dtype=object)
        elif s.dtype == object and s.map(lambda v: isinstance(v, (list, tuple, dict, np.ndarray))).any():
            out[name] = s.map(
                lambda v: (
                    None
                    if v is None or (isinstance(v, float) and np.isnan(v))
                    else json.dumps(_plain(v), ensure_ascii=False)
                )
            ).astype("string")
        else:
            out[name] = s
    return pd.DataFrame(out, index=frame.index).reset_index(drop=True)


def engine_output(store) -> dict[str, pd.DataFrame]:
    return {name: flatten(store.read_layer(name)) for name in LAYERS}


def snapshot_path(name: str) -> Path:
    return SNAPSHOT_DIR / f"engine_snapshot_{name}.parquet"


def main() -> None:
    from conftest import DEMO_PARCELS
    from gis.workflow import build_demo_store

    SNAPSHOT_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        store, _ = build_demo_store(Path(tmp) / "demo.gpkg", n_parcels=DEMO_PARCELS)
        for name, frame in engine_output(store).items():
            frame.to_parquet(snapshot_path(name), compression="zstd", index=False)
            print(
                f"{snapshot_path(name).relative_to(ROOT)}: {len(frame)} rows, {frame.shape[1]} fields, "
                f"{snapshot_path(name).stat().st_size / 1024:.0f} KB"
            )


if __name__ == "__main__":
    main()
