"""Map building: the layers of the store as one offline ``folium.Map`` (一张图).

The page only shows what this module returns.  The map stays fast and offline (docs/architecture.md
"Performance habits", issue #5):

* Leaflet comes from the local static folder (:mod:`gis.assets`), never from a CDN;
* polygons are simplified as a coverage (``shapely.coverage_simplify``: shared edges stay shared,
  no gaps or slivers appear between neighbours), coordinates rounded to 6 decimals (~0.1 m);
* features carry only the fields of the layer's ``popup`` (from ``layers/*.yaml``) — details are
  fetched by the page on click; properties travel column-wise, enum values as indexes into the
  registry's values, coordinates as delta-encoded integers (:func:`layer_payload`), and the Chinese
  labels once per layer;
* the map draws on a canvas (``prefer_canvas``); the colour comes from the registry's ``style`` through
  one small table per layer, and one tooltip is bound per layer, not per feature.

Every attribute reaches the screen through ``textContent`` (tooltips, legend), so a holder named
``<img src=x onerror=alert(1)>`` is shown as that text and runs nothing.

>>> import geopandas as gpd, shapely
>>> towns = gpd.GeoDataFrame({"town_code": ["T1"], "name": ["柯桥街道"], "kind": ["街道"]},
...     geometry=[shapely.box(120.4, 30.0, 120.5, 30.1)], crs="EPSG:4490")
>>> m = map_from_layers({"towns": towns})
>>> type(m).__name__, m.options["prefer_canvas"]
('Map', True)
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from folium.map import Layer as _FoliumLayer
from jinja2 import Template

from .assets import APP_STATIC_URL, use_local_assets
from .errors import LandRenewError
from .schema import get_layer
from .tiles import TileSet

__all__ = [
    "BASEMAPS",
    "MAP_LAYERS",
    "display_frame",
    "layer_payload",
    "map_from_layers",
    "map_overlay",
    "feature_target",
    "tile_fields",
    "tile_keep",
]

#: Basemap choices: none (offline default), OpenStreetMap, Tianditu (needs a key), a local XYZ folder.
BASEMAPS = {"none": "无底图", "osm": "OpenStreetMap", "tianditu": "天地图", "xyz": "本地瓦片"}
#: Layers the map draws, bottom to top, with the field that identifies a clicked feature.
MAP_LAYERS = {
    "towns": "town_code",
    "village_status": "village_id",
    "projects": "project_id",
    "idle_assessment": "parcel_id",
}
_DEG_PER_M = 1.0 / 111_320.0  # metres -> degrees of latitude, for the display tolerance
_TIANDITU = (
    "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}"
    "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
)


def _json_for_script(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``</script>``, no HTML comment)."""
    return _script_safe(json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False))


def _script_safe(text: str) -> str:
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _plain(value: Any) -> Any:
    """A JSON-ready scalar (NA -> None, numpy -> Python, dates -> ISO, floats rounded)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, (pd.Timestamp,)):
        return value.date().isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, (list, tuple)):
        return "、".join(str(v) for v in value)
    return value


def display_frame(
    frame: gpd.GeoDataFrame,
    *,
    fields: Sequence[str],
    tolerance_m: float = 2.0,
    precision: int = 6,
) -> gpd.GeoDataFrame:
    """A layer ready to draw: the given fields only, EPSG:4326, coverage-simplified, rounded.

    Parameters
    ----------
    frame
        A spatial layer with a CRS.
    fields
        Columns to keep (missing ones are skipped).
    tolerance_m
        Simplification tolerance in metres (0 keeps every vertex).  ``shapely.coverage_simplify``
        simplifies the shared edges once, so neighbours stay edge to edge.
    precision
        Decimals of the coordinates (6 = about 0.1 m).

    Returns
    -------
    geopandas.GeoDataFrame
        Empty and null geometries dropped.
    """
    keep = [f for f in fields if f in frame.columns]
    out = frame[keep + [frame.geometry.name]]
    out = out[~(out.geometry.isna() | out.geometry.is_empty)]
    if out.crs is None:
        raise LandRenewError(
            "图层没有坐标系，无法上图",
            detail="display_frame: frame.crs is None",
            fix="导入时为图层设置坐标系（如 EPSG:4490）",
        )
    geoms = out.geometry.to_crs("EPSG:4326").array
    geoms = np.asarray(geoms, dtype=object)
    if tolerance_m > 0 and len(geoms):
        polygonal = shapely.get_type_id(geoms) >= 3  # (Multi)Polygon; lines/points stay as they are
        if polygonal.all():
            geoms = shapely.coverage_simplify(geoms, tolerance_m * _DEG_PER_M, simplify_boundary=True)
        else:
            geoms = shapely.simplify(geoms, tolerance_m * _DEG_PER_M, preserve_topology=True)
    factor = 10.0**precision
    geoms = shapely.transform(geoms, lambda xy: np.round(xy * factor) / factor)
    result = gpd.GeoDataFrame(
        out.drop(columns=out.geometry.name).reset_index(drop=True),
        geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"),
        crs="EPSG:4326",
    )
    return result[~result.geometry.is_empty].reset_index(drop=True)


def _column_for_json(series: pd.Series) -> pd.Series:
    """A column as JSON-ready values: dates -> ISO text, floats rounded to 2 decimals, lists joined."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.dt.strftime("%Y-%m-%d").astype(object).where(series.notna(), None)
    if pd.api.types.is_float_dtype(series):
        return series.round(2)
    if series.dtype == object:
        return series.map(_plain)
    return series


