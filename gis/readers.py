"""Read source files of any supported format into a raw frame (values as they are in the file).

GeoPackage, Shapefile, GeoJSON (pyogrio), CSV with a WKT column, and Excel ledgers (.xlsx, openpyxl).
A Shapefile whose DBF has no ``.cpg`` is decoded as UTF-8 when its bytes are valid UTF-8, else as GB18030
(the superset of GBK that Chinese desktop GIS writes) — detected, not guessed from the platform.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from .errors import InputFileError

__all__ = ["RawSource", "read_source", "detect_dbf_encoding", "VECTOR_SUFFIXES", "TABLE_SUFFIXES"]

VECTOR_SUFFIXES = {".gpkg", ".shp", ".geojson", ".json", ".zip"}
TABLE_SUFFIXES = {".csv", ".xlsx", ".xlsm"}
WKT_HEADERS = ("wkt", "geometry", "geom", "the_geom", "几何", "图形")


@dataclass
class RawSource:
    """A file as read: raw columns (headers as in the file), geometry if any, and notes for the report."""

    path: Path
    frame: pd.DataFrame
    crs: object | None = None
    has_geometry: bool = False
    notes: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # column -> original header text


def detect_dbf_encoding(dbf: Path) -> str:
    """``UTF-8`` when the DBF's records decode as UTF-8, else ``GB18030``."""
    data = dbf.read_bytes()
    header_len = int.from_bytes(data[8:10], "little")
    body = data[header_len:]
    try:
        body.decode("utf-8")
        return "UTF-8"
    except UnicodeDecodeError:
        return "GB18030"


def _read_vector(path: Path, *, layer: str | None, encoding: str | None) -> RawSource:
    notes: list[str] = []
    kwargs = {}
    if path.suffix.lower() == ".shp":
        dbf = path.with_suffix(".dbf")
        if not dbf.exists():
            dbf = path.with_suffix(".DBF")
        cpg = path.with_suffix(".cpg")
        if encoding is None and dbf.exists() and not cpg.exists() and not path.with_suffix(".CPG").exists():
            encoding = detect_dbf_encoding(dbf)
            notes.append(f"{path.name} 没有 .cpg 编码文件，已按内容识别为 {encoding} 编码读取属性表")
    if encoding:
        kwargs["encoding"] = encoding
    try:
        # Arrow is much faster; a forced attribute encoding goes through GDAL's classic reader
        frame = pyogrio.read_dataframe(path, layer=layer, use_arrow="encoding" not in kwargs, **kwargs)
    except Exception as exc:
        raise InputFileError(f"无法读取文件 {path.name}：{exc}", detail=f"{path}: {exc}",
                             fix="确认文件完整、格式为 GeoPackage/Shapefile/GeoJSON；Shapefile 需 .shp/.shx/.dbf 齐全") from exc
    has_geom = isinstance(frame, gpd.GeoDataFrame) and (
        len(frame) == 0 or not shapely.is_missing(frame.geometry.to_numpy()).all())
    crs = frame.crs if isinstance(frame, gpd.GeoDataFrame) else None
    return RawSource(path, frame, crs=crs, has_geometry=bool(has_geom), notes=notes,
                     headers={c: c for c in frame.columns if c != "geometry"})


def _read_csv(path: Path) -> pd.DataFrame:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return pd.read_csv(path, dtype=object, encoding=enc, keep_default_na=False, na_values=[""])
        except UnicodeDecodeError:
            continue
    raise InputFileError(f"无法识别 {path.name} 的文字编码", fix="另存为 UTF-8 编码的 CSV")


def _read_excel(path: Path, *, sheet: str | int | None) -> pd.DataFrame:
    try:
        return pd.read_excel(path, sheet_name=sheet if sheet is not None else 0, dtype=object, engine="openpyxl")
    except ValueError as exc:
        raise InputFileError(f"无法读取 {path.name} 的工作表 {sheet}：{exc}", detail=str(exc),
                             fix="用 --sheet 指定正确的工作表名") from exc
    except Exception as exc:
        raise InputFileError(f"无法读取 Excel 文件 {path.name}：{exc}", detail=str(exc),
                             fix="确认文件为 .xlsx 格式（不支持旧版 .xls，请另存为 .xlsx）") from exc


def read_source(path: str | Path, *, layer: str | None = None, sheet: str | int | None = None,
                encoding: str | None = None) -> RawSource:
    """Read any supported source file.

    Parameters
    ----------
    path
        The file.  ``.gpkg`` may need ``layer`` when it holds several.
    sheet
        The Excel sheet (name or index); the first by default.
    encoding
        Force the attribute encoding of a Shapefile (normally detected).
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"找不到文件 {path}", detail=f"no such file: {path}", fix="检查路径和文件名")
    suffix = path.suffix.lower()
    if suffix in VECTOR_SUFFIXES:
        return _read_vector(path, layer=layer, encoding=encoding)
    if suffix in TABLE_SUFFIXES:
        frame = _read_csv(path) if suffix == ".csv" else _read_excel(path, sheet=sheet)
        frame.columns = [str(c).strip() for c in frame.columns]
        frame = frame.dropna(how="all").reset_index(drop=True) if suffix != ".csv" else frame
        wkt_col = next((c for c in frame.columns if c.strip().lower() in WKT_HEADERS), None)
        if wkt_col is not None:
            text = frame[wkt_col].astype("string")
            geoms = shapely.from_wkt(text.fillna("").replace("", None).to_numpy(dtype=object), on_invalid="ignore")
            bad = text.notna() & (text.str.strip() != "") & pd.Series(shapely.is_missing(geoms), index=frame.index)
            frame = frame.drop(columns=[wkt_col])
            gdf = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, index=frame.index))
            gdf["__wkt_bad__"] = bad.to_numpy()
            return RawSource(path, gdf, crs=None, has_geometry=True,
                             headers={c: c for c in frame.columns})
        return RawSource(path, frame, crs=None, has_geometry=False, headers={c: c for c in frame.columns})
    raise InputFileError(f"不支持的文件格式 {path.name}", detail=f"unsupported format: {suffix}",
                         fix="支持 .gpkg .shp .geojson .csv(含 WKT 列) .xlsx")
