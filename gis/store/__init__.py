"""Stores: where the contract layers live.  ``open_store`` picks the backend from the URL."""

from __future__ import annotations

import os
from pathlib import Path

from .base import Store, assessment_version, decision_version
from .gpkg import GeoPackageStore

__all__ = ["Store", "GeoPackageStore", "open_store", "default_store_url", "assessment_version", "decision_version"]

DEFAULT_STORE = Path("var") / "landrenew.gpkg"


def default_store_url() -> str:
    """``DATABASE_URL``, else ``LANDRENEW_STORE``, else ``var/landrenew.gpkg`` under the working directory."""
    return os.environ.get("DATABASE_URL") or os.environ.get("LANDRENEW_STORE") or str(DEFAULT_STORE)


def open_store(url: str | os.PathLike | None = None) -> Store:
    """Open a store: a ``.gpkg`` path (embedded default) or a ``postgresql://`` URL (PostGIS).

    >>> open_store("var/example.gpkg")  # doctest: +ELLIPSIS
    GeoPackageStore('.../var/example.gpkg')
    """
    url = str(url) if url is not None else default_store_url()
    if url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        from .postgis import PostGISStore  # imported lazily: the embedded default needs no server

        return PostGISStore(url)
    return GeoPackageStore(url)
