"""Tests for gis.joins: hand-made squares (built in EPSG:4549 metres, stored as EPSG:4490) and randomized
layers, checked against a geopandas.overlay reference and a brute-force distance matrix."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.crs import AREA_CRS, STORE_CRS
from gis.errors import CRSError, InputFileError
from gis.joins import (
    MIN_OVERLAP_M2,
    attribute_parcels,
    ids_within_distance,
    intersecting_ids,
    largest_overlap,
    link_projects,
)

X0, Y0 = 540_000.0, 3_330_000.0  # Keqiao, EPSG:4549


def box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    """A rectangle in local metres from (X0, Y0)."""
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def layer(key: str, rows: dict[str, object], **columns) -> gpd.GeoDataFrame:
    """GeoDataFrame in EPSG:4490 from {key value: geometry in EPSG:4549}, indexed by the key value."""
    frame = gpd.GeoDataFrame(
        {key: pd.Series(list(rows), dtype="string"), **columns}, geometry=list(rows.values()), crs=AREA_CRS
    )
    return frame.set_index(pd.Index(list(rows), name="case"), drop=False).to_crs(STORE_CRS)


# "T10" < "T9" in string order: ties must pick T10 although 10 > 9.
TOWNS = layer(
    "town_code",
    {
        "T9": box(0, 0, 100, 100),
        "T10": box(100, 0, 200, 100),
        "T8": shapely.MultiPolygon([box(300, 0, 400, 100), box(0, 200, 100, 300)]),
    },
)

# case -> (geometry, expected town_code or None)
PARCEL_CASES = {
    "inside": (box(10, 10, 30, 30), "T9"),
    "straddle_70_30": (box(93, 10, 103, 20), "T9"),
    "straddle_30_70": (box(97, 30, 107, 40), "T10"),
    "tie_50_50": (box(95, 50, 105, 60), "T10"),
    "inside_touching_neighbour": (box(80, 80, 100, 90), "T9"),
    "touching_from_outside": (box(200, 10, 210, 20), None),
    "touching_corner_only": (box(200, 100, 210, 110), None),
    "outside_all": (box(500, 500, 510, 510), None),
    "in_multipolygon_town": (box(20, 220, 40, 240), "T8"),
    "multipolygon_mostly_T10": (shapely.MultiPolygon([box(10, 60, 20, 70), box(150, 60, 165, 75)]), "T10"),
    "multipolygon_mostly_T9": (shapely.MultiPolygon([box(10, 40, 30, 50), box(150, 40, 160, 50)]), "T9"),
    "multipolygon_partly_outside": (shapely.MultiPolygon([box(150, 85, 160, 95), box(500, 0, 600, 100)]), "T10"),
    "missing_geometry": (None, None),
    "empty_geometry": (shapely.Polygon(), None),
}
PARCELS = layer("parcel_id", {k: g for k, (g, _) in PARCEL_CASES.items()})


def reference_largest(left: gpd.GeoDataFrame, right: gpd.GeoDataFrame, right_key: str) -> pd.Series:
    """overlay(how="intersection") + area + idxmax with the documented rules (sliver threshold, smallest key)."""
    lft = left.to_crs(AREA_CRS)
    lft = gpd.GeoDataFrame({"_row": np.arange(len(lft))}, geometry=lft.geometry.values, crs=AREA_CRS)
    lft = lft[~(lft.geometry.isna() | lft.geometry.is_empty)]
    rgt = right.to_crs(AREA_CRS)[[right_key, "geometry"]].reset_index(drop=True)
    out = pd.Series(pd.NA, index=left.index, dtype="string", name=right_key)
    ov = gpd.overlay(lft, rgt, how="intersection", keep_geom_type=True)
    ov["area"] = ov.area
    ov = ov[ov["area"] > MIN_OVERLAP_M2]
    if len(ov):
        top = ov.groupby("_row")["area"].transform("max")
        ov = ov[ov["area"] >= top * (1 - 1e-9)]
        best = ov.loc[ov.groupby("_row")[right_key].idxmin()]
        out.iloc[best["_row"].to_numpy()] = best[right_key].to_numpy()
    return out


def reference_overlapping(left: gpd.GeoDataFrame, right: gpd.GeoDataFrame, right_key: str) -> pd.Series:
    lft = left.to_crs(AREA_CRS)
    lft = gpd.GeoDataFrame({"_row": np.arange(len(lft))}, geometry=lft.geometry.values, crs=AREA_CRS)
    lft = lft[~(lft.geometry.isna() | lft.geometry.is_empty)]
    ov = gpd.overlay(
        lft,
        right.to_crs(AREA_CRS)[[right_key, "geometry"]].reset_index(drop=True),
        how="intersection",
        keep_geom_type=True,
    )
    ov = ov[ov.area > MIN_OVERLAP_M2]
    lists = [[] for _ in range(len(left))]
    for row, keys in ov.groupby("_row")[right_key]:
        lists[row] = sorted(set(keys))
    return pd.Series(lists, index=left.index, dtype=object)


def random_layers(seed: int, kind: str) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """~300 random rectangles (some multipolygons) vs a right layer of the given kind, ~2 x 2 km."""
    rng = np.random.default_rng(seed)
    n = 300
    if kind == "voronoi":
        seeds = shapely.multipoints(rng.uniform(0, 2000, (12, 2)) + [X0, Y0])
        area = box(0, 0, 2000, 2000)
        geoms = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=area)), area)
    elif kind == "grid":  # unit squares of 400 m; parcels snapped to 10 m -> many exact 50/50 ties
        geoms = np.array([box(i * 400, j * 400, (i + 1) * 400, (j + 1) * 400) for i in range(5) for j in range(5)])
    else:  # "discs": overlapping right polygons
        geoms = shapely.buffer(shapely.points(rng.uniform(0, 2000, (30, 2)) + [X0, Y0]), rng.uniform(50, 400, 30))
    keys = [f"R{k}" for k in rng.permutation(len(geoms))]  # row order unrelated to key order
    right = gpd.GeoDataFrame({"key": keys}, geometry=geoms, crs=AREA_CRS).to_crs(STORE_CRS)

    xy = rng.uniform(-200, 2100, (n, 2))
    wh = rng.uniform(10, 300, (n, 2))
    if kind == "grid":
        xy, wh = np.round(xy, -1), np.round(wh, -1) + 10
    rects = np.array([box(x, y, x + w, y + h) for (x, y), (w, h) in zip(xy, wh)])
    multi = rng.random(n) < 0.2
    rects[multi] = [shapely.MultiPolygon([r, shapely.affinity.translate(r, 500, 300)]) for r in rects[multi]]
    left = gpd.GeoDataFrame({"pid": [f"P{i}" for i in range(n)]}, geometry=rects, crs=AREA_CRS)
    left.index = rng.permutation(n) + 1000  # an index that is neither 0..n-1 nor sorted
    return left.to_crs(STORE_CRS), right


# ----------------------------------------------------------------------------------------------------------------
# largest_overlap
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", list(PARCEL_CASES))
def test_largest_overlap_hand_cases(case):
    result = largest_overlap(PARCELS, TOWNS, right_key="town_code")
    expected = PARCEL_CASES[case][1]
    if expected is None:
        assert pd.isna(result.loc[case])
    else:
        assert result.loc[case] == expected


def test_largest_overlap_keeps_index_and_names_series():
    result = largest_overlap(PARCELS, TOWNS, right_key="town_code")
    assert result.index.equals(PARCELS.index)
    assert result.name == "town_code"
    assert result.dtype == "string"


def test_largest_overlap_agrees_with_overlay_on_hand_cases():
    result = largest_overlap(PARCELS, TOWNS, right_key="town_code")
    pd.testing.assert_series_equal(result, reference_largest(PARCELS, TOWNS, "town_code"))


@pytest.mark.parametrize("kind", ["voronoi", "grid", "discs"])
@pytest.mark.parametrize("seed", [1, 2])
def test_largest_overlap_agrees_with_overlay_on_random_layers(kind, seed):
    left, right = random_layers(seed, kind)
    result = largest_overlap(left, right, right_key="key")
    expected = reference_largest(left, right, "key")
    assert result.notna().sum() > 100 and result.isna().sum() > 0  # both outcomes exercised
    pd.testing.assert_series_equal(result, expected.rename("key"))


def test_grid_fixture_really_contains_ties():
    left, right = random_layers(1, "grid")
    ov = gpd.overlay(left.to_crs(AREA_CRS), right.to_crs(AREA_CRS), how="intersection", keep_geom_type=True)
    ov["area"] = ov.area.round(6)
    assert ov.duplicated(["pid", "area"]).sum() >= 5


def test_tie_does_not_depend_on_row_order():
    reversed_towns = TOWNS.iloc[::-1]
    shuffled = PARCELS.iloc[[3, 0, 2, 1]]
    result = largest_overlap(shuffled, reversed_towns, right_key="town_code")
    assert result.to_dict() == {"tie_50_50": "T10", "inside": "T9", "straddle_30_70": "T10", "straddle_70_30": "T9"}


def test_duplicate_left_index_is_kept():
    left = PARCELS.iloc[[0, 4, 5]].set_axis(["a", "a", "b"])
    result = largest_overlap(left, TOWNS, right_key="town_code")
    assert list(result.index) == ["a", "a", "b"]
    assert result.tolist() == ["T9", "T9", pd.NA]


def test_right_rows_without_key_or_geometry_are_ignored():
    towns = pd.concat([TOWNS, layer("town_code", {"T0": None}), TOWNS.iloc[[0]].assign(town_code=pd.NA)])
    result = largest_overlap(PARCELS, towns, right_key="town_code")
    pd.testing.assert_series_equal(result, largest_overlap(PARCELS, TOWNS, right_key="town_code"))


def test_sliver_threshold_is_a_parameter():
    # 0.3 m x 10 m = 3 m² inside T10, the rest outside every town
    left = layer("parcel_id", {"p": box(199.7, 10, 260, 20)})
    assert largest_overlap(left, TOWNS, right_key="town_code").loc["p"] == "T10"
    assert pd.isna(largest_overlap(left, TOWNS, right_key="town_code", min_area_m2=5.0).loc["p"])


@pytest.mark.parametrize(
    "left, right",
    [
        (PARCELS.iloc[:0], TOWNS),
        (None, TOWNS),
    ],
    ids=["empty-left", "none-left"],
)
def test_largest_overlap_without_left_rows(left, right):
    result = largest_overlap(left, right, right_key="town_code")
    assert len(result) == 0
    assert result.dtype == "string"


@pytest.mark.parametrize(
    "right", [None, TOWNS.iloc[:0], layer("town_code", {"T1": None})], ids=["none", "empty", "only-missing-geometry"]
)
def test_largest_overlap_without_right_polygons_gives_na(right):
    result = largest_overlap(PARCELS, right, right_key="town_code")
    assert result.index.equals(PARCELS.index)
    assert result.isna().all()


@pytest.mark.parametrize(
    "left",
    [
        PARCELS.iloc[:3].assign(geometry=None).set_crs(STORE_CRS, allow_override=True),
        gpd.GeoDataFrame(pd.DataFrame({"parcel_id": ["a", "b", "c"]})),  # no geometry column at all
    ],
    ids=["null-geometries", "no-geometry-column"],
)
def test_left_without_any_geometry_gives_na_and_empty_lists(left):
    assert largest_overlap(left, TOWNS, right_key="town_code").isna().all()
    assert intersecting_ids(left, TOWNS, right_key="town_code").tolist() == [[], [], []]
    assert ids_within_distance(left, TOWNS, right_key="town_code", distance_m=1e4).tolist() == [[], [], []]


def test_missing_crs_is_refused_with_a_chinese_message():
    left = PARCELS.iloc[:2].set_crs(None, allow_override=True)
    with pytest.raises(CRSError, match="缺少坐标参考系"):
        largest_overlap(left, TOWNS, right_key="town_code")


def test_missing_key_column_names_the_column():
    with pytest.raises(InputFileError, match="缺少字段“code”"):
        largest_overlap(PARCELS, TOWNS, right_key="code")


# ----------------------------------------------------------------------------------------------------------------
# intersecting_ids and ids_within_distance
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "case, expected",
    [
        ("inside", ["T9"]),
        ("straddle_70_30", ["T10", "T9"]),
        ("inside_touching_neighbour", ["T9"]),
        ("touching_from_outside", []),
        ("touching_corner_only", []),
        ("multipolygon_mostly_T9", ["T10", "T9"]),
        ("in_multipolygon_town", ["T8"]),
        ("missing_geometry", []),
        ("empty_geometry", []),
    ],
)
def test_intersecting_ids_hand_cases(case, expected):
    result = intersecting_ids(PARCELS, TOWNS, right_key="town_code")
    assert result.loc[case] == expected
    assert result.name == "town_codes"


@pytest.mark.parametrize("kind", ["voronoi", "discs"])
def test_intersecting_ids_agree_with_overlay(kind):
    left, right = random_layers(3, kind)
    result = intersecting_ids(left, right, right_key="key")
    expected = reference_overlapping(left, right, "key")
    assert result.index.equals(left.index)
    assert result.map(len).max() >= 2
    assert result.tolist() == expected.tolist()


def brute_force_within(left, right, key, distance_m):
    a = left.to_crs(AREA_CRS).geometry.to_numpy()
    b = right.to_crs(AREA_CRS).geometry.to_numpy()
    d = shapely.distance(a[:, None], b[None, :])
    keys = right[key].to_numpy()
    return [sorted(keys[np.flatnonzero(row <= distance_m)].tolist()) for row in d]


@pytest.mark.parametrize("distance_m", [0.0, 7.5, 120.0, 1500.0])
@pytest.mark.parametrize("kind", ["voronoi", "discs"])
def test_ids_within_distance_agree_with_brute_force(kind, distance_m):
    left, right = random_layers(4, kind)
    result = ids_within_distance(left, right, right_key="key", distance_m=distance_m)
    assert result.index.equals(left.index)
    assert result.name == "near_keys"
    assert result.tolist() == brute_force_within(left, right, "key", distance_m)


@pytest.mark.parametrize(
    "distance_m, expected",
    [(0.0, []), (39.0, []), (41.0, ["T8"]), (99.0, ["T10", "T8"]), (195.0, ["T10", "T8", "T9"])],
)
def test_ids_within_distance_hand_case(distance_m, expected):
    # distances: T8 40 m (straight below), T10 sqrt(90² + 40²) = 98.5 m, T9 sqrt(190² + 40²) = 194.2 m
    left = layer("parcel_id", {"p": box(290, 140, 300, 150)})
    result = ids_within_distance(left, TOWNS, right_key="town_code", distance_m=distance_m)
    d = brute_force_within(left, TOWNS, "town_code", distance_m)[0]
    assert result.loc["p"] == d == expected


def test_ids_within_distance_refuses_negative_distance():
    with pytest.raises(ValueError, match="distance_m must be >= 0"):
        ids_within_distance(PARCELS, TOWNS, right_key="town_code", distance_m=-1)


# ----------------------------------------------------------------------------------------------------------------
# link_projects
# ----------------------------------------------------------------------------------------------------------------
PROJECTS = layer(
    "project_id",
    {
        "XM1": box(93, 10, 103, 20),  # lies on straddle_70_30 ...
        "XM2": box(95, 50, 105, 60),  # ... lies on tie_50_50
        "XM3": box(12, 12, 28, 28),  # inside "inside"
        "XM4": box(700, 700, 710, 710),  # nowhere
        "XM5": None,
        "XM6": None,
    },
    parcel_id=pd.Series(["inside", "ZD-NOT-IN-LEDGER", None, None, "outside_all", None], dtype="string"),
)


@pytest.mark.parametrize(
    "project, expected",
    [
        ("XM1", "inside"),  # explicit id wins over the geometry
        ("XM2", "tie_50_50"),  # unknown id -> largest overlap
        ("XM3", "inside"),  # no id -> largest overlap
        ("XM4", None),  # no id, overlaps nothing
        ("XM5", "outside_all"),  # explicit id, no geometry needed
        ("XM6", None),  # nothing to go on
    ],
)
def test_link_projects(project, expected):
    result = link_projects(PROJECTS, PARCELS)
    assert result.index.equals(PROJECTS.index)
    assert result.name == "parcel_id"
    if expected is None:
        assert pd.isna(result.loc[project])
    else:
        assert result.loc[project] == expected


def test_link_projects_without_parcel_id_column_uses_overlap():
    result = link_projects(PROJECTS.drop(columns="parcel_id"), PARCELS)
    assert result.loc["XM1"] == "straddle_70_30"
    assert result.loc["XM3"] == "inside"


@pytest.mark.parametrize("parcels", [None, PARCELS.iloc[:0]], ids=["none", "empty"])
def test_link_projects_without_parcels_gives_na(parcels):
    assert link_projects(PROJECTS, parcels).isna().all()


# ----------------------------------------------------------------------------------------------------------------
# attribute_parcels
# ----------------------------------------------------------------------------------------------------------------
VILLAGES = layer(
    "village_id",
    {
        "V2": box(0, 0, 50, 50),  # holds parcel "inside"
        "V1": box(150, 0, 250, 50),  # holds "touching_from_outside", half of "multipolygon_mostly_T9"
    },
)


def test_attribute_parcels_fills_town_keeps_ledger_and_lists():
    parcels = PARCELS.assign(town_code=pd.Series([None] * len(PARCELS), index=PARCELS.index, dtype="string"))
    parcels.loc["inside", "town_code"] = "LEDGER"  # the ledger's value is kept even if geometry says T9
    result = attribute_parcels(parcels, towns=TOWNS, projects=PROJECTS, villages=VILLAGES, need_distance_m=15.0)

    assert result.index.equals(PARCELS.index)
    assert list(result.columns) == ["town_code", "project_ids", "village_ids", "near_village_ids"]
    expected_town = largest_overlap(PARCELS, TOWNS, right_key="town_code").rename(None)
    expected_town.loc["inside"] = "LEDGER"
    pd.testing.assert_series_equal(result["town_code"].rename(None), expected_town)

    assert result.loc["inside", "project_ids"] == ["XM1", "XM3"]
    assert result.loc["tie_50_50", "project_ids"] == ["XM2"]
    assert result.loc["outside_all", "project_ids"] == ["XM5"]
    assert result.loc["straddle_70_30", "project_ids"] == []

    assert result.loc["inside", "village_ids"] == ["V2"]
    assert result.loc["touching_from_outside", "village_ids"] == ["V1"]  # x 200..210, y 10..20 lies in V1
    assert result.loc["straddle_70_30", "village_ids"] == []
    assert result["village_ids"].tolist() == intersecting_ids(parcels, VILLAGES, right_key="village_id").tolist()
    assert result["near_village_ids"].tolist() == brute_force_within(PARCELS, VILLAGES, "village_id", 15.0)
    assert result.loc["missing_geometry"].tolist() == [pd.NA, [], [], []]


def test_attribute_parcels_with_nothing_to_join():
    result = attribute_parcels(PARCELS.drop(columns="parcel_id"))
    assert result.index.equals(PARCELS.index)
    assert result["town_code"].isna().all()
    assert result[["project_ids", "village_ids", "near_village_ids"]].map(len).eq(0).all().all()
    lists = result["project_ids"].tolist()
    lists[0].append("x")
    assert lists[1] == []  # every row has its own list


@pytest.mark.parametrize("parcels", [None, PARCELS.iloc[:0]], ids=["none", "empty"])
def test_attribute_parcels_without_parcels(parcels):
    result = attribute_parcels(parcels, towns=TOWNS, projects=PROJECTS, villages=VILLAGES)
    assert len(result) == 0
    assert list(result.columns) == ["town_code", "project_ids", "village_ids", "near_village_ids"]


def test_attribute_parcels_matches_the_single_joins_on_random_layers():
    left, right = random_layers(5, "voronoi")
    _, villages = random_layers(6, "discs")
    left = left.rename(columns={"pid": "parcel_id"})
    result = attribute_parcels(
        left,
        towns=right.rename(columns={"key": "town_code"}),
        villages=villages.rename(columns={"key": "village_id"}),
        need_distance_m=100.0,
    )
    pd.testing.assert_series_equal(result["town_code"], reference_largest(left, right, "key").rename("town_code"))
    assert result["village_ids"].tolist() == reference_overlapping(left, villages, "key").tolist()
    assert result["near_village_ids"].tolist() == brute_force_within(left, villages, "key", 100.0)
