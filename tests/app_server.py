"""Helpers for the app tests: the stores the app is started on, and the app itself.

* ``demo_app_store(master, folder)`` — what the browser tests use: a copy of the session's demo
  store (``conftest.demo_store_master``, built through the real pipeline) with the XSS string
  ``<img src=x onerror=alert(1)>`` written into one parcel's holder and one village's name through
  the store API, plus three users (admin / planner / viewer) in the store's ``users`` table.
* ``build_app_store(folder)`` — a small hand-made store (30 parcels, conformed frames, two villages,
  rasters) for fast unit tests of decisions and users.
* ``AppServer`` runs ``streamlit run app.py`` on a free port against a store and waits until it is healthy.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from rasterio.transform import from_origin

from gis.accounts import add_user
from gis.frames import conform
from gis.store import GeoPackageStore

ROOT = Path(__file__).resolve().parents[1]
XSS_HOLDER = "<img src=x onerror=alert(1)>"
XSS_PARCEL = "KQ-0007"
USERS = {
    "admin": ("admin", "admin-pass-1"),
    "planner": ("planner", "planner-pass-1"),
    "viewer": ("viewer", "viewer-pass-1"),
}
ROUTES = ("reclaim", "transfer", "continue", "review", "none")
SUBS = {
    "reclaim": "negotiated_reclaim",
    "transfer": "whole_transfer",
    "continue": "extend_start",
    "review": None,
    "none": None,
}
REASON = {
    "reclaim": "企业无力继续开发且存在违约，建议协商收回",
    "transfer": "价款已缴清、已办证、投资达25%，可整体转让",
    "continue": "政府原因造成闲置，企业有能力继续开发，可延长动工期限",
    "review": "闲置原因不明，需人工研判",
    "none": "已竣工，不属存量土地",
}
AS_OF = pd.Timestamp("2026-11-01")
N_COLS, N_ROWS = 6, 5
X0, Y0, STEP = 120.450, 30.050, 0.006


def _parcels() -> gpd.GeoDataFrame:
    n = N_COLS * N_ROWS
    i = np.arange(n)
    x = X0 + (i % N_COLS) * STEP
    y = Y0 + (i // N_COLS) * STEP
    geoms = shapely.box(x, y, x + STEP * 0.9, y + STEP * 0.9)
    holders = [f"测试置业有限公司{k:02d}" for k in range(n)]
    ids = [f"KQ-{k:04d}" for k in range(n)]
    holders[ids.index(XSS_PARCEL)] = XSS_HOLDER
    uses = np.array(["住宅用地", "工业用地", "商服用地"])[i % 3]
    frame = pd.DataFrame(
        {
            "parcel_id": ids,
            "town_code": np.where(x < X0 + 3 * STEP, "330603001", "330603002"),
            "holder": holders,
            "land_use": uses,
            "area_m2": 20_000.0 + 1000.0 * i,
            "supply_date": pd.Timestamp("2019-05-01"),
            "agreed_start_date": pd.Timestamp("2020-06-30"),
            "agreed_completion_date": pd.Timestamp("2023-06-30"),
            "land_price_wan": 5000.0,
        }
    )
    return conform(gpd.GeoDataFrame(frame, geometry=geoms, crs="EPSG:4490"), "parcels")


def _assessment(parcels: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    n = len(parcels)
    routes = [ROUTES[k % len(ROUTES)] for k in range(n)]
    frame = pd.DataFrame(
        {
            "parcel_id": parcels["parcel_id"],
            "town_code": parcels["town_code"],
            "as_of": AS_OF,
            "rules_version": "test-r1",
            "in_stock_scope": [r != "none" for r in routes],
            "dev_status": ["not_started"] * n,
            "idle_type": [
                "none" if r == "none" else ("halted_idle" if k % 2 else "not_started_idle")
                for k, r in enumerate(routes)
            ],
            "idle_years": [0.0 if r == "none" else 1.0 + (k % 7) for k, r in enumerate(routes)],
            "cause": ["enterprise"] * n,
            "route": routes,
            "sub_route": [SUBS[r] for r in routes],
            "alternatives": [
                [{"route": "transfer", "sub_route": "joint_development"}] if r == "reclaim" else [] for r in routes
            ],
            "measures": [["核查土地闲置费缴纳"] if r != "none" else [] for r in routes],
            "reasons": [
                [
                    {
                        "rule_id": "I1",
                        "text": f"宗地 {pid}：超过约定动工日期满一年未动工",
                        "citation": "《闲置土地处置办法》第二条",
                    },
                    {"rule_id": "R1", "text": REASON[r], "citation": "柯桥区保交房总体方案 §二(三)"},
                ]
                for pid, r in zip(parcels["parcel_id"], routes)
            ],
            "activity_index": 0.01,
            "project_ids": [["PRJ-1"] if k == 1 else [] for k in range(n)],
            "village_ids": [["V01"] if k == 0 else [] for k in range(n)],
        }
    )
    return conform(gpd.GeoDataFrame(frame, geometry=parcels.geometry.to_numpy(), crs="EPSG:4490"), "idle_assessment")


def _villages() -> tuple[gpd.GeoDataFrame, pd.DataFrame, gpd.GeoDataFrame, pd.DataFrame]:
    geoms = [shapely.box(120.440, 30.040, 120.448, 30.048), shapely.box(120.490, 30.082, 120.498, 30.090)]
    villages = conform(
        gpd.GeoDataFrame(
            {
                "village_id": ["V01", "V02"],
                "name": ["湖塘村", "柯岩村"],
                "town_code": ["330603001", "330603002"],
                "mode": ["拆除新建", "整治提升"],
                "households": [300, 120],
                "planned_resettlement_units": [280, 0],
                "deadline": pd.Timestamp("2027-12-31"),
            },
            geometry=geoms,
            crs="EPSG:4490",
        ),
        "villages",
    )
    progress = conform(
        pd.DataFrame(
            {
                "village_id": ["V01", "V01", "V01", "V02", "V02"],
                "report_date": pd.to_datetime(["2025-03-31", "2025-12-31", "2026-09-30", "2025-06-30", "2026-09-30"]),
                "stage": ["signing", "relocation", "demolition", "works", "works"],
                "signed_households": [100, 220, 290, 0, 0],
                "relocated_households": [0, 150, 260, 0, 0],
                "works_progress": [None, None, None, 0.3, 0.8],
            }
        ),
        "village_progress",
    )
    status = conform(
        gpd.GeoDataFrame(
            {
                "village_id": ["V01", "V02"],
                "name": ["湖塘村", XSS_HOLDER],
                "town_code": ["330603001", "330603002"],
                "mode": ["拆除新建", "整治提升"],
                "stage": ["demolition", "works"],
                "percent_complete": [0.55, 0.8],
                "monthly_rate": [0.02, 0.03],
                "required_monthly_rate": [0.03, 0.013],
                "status": ["late", "on_track"],
                "months_to_deadline": [13.9, 13.9],
                "as_of": AS_OF,
                "rules_version": "test-r1",
                "households": [300, 120],
                "needs_resettlement_units": [280, 0],
                "notes": [["测试说明"], []],
            },
            geometry=geoms,
            crs="EPSG:4490",
        ),
        "village_status",
    )
    sites = conform(
        pd.DataFrame(
            {
                "village_id": ["V01"],
                "rank": [1],
                "parcel_id": ["KQ-0000"],
                "distance_m": [420.0],
                "area_m2": [20000.0],
                "fit": [0.7],
                "score": [0.8],
                "reason": ["距离 420 米，面积匹配度 0.70"],
            }
        ),
        "resettlement_sites",
    )
    return villages, progress, status, sites


def _rasters(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    for k, date in enumerate(("20240315", "20250315", "20260315")):
        data = (0.3 + 0.1 * k + 0.02 * rng.standard_normal((90, 110))).astype("float32")
        with rasterio.open(
            folder / f"ndvi_{date}.tif",
            "w",
            driver="GTiff",
            height=90,
            width=110,
            count=1,
            dtype="float32",
            crs="EPSG:4490",
            transform=from_origin(120.435, 30.095, 0.0005, 0.0005),
            nodata=-9999.0,
        ) as dst:
            dst.write(data, 1)


def build_app_store(folder: Path, *, users: bool = True) -> GeoPackageStore:
    """A small assessed and tracked store in ``folder`` (``app.gpkg``), with rasters and users."""
    store = GeoPackageStore(Path(folder) / "app.gpkg")
    parcels = _parcels()
    villages, progress, status, sites = _villages()
    towns = conform(
        gpd.GeoDataFrame(
            {"town_code": ["330603001", "330603002"], "name": ["柯桥街道", "华舍街道"], "kind": ["街道", "街道"]},
            geometry=[shapely.box(120.43, 30.035, 120.468, 30.1), shapely.box(120.468, 30.035, 120.50, 30.1)],
            crs="EPSG:4490",
        ),
        "towns",
    )
    projects = conform(
        gpd.GeoDataFrame(
            {
                "project_id": ["PRJ-1", "PRJ-2"],
                "name": ["锦绣苑", "柯桥花园"],
                "parcel_id": ["KQ-0001", "KQ-0008"],
                "status": ["停工", "在建"],
                "whitelist": ["approved", "none"],
                "presold_units": [120, 0],
                "total_units": [400, 300],
            },
            geometry=[parcels.geometry.iloc[1], parcels.geometry.iloc[8]],
            crs="EPSG:4490",
        ),
        "projects",
    )
    store.write_layers(
        {
            "towns": towns,
            "parcels": parcels,
            "idle_assessment": _assessment(parcels),
            "villages": villages,
            "village_progress": progress,
            "village_status": status,
            "resettlement_sites": sites,
            "projects": projects,
        },
        meta={"synthetic": "true", "assess_as_of": "2026-11-01", "renewal_as_of": "2026-11-01"},
    )
    _rasters(store.rasters_dir)
    if users:
        for role, (name, password) in USERS.items():
            add_user(store, name, password, role=role)
    return store


def demo_app_store(master: Path, folder: Path) -> tuple[GeoPackageStore, dict[str, str]]:
    """A copy of the demo store in ``folder`` made ready for the browser tests.

    The first parcel recommended for ``reclaim`` gets the XSS holder (``parcels`` layer) and the first
    village of ``village_status`` the XSS name (in ``villages`` too, so a renewal run keeps it); both are
    rewritten through ``store.write_layers`` in one transaction.  The three users of :data:`USERS` are
    added to the copy's ``files_dir``.

    Returns
    -------
    (store, {"parcel": parcel_id, "village": village_id})
        The store and the ids that carry the XSS string.
    """
    from conftest import copy_store  # the lead's helper: gpkg + its rasters

    store = copy_store(Path(master), Path(folder))
    assessment = store.read_layer("idle_assessment")
    parcel = str(assessment.loc[assessment["route"] == "reclaim", "parcel_id"].iloc[0])
    parcels = store.read_layer("parcels")
    parcels.loc[parcels["parcel_id"] == parcel, "holder"] = XSS_HOLDER
    status = store.read_layer("village_status")
    village = str(status["village_id"].iloc[0])
    status.loc[status["village_id"] == village, "name"] = XSS_HOLDER
    villages = store.read_layer("villages")
    villages.loc[villages["village_id"] == village, "name"] = XSS_HOLDER
    store.write_layers({"parcels": parcels, "village_status": status, "villages": villages})
    for role, (name, password) in USERS.items():
        add_user(store, name, password, role=role)
    return store, {"parcel": parcel, "village": village}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """``streamlit run app.py`` on a free port against ``store_url``; use as a context manager."""

    def __init__(
        self,
        store_url: str | Path,
        *,
        port: int | None = None,
        log: Path | None = None,
        env: dict[str, str] | None = None,
    ):
        self.store_url = str(store_url)
        self.env = dict(env or {})
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> AppServer:
        env = {**os.environ, "LANDRENEW_STORE": self.store_url, "PYTHONPATH": str(ROOT), **self.env}
        if "DATABASE_URL" not in self.env:
            env.pop("DATABASE_URL", None)
        out = open(self.log, "wb") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(ROOT / "app.py"),
                "--server.headless",
                "true",
                "--server.port",
                str(self.port),
                "--server.address",
                "127.0.0.1",
                "--browser.gatherUsageStats",
                "false",
                "--server.enableStaticServing",
                "true",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode} (log: {self.log})")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"streamlit not healthy on {self.url} after {timeout}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
