"""The layer registry: reads ``layers/*.yaml`` once and answers questions about layers and fields.

>>> from gis.schema import get_layer
>>> parcels = get_layer("parcels")
>>> parcels.key, parcels.field("supply_date").label
('parcel_id', '供地日期')
>>> parcels.resolve_header("宗地号")
'parcel_id'
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from layers import LAYERS_DIR

from .yaml_text import load_yaml

__all__ = ["Field", "Layer", "get_layer", "layer_names", "FIELD_TYPES", "normalize_header"]

FIELD_TYPES = {"str", "int", "float", "bool", "date", "timestamp", "ratio", "enum", "list"}


def number_text(value: float) -> str:
    """A number as a planner reads it: ``10,000,000``, ``0.5``."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"


def normalize_header(text: str) -> str:
    """Fold a column header for matching: NFKC (full-width -> half-width), lower case, no spaces/underscores."""
    text = unicodedata.normalize("NFKC", str(text)).strip().lower()
    return re.sub(r"[\s_\-（）()]+", "", text)


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    label: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    blank_ok: bool = False  # required column, but an empty cell is kept with a warning
    unique: bool = False
    values: tuple[str, ...] = ()
    value_labels: dict[str, str] = field(default_factory=dict)
    min: float | None = None
    exclusive_min: bool = False
    default: Any = None
    unit: str | None = None
    plausible_min: float | None = None  # outside [plausible_min, plausible_max]: rejected or flagged
    plausible_max: float | None = None
    plausible_action: str = "reject"  # reject | flag

    @property
    def plausible_text(self) -> str:
        """The plausible range in words: ``10 – 10,000,000``."""
        lo = "" if self.plausible_min is None else number_text(self.plausible_min)
        hi = "" if self.plausible_max is None else number_text(self.plausible_max)
        return f"{lo} – {hi}" if lo and hi else (f"不超过 {hi}" if hi else f"不小于 {lo}")

    def label_of(self, value: Any) -> str:
        """The Chinese label of an enum value (the value itself when it has none)."""
        if value is None:
            return ""
        return self.value_labels.get(value, str(value))


@dataclass(frozen=True)
class Layer:
    name: str
    label: str
    geometry: str | None
    key: str | tuple[str, ...]
    fields: tuple[Field, ...]
    output: bool = False
    append_only: bool = False
    style: dict = field(default_factory=dict)
    popup: tuple[str, ...] = ()
    checks: tuple[dict, ...] = ()  # plausible ranges of quotients of two fields (registry ``checks``)
    ledger_facts: tuple[str, ...] = ()  # columns of the Excel 台账 taken from the ledger (registry ``ledger_facts``)
    marks: dict = field(default_factory=dict)  # point marks drawn above the layer on the map (registry ``marks``)

    @property
    def is_spatial(self) -> bool:
        return self.geometry is not None

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def key_fields(self) -> tuple[str, ...]:
        return (self.key,) if isinstance(self.key, str) else tuple(self.key)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"layer {self.name!r} has no field {name!r}; fields: {self.field_names}")

    def fields_of_type(self, *types: str) -> list[str]:
        return [f.name for f in self.fields if f.type in types]

    def labels(self) -> dict[str, str]:
        """English field name -> Chinese label."""
        return {f.name: f.label for f in self.fields}

    @property
    def header_index(self) -> dict[str, str]:
        return _header_index(self.name)

    def resolve_header(self, header: str) -> str | None:
        """The field a source column header stands for (name, Chinese label or alias), or None.

        A trailing unit in brackets or a percent sign is ignored when the whole header is not known:
        ``出让面积（公顷）`` -> ``area_m2``, ``投资比例（%）`` -> ``invested_ratio``.
        """
        index = self.header_index
        found = index.get(normalize_header(header))
        if found is None:
            bare = re.sub(r"\s*([（(][^（()）]*[）)]|%)\s*$", "", str(header).strip())
            if bare != str(header).strip():
                found = index.get(normalize_header(bare))
        return found

    def color_of(self, value: Any) -> str:
        return self.style.get("colors", {}).get(value, "#999999")


