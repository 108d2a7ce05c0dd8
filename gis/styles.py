"""QGIS styles (QML and SLD) generated from the layer registry, for the GeoPackage ``layer_styles`` table.

The colours come from ``layers/<name>.yaml`` (``style.by`` + ``style.colors``): a categorized renderer on the
route or status field, one category per enum value labelled in Chinese, plus the Chinese field labels as QGIS
field aliases, so an exported GeoPackage opens in QGIS looking like the app.

>>> qml = layer_qml("idle_assessment")
>>> 'attr="route"' in qml and 'label="继续开发"' in qml and 'name="宗地编号"' in qml
True
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pandas as pd

from .schema import Layer, get_layer

__all__ = ["layer_qml", "layer_sld", "layer_styles_frame", "LAYER_STYLES_COLUMNS"]

#: The columns of QGIS's ``layer_styles`` table (QGIS convention; the fid column is named ``id``).
LAYER_STYLES_COLUMNS = (
    "f_table_catalog",
    "f_table_schema",
    "f_table_name",
    "f_geometry_column",
    "styleName",
    "styleQML",
    "styleSLD",
    "useAsDefault",
    "description",
    "owner",
    "ui",
    "update_time",
)

_OUTLINE = "#232323"
_QGIS_VERSION = "3.28.0-Firenze"
_SLD_NS = {
    "xmlns": "http://www.opengis.net/sld",
    "xmlns:ogc": "http://www.opengis.net/ogc",
    "xmlns:se": "http://www.opengis.net/se",
    "xmlns:xlink": "http://www.w3.org/1999/xlink",
    "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
}


def _layer(layer: Layer | str) -> Layer:
    return get_layer(layer) if isinstance(layer, str) else layer


def _rgba(hex_color: str, alpha: int = 255) -> str:
    """``#1a9850`` -> ``26,152,80,255`` (QGIS colour strings)."""
    h = hex_color.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"{r},{g},{b},{alpha}"


def _categories(layer: Layer) -> tuple[str | None, list[tuple[str, str, str]]]:
    """(field, [(value, label, colour)]) of a categorized layer; (None, []) for a single-symbol layer."""
    by = layer.style.get("by")
    colors = layer.style.get("colors") or {}
    if not by or not colors or by not in layer.field_names:
        return None, []
    fld = layer.field(by)
    values = list(fld.values) or list(colors)
    return by, [(v, fld.label_of(v), layer.color_of(v)) for v in values]


def _single(layer: Layer) -> tuple[str, bool, float]:
    """(colour, filled, outline width in mm) of a single-symbol layer."""
    color = layer.style.get("color", "#999999")
    filled = bool(layer.style.get("fill", True))
    weight = float(layer.style.get("weight", 1.0))
    return color, filled, round(0.26 * weight, 3)


def _option_map(parent: ET.Element, options: dict[str, str]) -> None:
    omap = ET.SubElement(parent, "Option", type="Map")
    for k, v in options.items():
        ET.SubElement(omap, "Option", name=k, type="QString", value=v)


def _fill_symbol(
    parent: ET.Element, name: str, color: str, *, filled: bool = True, outline: str = _OUTLINE, width: float = 0.26
) -> None:
    symbol = ET.SubElement(parent, "symbol", type="fill", name=name, alpha="1", clip_to_extent="1", force_rhr="0")
    layer = ET.SubElement(symbol, "layer", {"class": "SimpleFill", "enabled": "1", "pass": "0", "locked": "0"})
    _option_map(
        layer,
        {
            "color": _rgba(color, 200 if filled else 0),
            "joinstyle": "bevel",
            "outline_color": _rgba(outline),
            "outline_style": "solid",
            "outline_width": f"{width:g}",
            "outline_width_unit": "MM",
            "style": "solid" if filled else "no",
        },
    )


