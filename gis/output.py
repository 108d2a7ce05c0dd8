"""Write an output layer to a file whose format follows the extension (.gpkg, .geojson, .csv)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from .errors import LandRenewError
from .frames import conform, encode_lists
from .schema import get_layer

__all__ = ["write_layer_file"]


def write_layer_file(frame: pd.DataFrame, layer_name: str, path: Path) -> Path:
    """Write ``frame`` (a contract layer) to ``path``; lists become JSON text (arrays in GeoJSON)."""
    layer = get_layer(layer_name)
    frame = conform(frame, layer)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".geojson":
        from .export import to_geojson  # RFC 7946, lists as real arrays

        to_geojson(frame, path, layer)
    elif suffix == ".gpkg":
        from .export import GPKG_VERSION  # a version older desktop GIS (GDAL 3.6) read without a warning

        kwargs = {"promote_to_multi": True} if layer.is_spatial else {}
        if not path.exists():
            kwargs["dataset_options"] = {"VERSION": GPKG_VERSION}
        pyogrio.write_dataframe(encode_lists(frame, layer), path, layer=layer_name, driver="GPKG", **kwargs)
    elif suffix == ".csv":
        out = pd.DataFrame(encode_lists(frame, layer))
        if isinstance(frame, gpd.GeoDataFrame):
            out = out.drop(columns=frame.geometry.name)
            out["wkt"] = frame.geometry.to_wkt(rounding_precision=7)
        from .cells import safe_frame  # text such as "=..." must not become a formula in Excel/WPS

        safe_frame(out).to_csv(path, index=False, encoding="utf-8-sig")
    else:
        raise LandRenewError(
            f"不支持的输出格式 {path.name}",
            detail=f"unsupported output format {suffix!r}",
            fix="输出文件以 .gpkg、.geojson 或 .csv 结尾",
        )
    return path
