"""Tests of gis.zonal: dated rasters, zonal means (checked by hand and against exactextract),
activity index.  Tiny GeoTIFFs are written to tmp_path (like rasterio's 10x10 conftest image)."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
import shapely.ops
from affine import Affine
from exactextract import exact_extract
from rasterio.features import geometry_mask

import gis.zonal as zonal
from gis.errors import CRSError, InputFileError
from gis.imagery import raster_date
from gis.zonal import activity_index, zonal_means

X0, Y0, PX = 500_000.0, 3_300_000.0, 10.0  # EPSG:4549 grid: 10 m pixels
NODATA = -9999.0


def from_origin(west, north, xsize, ysize):
    """North-up transform (rasterio.transform.from_origin without its pending deprecation)."""
    return Affine(xsize, 0, west, 0, -ysize, north)


def write_tif(path, data, *, crs="EPSG:4549", transform=None, nodata=NODATA, tags=None, dtype="float32"):
    data = np.asarray(data).astype(dtype)
    transform = transform or from_origin(X0, Y0, PX, PX)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=data.shape[0],
        width=data.shape[1],
        count=1,
        dtype=dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(data, 1)
        if tags:
            dst.update_tags(**tags)
    return path


def cell_box(r0, c0, r1, c1):
    """Box covering pixel rows r0..r1 and columns c0..c1 (fractions allowed, end exclusive)."""
    return shapely.box(X0 + c0 * PX, Y0 - r1 * PX, X0 + c1 * PX, Y0 - r0 * PX)


def frame(geoms, crs="EPSG:4549", ids=None):
    ids = ids or [f"P{i}" for i in range(len(geoms))]
    return gpd.GeoDataFrame({"parcel_id": ids}, geometry=list(geoms), crs=crs)


@pytest.fixture
def grid10():
    """10x10 values 10*row + col, nodata at (2, 3) and (9, 0)."""
    data = np.add.outer(10.0 * np.arange(10), np.arange(10))
    data[2, 3] = NODATA
    data[9, 0] = NODATA
    return data


# --- raster_date -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, tags, expected",
    [
        ("ndvi_20240315.tif", None, dt.date(2024, 3, 15)),
        ("NDVI_20231231.TIFF", None, dt.date(2023, 12, 31)),
        ("ndvi_spring.tif", {"ACQUISITION_DATE": "2022-04-18"}, dt.date(2022, 4, 18)),
        ("ndvi_spring.tif", {"TIFFTAG_DATETIME": "2021:07:01 10:30:00"}, dt.date(2021, 7, 1)),
        # the file name wins over the tag
        ("ndvi_20200101.tif", {"ACQUISITION_DATE": "2022-04-18"}, dt.date(2020, 1, 1)),
    ],
)
def test_raster_date(tmp_path, name, tags, expected):
    path = write_tif(tmp_path / name, np.ones((2, 2)), tags=tags)
    assert raster_date(path) == expected
    assert raster_date(str(path)) == expected


def test_raster_date_missing_names_file_and_fix(tmp_path):
    path = write_tif(tmp_path / "ndvi_spring.tif", np.ones((2, 2)))
    with pytest.raises(
        InputFileError, match=r"ndvi_spring\.tif.*无法确定拍摄日期.*处理办法.*_YYYYMMDD\.tif.*ACQUISITION_DATE"
    ):
        raster_date(path)


@pytest.mark.parametrize(
    "name, tags, pattern",
    [
        ("ndvi_20241332.tif", None, "文件名中的日期“20241332”不是有效日期"),
        ("ndvi.tif", {"ACQUISITION_DATE": "spring"}, "ACQUISITION_DATE 的值“spring”不是有效日期"),
    ],
)
def test_raster_date_invalid(tmp_path, name, tags, pattern):
    path = write_tif(tmp_path / name, np.ones((2, 2)), tags=tags)
    with pytest.raises(InputFileError, match=pattern):
        raster_date(path)


def test_raster_date_unreadable_file(tmp_path):
    path = tmp_path / "broken.tif"
    path.write_text("not a tiff")
    with pytest.raises(InputFileError, match="broken.tif”无法打开"):
        raster_date(path)


# --- zonal_means: hand-computed ----------------------------------------------------------------
def hand_parcels():
    return frame(
        [
            cell_box(0, 0, 2, 2),  # 4 px: 0, 1, 10, 11
            cell_box(2, 3, 5, 7),  # 12 px rows 2-4, cols 3-6, (2, 3) nodata
            cell_box(7.2, 8.1, 7.7, 8.9),  # inside pixel (7, 8): 78
            cell_box(5.25, 5.75, 5.75, 6.25),  # half in (5, 5), half in (5, 6)
            cell_box(20, 20, 22, 22),  # outside the raster
            cell_box(9.1, 0.1, 9.9, 0.9),  # only on the nodata pixel (9, 0)
            cell_box(-1, 8, 1, 10),  # half outside: rows 0 only, cols 8-9 -> 8, 9
        ]
    )


HAND = [5.5, (sum(10 * r + c for r in range(2, 5) for c in range(3, 7)) - 23) / 11, 78.0, 55.5, np.nan, np.nan, 8.5]


@pytest.mark.parametrize(
    "parcel_crs, dtype", [("EPSG:4549", "float32"), ("EPSG:4490", "float32"), ("EPSG:4549", "int16")]
)
def test_zonal_means_hand_computed(tmp_path, grid10, parcel_crs, dtype):
    path = write_tif(tmp_path / "ndvi_20240101.tif", grid10, dtype=dtype)
    parcels = hand_parcels().to_crs(parcel_crs)
    result = zonal_means(parcels, [path])
    assert list(result.columns) == ["2024-01-01"]
    assert result.index.name == "parcel_id"
    assert list(result.index) == [f"P{i}" for i in range(7)]
    np.testing.assert_allclose(result["2024-01-01"].to_numpy(), HAND, rtol=1e-7)


def test_zonal_means_dates_sorted_and_id_field(tmp_path, grid10):
    later = write_tif(tmp_path / "ndvi_20240601.tif", np.where(grid10 == NODATA, NODATA, grid10 * 2))
    earlier = write_tif(tmp_path / "b.tif", grid10, tags={"ACQUISITION_DATE": "2023-06-01"})
    parcels = hand_parcels().rename(columns={"parcel_id": "zd"})
    parcels["zd"] = [f"Z{i}" for i in range(7)][::-1]
    result = zonal_means(parcels, [later, earlier], id_field="zd")
    assert list(result.columns) == ["2023-06-01", "2024-06-01"]
    assert list(result.index) == [f"Z{i}" for i in range(7)][::-1]
    np.testing.assert_allclose(result["2023-06-01"].to_numpy(), HAND, rtol=1e-7)
    np.testing.assert_allclose(result["2024-06-01"].to_numpy(), np.array(HAND) * 2, rtol=1e-7)


def test_zonal_means_overlapping_parcels_each_get_their_own_mean(tmp_path, grid10):
    """Weights are kept per parcel, not one label per pixel: a parcel inside another does not
    take pixels from it, whatever the order."""
    path = write_tif(tmp_path / "ndvi_20240101.tif", grid10)
    big, small = cell_box(4, 4, 8, 8), cell_box(4, 4, 6, 6)  # 16 px, its top-left 4 px
    big_all = np.mean([10 * r + c for r in range(4, 8) for c in range(4, 8)])  # 60.5
    small_mean = np.mean([44, 45, 54, 55])  # 49.5
    for order in ([big, small], [small, big]):
        result = zonal_means(frame(order), [path]).iloc[:, 0].to_numpy()
        expected = [big_all, small_mean] if order[0] is big else [small_mean, big_all]
        np.testing.assert_allclose(result, expected)


@pytest.mark.parametrize(
    "method, expected",
    [
        # rows 4-6 (mean 50) + column: left has 2, 3 and 0.4 of 4; right 0.6 of 4, 5 and 6
        ("coverage", [50 + (2 + 3 + 0.4 * 4) / 2.4, 50 + (0.6 * 4 + 5 + 6) / 2.6]),
        ("centre", [50 + 2.5, 50 + 5.0]),  # the centre of column 4 (x = 4.5) is in the right parcel
    ],
)
def test_zonal_means_adjacent_parcels_share_boundary_pixels(tmp_path, grid10, method, expected):
    """Two parcels split along x = 4.4: column 4 counts 0.4 for the left one and 0.6 for the
    right one (a pixel can belong to several parcels)."""
    path = write_tif(tmp_path / "ndvi_20240101.tif", grid10)
    left, right = cell_box(4, 2, 7, 4.4), cell_box(4, 4.4, 7, 7)
    result = zonal_means(frame([left, right]), [path], method=method).iloc[:, 0].to_numpy()
    np.testing.assert_allclose(result, expected, rtol=1e-12)


def test_zonal_means_missing_empty_and_enclosing_geometries(tmp_path, grid10):
    """No geometry, an empty one, a line, one left of the raster -> NaN; one enclosing the whole
    raster -> the mean of all valid pixels."""
    path = write_tif(tmp_path / "ndvi_20240101.tif", grid10)
    geoms = [
        cell_box(2, -6, 4, -1),
        None,
        shapely.Polygon(),
        shapely.LineString([(X0, Y0), (X0 + 50, Y0 - 50)]),
        cell_box(-5, -5, 15, 15),
    ]
    result = zonal_means(frame(geoms), [path]).iloc[:, 0].to_numpy()
    np.testing.assert_allclose(result, [np.nan] * 4 + [grid10[grid10 != NODATA].mean()])


def test_zonal_means_large_parcel_on_nodata_uses_valid_edge_pixels(tmp_path):
    """A 5x5 px parcel whose pixel centres are all nodata but whose edges reach valid pixels gets
    the coverage-weighted mean of those (as exactextract)."""
    data = np.full((10, 10), 7.0)
    data[:, 5:] = 3.0
    data[2:7, 2:7] = NODATA
    path = write_tif(tmp_path / "ndvi_20240101.tif", data)
    parcels = frame([cell_box(1.7, 1.6, 6.8, 6.7), cell_box(2.2, 2.2, 6.8, 6.8)])  # 2nd: only nodata
    result = zonal_means(parcels, [path]).iloc[:, 0].to_numpy()
    ref = exact_extract(str(path), parcels, "mean", output="pandas")["mean"].to_numpy()
    # band of 0.3 px at the top (7 | 3), 0.4 px on the left (7), 0.3 at the right (3), none at the bottom
    assert 3.0 < result[0] < 7.0
    np.testing.assert_allclose(result[0], ref[0], rtol=1e-9)
    assert np.isnan(result[1]) and np.isnan(ref[1])


def test_zonal_means_internal_mask(tmp_path):
    """A dataset mask (no nodata value) is honoured like nodata."""
    data = np.add.outer(10.0 * np.arange(4), np.arange(4))
    mask = np.full((4, 4), 255, np.uint8)
    mask[0, 0] = 0
    path = tmp_path / "ndvi_20240101.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            height=4,
            width=4,
            count=1,
            dtype="float32",
            crs="EPSG:4549",
            transform=from_origin(X0, Y0, PX, PX),
        ) as dst:
            dst.write(data.astype("float32"), 1)
            dst.write_mask(mask)
    result = zonal_means(frame([cell_box(0, 0, 2, 2)]), [path]).iloc[0, 0]
    assert result == pytest.approx(np.mean([1, 10, 11]))


# --- zonal_means against exactextract -----------------------------------------------------------
def smooth_field(rng, shape, noise=0.03):
    """NDVI-like: smooth pattern 0.15..0.85 plus pixel noise (sigma 0.03 as real NDVI, where the
    pixel-centre mean and the coverage-weighted mean differ by a few % for parcels of 10-30 px)."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return 0.5 + 0.2 * np.sin(xx / 9) + 0.15 * np.cos(yy / 8) + rng.normal(0, noise, shape)


