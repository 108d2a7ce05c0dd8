"""Shared fixtures: a small synthetic demo store built once per session through the real pipeline
(source files -> ingest -> assess -> renewal), and a fresh copy of it for each test that writes."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

DEMO_PARCELS = 1500

# Alembic's env.py only runs inside alembic; it is not a module to import for doctests.
collect_ignore_glob = ["gis/store/migrations/*"]


@pytest.fixture(scope="session")
def demo_store_master(tmp_path_factory) -> Path:
    """Path of the session's demo GeoPackage — read it, never write it (use ``demo_store``)."""
    from gis.workflow import build_demo_store

    folder = tmp_path_factory.mktemp("demo")
    store, _ = build_demo_store(folder / "demo.gpkg", n_parcels=DEMO_PARCELS)
    return store.path


def copy_store(master: Path, folder: Path):
    """A GeoPackageStore on a copy of a store file and its rasters."""
    from gis.store import GeoPackageStore

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(master, folder / master.name)
    if (master.parent / "rasters").exists():
        shutil.copytree(master.parent / "rasters", folder / "rasters", dirs_exist_ok=True)
    return GeoPackageStore(folder / master.name)


@pytest.fixture
def demo_store(demo_store_master, tmp_path):
    """A GeoPackageStore on a private copy of the demo store (assessed and tracked as of 2026-11-01)."""
    return copy_store(demo_store_master, tmp_path / "store")


@pytest.fixture(autouse=True)
def _keep_main_module():
    """Put ``sys.modules["__main__"]`` back after each test.

    Streamlit's script runner (``AppTest`` in tests/test_app_cases.py) installs the app as ``__main__`` and leaves
    it there; a ``distributed`` worker started later by ``spawn`` then re-imports app.py as its main module and
    dies ("Nanny failed to start").
    """
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture(autouse=True)
def _doctest_namespace(request, doctest_namespace):
    if isinstance(request.node, pytest.DoctestItem):
        doctest_namespace["DEMO_STORE"] = str(request.getfixturevalue("demo_store_master"))


def _skipping_postgis() -> bool:
    from tests.pg_cluster import skip_requested

    return skip_requested()


def pytest_report_header(config):
    if _skipping_postgis():
        return [
            "!!! LANDRENEW_SKIP_POSTGIS=1: the PostGIS tests will be SKIPPED, not run — "
            "this run does not test the PostGIS store !!!"
        ]
    return []


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _skipping_postgis():
        terminalreporter.write_sep("!", "PostGIS tests were SKIPPED on request (LANDRENEW_SKIP_POSTGIS=1)", red=True)
