"""A small assessed store for the case tests: two towns, one identified parcel per sub-route (plus a parcel
that is not identified), written with ``store.write_layers`` like any other store."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely

from gis.disposal_rules import default_disposal_rules
from gis.frames import conform

TOWNS = ("330603001", "330603002")
AS_OF = "2026-06-30"


def case_layers() -> dict[str, pd.DataFrame]:
    """towns, parcels and idle_assessment: parcel P-<sub_route> per route of the rule file, P-none not identified."""
    routes = default_disposal_rules().routes()
    ids = [f"P-{sub}" for _, sub in routes] + ["P-none"]
    n = len(ids)
    geoms = [shapely.box(120.44 + 0.004 * i, 30.05, 120.443 + 0.004 * i, 30.053) for i in range(n)]
    town = [TOWNS[0] if i < n // 2 else TOWNS[1] for i in range(n)]
    parcels = conform(
        gpd.GeoDataFrame(
            {
                "parcel_id": ids,
                "supervision_no": [f"3306032020B{i:05d}" for i in range(n)],
                "town_code": town,
                "holder": [f"绍兴某某置业有限公司{i}" for i in range(n)],
                "land_use": "住宅用地",
                "area_m2": [10_000.0 + 1000 * i for i in range(n)],
                "supply_date": pd.Timestamp("2020-03-01"),
                "agreed_start_date": pd.Timestamp("2021-03-01"),
                "agreed_completion_date": pd.Timestamp("2024-03-01"),
                "land_price_wan": 8000.0,
                "price_paid_ratio": 1.0,
                "certificate_issued": True,
                "mortgaged": False,
                "sealed": False,
                "idle_cause": "enterprise",
            },
            geometry=geoms,
            crs="EPSG:4490",
        ),
        "parcels",
    )
    assess = conform(
        gpd.GeoDataFrame(
            {
                "parcel_id": ids,
                "town_code": town,
                "as_of": pd.Timestamp("2026-06-01"),
                "rules_version": "2024.1",
                "in_stock_scope": [True] * (n - 1) + [False],
                "dev_status": "not_started",
                "idle_type": ["not_started_idle"] * (n - 1) + ["none"],
                "idle_since": pd.Timestamp("2022-03-01"),
                "idle_years": 4.3,
                "cause": "enterprise",
                "route": [r for r, _ in routes] + ["none"],
                "sub_route": [s for _, s in routes] + [None],
                "alternatives": [[] for _ in ids],
                "measures": [[] for _ in ids],
                "reasons": [
                    [
                        {
                            "rule_id": "I1",
                            "text": "超过约定动工日期满一年未动工",
                            "citation": "《闲置土地处置办法》第二条第一款",
                        }
                    ]
                    for _ in ids
                ],
                "idle_fee_wan": 1600.0,
            },
            geometry=geoms,
            crs="EPSG:4490",
        ),
        "idle_assessment",
    )
    towns = conform(
        gpd.GeoDataFrame(
            {"town_code": list(TOWNS), "name": ["柯桥街道", "华舍街道"], "kind": ["街道", "街道"]},
            geometry=[shapely.box(120.43, 30.04, 120.47, 30.07), shapely.box(120.47, 30.04, 120.52, 30.07)],
            crs="EPSG:4490",
        ),
        "towns",
    )
    return {"towns": towns, "parcels": parcels, "idle_assessment": assess}


def fill(store) -> None:
    store.write_layers(case_layers(), meta={"synthetic": "true"})