def lattice_parcels(rng, *, x0, y0, cell, k, area_range, crs):
    """k*k non-overlapping rotated rectangles (one per lattice cell), log-uniform areas."""
    i = np.arange(k * k)
    cx, cy = x0 + (i % k + 0.5) * cell, y0 - (i // k + 0.5) * cell
    area = np.exp(rng.uniform(*np.log(area_range), k * k))
    aspect = rng.uniform(1, 2, k * k)
    a = np.sqrt(area * aspect)
    b = area / a
    geoms = [
        shapely.affinity.rotate(shapely.box(x - w / 2, y - h / 2, x + w / 2, y + h / 2), t)
        for x, y, w, h, t in zip(cx, cy, a, b, rng.uniform(0, 180, k * k))
    ]
    return frame(geoms, crs=crs)


def compare_with_exactextract(ours, ref, pixels):
    big, sub = pixels >= 4, pixels < 1
    assert big.sum() >= 10 and sub.sum() >= 10  # the fixture has both kinds
    assert not np.isnan(ours).any()  # every parcel gets a value, sub-pixel ones included
    assert np.abs(ours[big] / ref[big] - 1).max() <= 0.01  # issue #3 (a pixel-centre mean fails this)
    np.testing.assert_allclose(ours, ref, rtol=1e-6)  # the same definition: equal up to rounding


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_zonal_means_random_polygons_vs_exactextract(tmp_path, seed):
    rng = np.random.default_rng(seed)
    path = write_tif(tmp_path / "ndvi_20240101.tif", smooth_field(rng, (60, 60)))
    parcels = lattice_parcels(rng, x0=X0, y0=Y0, cell=60, k=10, area_range=(20, 3000), crs="EPSG:4549")
    ours = zonal_means(parcels.to_crs("EPSG:4490"), [path]).iloc[:, 0].to_numpy()
    ref = exact_extract(str(path), parcels, "mean", output="pandas")["mean"].to_numpy()
    compare_with_exactextract(ours, ref, (parcels.area / PX**2).to_numpy())


def test_zonal_means_random_polygons_centre_method_vs_rasterization(tmp_path):
    """method="centre" = the mean over the pixels GDAL burns with all_touched=False."""
    rng = np.random.default_rng(5)
    data = smooth_field(rng, (60, 60))
    path = write_tif(tmp_path / "ndvi_20240101.tif", data)
    parcels = lattice_parcels(rng, x0=X0, y0=Y0, cell=60, k=10, area_range=(20, 3000), crs="EPSG:4549")
    ours = zonal_means(parcels, [path], method="centre").iloc[:, 0].to_numpy()
    inside = [~geometry_mask([g], data.shape, from_origin(X0, Y0, PX, PX)) for g in parcels.geometry]
    expected = np.array([data[m].astype("float32").mean() if m.any() else np.nan for m in inside])
    assert np.isnan(expected).sum() >= 10  # sub-pixel parcels without a centre
    np.testing.assert_allclose(ours, expected, rtol=1e-6)


def _slanted_pair():
    """A rotated rectangle cut in two along a slanted line: adjacent parcels whose shared
    boundary crosses many pixels."""
    whole = shapely.Polygon([(1.3, 1.2), (8.7, 2.1), (8.1, 7.6), (0.9, 6.8)])
    cut = shapely.LineString([(3.15, 0), (6.35, 10)])
    left, right = sorted(shapely.get_parts(shapely.ops.split(whole, cut)), key=lambda g: g.centroid.x)
    assert shapely.intersection(left, right).length > 5  # a shared edge over several pixels
    return [left, right]


def _pixel_geoms(shapes):
    """Shapes in pixel units (x = column, y = row) -> EPSG:4549 coordinates of the test grid."""
    return [shapely.affinity.affine_transform(g, [PX, 0, 0, -PX, X0, Y0]) for g in shapes]


@pytest.mark.parametrize(
    "shapes",
    [
        pytest.param(_slanted_pair(), id="adjacent-slanted"),
        pytest.param(
            [shapely.Polygon([(1.2, 1.3), (8.6, 1.1), (8.3, 8.8), (1.4, 8.2)], [[(3.3, 3.6), (6.2, 3.1), (5.7, 6.4)]])],
            id="hole",
        ),
        pytest.param(
            [shapely.MultiPolygon([shapely.box(0.3, 0.4, 2.6, 2.2), shapely.box(5.1, 6.2, 8.4, 9.7)])],
            id="multipolygon",
        ),
        pytest.param(
            [
                shapely.box(-3.3, 2.4, 2.7, 4.6),
                shapely.box(7.2, 5.3, 13.1, 6.9),
                shapely.box(3.4, -2.2, 5.7, 1.6),
                shapely.box(2.2, 8.1, 4.9, 12.6),
            ],
            id="raster-edges",
        ),
        pytest.param([shapely.box(4.1, 4.2, 4.3, 4.9), shapely.box(6.9, 2.8, 7.2, 3.1)], id="sub-pixel"),
    ],
)
def test_zonal_means_shapes_vs_exactextract(tmp_path, shapes):
    rng = np.random.default_rng(11)
    path = write_tif(tmp_path / "ndvi_20240101.tif", smooth_field(rng, (10, 10)))
    parcels = frame(_pixel_geoms(shapes))
    ours = zonal_means(parcels, [path]).iloc[:, 0].to_numpy()
    ref = exact_extract(str(path), parcels, "mean", output="pandas")["mean"].to_numpy()
    assert not np.isnan(ours).any()
    np.testing.assert_allclose(ours, ref, rtol=1e-6)


def test_zonal_means_invalid_polygon_is_repaired(tmp_path):
    """A self-intersecting "bow tie" is measured as its repaired (shapely.make_valid) form."""
    rng = np.random.default_rng(12)
    path = write_tif(tmp_path / "ndvi_20240101.tif", smooth_field(rng, (10, 10)))
    bowtie = _pixel_geoms([shapely.Polygon([(1.2, 1.3), (8.6, 8.1), (8.4, 1.6), (1.7, 8.8)])])
    assert not shapely.is_valid(bowtie[0])
    ours = zonal_means(frame(bowtie), [path]).iloc[0, 0]
    ref = exact_extract(str(path), frame(shapely.make_valid(bowtie)), "mean", output="pandas")["mean"].iloc[0]
    assert ours == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_zonal_means_raster_in_wgs84(tmp_path, seed):
    """Raster in EPSG:4326, parcels in EPSG:4490: reprojected to the raster CRS, as exactextract
    is given them; together with a second raster in EPSG:4549 (two grids, two dates)."""
    rng = np.random.default_rng(seed)
    deg = 0.0001
    tr = from_origin(120.50, 30.10, deg, deg)
    wgs = write_tif(tmp_path / "ndvi_20230101.tif", smooth_field(rng, (60, 60)), crs="EPSG:4326", transform=tr)
    parcels = lattice_parcels(
        rng, x0=120.50, y0=30.10, cell=6 * deg, k=10, area_range=(0.2 * deg**2, 30 * deg**2), crs="EPSG:4326"
    )
    pixels = shapely.area(parcels.geometry.to_numpy()) / deg**2  # in raster pixels
    stored = parcels.to_crs("EPSG:4490")
    # a 4549 raster over the same place, constant 2.0
    bounds = stored.to_crs("EPSG:4549").total_bounds
    shape = (int((bounds[3] - bounds[1]) // 10) + 4, int((bounds[2] - bounds[0]) // 10) + 4)
    gk = write_tif(
        tmp_path / "ndvi_20240101.tif",
        np.full(shape, 2.0),
        transform=from_origin(bounds[0] - 20, bounds[3] + 20, 10, 10),
    )
    result = zonal_means(stored, [gk, wgs])
    assert list(result.columns) == ["2023-01-01", "2024-01-01"]
    ref = exact_extract(str(wgs), stored.to_crs("EPSG:4326"), "mean", output="pandas")["mean"].to_numpy()
    compare_with_exactextract(result["2023-01-01"].to_numpy(), ref, pixels)
    np.testing.assert_allclose(result["2024-01-01"].to_numpy(), 2.0)


@pytest.mark.parametrize("method", ["coverage", "centre"])
def test_zonal_means_strips_and_chunks_give_the_same_result(tmp_path, monkeypatch, method):
    """Row strips (bounded memory) and small chunks of boundary pieces change nothing; nodata
    (haze, a cloud) is left out of both sums, as exactextract does."""
    rng = np.random.default_rng(7)
    data = smooth_field(rng, (60, 60))
    rows, cols = np.indices(data.shape)
    data[(cols < 30) & ((rows + cols) % 4 != 0)] = NODATA  # haze: 1 pixel in 4 valid on the left
    data[40:50, 40:50] = NODATA  # a cloud
    paths = [
        write_tif(tmp_path / "ndvi_20240101.tif", data),
        write_tif(tmp_path / "ndvi_20250101.tif", np.where(data == NODATA, NODATA, data + 0.1)),
    ]
    parcels = lattice_parcels(rng, x0=X0, y0=Y0, cell=60, k=10, area_range=(20, 3000), crs="EPSG:4549")
    whole = zonal_means(parcels, paths, method=method)
    monkeypatch.setattr(zonal, "_STRIP_PIXELS", 7 * 60)
    monkeypatch.setattr(zonal, "_EXACT_CELLS", 50)
    stripped = zonal_means(parcels, paths, method=method)
    pd.testing.assert_frame_equal(stripped, whole, rtol=1e-12)
    if method == "coverage":
        ref = exact_extract([str(p) for p in paths], parcels, "mean", output="pandas").to_numpy()
        assert np.isnan(ref[:, 0]).any()  # a parcel only on nodata
        np.testing.assert_allclose(whole.to_numpy(), ref, rtol=1e-6)  # NaN where exactextract has NaN


def test_zonal_means_centre_method(tmp_path, grid10):
    path = write_tif(tmp_path / "ndvi_20240101.tif", grid10)
    result = zonal_means(hand_parcels(), [path], method="centre").iloc[:, 0].to_numpy()
    expected = np.array(HAND)
    expected[3] = np.nan  # contains no pixel centre (P2 contains the centre of (7, 8))
    np.testing.assert_allclose(result, expected)


def test_zonal_means_unknown_method(tmp_path, grid10):
    path = write_tif(tmp_path / "ndvi_20240101.tif", grid10)
    with pytest.raises(ValueError, match="method must be 'coverage' or 'centre'"):
        zonal_means(hand_parcels(), [path], method="all_touched")


# --- zonal_means: errors --------------------------------------------------------------------
def test_zonal_means_missing_id_field(tmp_path, grid10):
    path = write_tif(tmp_path / "ndvi_20240101.tif", grid10)
    with pytest.raises(InputFileError, match="缺少编号字段“zdbh”"):
        zonal_means(hand_parcels(), [path], id_field="zdbh")


def test_zonal_means_parcels_without_crs(tmp_path, grid10):
    path = write_tif(tmp_path / "ndvi_20240101.tif", grid10)
    parcels = gpd.GeoDataFrame({"parcel_id": ["A"]}, geometry=[cell_box(0, 0, 2, 2)])
    with pytest.raises(CRSError, match="宗地图层没有坐标系"):
        zonal_means(parcels, [path])


def test_zonal_means_raster_without_crs(tmp_path, grid10):
    path = tmp_path / "ndvi_20240101.tif"
    with rasterio.open(
        path, "w", driver="GTiff", height=10, width=10, count=1, dtype="float32", transform=from_origin(X0, Y0, PX, PX)
    ) as dst:
        dst.write(grid10.astype("float32"), 1)
    with pytest.raises(CRSError, match="ndvi_20240101.tif”没有坐标系"):
        zonal_means(hand_parcels(), [path])


def test_zonal_means_undated_raster(tmp_path, grid10):
    path = write_tif(tmp_path / "scene.tif", grid10)
    with pytest.raises(InputFileError, match="scene.tif”无法确定拍摄日期"):
        zonal_means(hand_parcels(), [path])


# --- activity_index ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "columns, rows, expected",
    [
        (["2021-01-01", "2023-01-01"], [[0.7, 0.2], [0.1, 0.6]], [-0.5, 0.5]),
        # three dates: latest minus earliest, the middle one does not count
        (["2021-01-01", "2022-01-01", "2023-01-01"], [[0.7, 0.1, 0.6]], [-0.1]),
        # NaN-aware: the earliest / latest dates WITH a value
        (["2021-01-01", "2022-01-01", "2023-01-01"], [[np.nan, 0.3, 0.8], [0.5, 0.4, np.nan]], [0.5, -0.1]),
        # fewer than two dates with a value, or a single date -> NaN
        (["2021-01-01", "2022-01-01"], [[np.nan, 0.3], [np.nan, np.nan]], [np.nan, np.nan]),
        (["2021-01-01"], [[0.4]], [np.nan]),
        # columns out of order are sorted by date
        (["2023-01-01", "2021-01-01", "2022-01-01"], [[0.9, 0.2, 0.5]], [0.7]),
    ],
)
def test_activity_index(columns, rows, expected):
    means = pd.DataFrame(rows, columns=columns, index=pd.Index([f"P{i}" for i in range(len(rows))], name="parcel_id"))
    result = activity_index(means)
    assert result.name == "activity_index"
    assert result.index.equals(means.index)
    np.testing.assert_allclose(result.to_numpy(), expected)