def layer_qml(layer: Layer | str) -> str:
    """The QML (QGIS layer style) of a registry layer: renderer from ``style`` plus Chinese field aliases.

    Parameters
    ----------
    layer
        A registry layer or its name.

    Returns
    -------
    str
        A QML document (``<!DOCTYPE qgis ...>``) with a ``categorizedSymbol`` renderer on ``style.by``
        (one category per enum value, labelled in Chinese) or a ``singleSymbol`` renderer, and an
        ``<aliases>`` section mapping every field to its Chinese label.
    """
    layer = _layer(layer)
    root = ET.Element("qgis", version=_QGIS_VERSION, styleCategories="AllStyleCategories")
    by, cats = _categories(layer)
    if by:
        renderer = ET.SubElement(
            root,
            "renderer-v2",
            type="categorizedSymbol",
            attr=by,
            symbollevels="0",
            enableorderby="0",
            forceraster="0",
            referencescale="-1",
        )
        categories = ET.SubElement(renderer, "categories")
        for i, (value, label, _) in enumerate(cats):
            ET.SubElement(categories, "category", type="string", value=value, label=label, symbol=str(i), render="true")
        symbols = ET.SubElement(renderer, "symbols")
        for i, (_, _, color) in enumerate(cats):
            _fill_symbol(symbols, str(i), color)
        source = ET.SubElement(renderer, "source-symbol")
        _fill_symbol(source, "0", "#999999")
    else:
        color, filled, width = _single(layer)
        renderer = ET.SubElement(
            root,
            "renderer-v2",
            type="singleSymbol",
            symbollevels="0",
            enableorderby="0",
            forceraster="0",
            referencescale="-1",
        )
        symbols = ET.SubElement(renderer, "symbols")
        _fill_symbol(symbols, "0", color, filled=filled, outline=color if not filled else _OUTLINE, width=width)
    aliases = ET.SubElement(root, "aliases")
    for i, f in enumerate(layer.fields):
        ET.SubElement(aliases, "alias", field=f.name, index=str(i), name=f.label)
    display = layer.popup[0] if layer.popup else layer.key_fields[0]
    ET.SubElement(root, "previewExpression").text = f'"{display}"'
    ET.SubElement(root, "layerGeometryType").text = "2"
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + body + "\n"


def _sld_symbolizer(
    rule: ET.Element, color: str, *, filled: bool = True, stroke: str = _OUTLINE, width: float = 1.0
) -> None:
    sym = ET.SubElement(rule, "se:PolygonSymbolizer")
    if filled:
        fill = ET.SubElement(sym, "se:Fill")
        ET.SubElement(fill, "se:SvgParameter", name="fill").text = color
    st = ET.SubElement(sym, "se:Stroke")
    ET.SubElement(st, "se:SvgParameter", name="stroke").text = stroke
    ET.SubElement(st, "se:SvgParameter", name="stroke-width").text = f"{width:g}"
    ET.SubElement(st, "se:SvgParameter", name="stroke-linejoin").text = "bevel"


def layer_sld(layer: Layer | str) -> str:
    """The SLD 1.1 (OGC Symbology Encoding) equivalent of :func:`layer_qml` (for GeoServer and QGIS)."""
    layer = _layer(layer)
    root = ET.Element(
        "StyledLayerDescriptor",
        {
            **_SLD_NS,
            "version": "1.1.0",
            "xsi:schemaLocation": "http://www.opengis.net/sld "
            "http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd",
        },
    )
    named = ET.SubElement(root, "NamedLayer")
    ET.SubElement(named, "se:Name").text = layer.name
    user = ET.SubElement(named, "UserStyle")
    ET.SubElement(user, "se:Name").text = layer.name
    fts = ET.SubElement(user, "se:FeatureTypeStyle")
    by, cats = _categories(layer)
    if by:
        for value, label, color in cats:
            rule = ET.SubElement(fts, "se:Rule")
            ET.SubElement(rule, "se:Name").text = label
            desc = ET.SubElement(rule, "se:Description")
            ET.SubElement(desc, "se:Title").text = label
            flt = ET.SubElement(rule, "ogc:Filter")
            eq = ET.SubElement(flt, "ogc:PropertyIsEqualTo")
            ET.SubElement(eq, "ogc:PropertyName").text = by
            ET.SubElement(eq, "ogc:Literal").text = value
            _sld_symbolizer(rule, color)
    else:
        color, filled, width = _single(layer)
        rule = ET.SubElement(fts, "se:Rule")
        ET.SubElement(rule, "se:Name").text = layer.label
        _sld_symbolizer(rule, color, filled=filled, stroke=color if not filled else _OUTLINE, width=width)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def layer_styles_frame(layers: list[str], *, geometry_column: str = "geom", owner: str = "landrenew") -> pd.DataFrame:
    """Rows of QGIS's ``layer_styles`` table for the given (spatial) layers, one default style each.

    Parameters
    ----------
    layers
        Layer names written to the GeoPackage.
    geometry_column
        The geometry column of those tables (pyogrio/GDAL write ``geom`` in GeoPackage).
    owner
        Value of the ``owner`` column.
    """
    now = pd.Timestamp(dt.datetime.now(dt.UTC)).floor("s")
    rows = []
    for name in layers:
        layer = get_layer(name)
        rows.append(
            {
                "f_table_catalog": "",
                "f_table_schema": "",
                "f_table_name": name,
                "f_geometry_column": geometry_column,
                "styleName": name,
                "styleQML": layer_qml(layer),
                "styleSLD": layer_sld(layer),
                "useAsDefault": True,
                "description": f"{layer.label}（landrenew 按图层注册表生成）",
                "owner": owner,
                "ui": "",
                "update_time": now,
            }
        )
    frame = pd.DataFrame(rows, columns=list(LAYER_STYLES_COLUMNS))
    frame["useAsDefault"] = frame["useAsDefault"].astype(bool)
    frame["update_time"] = pd.to_datetime(frame["update_time"], utc=True)
    return frame