def layer_payload(
    frame: gpd.GeoDataFrame, fields: Sequence[str], *, layer: str | None = None, precision: int = 6
) -> str:
    """The compact JSON text a map layer carries, decoded by the page into Leaflet polygons.

    Column-wise properties (no property name repeated per feature; enum fields of ``layer`` as
    indexes into ``codes``) and quantized, delta-encoded coordinates (integers of 10^-precision
    degree, each the difference to the previous vertex; ``rings``/``polys``/``parts`` are the
    offsets of ``shapely.to_ragged_array``).  Safe to place inside a ``<script>`` element.

    >>> import geopandas as gpd, shapely
    >>> f = gpd.GeoDataFrame({"parcel_id": ["<P1>"], "route": ["reclaim"]},
    ...     geometry=[shapely.box(0, 0, 1, 1)], crs=4326)
    >>> text = layer_payload(f, ["parcel_id", "route"], layer="idle_assessment")
    >>> text[:60]
    '{"fields":["parcel_id","route"],"codes":{"route":["none","co'
    >>> "<" in text, text[text.index('"rows"'):text.index(',"scale"')].count("u003c")
    (False, 1)
    """
    keep = [f for f in fields if f in frame.columns]
    reg = get_layer(layer) if layer else None
    codes: dict[str, list[str]] = {}
    columns = {}
    for f in keep:
        values = reg.field(f).values if reg is not None and f in reg.field_names else ()
        if values:
            codes[f] = list(values)
            idx = pd.Categorical(frame[f].astype(object), categories=list(values)).codes.astype("float64")
            columns[f] = pd.Series(np.where(idx < 0, np.nan, idx), index=frame.index).astype("Int64")
        else:
            columns[f] = _column_for_json(frame[f])
    table = pd.DataFrame(columns, index=frame.index)
    rows = table.to_json(orient="values", force_ascii=False) if keep else "[" + ",".join(["[]"] * len(frame)) + "]"
    if len(frame):
        gtype, coords, offsets = shapely.to_ragged_array(np.asarray(frame.geometry.array, dtype=object))
        if gtype == shapely.GeometryType.POLYGON:
            offsets = (*offsets, np.arange(len(frame) + 1))
        elif gtype != shapely.GeometryType.MULTIPOLYGON:
            raise LandRenewError("地图图层只支持面要素", detail=f"geometry type {gtype!r}", fix="检查图层几何类型")
        q = np.round(coords * 10.0**precision).astype(np.int64)
        q[1:] -= q[:-1].copy()
        rings, polys, parts = (o.tolist() for o in offsets)
        xy = q.ravel().tolist()
    else:
        xy, rings, polys, parts = [], [0], [0], [0]
    dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
    text = (
        f'{{"fields":{dumps(keep)},"codes":{dumps(codes)},"rows":{rows},"scale":{10**precision},'
        f'"xy":{dumps(xy)},"rings":{dumps(rings)},"polys":{dumps(polys)},"parts":{dumps(parts)}}}'
    )
    return _script_safe(text)


