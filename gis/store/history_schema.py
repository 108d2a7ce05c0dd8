"""The tables of the store's history (docs/history.md), as :class:`gis.schema.Layer` objects built from the registry.

They are not contract layers (``layer_names()`` does not list them): both stores create them beside the layers
so the same conform / COPY / GeoPackage code handles them.

``<layer>_versions``  every version of a ledger row (towns, parcels, projects, enterprises, villages): the
                      layer's fields and geometry plus ``version_id``, the valid time ``valid_from`` /
                      ``valid_to`` and the transaction time ``recorded_at`` / ``superseded_at`` (bitemporal).
                      Open ends are stored as sentinels (:data:`SINCE_EVER`, :data:`OPEN_END`, :data:`NEVER`)
                      so that plain B-tree indexes answer "valid on D, known at T".
``batches``           one row per import batch; ``batch_files`` one row per source file (name, size, SHA-256).
``runs``              one row per kept assessment / renewal run; ``<output>_runs`` its rows.
``decision_snapshots`` what a decision was based on (run, route, sub_route, alternatives, reasons).
``progress_recorded`` when each ``village_progress`` row was recorded (its batch), for ``--known-at``.

>>> versions_layer("parcels").key, versions_layer("parcels").field_names[:3]
('version_id', ['version_id', 'parcel_id', 'supervision_no'])
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from dataclasses import field as dc_field
from functools import cache
from typing import Any

import pandas as pd

from ..schema import Field, Layer, get_layer

__all__ = [
    "LEDGER_LAYERS",
    "RUN_OUTPUTS",
    "SINCE_EVER",
    "OPEN_END",
    "NEVER",
    "VERSION_FIELDS",
    "versions_layer",
    "runs_layer",
    "history_layer",
    "history_layers",
    "HISTORY_TABLES",
    "SCHEMA_VERSION",
    "HistoryWrite",
    "utc_now",
]

#: ledger layers that keep versions (village_progress is itself a history: append-only with report dates)
LEDGER_LAYERS = ("towns", "enterprises", "parcels", "projects", "villages")
#: output layers whose rows every kept run stores
RUN_OUTPUTS = ("idle_assessment", "village_status", "resettlement_sites")

#: sentinels for open ends (stored; readers turn them back into NaT)
SINCE_EVER = pd.Timestamp("1000-01-01")
OPEN_END = pd.Timestamp("9999-12-31")
NEVER = pd.Timestamp("9999-12-31", tz="UTC")

#: the history schema version of a GeoPackage store (``store_meta.schema_version``); PostGIS: Alembic revision
SCHEMA_VERSION = "3"


def _f(name: str, ftype: str, label: str, **kw) -> Field:
    return Field(name=name, type=ftype, label=label, **kw)


VERSION_FIELDS = (
    _f("valid_from", "date", "有效起始日"),
    _f("valid_to", "date", "有效截止日"),
    _f("recorded_at", "timestamp", "入库时间"),
    _f("superseded_at", "timestamp", "被更正时间"),
    _f("batch_id", "str", "导入批次"),
    _f("superseded_by", "str", "更正批次"),
    _f("retired", "bool", "已退出台账"),
    _f("reason", "str", "说明"),
    _f("change", "str", "变化"),
    _f("row_hash", "str", "内容摘要"),
)


@cache
def versions_layer(name: str) -> Layer:
    """``<layer>_versions``: the layer's fields (no key constraint) + version fields, keyed by ``version_id``."""
    base = get_layer(name)
    plain = tuple(
        Field(name=f.name, type=f.type, label=f.label, values=f.values, value_labels=f.value_labels)
        for f in base.fields
    )
    return Layer(
        name=f"{name}_versions",
        label=f"{base.label}（历史版本）",
        geometry=base.geometry,
        key="version_id",
        fields=(_f("version_id", "int", "版本号", required=True), *plain, *VERSION_FIELDS),
    )


