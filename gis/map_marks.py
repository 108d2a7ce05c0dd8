"""Point marks above the parcels on the map: the disposal warnings (预警, docs/disposal.md §5) coloured by level,
and the parcels whose ledger changed since the run the map shows (docs/history.md §2).

A mark sits on a point inside its parcel (``representative_point``), so it can be seen at district zoom where a
parcel is a few pixels wide.  Colours, radius and labels come from the registry (``marks`` of
``layers/idle_assessment.yaml``).  The marks are added to the map's overlay (:func:`gis.maps.map_overlay`,
``marks=``), which the page redraws without rebuilding the map; every value reaches the tooltip through
``textContent``.

>>> import geopandas as gpd, shapely
>>> parcels = gpd.GeoDataFrame({"parcel_id": ["P1"]}, geometry=[shapely.box(120.4, 30.0, 120.41, 30.01)], crs=4490)
>>> w = pd.DataFrame({"parcel_id": ["P1", "P1"], "level": ["amber", "red"], "level_label": ["黄", "红"],
...     "case_id": ["C1", "C1"], "deadline": ["答复", "缴费"], "due_date": pd.to_datetime(["2026-05-01"] * 2),
...     "days": pd.array([3, 9], dtype="Int64")})
>>> warning_marks(w, parcels)[["parcel_id", "level", "days_text"]].values.tolist()  # worst first wins
[['P1', 'red', '逾期 9 天']]
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import MacroElement
from jinja2 import Template

from .maps import _TIP_JS, _json_for_script, _plain
from .schema import get_layer

__all__ = ["MARK_KINDS", "mark_style", "mark_points", "warning_marks", "changed_marks", "mark_layer"]

MARK_KINDS = ("warnings", "changed")

#: tooltip rows of each kind of mark: (column, Chinese label)
_TIPS = {
    "warnings": [
        ("parcel_id", "宗地编号"),
        ("level_label", "预警"),
        ("stage", "处置阶段"),
        ("deadline", "期限"),
        ("due_date", "到期日"),
        ("days_text", "剩余/逾期"),
        ("message", "说明"),
    ],
    "changed": [("parcel_id", "宗地编号"), ("text", "台账变化")],
}
_COLUMNS = {kind: [c for c, _ in tips] for kind, tips in _TIPS.items()}


def mark_style(kind: str) -> dict:
    """The registry's style of a kind of mark (``label``, ``radius``, ``color`` or ``by`` + ``colors``, ``fill``)."""
    return dict(get_layer("idle_assessment").marks[kind])


def mark_points(parcels: gpd.GeoDataFrame, keys: Any) -> pd.DataFrame:
    """``parcel_id, lat, lng`` (EPSG:4326) of a point inside each of ``keys``' parcels (those with a geometry)."""
    keys = pd.Index(pd.Series(keys, dtype=object).astype(str).unique())
    frame = parcels[parcels["parcel_id"].astype(str).isin(keys)]
    frame = frame[~(frame.geometry.isna() | frame.geometry.is_empty)]
    if frame.empty:
        return pd.DataFrame({"parcel_id": pd.Series([], dtype=object), "lat": [], "lng": []})
    pts = frame.geometry.to_crs("EPSG:4326").representative_point() if frame.crs else frame.representative_point()
    return pd.DataFrame(
        {
            "parcel_id": frame["parcel_id"].astype(str).to_numpy(),
            "lat": np.round(pts.y.to_numpy(), 7),
            "lng": np.round(pts.x.to_numpy(), 7),
        }
    ).drop_duplicates("parcel_id")


def _days_text(level: str, days: Any) -> str | None:
    if days is None or pd.isna(days):
        return None
    n = int(days)
    return {"red": f"逾期 {n} 天", "amber": f"剩余 {n} 天", "stale": f"{n} 天无新事项"}.get(level)


