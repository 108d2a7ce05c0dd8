"""The store interface every backend implements (GeoPackage by default, PostGIS when configured).

Callers (CLI, app, notebooks, pipelines) only use these methods, so changing the store URL is the only
difference between the embedded GeoPackage and the bureau's central PostGIS.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["Store", "assessment_version", "decision_version"]


def assessment_version(as_of: Any, rules_version: Any, route: Any, sub_route: Any) -> str:
    """The version token of an assessment row: changes when a re-assessment changes the recommendation."""
    as_of = pd.Timestamp(as_of).date().isoformat() if as_of is not None and not pd.isna(as_of) else ""
    sub = "" if sub_route is None or pd.isna(sub_route) else str(sub_route)
    return f"A:{as_of}:{rules_version}:{route}:{sub}"


def decision_version(decision_id: str) -> str:
    """The version token of a recorded decision."""
    return f"D:{decision_id}"


class Store(abc.ABC):
    """A place where the contract layers live.

    Every write is all-or-nothing: a failure at any point leaves the store as it was.
    ``decisions`` is append-only and only written through :meth:`append_decision`.
    """

    #: The URL or path the store was opened with.
    url: str

    # -- reading -------------------------------------------------------------------------
    @abc.abstractmethod
    def layer_counts(self) -> dict[str, int]:
        """Row count per contract layer present in the store."""

    @abc.abstractmethod
    def read_layer(self, name: str, *, where: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """A layer with canonical types (``gis.frames``); an empty typed frame when absent.

        ``where`` filters on equality of fields (a list value means ``IN``).
        """

    def has_layer(self, name: str) -> bool:
        return self.layer_counts().get(name, 0) > 0

    def read_layer_for_export(self, name: str, *, where: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """A layer as :meth:`read_layer` gives it, except that list fields may stay the JSON text the store
        keeps (the exporters splice such text in unchanged).  A store that keeps lists as text overrides this
        to skip decoding them only to encode them again."""
        return self.read_layer(name, where=where)

    # -- writing -------------------------------------------------------------------------
    @abc.abstractmethod
    def write_layers(
        self,
        frames: Mapping[str, pd.DataFrame],
        *,
        append: tuple[str, ...] = (),
        meta: Mapping[str, str] | None = None,
    ) -> None:
        """Write several layers in one transaction: each replaces the layer, except those named in
        ``append`` whose rows are added.  ``meta`` key/values are stored alongside.  All or nothing."""

    @staticmethod
    def _check_writable(frames: Mapping[str, pd.DataFrame]) -> None:
        """Refuse unknown layers and bulk writes of the append-only ``decisions``."""
        from ..errors import StoreError
        from ..schema import get_layer

        if "decisions" in frames:
            raise StoreError(
                "审定记录只能逐条追加",
                detail="write decisions through append_decision()",
                fix="使用 record_decision() 记录审定结果",
            )
        for name in frames:
            get_layer(name)

    @staticmethod
    def _check_version(parcel_id: str, current: str | None, based_on: str) -> None:
        """Refuse a decision on a parcel without assessment, or one based on a version that has changed."""
        from ..errors import ConflictError, StoreError

        if current is None:
            raise StoreError(
                f"宗地 {parcel_id} 没有研判结果，不能审定",
                detail=f"no assessment for parcel {parcel_id!r}",
                fix="先运行 landrenew assess",
            )
        if current != based_on:
            raise ConflictError(
                f"宗地 {parcel_id} 的研判或审定已被更新（当前版本 {current}，您加载的版本 {based_on}），本次保存未生效",
                detail=f"stale version for {parcel_id}: {based_on} != {current}",
                fix="刷新页面查看最新结果后重新审定",
            )

    @abc.abstractmethod
    def current_version(self, parcel_id: str) -> str | None:
        """The version a new decision on the parcel must be based on: the latest decision, else the
        assessment row; None when the parcel has no assessment."""

    @abc.abstractmethod
    def append_decision(self, decision: Mapping[str, Any], snapshot: Mapping[str, Any] | None = None) -> None:
        """Append one decision row atomically if ``decision['based_on_version']`` is still the parcel's
        :meth:`current_version`; else raise :class:`gis.errors.ConflictError`.  ``snapshot`` (what the decision
        was based on, table ``decision_snapshots``) is written in the same transaction."""

    @abc.abstractmethod
    def meta(self) -> dict[str, str]:
        """Key/value metadata (e.g. ``synthetic``, last run times)."""

    # -- history (docs/history.md; gis.store.gpkg_history / gis.store.postgis_history) ------------------
    @abc.abstractmethod
    def upgrade_history(self) -> bool:
        """Make sure the history tables exist (GeoPackage: upgrade in place; PostGIS: Alembic revision)."""

    @abc.abstractmethod
    def history_counts(self) -> dict[str, int]:
        """Row count per non-empty history table (``gis.store.history_schema.HISTORY_TABLES``)."""

    @abc.abstractmethod
    def next_version_ids(self) -> dict[str, int]:
        """The next free ``version_id`` per ledger layer."""

    @abc.abstractmethod
    def read_history(self, table: str, *, filters=(), columns=None, geometry: bool = True) -> pd.DataFrame:
        """Rows of a history table matching ``[(field, op, value)]`` (op: = != < <= > >= in), insertion order."""

    @abc.abstractmethod
    def write_history(self, tx) -> None:
        """Apply a :class:`gis.store.history_schema.HistoryWrite` in one transaction (all or nothing)."""

    # -- place for reports ----------------------------------------------------------------
    @property
    @abc.abstractmethod
    def files_dir(self) -> Path:
        """The folder beside the store: ``reports/`` (rejects reports) and ``rasters/`` (imagery)."""

    @property
    def reports_dir(self) -> Path:
        return self.files_dir / "reports"

    @property
    def rasters_dir(self) -> Path:
        return self.files_dir / "rasters"

    def close(self) -> None:  # pragma: no cover - default no-op
        pass

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
