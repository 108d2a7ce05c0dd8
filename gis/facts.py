"""The ledger's facts beside the assessment: what the upper level needs to know of each parcel.

The registry's ``ledger_facts`` (``layers/idle_assessment.yaml``) names them in the order a 台账 reader
expects: the contract's parcel fields from ``parcels`` (受让人, 电子监管号, 用途, 面积, 供地日期, 约定开竣工日期,
出让价款 ...), the area also in 亩 and the enterprise's name from ``enterprises``.  Used by the Excel 台账 and by
``landrenew export --with-ledger`` (GeoJSON).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from .schema import Field, get_layer

__all__ = ["fact_fields", "ledger_facts", "MU_PER_M2"]

#: 1 亩 = 10,000 / 15 m².
MU_PER_M2 = 15.0 / 10000.0
_COMPUTED = {
    "area_mu": Field(name="area_mu", type="float", label="出让面积(亩)"),
    "enterprise_name": Field(name="enterprise_name", type="str", label="企业名称"),
}


def fact_fields() -> list[Field]:
    """The fact columns, as registry fields (labels and types), in 台账 order."""
    parcels = get_layer("parcels")
    assessment = get_layer("idle_assessment")
    out = []
    for name in assessment.ledger_facts:
        if name in _COMPUTED:
            out.append(_COMPUTED[name])
        elif name in parcels.field_names:
            out.append(parcels.field(name))
        else:
            out.append(assessment.field(name))
    return out


def ledger_facts(
    assessment: pd.DataFrame, parcels: pd.DataFrame | None, enterprises: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row of facts per assessment row (same index), columns :func:`fact_fields` in order.

    ``parcel_id`` and ``town_code`` are the assessment's (the town as assessed); the rest come from the ledger
    by 宗地编号 (blank where the store has no ledger row for a parcel).
    """
    fields = fact_fields()
    pid = assessment["parcel_id"].astype("string").to_numpy()
    if parcels is not None and len(parcels):
        ledger = pd.DataFrame(
            parcels.drop(columns=[parcels.geometry.name]) if isinstance(parcels, gpd.GeoDataFrame) else parcels
        )
        ledger = ledger.drop_duplicates("parcel_id").set_index(ledger["parcel_id"].astype("string"))
        pos = ledger.index.get_indexer(pid)
    else:
        ledger, pos = None, np.full(len(pid), -1)
    names = {}
    if enterprises is not None and len(enterprises):
        names = dict(zip(enterprises["enterprise_id"].astype(str), enterprises["name"].astype(str)))
    out: dict[str, pd.Series] = {}
    for f in fields:
        if f.name in ("parcel_id", "town_code") and f.name in assessment.columns:
            out[f.name] = assessment[f.name].reset_index(drop=True)
            continue
        if f.name in _COMPUTED or ledger is None or f.name not in ledger.columns:
            out[f.name] = (
                pd.Series(pd.NaT, index=range(len(pid)), dtype="datetime64[ms]")
                if f.type == "date"
                else pd.Series([None] * len(pid), dtype=object)
            )
            continue
        col = ledger[f.name].reset_index(drop=True)
        taken = col.take(np.where(pos >= 0, pos, 0)).reset_index(drop=True)
        out[f.name] = taken.where(pd.Series(pos >= 0))
    frame = pd.DataFrame(out)
    if "area_mu" in frame.columns and "area_m2" in frame.columns:
        frame["area_mu"] = (pd.to_numeric(frame["area_m2"], errors="coerce") * MU_PER_M2).round(2)
    if "enterprise_name" in frame.columns and "enterprise_id" in frame.columns:
        frame["enterprise_name"] = frame["enterprise_id"].map(lambda e: names.get(str(e)) if pd.notna(e) else None)
    frame.index = assessment.index
    return frame[[f.name for f in fields]]