def _rule_value(ref: str) -> Any:
    """``"renewal:deadline.default"`` -> that key of ``layers/rules/renewal.yaml`` (dates as YYYY-MM-DD)."""
    import datetime as dt

    from .rules import RULES_DIR

    kind, _, key = ref.partition(":")
    node: Any = load_yaml((RULES_DIR / f"{kind}.yaml").read_text(encoding="utf-8"))
    for part in key.split("."):
        node = node[part]
    return node.isoformat() if isinstance(node, dt.date) else node


def _field_from(raw: dict, values_of: dict[str, tuple[str, dict]] | None = None) -> Field:
    """A field; ``default_from_rules: kind:key`` takes the default from a rule file, ``values_from:
    layer.field`` the enum values (and labels) of another layer's field — one source for both."""
    values = raw.get("values") or ()
    if "values_from" in raw:
        values, labels = (values_of or {})[raw["values_from"]]
        values = dict(labels) if labels else list(values)
    value_labels: dict[str, str] = {}
    if isinstance(values, dict):
        value_labels = {str(k): str(v) for k, v in values.items()}
        values = tuple(value_labels)
    else:
        values = tuple(str(v) for v in values)
    ftype = raw["type"]
    if ftype not in FIELD_TYPES:
        raise ValueError(f"layers: field {raw['name']!r} has unknown type {ftype!r}; one of {sorted(FIELD_TYPES)}")
    return Field(
        name=raw["name"],
        type=ftype,
        label=raw.get("label", raw["name"]),
        aliases=tuple(raw.get("aliases") or ()),
        required=bool(raw.get("required", False)),
        blank_ok=bool(raw.get("blank_ok", False)),
        unique=bool(raw.get("unique", False)),
        values=values,
        value_labels=value_labels,
        min=raw.get("min"),
        exclusive_min=bool(raw.get("exclusive_min", False)),
        default=_rule_value(raw["default_from_rules"]) if "default_from_rules" in raw else raw.get("default"),
        unit=raw.get("unit"),
        plausible_min=(raw.get("plausible") or {}).get("min"),
        plausible_max=(raw.get("plausible") or {}).get("max"),
        plausible_action=_action((raw.get("plausible") or {}).get("action", "reject"), raw["name"]),
    )


def _action(value: str, name: str) -> str:
    if value not in ("reject", "flag"):
        raise ValueError(f"layers: field {name!r} plausible.action must be reject or flag, not {value!r}")
    return value


@cache
def _all_layers() -> dict[str, Layer]:
    layers = {}
    raws = [load_yaml(path.read_text(encoding="utf-8")) for path in sorted(LAYERS_DIR.glob("*.yaml"))]
    values_of: dict[str, tuple[str, dict]] = {}
    for raw in raws:  # enum fields others may refer to with values_from
        for f in raw["fields"]:
            if "values_from" not in f and f.get("values"):
                own = _field_from(f)
                values_of[f"{raw['name']}.{f['name']}"] = (own.values, own.value_labels)
    for raw in raws:
        key = raw["key"]
        layer = Layer(
            name=raw["name"],
            label=raw["label"],
            geometry=raw.get("geometry"),
            key=key if isinstance(key, str) else tuple(key),
            fields=tuple(_field_from(f, values_of) for f in raw["fields"]),
            output=bool(raw.get("output", False)),
            append_only=bool(raw.get("append_only", False)),
            style=raw.get("style") or {},
            popup=tuple(raw.get("popup") or ()),
            checks=tuple(raw.get("checks") or ()),
            ledger_facts=tuple(raw.get("ledger_facts") or ()),
            marks=raw.get("marks") or {},
        )
        layers[layer.name] = layer
    return layers


@cache
def _header_index(name: str) -> dict[str, str]:
    layer = _all_layers()[name]
    index: dict[str, str] = {}
    for f in layer.fields:
        for header in (f.name, f.label, *f.aliases):
            index.setdefault(normalize_header(header), f.name)
    return index


def layer_names(*, outputs: bool | None = None) -> list[str]:
    """All layer names (``outputs=False``: inputs only; ``True``: outputs only)."""
    return [n for n, layer in _all_layers().items() if outputs is None or layer.output == outputs]


def get_layer(name: str) -> Layer:
    """The definition of a layer; a clear error names the known layers."""
    layers = _all_layers()
    if name not in layers:
        from .errors import LandRenewError

        raise LandRenewError(
            f"未知图层 “{name}”", detail=f"unknown layer {name!r}", fix=f"可用图层：{', '.join(layers)}"
        )
    return layers[name]