@cache
def runs_layer(name: str) -> Layer:
    """``<output>_runs``: the output's fields (without geometry) + ``run_id``."""
    base = get_layer(name)
    plain = tuple(
        Field(name=f.name, type=f.type, label=f.label, values=f.values, value_labels=f.value_labels)
        for f in base.fields
    )
    return Layer(
        name=f"{name}_runs",
        label=f"{base.label}（保留的研判）",
        geometry=None,
        key=("run_id", *base.key_fields),
        fields=(_f("run_id", "str", "研判批次", required=True), *plain),
    )


_BOOKKEEPING = {
    "batches": Layer(
        name="batches",
        label="导入批次",
        geometry=None,
        key="batch_id",
        fields=(
            _f("batch_id", "str", "批次编号", required=True),
            _f("started_at", "timestamp", "开始时间"),
            _f("recorded_at", "timestamp", "入库时间"),
            _f("imported_by", "str", "导入人"),
            _f("mode", "str", "方式"),
            _f("scope", "str", "范围"),
            _f("effective", "date", "台账日期"),
            _f("effective_given", "bool", "台账日期已指定"),
            _f("late", "bool", "迟到更正"),
            _f("layers", "list", "图层"),
            _f("counts", "str", "行数（JSON）"),
            _f("rejects_path", "str", "拒收清单"),
            _f("same_as", "str", "与此批次文件相同"),
            _f("note", "str", "说明"),
        ),
    ),
    "batch_files": Layer(
        name="batch_files",
        label="导入文件",
        geometry=None,
        key=("batch_id", "layer", "name"),
        fields=(
            _f("batch_id", "str", "批次编号", required=True),
            _f("layer", "str", "图层", required=True),
            _f("name", "str", "文件", required=True),
            _f("size", "int", "字节数"),
            _f("sha256", "str", "SHA-256"),
        ),
    ),
    "runs": Layer(
        name="runs",
        label="研判批次",
        geometry=None,
        key="run_id",
        fields=(
            _f("run_id", "str", "研判批次", required=True),
            _f("kind", "str", "类型"),
            _f("as_of", "date", "基准日"),
            _f("known_at", "timestamp", "数据截至"),
            _f("rules_version", "str", "规则版本"),
            _f("rules_sha256", "str", "规则文件 SHA-256"),
            _f("rules_text", "str", "规则文件内容"),
            _f("rules_path", "str", "规则文件"),
            _f("batches", "list", "读取的批次"),
            _f("created_at", "timestamp", "创建时间"),
            _f("created_by", "str", "创建人"),
            _f("what_if", "bool", "假设分析"),
            _f("label", "str", "说明"),
            _f("rows", "int", "行数"),
        ),
    ),
    "decision_snapshots": Layer(
        name="decision_snapshots",
        label="审定依据",
        geometry=None,
        key="decision_id",
        fields=(
            _f("decision_id", "str", "审定编号", required=True),
            _f("parcel_id", "str", "宗地编号"),
            _f("run_id", "str", "依据的研判批次"),
            _f("route", "str", "当时的研判路径"),
            _f("sub_route", "str", "当时的具体方式"),
            _f("alternatives", "list", "当时的备选路径"),
            _f("reasons", "list", "当时的依据"),
            _f("idle_type", "str", "当时的闲置类型"),
            _f("as_of", "date", "研判基准日"),
        ),
    ),
    "progress_recorded": Layer(
        name="progress_recorded",
        label="进度填报入库",
        geometry=None,
        key=("village_id", "report_date"),
        fields=(
            _f("village_id", "str", "村编号", required=True),
            _f("report_date", "date", "填报日期", required=True),
            _f("batch_id", "str", "导入批次"),
            _f("recorded_at", "timestamp", "入库时间"),
        ),
    ),
}