class _VectorLayer(_FoliumLayer):
    """A GeoJSON layer styled by one field with a per-layer colour table and a safe tooltip."""

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = (function () {
  var spec = {{ this.spec }};
  function tip(p) {
    var box = document.createElement("div");
    spec.tip.forEach(function (t) {
      var v = p[t[0]];
      if (v === null || v === undefined || v === "") { return; }
      var row = document.createElement("div");
      var k = document.createElement("b"); k.textContent = t[1] + "：";
      var val = document.createElement("span");
      val.textContent = (t[2] && t[2][v] !== undefined) ? t[2][v] : String(v);
      row.appendChild(k); row.appendChild(val); box.appendChild(row);
    });
    return box;
  }
  var d = {{ this.data }};
  var n = d.xy.length / 2, lat = new Float64Array(n), lng = new Float64Array(n), x = 0, y = 0;
  for (var i = 0; i < n; i++) { x += d.xy[2 * i]; y += d.xy[2 * i + 1]; lng[i] = x / d.scale; lat[i] = y / d.scale; }
  function ring(r) { var pts = []; for (var i = d.rings[r]; i < d.rings[r + 1]; i++) { pts.push([lat[i], lng[i]]); } return pts; }
  function poly(p) { var rs = []; for (var r = d.polys[p]; r < d.polys[p + 1]; r++) { rs.push(ring(r)); } return rs; }
  var layers = d.rows.map(function (row, g) {
    var props = {};
    d.fields.forEach(function (f, j) { var v = row[j]; props[f] = (d.codes[f] && v !== null) ? d.codes[f][v] : v; });
    var shapes = [];
    for (var p = d.parts[g]; p < d.parts[g + 1]; p++) { shapes.push(poly(p)); }
    var v = spec.by ? props[spec.by] : null;
    var fill = (v !== null && spec.colors[v]) || spec.fill;
    var layer = L.polygon(shapes.length === 1 ? shapes[0] : shapes, {
      color: spec.stroke || fill, weight: spec.weight, opacity: 0.9, fill: spec.filled,
      fillColor: fill, fillOpacity: spec.opacity});
    layer.feature = {type: "Feature", properties: props};
    return layer;
  });
  var group = L.featureGroup(layers);
  group.bindTooltip(function (layer) { return tip(layer.feature.properties); }, {sticky: true});
  return group;
})();
{% endmacro %}
""")

    def __init__(self, data: str, spec: dict, *, name: str, show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "VectorLayer"
        self.data = data
        self.spec = _json_for_script(spec)


_TIP_JS = """
  function tip(p) {
    var box = document.createElement("div");
    spec.tip.forEach(function (t) {
      var v = p[t[0]];
      if (v === null || v === undefined || v === "") { return; }
      var row = document.createElement("div");
      var k = document.createElement("b"); k.textContent = t[1] + "：";
      var val = document.createElement("span");
      val.textContent = (t[2] && t[2][v] !== undefined) ? t[2][v] : String(v);
      row.appendChild(k); row.appendChild(val); box.appendChild(row);
    });
    return box;
  }
