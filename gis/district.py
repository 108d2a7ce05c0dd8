"""The area a deployment works on: the rule file ``layers/rules/district.yaml`` (name and lon/lat extent).

The ingest checks every file and row against this extent.  ``$LANDRENEW_DISTRICT`` names another file (a city
or province deployment's own copy); :func:`parse_extent` reads an ``--extent`` given on the command line.

>>> d = district()
>>> d.name, d.extent
('柯桥区', (120.0, 29.4, 121.1, 30.6))
>>> parse_extent("118,27,123,31.5")
(118.0, 27.0, 123.0, 31.5)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import LandRenewError, RuleFileError
from .rules import RULES_DIR, load_rules

__all__ = ["District", "district", "parse_extent", "extent_name", "DISTRICT_ENV", "SPEC"]

DISTRICT_ENV = "LANDRENEW_DISTRICT"

SPEC = {
    "name": ("str", None),
    "extent.min_lon": ("float", (-180, 180)),
    "extent.min_lat": ("float", (-90, 90)),
    "extent.max_lon": ("float", (-180, 180)),
    "extent.max_lat": ("float", (-90, 90)),
}

Extent = tuple[float, float, float, float]


@dataclass(frozen=True)
class District:
    """A validated district file: ``extent`` is (min_lon, min_lat, max_lon, max_lat) in CGCS2000 degrees."""

    name: str
    extent: Extent
    version: str
    path: str


_CACHE: dict[tuple[str, int], District] = {}


def _checked(extent: tuple[float, ...], where: str, fix: str, error=LandRenewError) -> Extent:
    if len(extent) != 4:
        raise error(f"{where} 应为 4 个数：最小经度,最小纬度,最大经度,最大纬度", detail=f"{extent!r}", fix=fix)
    lo_x, lo_y, hi_x, hi_y = (float(v) for v in extent)
    if not (-180 <= lo_x < hi_x <= 180 and -90 <= lo_y < hi_y <= 90):
        raise error(
            f"{where} 的范围 {lo_x},{lo_y},{hi_x},{hi_y} 无效：最小值应小于最大值，经度在 ±180、纬度在 ±90 之内",
            detail=f"invalid extent {extent!r}",
            fix=fix,
        )
    return lo_x, lo_y, hi_x, hi_y


def district(path: str | os.PathLike | None = None) -> District:
    """The district of ``path``, else ``$LANDRENEW_DISTRICT``, else ``layers/rules/district.yaml`` (cached until
    the file changes)."""
    path = Path(path or os.environ.get(DISTRICT_ENV) or RULES_DIR / "district.yaml")
    key = (str(path), path.stat().st_mtime_ns if path.exists() else 0)
    if key in _CACHE:
        return _CACHE[key]
    rules = load_rules("district", path, spec=SPEC)
    extent = _checked(
        tuple(rules[f"extent.{k}"] for k in ("min_lon", "min_lat", "max_lon", "max_lat")),
        f"规则文件 {path} 的 extent",
        "改正 extent 的 min_lon、min_lat、max_lon、max_lat",
        RuleFileError,
    )
    out = District(name=rules["name"], extent=extent, version=rules.version, path=str(path))
    _CACHE[key] = out
    return out


def parse_extent(text: str) -> Extent:
    """``"118,27,123,31.5"`` (min_lon,min_lat,max_lon,max_lat) -> a checked extent."""
    fix = "例如 --extent 118,27,123,31.5（浙江省）"
    try:
        values = tuple(float(v) for v in str(text).replace("，", ",").split(","))
    except ValueError:
        raise LandRenewError(f"范围“{text}”不是 4 个数", detail=f"--extent {text!r}", fix=fix) from None
    return _checked(values, f"范围“{text}”", fix)


def extent_name(extent: Extent | None = None) -> str:
    """How messages name the area checked: the district's (``"柯桥区范围"``) or a given extent's.

    >>> extent_name(), extent_name((118.0, 27.0, 123.0, 31.5))
    ('柯桥区范围', '研判范围（经度 118.0–123.0、纬度 27.0–31.5）')
    """
    if extent is None:
        return f"{district().name}范围"
    lo_x, lo_y, hi_x, hi_y = extent
    return f"研判范围（经度 {lo_x}–{hi_x}、纬度 {lo_y}–{hi_y}）"