def history_layer(name: str) -> Layer:
    """Any history table by name (``parcels_versions``, ``idle_assessment_runs``, ``batches``, ...)."""
    if name in _BOOKKEEPING:
        return _BOOKKEEPING[name]
    if name.endswith("_versions") and name[: -len("_versions")] in LEDGER_LAYERS:
        return versions_layer(name[: -len("_versions")])
    if name.endswith("_runs") and name[: -len("_runs")] in RUN_OUTPUTS:
        return runs_layer(name[: -len("_runs")])
    from ..errors import StoreError

    raise StoreError(f"未知的历史表 {name}", detail=f"unknown history table {name!r}")


def history_layers() -> list[Layer]:
    """Every history table, in creation order."""
    return [*(versions_layer(n) for n in LEDGER_LAYERS), *(runs_layer(n) for n in RUN_OUTPUTS), *_BOOKKEEPING.values()]


HISTORY_TABLES = tuple(layer.name for layer in history_layers())


def utc_now() -> pd.Timestamp:
    """Now, UTC, to the millisecond (what both stores keep)."""
    return pd.Timestamp(dt.datetime.now(dt.UTC)).floor("ms")


@dataclass
class HistoryWrite:
    """One all-or-nothing write of the history layer (see ``Store.write_history``).

    append        history table -> rows to add (versions, batches, batch_files, runs, run rows, ...)
    supersede     versions table -> (version ids, when, by which batch): those rows stop being believed
    row_hashes    versions table -> {version_id: hash} filled for rows that had none (upgraded stores)
    layer_rows    contract layer -> (keys to delete, rows to insert): the current layer follows its versions
    layer_replace contract layer -> its new rows (outputs of a current run)
    layer_append  contract layer -> rows to add (village_progress)
    meta          store_meta key/values
    mirrors       versions table -> contract layer, when every row appended to the table is, apart from its
                  version fields, the row of its key that this write leaves in the layer (a first import): a
                  store may copy them from the layer it has written (the GeoPackage does, in SQL)
    """

    append: dict = dc_field(default_factory=dict)
    supersede: dict = dc_field(default_factory=dict)
    row_hashes: dict = dc_field(default_factory=dict)
    layer_rows: dict = dc_field(default_factory=dict)
    layer_replace: dict = dc_field(default_factory=dict)
    layer_append: dict = dc_field(default_factory=dict)
    meta: dict = dc_field(default_factory=dict)
    mirrors: dict = dc_field(default_factory=dict)

    def add(self, table: str, frame: pd.DataFrame) -> None:
        if table in self.append:
            self.mirrors.pop(table, None)  # rows from elsewhere: no longer all copies of the layer's rows
            self.append[table] = pd.concat([self.append[table], frame], ignore_index=True)
        else:
            self.append[table] = frame


def conformed(frame: pd.DataFrame, layer) -> pd.DataFrame:
    """``gis.frames.conform`` unless the frame already has the layer's columns, order and canonical dtypes (the
    frames the history code passes along were conformed once; conform again costs a cast per column)."""
    from ..frames import conform

    columns, dtypes, crs = _expected(layer)
    if list(frame.columns) == columns and all(frame[c].dtype == t for c, t in dtypes.items()):
        if not layer.is_spatial or (getattr(frame, "crs", None) is not None and frame.crs == crs):
            return frame
    return conform(frame, layer)


_EXPECTED: dict = {}


def _expected(layer) -> tuple[list, dict, Any]:
    """The columns, dtypes and CRS of ``empty_frame(layer)``, built once per layer shape (an empty frame costs
    a cast per column, and every write asks several times)."""
    from ..frames import empty_frame

    key = (layer.name, layer.geometry, tuple((f.name, f.type) for f in layer.fields))
    if key not in _EXPECTED:
        expected = empty_frame(layer)
        _EXPECTED[key] = (
            list(expected.columns),
            {c: expected[c].dtype for c in expected.columns if c != "geometry"},
            getattr(expected, "crs", None),
        )
    return _EXPECTED[key]