"""


class _TileLayer(JSCSSMixin, _FoliumLayer):
    """A layer drawn from a PMTiles archive by protomaps-leaflet (canvas tiles, local JS), with the tiles
    decoded and painted by ``static/landrenew/tiles.js`` (typed arrays, batched paths; see its header).

    The page keeps one entry per tiled layer in ``window.__landrenewTiles[layer]`` with ``setMask``
    (which features are shown, a base64 bitset by feature id, see :meth:`gis.tiles.TileSet.mask`) and
    ``drawnKeys`` (keys of the features drawn so far).  Tiles sit in their own pane above the inline
    layers; the pane lets clicks through to the map, and the page finds the parcel in the store.
    """

    _template = Template(
        """
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = (function () {
  var spec = {{ this.spec }};
  var map = {{ this._parent.get_name() }};
  [["landrenewTiles", 450], ["landrenewSelected", 460]].forEach(function (p) {
    var pane = map.getPane(p[0]) || map.createPane(p[0]);
    pane.style.zIndex = p[1]; pane.style.pointerEvents = "none";
  });
"""
        + _TIP_JS
        + """
  function decode(b64) {
    if (!b64) { return null; }
    var s = atob(b64), a = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) { a[i] = s.charCodeAt(i); }
    return a;
  }
  var pending = (window.__landrenewPending || {})[spec.layer];
  var state = {text: pending || null, mask: decode(pending || null)};
  function shown(id) { var m = state.mask; return !m || ((m[id >> 3] >> (id & 7)) & 1) === 1; }
  var drawn = {};
  function colour(f) { var v = spec.by ? f.group : null; return (v !== null && v !== undefined && spec.colors[v]) || spec.fill; }
  var rules = landrenewMVT.rules({
    layer: spec.layer, opacity: spec.opacity, stroke: spec.stroke, maxzoom: spec.maxzoom,
    filter: function (z, f) { if (!shown(f.id)) { return false; } drawn[f.id] = f; return true; },
    fill: function (z, f) { return colour(f); },
    width: function (z, f) { return z + 1 >= spec.outlineZoom ? spec.weight : 0; }
  });
  var layer = protomapsL.leafletLayer({url: spec.url, paintRules: rules, labelRules: [], maxDataZoom: spec.maxzoom,
    pane: "landrenewTiles", attribution: "", bounds: spec.bounds});
  landrenewMVT.install(layer, {groupBy: spec.by || null});
  layer.on("load", function () {
    if (!window.__landrenewTilesPainted) {
      requestAnimationFrame(function () { window.__landrenewTilesPainted = performance.now(); });
    }
  });
  function query(ll) {  // shown features under a point, from the decoded tiles of the current zoom
    return landrenewMVT.query(layer, map, ll, spec.layer, spec.maxzoom, function (f) { return shown(f.id); });
  }
  var box = L.tooltip({sticky: true, direction: "top", offset: [0, -6], opacity: 0.95});
  var queued = null;
  function hover() {
    var ll = queued; queued = null;
    var hits = query(ll);
    if (!hits.length) { if (map.hasLayer(box)) { map.closeTooltip(box); } return; }
    box.setLatLng(ll).setContent(tip(hits[0].props));
    if (!map.hasLayer(box)) { map.openTooltip(box); }
  }
  map.on("mousemove", function (e) { if (queued === null) { requestAnimationFrame(hover); } queued = e.latlng; });
  map.on("mouseout", function () { if (map.hasLayer(box)) { map.closeTooltip(box); } });
  window.__landrenewTiles = window.__landrenewTiles || {};
  window.__landrenewTiles[spec.layer] = {
    layer: layer, spec: spec, query: query,
    setMask: function (b64) {
      if ((b64 || null) === state.text) { return; }
      state.text = b64 || null; state.mask = decode(state.text); drawn = {}; layer.rerenderTiles();
    },
    drawnKeys: function () { return Object.keys(drawn).map(function (k) { return drawn[k].props[spec.key]; }); }
  };
  return layer;
})();
{{ this.get_name() }}.addTo({{ this._parent.get_name() }});
{% endmacro %}
"""
    )

    def __init__(self, tileset: TileSet, spec: dict, *, name: str, asset_base: str):
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "TileLayer"
        base = asset_base.rstrip("/")
        self.default_js = [
            ("protomaps_leaflet", f"{base}/protomaps-leaflet/protomaps-leaflet.js"),
            ("landrenew_mvt", f"{base}/landrenew/tiles.js"),
        ]
        self.default_css = []
        b = tileset.bounds
        self.spec = _json_for_script(
            {
                **spec,
                "url": tileset.url,
                "key": tileset.key,
                "maxzoom": tileset.maxzoom,
                "bounds": [[b[1], b[0]], [b[3], b[2]]],
                "outlineZoom": 15,
            }
        )


class _TileMasks(MacroElement):
    """Which features of each tiled layer are shown (the filters): restyles the tiles, builds nothing."""

    _template = Template("""
{% macro script(this, kwargs) %}
(function () {
  var masks = {{ this.masks }};
  window.__landrenewPending = masks;
  var tiles = window.__landrenewTiles || {};
  Object.keys(masks).forEach(function (k) { if (tiles[k]) { tiles[k].setMask(masks[k]); } });
})();
{% endmacro %}
""")

    def __init__(self, masks: dict):
        super().__init__()
        self._name = "TileMasks"
        self.masks = _json_for_script(masks)


class _Highlight(MacroElement):
    """The outline of the selected feature, drawn above every layer and letting clicks through."""

    _template = Template("""
{% macro script(this, kwargs) %}
(function () {
  var group = {{ this._parent.get_name() }};
  var map = (window.map && window.map.createPane) ? window.map : {{ this._parent._parent.get_name() }};
  var pane = map.getPane("landrenewSelected") || map.createPane("landrenewSelected");
  pane.style.zIndex = 460; pane.style.pointerEvents = "none";
  L.polygon({{ this.latlngs }}, {pane: "landrenewSelected", renderer: L.svg({pane: "landrenewSelected"}),
    interactive: false, color: "#00e5ff", weight: 3, opacity: 1, fill: false, className: "landrenew-selected"}).addTo(group);
})();
{% endmacro %}
""")

    def __init__(self, latlngs: list):
        super().__init__()
        self._name = "Highlight"
        self.latlngs = _json_for_script(latlngs)


def _latlngs(geom) -> list:
    """Leaflet polygon rings ([[lat, lng], ...] per ring, per part) of a (multi)polygon in degrees."""
    parts = []
    for poly in shapely.get_parts(geom):
        rings = [poly.exterior, *poly.interiors]
        parts.append([[[round(y, 7), round(x, 7)] for x, y in np.asarray(r.coords)] for r in rings])
    return parts[0] if len(parts) == 1 else parts


class _Legend(MacroElement):
    """A legend control built with ``textContent`` (labels come from the registry)."""

    _template = Template("""
{% macro script(this, kwargs) %}
(function () {
  var groups = {{ this.groups }};
  var legend = L.control({position: "bottomright"});
  legend.onAdd = function () {
    var div = L.DomUtil.create("div", "landrenew-legend");
    div.style.cssText = "background:rgba(255,255,255,0.92);padding:6px 8px;font:12px sans-serif;" +
      "line-height:18px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,0.3);max-height:60vh;overflow:auto";
    groups.forEach(function (g) {
      var h = document.createElement("div"); h.style.fontWeight = "bold"; h.textContent = g[0]; div.appendChild(h);
      g[1].forEach(function (item) {
        var row = document.createElement("div");
        var sw = document.createElement("span");
        sw.style.cssText = "display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-2px;" +
          "border:1px solid #555;background:" + item[1];
        var t = document.createElement("span"); t.textContent = item[0];
        row.appendChild(sw); row.appendChild(t); div.appendChild(row);
      });
    });
    return div;
  };
  legend.addTo({{ this._parent.get_name() }});
})();
{% endmacro %}
""")

    def __init__(self, groups: list):
        super().__init__()
        self._name = "Legend"
        self.groups = _json_for_script(groups)


def _tip_fields(layer_name: str, fields: Sequence[str]) -> list:
    """[(field, Chinese label, {code: label} or None)] for the tooltip; labels from the registry."""
    layers = [get_layer(layer_name)] + ([get_layer("parcels")] if layer_name == "idle_assessment" else [])
    out = []
    for name in fields:
        for layer in layers:
            if name in layer.field_names:
                f = layer.field(name)
                out.append([name, f.label, f.value_labels or None])
                break
    return out


def _layer_spec(layer_name: str, fields: Sequence[str]) -> dict:
    layer = get_layer(layer_name)
    style = layer.style or {}
    by = style.get("by")
    colors = dict(style.get("colors") or {})
    filled = style.get("fill", True) is not False
    return {
        "by": by if by and by in fields else None,
        "colors": colors,
        "fill": style.get("color", "#999999"),
        "stroke": style.get("color") if not colors else "#444444",
        "weight": float(style.get("weight", 0.6 if colors else 1.0)),
        "filled": filled,
        "opacity": float(style.get("fill_opacity", 0.65 if colors else 0.15)),
        "tip": _tip_fields(layer_name, fields),
    }


def _map_fields(layer_name: str) -> list[str]:
    """The popup fields of the registry (plus the style field); for parcels a ``parcels`` field listed in
    the ``idle_assessment`` popup (e.g. holder) is taken from the joined parcel columns."""
    layer = get_layer(layer_name)
    fields = list(layer.popup)
    by = (layer.style or {}).get("by")
    if by and by not in fields:
        fields.append(by)
    if layer_name == "towns" and "name" not in fields:
        fields.insert(0, "name")
    return fields


def _legend_groups(present: Sequence[str]) -> list:
    groups = []
    for name in ("idle_assessment", "village_status"):
        if name not in present:
            continue
        layer = get_layer(name)
        by = layer.style["by"]
        field = layer.field(by)
        groups.append(
            [
                f"{layer.label}·{field.label}",
                [[field.label_of(code), color] for code, color in layer.style["colors"].items()],
            ]
        )
    return groups


def _add_basemap(m: folium.Map, basemap: str, *, tianditu_key: str | None, xyz_url: str | None) -> None:
    if basemap not in BASEMAPS:
        raise LandRenewError(
            f"未知底图“{basemap}”",
            detail=f"basemap {basemap!r} not in {list(BASEMAPS)}",
            fix=f"可选：{'、'.join(f'{k}（{v}）' for k, v in BASEMAPS.items())}",
        )
    if basemap == "osm":
        folium.TileLayer("OpenStreetMap", name=BASEMAPS["osm"], control=False).add_to(m)
    elif basemap == "tianditu":
        if not tianditu_key:
            raise LandRenewError(
                "使用天地图底图需要密钥",
                detail="tianditu basemap without key",
                fix="在 .streamlit/secrets.toml 写入 tianditu_key，或设置环境变量 TIANDITU_KEY",
            )
        for layer, label in (("vec", "天地图矢量"), ("cva", "天地图注记")):
            folium.TileLayer(
                _TIANDITU.format(layer=layer, key=tianditu_key),
                attr="天地图",
                name=label,
                subdomains="01234567",
                max_zoom=18,
                overlay=layer == "cva",
                control=False,
            ).add_to(m)
    elif basemap == "xyz":
        if not xyz_url or not all(t in xyz_url for t in ("{z}", "{x}", "{y}")):
            raise LandRenewError(
                "本地瓦片地址应含 {z}/{x}/{y}",
                detail=f"xyz_url={xyz_url!r}",
                fix="例如 /app/static/tiles/{z}/{x}/{y}.png（瓦片放在 gis/static/tiles）",
            )
        folium.TileLayer(xyz_url, attr="本地瓦片", name=BASEMAPS["xyz"], control=False).add_to(m)


def map_from_layers(
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    basemap: str = "none",
    tianditu_key: str | None = None,
    xyz_url: str | None = None,
    asset_base: str = APP_STATIC_URL,
    tolerance_m: float = 2.0,
    bounds: Sequence[float] | None = None,
    height: str | int = "100%",
    tiles: Mapping[str, TileSet] | None = None,
) -> folium.Map:
    """The map of the store's layers (一张图), offline and light.

    Parameters
    ----------
    layers
        ``{layer name: frame}`` among :data:`MAP_LAYERS` (``towns``, ``village_status``, ``projects``,
        ``idle_assessment``).  Each layer carries the fields of its registry ``popup`` (tooltip);
        empty or missing layers are left out.
    basemap
        ``none`` (default, offline), ``osm``, ``tianditu`` (needs ``tianditu_key``; CGCS2000 needs no
        shift), ``xyz`` (``xyz_url`` template with ``{z}/{x}/{y}``).
    asset_base
        URL prefix of the local Leaflet files (``/app/static`` in the app; ``static`` for a standalone
        file next to :func:`gis.assets.copy_static`).
    tolerance_m
        Display simplification in metres (see :func:`display_frame`).
    bounds
        ``(minx, miny, maxx, maxy)`` in degrees to fit; default the extent of all drawn layers.
    tiles
        ``{layer name: TileSet}`` for the layers drawn from vector tiles (:mod:`gis.tiles`) instead of
        inline; their frame in ``layers`` is not read here: which features are shown is set by
        :func:`map_overlay`, so a filter changes only the overlay, not the map.

    Returns
    -------
    folium.Map
        Canvas renderer, layer control and legend; each feature's properties are the layer's
        popup fields (:data:`MAP_LAYERS` gives the field that identifies it on click).
    """
    unknown = [name for name in layers if name not in MAP_LAYERS]
    if unknown:
        raise LandRenewError(
            f"地图不支持图层：{'、'.join(unknown)}",
            detail=f"unknown map layers {unknown}",
            fix=f"可用：{'、'.join(MAP_LAYERS)}",
        )
    m = folium.Map(
        location=[30.08, 120.49], zoom_start=11, tiles=None, prefer_canvas=True, control_scale=True, height=height
    )
    use_local_assets(m, asset_base)
    _add_basemap(m, basemap, tianditu_key=tianditu_key, xyz_url=xyz_url)
    extent = []
    drawn = []
    tiles = dict(tiles or {})
    for name in MAP_LAYERS:
        if name in tiles:
            ts = tiles[name]
            spec = {**_layer_spec(name, list(ts.fields)), "layer": ts.layer}
            _TileLayer(ts, spec, name=get_layer(name).label, asset_base=asset_base).add_to(m)
            extent.append(np.asarray(ts.bounds))
            drawn.append(name)
            continue
        frame = layers.get(name)
        if frame is None or len(frame) == 0:
            continue
        fields = _map_fields(name)
        shown = display_frame(frame, fields=fields, tolerance_m=0.0 if name == "towns" else tolerance_m)
        if shown.empty:
            continue
        extent.append(shown.total_bounds)
        label = get_layer(name).label
        _VectorLayer(layer_payload(shown, fields, layer=name), _layer_spec(name, fields), name=label).add_to(m)
        drawn.append(name)
    if bounds is None and extent:
        b = np.vstack(extent)
        bounds = (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())
    if bounds is not None:
        m.fit_bounds([[float(bounds[1]), float(bounds[0])], [float(bounds[3]), float(bounds[2])]])
    groups = _legend_groups(drawn)
    if groups:
        _Legend(groups).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def tile_fields(layer_name: str) -> list[str]:
    """The fields a tiled layer carries: those of its tooltip and style (see :func:`map_from_layers`)."""
    return _map_fields(layer_name)


def tile_keep(frame: pd.DataFrame) -> np.ndarray:
    """Parcels that stay at every zoom of the tiles: every idle or in-scope parcel of an assessment."""
    keep = np.zeros(len(frame), dtype=bool)
    if "idle_type" in frame.columns:
        keep |= frame["idle_type"].notna().to_numpy() & (frame["idle_type"] != "none").to_numpy()
    if "in_stock_scope" in frame.columns:
        keep |= frame["in_stock_scope"].fillna(False).astype(bool).to_numpy()
    return keep


def map_overlay(
    layers: Mapping[str, gpd.GeoDataFrame] | None = None,
    *,
    tiles: Mapping[str, TileSet] | None = None,
    selected: gpd.GeoDataFrame | None = None,
    marks: Sequence[MacroElement] = (),
) -> folium.FeatureGroup:
    """What changes with the user's filters and selection, as one small feature group.

    streamlit-folium redraws it (``st_folium(..., feature_group_to_add=...)``) without rebuilding the
    map, so the view stays where the planner left it; a standalone page adds it to the map.

    Parameters
    ----------
    layers
        The filtered frames of the tiled layers (``{name: frame}``); a tiled layer absent here shows
        everything.
    tiles
        The :class:`gis.tiles.TileSet` of each tiled layer.
    selected
        The selected feature(s) (any CRS): outlined above every layer.
    marks
        Point marks drawn above the layers (:func:`gis.map_marks.mark_layer`: warnings, changed parcels).
    """
    group = folium.FeatureGroup(name="选中", control=False)
    masks = {}
    for name, ts in (tiles or {}).items():
        frame = (layers or {}).get(name)
        masks[ts.layer] = None if frame is None else ts.mask(frame[ts.key])
    if masks:
        _TileMasks(masks).add_to(group)
    for mark in marks:
        mark.add_to(group)
    if selected is not None and len(selected):
        geom = selected.geometry.to_crs("EPSG:4326").iloc[0] if selected.crs else selected.geometry.iloc[0]
        if geom is not None and not geom.is_empty:
            _Highlight(_latlngs(geom)).add_to(group)
    return group


def feature_target(properties: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """Which layer and key a clicked feature stands for: ``("idle_assessment", parcel_id)``,
    ``("village_status", village_id)``, ``("projects", project_id)``, ``("towns", town_code)`` or None.

    >>> feature_target({"parcel_id": "P1", "route": "reclaim"})
    ('idle_assessment', 'P1')
    >>> feature_target({"village_id": "V1", "status": "late"})
    ('village_status', 'V1')
    """
    if not properties:
        return None
    for name in ("projects", "village_status", "idle_assessment", "towns"):
        key = MAP_LAYERS[name]
        value = properties.get(key)
        if value not in (None, ""):
            return name, html.unescape(str(value))
    return None
