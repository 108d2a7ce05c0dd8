"""The synthetic demo dataset (gis/demo.py): contract, geometry, determinism, route coverage, rasters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
import rasterio.mask
import shapely
from geopandas.testing import assert_geodataframe_equal

from gis.demo import build_demo_layers, demo_imagery_conflicts, write_demo_rasters
from gis.errors import LandRenewError

# rasterio.mask uses ``Affine * tuple`` internally (affine's PendingDeprecationWarning, not ours)
pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

N = 1500
AS_OF = pd.Timestamp("2026-11-01")
CUTOFF = pd.Timestamp("2024-03-31")

# Field lists and enum values as written in docs/data-contract.md (and docs/rules.md §7 for stages).
FIELDS = {
    "towns": ["town_code", "name", "kind", "geometry"],
    "parcels": [
        "parcel_id",
        "supervision_no",
        "town_code",
        "holder",
        "enterprise_id",
        "land_use",
        "area_m2",
        "supply_date",
        "agreed_start_date",
        "agreed_completion_date",
        "actual_start_date",
        "actual_completion_date",
        "developed_area_ratio",
        "invested_ratio",
        "halted_since",
        "idle_cause",
        "idle_cause_detail",
        "breach_party",
        "land_price_wan",
        "price_paid_ratio",
        "certificate_issued",
        "mortgaged",
        "sealed",
        "market_prospect",
        "geometry",
    ],
    "projects": [
        "project_id",
        "name",
        "parcel_id",
        "enterprise_id",
        "status",
        "total_units",
        "presold_units",
        "whitelist",
        "delivery_due",
        "geometry",
    ],
    "enterprises": ["enterprise_id", "name", "risk_level", "in_default", "willing_to_continue"],
    "villages": [
        "village_id",
        "name",
        "town_code",
        "mode",
        "households",
        "planned_demolition_m2",
        "planned_resettlement_units",
        "deadline",
        "geometry",
    ],
    "village_progress": [
        "village_id",
        "report_date",
        "stage",
        "signed_households",
        "relocated_households",
        "demolished_m2",
        "resettlement_units_delivered",
        "works_progress",
    ],
}
ENUMS = {
    ("towns", "kind"): {"街道", "镇"},
    ("parcels", "land_use"): {"住宅用地", "商服用地", "工业用地", "商住用地", "公共管理与公共服务用地", "其他"},
    ("parcels", "idle_cause"): {"government", "force_majeure", "enterprise", "mixed", "unknown"},
    ("parcels", "idle_cause_detail"): {
        "art8_1",
        "art8_2",
        "art8_3",
        "art8_4",
        "art8_5",
        "art8_6",
        "disaster",
        "pandemic",
    },
    ("parcels", "breach_party"): {"none", "government", "enterprise", "both"},
    ("parcels", "market_prospect"): {"high", "medium", "low"},
    ("projects", "status"): {"未开工", "在建", "停工", "已竣工", "已交付"},
    ("projects", "whitelist"): {"none", "pushed", "approved", "disbursed"},
    ("enterprises", "risk_level"): {"normal", "watch", "high"},
    ("enterprises", "willing_to_continue"): {"yes", "no", "unknown"},
    ("villages", "mode"): {"拆除新建", "整治提升", "拆整结合"},
    ("village_progress", "stage"): {
        "not_started",
        "planning",
        "signing",
        "relocation",
        "demolition",
        "resettlement_construction",
        "works",
        "done",
    },
}
DATES = {
    "parcels": [
        "supply_date",
        "agreed_start_date",
        "agreed_completion_date",
        "actual_start_date",
        "actual_completion_date",
        "halted_since",
    ],
    "projects": ["delivery_due"],
    "villages": ["deadline"],
    "village_progress": ["report_date"],
}
RATIOS = {
    "parcels": ["developed_area_ratio", "invested_ratio", "price_paid_ratio"],
    "village_progress": ["works_progress"],
}
BOOLS = {"parcels": ["certificate_issued", "mortgaged", "sealed"], "enterprises": ["in_default"]}
CUMULATIVE = [
    "signed_households",
    "relocated_households",
    "demolished_m2",
    "resettlement_units_delivered",
    "works_progress",
]


@pytest.fixture(scope="module")
def demo():
    return build_demo_layers(n_parcels=N)


@pytest.fixture(scope="module")
def district(demo):
    from gis.demo import _district

    return _district()


@pytest.fixture(scope="module")
def rasters(demo, tmp_path_factory):
    return write_demo_rasters(demo["parcels"], tmp_path_factory.mktemp("rasters"))


# --- determinism -------------------------------------------------------------------------------------------------
def test_same_seed_gives_identical_frames(demo):
    again = build_demo_layers(n_parcels=N)
    for name in FIELDS:
        if name in ("towns", "parcels", "projects", "villages"):
            assert_geodataframe_equal(demo[name], again[name], check_less_precise=False)
        else:
            pd.testing.assert_frame_equal(demo[name], again[name])


def test_other_seed_gives_other_data(demo):
    other = build_demo_layers(n_parcels=N, seed=7)
    assert not demo["parcels"]["parcel_id"].equals(other["parcels"]["parcel_id"])
    assert not demo["parcels"].geometry.geom_equals(other["parcels"].geometry).all()
    assert not demo["enterprises"]["enterprise_id"].equals(other["enterprises"]["enterprise_id"])
    # the real outline and the town centres do not depend on the seed
    assert demo["towns"].geometry.geom_equals(other["towns"].geometry).all()


def test_meta_says_synthetic(demo):
    meta = demo["_meta"]
    assert isinstance(meta, dict)
    assert meta["synthetic"] is True and meta["seed"] == 20240926
    assert meta["generated_for"] == "柯桥区 演示数据（模拟）" and meta["as_of"] == AS_OF.date()


@pytest.mark.parametrize("n", [0, 499])
def test_too_few_parcels_is_refused(n):
    with pytest.raises(LandRenewError, match="至少为 500"):
        build_demo_layers(n_parcels=n)


# --- contract ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("layer", list(FIELDS))
def test_fields_match_contract(demo, layer):
    assert list(demo[layer].columns) == FIELDS[layer]
    if "geometry" in FIELDS[layer]:
        assert demo[layer].crs.to_epsg() == 4490
        assert set(demo[layer].geom_type) <= {"Polygon", "MultiPolygon"}


@pytest.mark.parametrize(("layer", "field"), list(ENUMS))
def test_enum_values_match_contract(demo, layer, field):
    values = set(demo[layer][field].dropna())
    assert values <= ENUMS[(layer, field)]
    if field in ("idle_cause", "idle_cause_detail", "status", "whitelist", "mode", "stage", "kind", "risk_level"):
        assert values == ENUMS[(layer, field)], f"{layer}.{field} misses {ENUMS[(layer, field)] - values}"


def test_types(demo):
    for layer, cols in DATES.items():
        for col in cols:
            s = demo[layer][col]
            assert s.dtype.kind == "M" and getattr(s.dt, "tz", None) is None, (layer, col)
            assert (s.dropna() == s.dropna().dt.normalize()).all()
    for layer, cols in RATIOS.items():
        for col in cols:
            s = demo[layer][col]
            assert s.dtype == np.float64 and s.dropna().between(0, 1).all(), (layer, col)
    for layer, cols in BOOLS.items():
        for col in cols:
            assert str(demo[layer][col].dtype) in ("bool", "boolean"), (layer, col)
    for layer, col in [
        ("parcels", "parcel_id"),
        ("projects", "project_id"),
        ("enterprises", "enterprise_id"),
        ("villages", "village_id"),
        ("towns", "town_code"),
    ]:
        assert pd.api.types.is_string_dtype(demo[layer][col]) and demo[layer][col].is_unique, (layer, col)


def test_ids_look_like_the_ledger(demo):
    p, e = demo["parcels"], demo["enterprises"]
    assert p["parcel_id"].str.fullmatch(r"KQ20\d\d-\d{4,}").all()
    assert e["enterprise_id"].str.fullmatch(r"91\d{6}[0-9A-Z]{10}").all()
    assert 50 <= len(e) <= 70
    assert demo["towns"]["town_code"].tolist() == [f"3306030{i:02d}" for i in range(1, 17)]
    assert demo["villages"]["village_id"].iloc[0] == "CZC001" and len(demo["villages"]) == 40
    assert p["holder"].str.contains("某").all()


def test_references_resolve(demo):
    p, pr = demo["parcels"], demo["projects"]
    assert set(p["enterprise_id"].dropna()) <= set(demo["enterprises"]["enterprise_id"])
    assert set(pr["parcel_id"].dropna()) <= set(p["parcel_id"])
    assert 0.1 < pr["parcel_id"].isna().mean() < 0.3
    assert set(p["town_code"].dropna()) <= set(demo["towns"]["town_code"])
    assert 0.25 < p["town_code"].isna().mean() < 0.35


# --- geometry ------------------------------------------------------------------------------------------------------
def test_towns_cover_the_district(demo, district):
    towns = demo["towns"].to_crs(4549)
    assert len(towns) == 16 and (towns.area > 1e6).all()
    assert towns.union_all().symmetric_difference(district).area / district.area < 1e-6
    assert set(towns.loc[towns["kind"] == "镇", "name"]) == {"平水镇", "王坛镇", "稽东镇", "夏履镇", "漓渚镇"}


def test_parcels_do_not_overlap_and_lie_inside(demo, district):
    geoms = demo["parcels"].to_crs(4549).geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pair = left < right
    overlap = shapely.area(shapely.intersection(geoms[left[pair]], geoms[right[pair]])).sum()
    assert overlap < 1.0
    assert shapely.contains(district, geoms).all()
    assert len(geoms) == N


def test_parcel_areas_and_straddling(demo):
    p = demo["parcels"].to_crs(4549)
    ratio = p["area_m2"] / p.area
    assert ratio.between(0.97, 1.03).all()
    assert p["area_m2"].between(2_000, 150_000).all()
    towns = demo["towns"].to_crs(4549).geometry.to_numpy()
    pi, ti = shapely.STRtree(towns).query(p.geometry.to_numpy(), predicate="intersects")
    area = shapely.area(shapely.intersection(p.geometry.to_numpy()[pi], towns[ti]))
    straddle = (np.bincount(pi[area > 1.0], minlength=len(p)) >= 2).mean()
    assert 0.005 < straddle < 0.05
    # denser in the northern plain (街道) than in the southern towns (镇)
    tk = demo["towns"].to_crs(4549)
    kind = tk["kind"].to_numpy()[ti[np.argsort(-area)]][np.unique(pi[np.argsort(-area)], return_index=True)[1]]
    density = {k: (kind == k).sum() / tk.loc[tk["kind"] == k].area.sum() for k in ("街道", "镇")}
    assert density["街道"] > 2 * density["镇"]


def test_villages_sit_among_parcels(demo):
    v = demo["villages"].to_crs(4549)
    assert v.area.between(2e4, 1.2e6).all()
    assert not v.geometry.overlaps(v.geometry.shift()).fillna(False).any()
    touching = shapely.STRtree(demo["parcels"].to_crs(4549).geometry.to_numpy()).query(
        v.geometry.to_numpy(), predicate="intersects"
    )[1]
    assert len(np.unique(touching)) >= 5
    assert set(v["mode"]) == ENUMS[("villages", "mode")]
    demolition = v["mode"] != "整治提升"
    assert v.loc[demolition, "planned_resettlement_units"].notna().all()
    assert v.loc[~demolition, "planned_resettlement_units"].isna().all()
    assert (v["deadline"] == "2027-12-31").sum() == 38 and (v["deadline"] < "2027-12-31").sum() == 2


# --- ledger mix: every route of docs/rules.md §6 reachable -------------------------------------------------------------
@pytest.fixture(scope="module")
def ledger(demo):
    """Ledger facts from docs/rules.md §1-§5, computed here independently of the generator."""
    p = demo["parcels"].copy()
    e = demo["enterprises"].set_index("enterprise_id")
    capable = ~e["in_default"] & (e["risk_level"] != "high") & (e["willing_to_continue"].fillna("unknown") != "no")
    p["capable"] = p["enterprise_id"].map(capable).astype(bool)
    year = pd.DateOffset(years=1)
    p["in_scope"] = (p["supply_date"] <= CUTOFF) & p["actual_completion_date"].isna()
    ns = p["actual_start_date"].isna() & p["actual_completion_date"].isna()
    started = p["actual_start_date"].notna() & p["actual_completion_date"].isna()
    p["ns_idle"] = p["in_scope"] & ns & (AS_OF >= p["agreed_start_date"] + year)
    low = (p["developed_area_ratio"] < 1 / 3) | (p["invested_ratio"] < 0.25)
    p["halted_idle"] = p["in_scope"] & started & low & (AS_OF >= p["halted_since"] + year)
    p["idle"] = p["ns_idle"] | p["halted_idle"]
    p["idle_years"] = (AS_OF - p["agreed_start_date"]).dt.days / 365.25
    p["paid"] = p["price_paid_ratio"] >= 1
    p["prospect"] = p["market_prospect"].fillna("medium")  # docs/rules.md §6 step 7: missing counts as medium
    p["breach"] = p["breach_party"].notna() & (p["breach_party"] != "none")
    pr = demo["projects"]
    sold = pr[pr["presold_units"].fillna(0) > 0].to_crs(4549)
    hit = shapely.STRtree(sold.geometry.to_numpy()).query(p.to_crs(4549).geometry.to_numpy(), predicate="intersects")[0]
    p["presold"] = np.isin(np.arange(len(p)), hit)
    vil = demo["villages"]
    last = demo["village_progress"].sort_values("report_date").groupby("village_id").last()
    delivered = vil["village_id"].map(last["resettlement_units_delivered"]).fillna(0)
    needy = vil[vil["planned_resettlement_units"].notna() & (delivered < vil["planned_resettlement_units"])]
    dist = shapely.STRtree(needy.to_crs(4549).geometry.to_numpy()).query_nearest(
        p.to_crs(4549).geometry.to_numpy(), return_distance=True
    )[1]
    p["public_need"] = p["land_use"].isin(["住宅用地", "商住用地"]) & (dist <= 2000)
    return p


ROUTE_CASES = {
    "none: completed": lambda p: p["actual_completion_date"].notna(),
    "none: supplied after the cut-off": lambda p: (p["supply_date"] > CUTOFF) & p["actual_completion_date"].isna(),
    "review: agreed start missing": lambda p: (
        p["in_scope"] & p["actual_start_date"].isna() & p["agreed_start_date"].isna()
    ),
    "review: sealed": lambda p: p["in_scope"] & p["sealed"],
    "review: mixed cause": lambda p: p["idle"] & (p["idle_cause"] == "mixed"),
    "review: unknown cause": lambda p: p["idle"] & (p["idle_cause"] == "unknown"),
    "presold, capable": lambda p: p["idle"] & p["presold"] & p["capable"],
    "presold, not capable": lambda p: p["idle"] & p["presold"] & ~p["capable"],
    "on_schedule": lambda p: p["in_scope"] & ~p["idle"] & p["capable"] & ~p["sealed"],
    "extend_start (government)": lambda p: (
        p["idle"] & p["capable"] & p["idle_cause_detail"].isin(["art8_1", "art8_4", "art8_5", "art8_6"])
    ),
    "extend_start (force majeure)": lambda p: p["idle"] & p["capable"] & (p["idle_cause"] == "force_majeure"),
    "adjust_planning": lambda p: p["idle"] & p["capable"] & p["idle_cause_detail"].isin(["art8_2", "art8_3"]),
    "continue_with_fee": lambda p: (
        p["ns_idle"]
        & p["capable"]
        & (p["idle_cause"] == "enterprise")
        & (p["idle_years"] < 2)
        & ~p["presold"]
        & ~p["sealed"]
    ),
    "reclaim_without_compensation": lambda p: (
        p["ns_idle"]
        & p["capable"]
        & (p["idle_cause"] == "enterprise")
        & (p["idle_years"] >= 2)
        & ~p["presold"]
        & ~p["sealed"]
    ),
    "resume_works": lambda p: p["halted_idle"] & p["capable"] & (p["idle_cause"] == "enterprise") & ~p["presold"],
    "negotiated_reclaim (breach)": lambda p: p["idle"] & ~p["capable"] & p["breach"] & ~p["presold"],
    "negotiated_reclaim (government) + land_swap": lambda p: (
        p["idle"] & ~p["capable"] & ~p["breach"] & (p["idle_cause_detail"] == "art8_2") & p["paid"]
    ),
    "whole_transfer": lambda p: (
        p["idle"]
        & ~p["capable"]
        & ~p["breach"]
        & (p["idle_cause"] == "enterprise")
        & (p["prospect"] != "low")
        & p["paid"]
        & p["certificate_issued"]
        & (p["invested_ratio"] >= 0.25)
    ),
    "preregistered_transfer": lambda p: (
        p["idle"]
        & ~p["capable"]
        & ~p["breach"]
        & (p["idle_cause"] == "enterprise")
        & (p["prospect"] != "low")
        & p["paid"]
        & ((p["invested_ratio"].fillna(0) < 0.25) | ~p["certificate_issued"])
        & ~p["presold"]
    ),
    "joint_development": lambda p: (
        p["idle"]
        & ~p["capable"]
        & ~p["breach"]
        & (p["idle_cause"] == "enterprise")
        & (p["prospect"] != "low")
        & ~p["paid"]
    ),
    "prospect missing (assumed medium)": lambda p: (
        p["idle"] & ~p["capable"] & p["market_prospect"].isna() & (p["idle_cause"] == "enterprise") & ~p["breach"]
    ),
    "low -> reclaim_without_compensation": lambda p: (
        p["ns_idle"]
        & ~p["capable"]
        & ~p["breach"]
        & (p["idle_cause"] == "enterprise")
        & (p["prospect"] == "low")
        & (p["idle_years"] >= 2)
    ),
    "low -> purchase_by_demand": lambda p: (
        p["halted_idle"]
        & ~p["capable"]
        & ~p["breach"]
        & ~p["presold"]
        & (p["idle_cause"] == "enterprise")
        & (p["prospect"] == "low")
        & p["public_need"]
    ),
    "low -> negotiated_reclaim": lambda p: (
        p["halted_idle"]
        & ~p["capable"]
        & ~p["breach"]
        & ~p["presold"]
        & (p["idle_cause"] == "enterprise")
        & (p["prospect"] == "low")
        & ~p["public_need"]
    ),
    "督促动工 (past agreed start, not yet idle)": lambda p: (
        p["in_scope"] & p["actual_start_date"].isna() & (p["agreed_start_date"] < AS_OF) & ~p["idle"]
    ),
    "竣工违约 (started, past agreed completion)": lambda p: (
        p["in_scope"] & p["actual_start_date"].notna() & (p["agreed_completion_date"] < AS_OF)
    ),
    "halted but not idle": lambda p: (
        p["in_scope"] & p["halted_since"].notna() & ~p["idle"] & p["developed_area_ratio"].notna()
    ),
}


@pytest.mark.parametrize("case", list(ROUTE_CASES))
def test_every_route_case_is_in_the_ledger(ledger, case):
    mask = ROUTE_CASES[case](ledger).fillna(False).astype(bool)
    assert mask.sum() >= 1, case


# --- the engine on the demo store: every row of the recommendation table is taken ------------------------------
#: Rows of the table the demo data does not reach, each covered by a hand-made parcel below: the demo has only a
#: few presold (保交房) parcels, none of them capable with a government/enterprise idle cause, nor not capable with
#: a whole-transfer or unpaid ledger.  land_swap is never a recommendation (only an alternative, docs/rules.md §6).
NOT_IN_DEMO = {
    ("R3", "adjust_planning"),
    ("R3", "extend_start"),
    ("R3", "continue_with_fee"),
    ("R3", "whole_transfer"),
    ("R3", "joint_development"),
}


def _taken_rows(assessment: pd.DataFrame) -> set[tuple[str, str | None]]:
    """(rule id of the R reason, sub_route) of every parcel: the table row the engine took."""
    rule = assessment["reasons"].map(lambda rs: next(r["rule_id"] for r in rs if r["rule_id"].startswith("R")))
    sub = assessment["sub_route"].astype(object).where(assessment["sub_route"].notna(), None)
    return set(zip(rule, sub))


def test_every_route_is_reachable(demo_store):
    from gis.idle import idle_tables, load_idle_rules

    assessment = demo_store.read_layer("idle_assessment")
    tables = idle_tables(load_idle_rules())
    table_rows = {(r.rule, r.sub_route) for r in tables.recommendation if not r.only_alternative}
    taken = _taken_rows(assessment)
    assert taken <= table_rows
    assert table_rows - taken == NOT_IN_DEMO
    assert set(assessment["route"]) == {"none", "continue", "transfer", "reclaim", "review"}
    recommended = set(assessment["sub_route"].dropna())
    alternatives = {a["sub_route"] for alts in assessment["alternatives"] for a in alts}
    assert recommended | alternatives == set(s for s, _ in tables.sub_routes.items())
    assert "land_swap" in alternatives - recommended


def test_table_rows_not_in_the_demo_by_hand():
    """docs/rules.md §6 step 3: presold parcels are never reclaimed — capable -> continue with the sub-route of
    step 4, not capable -> transfer (whole, else pre-registered, else joint development)."""
    import datetime as dt

    from gis.idle import classify_idle_land

    base = dict(
        enterprise_id="E_OK",
        land_use="住宅用地",
        land_price_wan=1000.0,
        price_paid_ratio=1.0,
        certificate_issued=True,
        invested_ratio=0.5,
        supply_date="2019-05-01",
        agreed_start_date="2020-06-30",
        agreed_completion_date="2023-06-30",
        presold_units=120,
        breach_party="none",
        market_prospect="high",
    )
    cases = {  # parcel -> the row expected from the rule text
        "P_PLAN": (dict(idle_cause="government", idle_cause_detail="art8_2"), ("R3", "adjust_planning")),
        "P_GOV": (dict(idle_cause="government", idle_cause_detail="art8_1"), ("R3", "extend_start")),
        "P_FEE": (dict(idle_cause="enterprise"), ("R3", "continue_with_fee")),
        "P_WHOLE": (dict(idle_cause="enterprise", enterprise_id="E_BAD"), ("R3", "whole_transfer")),
        "P_JOINT": (
            dict(idle_cause="enterprise", enterprise_id="E_BAD", price_paid_ratio=0.6),
            ("R3", "joint_development"),
        ),
    }
    parcels = pd.DataFrame([{**base, **over, "parcel_id": pid} for pid, (over, _) in cases.items()])
    for col in ("supply_date", "agreed_start_date", "agreed_completion_date"):
        parcels[col] = pd.to_datetime(parcels[col])
    enterprises = pd.DataFrame(
        {
            "enterprise_id": ["E_OK", "E_BAD"],
            "risk_level": ["normal", "high"],
            "in_default": [False, True],
            "willing_to_continue": ["yes", "no"],
        }
    )
    out = classify_idle_land(parcels, enterprises=enterprises, as_of=dt.date(2021, 12, 31))
    got = {pid: next(iter(_taken_rows(out.iloc[[i]]))) for i, pid in enumerate(out["parcel_id"])}
    assert got == {pid: row for pid, (_, row) in cases.items()}
    assert set(got.values()) == NOT_IN_DEMO
    assert not any(a["route"] == "reclaim" for alts in out["alternatives"] for a in alts)


def test_dates_are_in_order(demo):
    p = demo["parcels"]
    lag = (p["agreed_start_date"] - p["supply_date"]).dt.days
    assert lag.dropna().ge(182).all()
    assert (p["agreed_completion_date"] - p["agreed_start_date"]).dt.days.dropna().between(730, 1461).all()
    assert p["supply_date"].between("2005-01-01", "2024-12-31").all()
    assert not (p["actual_start_date"] < p["supply_date"]).any()
    assert not (p["actual_completion_date"] <= p["actual_start_date"]).any()
    assert not (p["halted_since"] <= p["actual_start_date"]).any()
    assert not (p["actual_completion_date"].notna() & p["actual_start_date"].isna()).any()
    for col in ("actual_start_date", "actual_completion_date", "halted_since"):
        assert not (p[col] >= AS_OF).any(), col


def test_status_mix(ledger):
    completed = ledger["actual_completion_date"].notna().mean()
    assert 0.7 < completed < 0.9
    assert 0.05 < ledger["idle"].mean() < 0.15
    assert ledger["capable"].any() and not ledger["capable"].all()
    assert 2 <= ledger["sealed"].sum() <= 10


def test_baojiaofang_projects(demo, ledger):
    pr = demo["projects"]
    bjf = pr[pr["presold_units"].fillna(0) > 0]
    assert (bjf["presold_units"] <= bjf["total_units"]).all()
    assert set(bjf.loc[~bjf["status"].isin(["已竣工", "已交付"]), "whitelist"]) == ENUMS[("projects", "whitelist")]
    assert ledger["presold"].sum() >= 4


# --- renewal progress -----------------------------------------------------------------------------------------------
def test_progress_is_monotone_but_for_one_error(demo):
    vp = demo["village_progress"].sort_values(["village_id", "report_date"])
    drops = pd.concat(
        [vp[c].astype("float64").groupby(vp["village_id"]).diff().lt(0).rename(c) for c in CUMULATIVE], axis=1
    )
    assert int(drops.to_numpy().sum()) == 1
    row = vp[drops.any(axis=1)]
    error = demo["_meta"]["progress_error"]
    assert row["village_id"].tolist() == [error["village_id"]]
    assert row["report_date"].dt.date.tolist() == [error["report_date"]]
    assert drops.loc[row.index, "signed_households"].all()


STAGE_OF_INDICATOR = {
    "signed_households": "signing",
    "relocated_households": "relocation",
    "demolished_m2": "demolition",
    "resettlement_units_delivered": "resettlement_construction",
}
ORDER = ["not_started", "planning", "signing", "relocation", "demolition", "resettlement_construction", "done"]


def test_stage_is_consistent_with_indicators(demo):
    vp = demo["village_progress"]
    demolition = vp["signed_households"].notna()
    rank = vp["stage"].map({s: i for i, s in enumerate(ORDER)})
    assert rank[demolition].notna().all()
    for field, stage in STAGE_OF_INDICATOR.items():
        begun = demolition & vp[field].fillna(0).gt(0)
        assert (rank[begun] >= ORDER.index(stage)).all(), field
    works_only = ~demolition
    assert set(vp.loc[works_only, "stage"]) <= {"not_started", "planning", "works", "done"}
    assert vp.loc[works_only & vp["works_progress"].gt(0), "stage"].isin(["works", "done"]).all()
    done = vp["stage"] == "done"
    assert (vp.loc[done & works_only, "works_progress"] == 1).all()


def test_progress_outcomes(demo):
    vp = demo["village_progress"]
    v = demo["villages"]
    assert vp["report_date"].min() >= pd.Timestamp("2024-01-01")
    assert vp["report_date"].max() <= pd.Timestamp("2026-10-31")
    assert set(vp["report_date"].dt.day) <= {25, 28, 29, 30, 31}
    per = vp.sort_values("report_date").groupby("village_id")
    last = per.last()
    assert (last["stage"] == "done").sum() >= 2
    assert (~v["village_id"].isin(vp["village_id"])).sum() >= 2  # no reports at all
    assert (last["stage"] == "not_started").sum() >= 1
    assert (per.size() == 1).sum() == 1  # one village with a single report
    # stalled: no change over the last 7 reports while not done
    tail = vp.sort_values("report_date").groupby("village_id").tail(7)
    flat = tail.groupby("village_id")[CUMULATIVE].agg(lambda s: s.nunique(dropna=False) <= 1).all(axis=1)
    stalled = flat & ~last["stage"].isin(["done", "not_started"]) & (per.size() > 7)
    assert stalled.sum() >= 3
    done = last[last["stage"] == "done"]
    units = v.set_index("village_id")["planned_resettlement_units"]
    with_units = done.index[units.loc[done.index].notna()]
    assert (done.loc[with_units, "resettlement_units_delivered"] == units.loc[with_units]).all()


# --- rasters ----------------------------------------------------------------------------------------------------------
def test_rasters_are_readable(rasters):
    assert [p.name for p in rasters] == [
        "demo_index_20230615.tif",
        "demo_index_20240615.tif",
        "demo_index_20250615.tif",
        "demo_index_20260615.tif",
    ]
    for path in rasters:
        with rasterio.open(path) as src:
            assert src.crs.to_epsg() == 4549 and src.count == 1 and src.dtypes == ("float32",)
            assert src.nodata == -9999.0 and src.res == (20.0, 20.0)
            assert src.tags()["ACQUISITION_DATE"] == f"{path.stem[-8:-4]}-{path.stem[-4:-2]}-{path.stem[-2:]}"
            assert 2000 < src.width < 4000 and 2000 < src.height < 4000
            assert src.profile["tiled"] and src.overviews(1)
            data = src.read(1, masked=True)
            assert 0.05 < float(np.percentile(data.compressed(), 5)) and float(data.max()) < 1.0


def _means(parcels, ids, rasters):
    geoms = parcels.set_index("parcel_id").loc[ids].to_crs(4549).geometry
    out = []
    for path in rasters:
        with rasterio.open(path) as src:
            out.append([float(rasterio.mask.mask(src, [g], crop=True, filled=False)[0].mean()) for g in geoms])
    return np.array(out)  # dates x parcels


def test_imagery_follows_the_ledger(demo, rasters):
    p = demo["parcels"]
    conflicts = demo_imagery_conflicts(p)
    odd = set(conflicts["started_but_flat"]) | set(conflicts["not_started_but_built"])
    building = p[
        p["actual_start_date"].lt("2023-01-01")
        & p["actual_start_date"].gt("2021-06-01")
        & p["actual_completion_date"].isna()
        & p["halted_since"].isna()
        & ~p["parcel_id"].isin(odd)
    ]
    idle = p[p["actual_start_date"].isna() & p["agreed_start_date"].lt("2020-01-01") & ~p["parcel_id"].isin(odd)]
    done = p[p["actual_completion_date"].lt("2020-01-01")]
    m_b = _means(p, building["parcel_id"].iloc[:3], rasters)
    m_i = _means(p, idle["parcel_id"].iloc[:3], rasters)
    m_d = _means(p, done["parcel_id"].iloc[:3], rasters)
    assert (m_b[-1] - m_b[0] > 0.1).all() and (np.diff(m_b, axis=0) > 0).all()
    assert (np.abs(m_i[-1] - m_i[0]) < 0.03).all() and (m_i < 0.4).all()
    assert (m_d > 0.5).all()


def test_imagery_conflicts(demo, rasters):
    p = demo["parcels"]
    conflicts = demo_imagery_conflicts(p)
    unfinished = p["actual_completion_date"].isna().sum()
    total = len(conflicts["started_but_flat"]) + len(conflicts["not_started_but_built"])
    assert 0.01 * unfinished <= total <= 0.03 * unfinished
    flat = p.set_index("parcel_id").loc[conflicts["started_but_flat"]]
    built = p.set_index("parcel_id").loc[conflicts["not_started_but_built"]]
    assert flat["actual_start_date"].notna().all() and built["actual_start_date"].isna().all()
    m_f = _means(p, conflicts["started_but_flat"][:2], rasters)
    m_n = _means(p, conflicts["not_started_but_built"][:2], rasters)
    assert (np.abs(m_f[-1] - m_f[0]) < 0.03).all()
    assert (m_n[-1] - m_n[0] > 0.3).all()