def warning_marks(
    warnings: pd.DataFrame, parcels: gpd.GeoDataFrame, stages: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One mark per warned parcel: its worst warning (red, amber, stale, no_case; the first of a level in the order
    of ``warnings``, which :func:`gis.disposal_warnings.disposal_warnings` sorts most overdue first) with ``stage`` (the case's stage in Chinese, from ``stages`` =
    :func:`gis.disposal_progress.parcel_stages`; 未立案 without a case), ``days_text`` and the point."""
    from .cases import STAGE_LABELS
    from .disposal_warnings import LEVELS

    order = warnings["level"].map({lv: i for i, lv in enumerate(LEVELS)})
    worst = warnings.iloc[np.argsort(order.to_numpy(), kind="stable")]
    worst = worst.drop_duplicates("parcel_id", keep="first").copy()
    worst["parcel_id"] = worst["parcel_id"].astype(str)
    stage_of = {} if stages is None else dict(zip(stages["parcel_id"].astype(str), stages["stage"]))
    worst["stage"] = [
        STAGE_LABELS.get(stage_of.get(p, "none"), "") if isinstance(c, str) else STAGE_LABELS["none"]
        for p, c in zip(worst["parcel_id"], worst["case_id"])
    ]
    worst["days_text"] = [_days_text(lv, d) for lv, d in zip(worst["level"], worst["days"])]
    for col in _COLUMNS["warnings"]:
        if col not in worst:
            worst[col] = None
    out = worst[[*_COLUMNS["warnings"], "level"]].merge(mark_points(parcels, worst["parcel_id"]), on="parcel_id")
    return out.reset_index(drop=True)


def changed_marks(changed: pd.DataFrame, parcels: gpd.GeoDataFrame) -> pd.DataFrame:
    """One mark per parcel of :func:`gis.runs.changed_since_run` still in ``parcels`` (a retired parcel keeps the
    geometry it had in the run the map shows, when ``parcels`` is that run's frame)."""
    rows = pd.DataFrame(changed[["parcel_id", "text"]]).astype({"parcel_id": str})
    return rows.merge(mark_points(parcels, rows["parcel_id"]), on="parcel_id").reset_index(drop=True)


class _Marks(MacroElement):
    """Circle markers added to the overlay group, one sticky tooltip for the group, nothing as HTML."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
(function () {
  var group = {{ this._parent.get_name() }};
  var spec = {{ this.spec }}, rows = {{ this.rows }};
"""
        + _TIP_JS
        + """
  var marks = L.featureGroup();
  rows.forEach(function (r) {
    var c = (spec.by && spec.colors[r.p[spec.by]]) || spec.color;
    var m = L.circleMarker([r.lat, r.lng], {radius: spec.radius, color: spec.fill ? "#333333" : c,
      weight: spec.fill ? 1 : 3, opacity: 1, fill: spec.fill, fillColor: c, fillOpacity: 0.9,
      className: "landrenew-mark-" + spec.kind});
    m.landrenewMark = {kind: spec.kind, props: r.p};
    marks.addLayer(m);
  });
  marks.bindTooltip(function (layer) { return tip(layer.landrenewMark.props); }, {sticky: true});
  marks.addTo(group);
})();
{% endmacro %}
"""
    )

    def __init__(self, spec: dict, rows: list):
        super().__init__()
        self._name = "Marks"
        self.spec = _json_for_script(spec)
        self.rows = _json_for_script(rows)


def mark_layer(frame: pd.DataFrame, kind: str) -> MacroElement:
    """The marks of :func:`warning_marks` (``kind="warnings"``) or :func:`changed_marks` (``"changed"``), to pass to
    :func:`gis.maps.map_overlay` (``marks=[...]``)."""
    style = mark_style(kind)
    by = style.get("by")
    spec = {
        "kind": kind,
        "by": by,
        "colors": dict(style.get("colors") or {}),
        "color": style.get("color", "#333333"),
        "radius": float(style.get("radius", 6)),
        "fill": style.get("fill", True) is not False,
        "tip": [[c, label, None] for c, label in _TIPS[kind]],
    }
    cols = _COLUMNS[kind] + ([by] if by and by not in _COLUMNS[kind] else [])
    rows = [
        {"lat": float(lat), "lng": float(lng), "p": {c: _plain(v) for c, v in zip(cols, values)}}
        for lat, lng, *values in frame[["lat", "lng", *cols]].itertuples(index=False, name=None)
    ]
    return _Marks(spec, rows)
