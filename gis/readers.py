"""Read source files of any supported format into a raw frame (values as they are in the file).

Vector: GeoPackage, Shapefile (loose or zipped, one or several), GeoJSON, Esri FileGDB (a ``.gdb`` folder or a
zipped one, GDAL's OpenFileGDB driver), KML/KMZ (GDAL's LIBKML driver); tables: CSV (with a WKT column for
geometry), Excel .xlsx/.xlsm, legacy .xls, WPS .et and OpenDocument .ods (all through python-calamine, which
detects the real format from the bytes, so an .et — an .xls under another name — reads as one).

A Shapefile's DBF without a ``.cpg`` is decoded by the code page its language-driver byte (offset 29) names
when it names one (0x4D/0x7A GBK, 0x4F/0x78 Big5, ...); without one (0x00, or 0x57 "the system's ANSI code
page", which is GBK on Chinese Windows) its bytes decide: UTF-8 when valid UTF-8, else GB18030 (the superset
of GBK that Chinese desktop GIS writes) — detected, not guessed from the platform.

Every row carries the number a person finds it by: the Excel row (title and header rows counted) for a sheet,
the line for a CSV, the feature id (FID, as QGIS shows it) for a vector layer.
"""

from __future__ import annotations

import contextlib
import csv
import io
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from .errors import InputFileError

__all__ = [
    "RawSource",
    "read_source",
    "detect_dbf_encoding",
    "dbf_language_driver",
    "VECTOR_SUFFIXES",
    "TABLE_SUFFIXES",
    "EXCEL_SUFFIXES",
    "list_sheets",
]

EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".et", ".ods"}
VECTOR_SUFFIXES = {".gpkg", ".shp", ".geojson", ".json", ".zip", ".gdb", ".kml", ".kmz"}
TABLE_SUFFIXES = {".csv"} | EXCEL_SUFFIXES
WKT_HEADERS = ("wkt", "geometry", "geom", "the_geom", "几何", "图形")
_POLY = {
    "Polygon",
    "MultiPolygon",
    "Polygon Z",
    "MultiPolygon Z",
    "3D Polygon",
    "3D MultiPolygon",
    "MultiSurface",
    "CurvePolygon",
}

#: DBF language-driver ids (byte 29) -> Python codec, as GDAL's Shapefile driver maps them (LDID/nn).
#: 0x57 (87) means "the system's ANSI code page": not a code page, so the bytes decide.
LDID_CODECS = {
    0x01: "cp437",
    0x02: "cp850",
    0x03: "cp1252",
    0x4D: "cp936",
    0x4E: "cp949",
    0x4F: "cp950",
    0x50: "cp874",
    0x58: "cp1252",
    0x59: "cp1252",
    0x64: "cp852",
    0x65: "cp866",
    0x78: "cp950",
    0x79: "cp949",
    0x7A: "cp936",
    0x7B: "cp932",
    0x7C: "cp874",
    0xC8: "cp1250",
    0xC9: "cp1251",
}
_LDID_LABEL = {"cp936": "GBK/936", "cp950": "Big5/950", "cp949": "韩文/949", "cp932": "日文/932"}


_KML_COLUMNS = (
    "id",
    "Name",
    "description",
    "timestamp",
    "begin",
    "end",
    "altitudeMode",
    "tessellate",
    "extrude",
    "visibility",
    "drawOrder",
    "icon",
    "snippet",
)


@dataclass
class RawSource:
    """A file as read: raw columns (headers as in the file), geometry if any, and notes for the report."""

    path: Path
    frame: pd.DataFrame
    crs: object | None = None
    has_geometry: bool = False
    notes: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # column -> original header text
    row_numbers: np.ndarray | None = None  # per row: Excel row / CSV line / feature id
    row_files: np.ndarray | None = None  # per row: the file (and sheet) it came from
    skipped: list[tuple[str, int, str]] = field(default_factory=list)  # (file, row, why) not data
    units: dict[str, dict[str, str]] = field(default_factory=dict)  # file -> {"money": "万元", "area": "亩"}
    ignored_columns: list[str] = field(default_factory=list)
    header_rows: dict[str, str] = field(default_factory=dict)  # file -> where the header was found
    is_table: bool = False

    @property
    def name(self) -> str:
        return self.path.name

    def numbers(self) -> np.ndarray:
        if self.row_numbers is not None:
            return self.row_numbers
        return np.arange(len(self.frame)) + (2 if self.is_table else 0)

    def files(self) -> np.ndarray:
        if self.row_files is not None:
            return self.row_files
        return np.full(len(self.frame), self.path.name, dtype=object)


# ------------------------------------------------------------------------------------------------ DBF
def dbf_language_driver(dbf: Path) -> int:
    """The language-driver id of a DBF (byte 29 of the header), 0 when unset."""
    with open(dbf, "rb") as fh:
        head = fh.read(32)
    return head[29] if len(head) > 29 else 0


def detect_dbf_encoding(dbf: Path) -> str:
    """``UTF-8`` when the DBF's field names and records decode as UTF-8, else ``GB18030``.

    The field names count: a layer whose values are all ASCII (codes, numbers) may still have Chinese names.
    """
    data = Path(dbf).read_bytes()
    header_len = int.from_bytes(data[8:10], "little")
    names = b"".join(data[i : i + 11].split(b"\0", 1)[0] for i in range(32, max(header_len - 1, 32), 32))
    try:
        names.decode("utf-8")
        data[header_len:].decode("utf-8")
        return "UTF-8"
    except UnicodeDecodeError:
        return "GB18030"


def _shapefile_encoding(path: Path) -> tuple[str | None, str | None]:
    """(encoding, note) for a .shp without .cpg; (None, None) when a .cpg says it."""
    stem = path.with_suffix("")
    if any(Path(f"{stem}{s}").exists() for s in (".cpg", ".CPG")):
        return None, None
    dbf = next((Path(f"{stem}{s}") for s in (".dbf", ".DBF") if Path(f"{stem}{s}").exists()), None)
    if dbf is None:
        return None, None
    ldid = dbf_language_driver(dbf)
    codec = LDID_CODECS.get(ldid)
    if codec:
        label = _LDID_LABEL.get(codec, codec)
        return codec, (f"{path.name} 没有 .cpg 编码文件，按 DBF 语言驱动字节 0x{ldid:02X}（{label}）读取属性表")
    enc = detect_dbf_encoding(dbf)
    return enc, f"{path.name} 没有 .cpg 编码文件，已按内容识别为 {enc} 编码读取属性表"


# ------------------------------------------------------------------------------------------------ vector
def _layers_of(path: Path) -> list[tuple[str, str]]:
    try:
        return [(str(n), str(t)) for n, t in pyogrio.list_layers(path)]
    except Exception as exc:
        raise InputFileError(
            f"无法打开文件 {path.name}：{exc}",
            detail=f"{path}: {exc}",
            fix="确认文件完整；FileGDB 应为整个 .gdb 文件夹（或其 zip）",
        ) from exc


def _read_one(path: Path, *, layer: str | None, encoding: str | None, label: str | None = None) -> RawSource:
    notes: list[str] = []
    kwargs = {}
    if path.suffix.lower() == ".shp" and encoding is None:
        encoding, note = _shapefile_encoding(path)
        if note:
            notes.append(note.replace(path.name, label or path.name, 1))
    if encoding:
        kwargs["encoding"] = encoding
    kml = path.suffix.lower() == ".kml"
    if kml:
        kwargs["force_2d"] = True  # KML coordinates carry an altitude (0 when drawn on the map)
    try:
        # Arrow is much faster; a forced attribute encoding goes through GDAL's classic reader
        frame = pyogrio.read_dataframe(
            path, layer=layer, use_arrow="encoding" not in kwargs, fid_as_index=True, **kwargs
        )
    except Exception as exc:
        text = str(exc)
        if "not encoded in UTF-8" in text or "codec can't decode" in text:
            raise InputFileError(
                f"{label or path.name} 的属性表文字编码无法识别",
                detail=f"{path}: {exc}",
                fix="在 Shapefile 旁放一个内容为 GBK 或 UTF-8 的 .cpg 文件，或用 --encoding 指定",
            ) from exc
        raise InputFileError(
            f"无法读取文件 {label or path.name}：{exc}",
            detail=f"{path}: {exc}",
            fix="确认文件完整、格式为 GeoPackage/Shapefile/GeoJSON/FileGDB/KML；Shapefile 需 .shp/.shx/.dbf 齐全",
        ) from exc
    fids = np.asarray(frame.index, dtype=np.int64)
    frame = frame.reset_index(drop=True)
    if kml:  # LIBKML's own columns, unless they say something
        empty = [
            c
            for c in _KML_COLUMNS
            if c in frame.columns and (frame[c].isna().all() or c not in ("Name", "description"))
        ]
        frame = frame.drop(columns=empty)
    has_geom = isinstance(frame, gpd.GeoDataFrame) and (
        len(frame) == 0 or not shapely.is_missing(frame.geometry.to_numpy()).all()
    )
    crs = frame.crs if isinstance(frame, gpd.GeoDataFrame) else None
    name = label or path.name
    return RawSource(
        path,
        frame,
        crs=crs,
        has_geometry=bool(has_geom),
        notes=notes,
        headers={c: c for c in frame.columns if c != "geometry"},
        row_numbers=fids,
        row_files=np.full(len(frame), name, dtype=object),
    )


def _concat(path: Path, parts: list[RawSource], what: str) -> RawSource:
    """Several layers/files of the same shape read as one (one per town is common)."""
    if len(parts) == 1:
        return parts[0]
    cols = [tuple(c for c in p.frame.columns if c != "geometry") for p in parts]
    if len(set(cols)) > 1:
        listing = "；".join(f"{p.files()[0] if len(p.frame) else p.name}：{'、'.join(c)}" for p, c in zip(parts, cols))
        raise InputFileError(
            f"{path.name} 中有 {len(parts)} 个{what}，属性列不同，无法合并：{listing}",
            detail=f"{path}: {len(parts)} layers with different columns",
            fix="用 --layer 指定要导入的图层，或把不同的图层分开压缩",
        )
    crss = {str(p.crs) for p in parts}
    if len(crss) > 1:
        raise InputFileError(
            f"{path.name} 中的{what}坐标系不一致，无法合并",
            detail=f"{path}: CRSs {crss}",
            fix="统一坐标系后重新压缩，或用 --layer 指定一个图层",
        )
    frame = pd.concat([p.frame for p in parts], ignore_index=True)
    frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=parts[0].crs)
    names = [p.files()[0] if len(p.frame) else p.name for p in parts]
    notes = [n for p in parts for n in p.notes]
    counts = "、".join(f"{n} {len(p.frame)} 行" for n, p in zip(names, parts))
    notes.append(f"{path.name}：合并读取了 {len(parts)} 个{what}（{counts}）")
    return RawSource(
        path,
        frame,
        crs=parts[0].crs,
        has_geometry=True,
        notes=notes,
        headers={c: c for c in frame.columns if c != "geometry"},
        row_numbers=np.concatenate([p.numbers() for p in parts]),
        row_files=np.concatenate([p.files() for p in parts]),
    )


def _choose_layers(
    path: Path, layers: list[tuple[str, str]], *, layer: str | None, prefer: Callable[[str], bool] | None
) -> list[str]:
    """The layer(s) of a multi-layer dataset to read: the named one, else the polygon layers."""
    names = [n for n, _ in layers]
    if layer is not None:
        if layer not in names:
            raise InputFileError(
                f"{path.name} 中没有图层“{layer}”",
                detail=f"{path}: layers {names}",
                fix=f"可用图层：{'、'.join(names)}",
            )
        return [layer]
    if len(layers) == 1:
        return names
    poly = [n for n, t in layers if t in _POLY or "Polygon" in t]
    if prefer is not None:
        liked = [n for n in poly if prefer(n)]
        if len(liked) == 1:
            return liked
    return poly or names


def _read_multi(
    path: Path, *, layer: str | None, encoding: str | None, what: str, prefer: Callable[[str], bool] | None = None
) -> RawSource:
    layers = _layers_of(path)
    chosen = _choose_layers(path, layers, layer=layer, prefer=prefer)
    parts = [
        _read_one(path, layer=n, encoding=encoding, label=f"{path.name}[{n}]" if len(layers) > 1 else None)
        for n in chosen
    ]
    parts = [p for p in parts if len(p.frame)] or parts[:1]
    src = _concat(path, parts, what)
    if len(layers) > 1 and len(chosen) == 1:
        src.notes.append(
            f"{path.name} 有 {len(layers)} 个图层（{'、'.join(n for n, _ in layers)}），读取了面图层“{chosen[0]}”"
        )
    return src


@contextlib.contextmanager
def _unzipped(path: Path) -> Iterator[Path]:
    """The zip unpacked (checked first: no unsafe names, size limit) into a private temporary folder that is
    removed once the layers are read (they are read into memory)."""
    from .archives import safe_extract

    with tempfile.TemporaryDirectory(prefix="landrenew-unzip-") as tmp:
        yield safe_extract(path, Path(tmp))


def _read_zip(
    path: Path, *, layer: str | None, encoding: str | None, prefer: Callable[[str], bool] | None
) -> RawSource:
    with _unzipped(path) as root:
        return _read_unzipped(path, root, layer=layer, encoding=encoding, prefer=prefer)


def _read_unzipped(
    path: Path, root: Path, *, layer: str | None, encoding: str | None, prefer: Callable[[str], bool] | None
) -> RawSource:
    gdbs = sorted(p for p in root.rglob("*") if p.is_dir() and p.suffix.lower() == ".gdb")
    shps = sorted(p for p in root.rglob("*") if p.suffix.lower() == ".shp" and "__MACOSX" not in p.parts)
    kmls = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".kml", ".geojson", ".gpkg"))
    if gdbs:
        src = _read_multi(gdbs[0], layer=layer, encoding=encoding, what="图层", prefer=prefer)
        src.notes.append(f"{path.name}：读取其中的 FileGDB {gdbs[0].name}")
        return _relabel(src, path, gdbs[0].name)
    if shps:
        if layer is not None:
            shps = [p for p in shps if p.stem == layer] or _no_layer(path, layer, [p.stem for p in shps])
        parts = [_read_one(p, layer=None, encoding=encoding, label=f"{path.name}/{p.relative_to(root)}") for p in shps]
        poly = [p for p in parts if len(p.frame) and _is_polygonal(p.frame)]
        if len(parts) > 1 and poly and len(poly) < len(parts):
            skipped = [p.files()[0] for p in parts if p not in poly and len(p.frame)]
            for p in poly:
                p.notes.append(f"{path.name}：只读取面图层，未读取 {'、'.join(skipped)}")
            parts = poly
        if len(parts) > 1 and prefer is not None:
            liked = [p for p in parts if prefer(Path(p.files()[0] if len(p.frame) else p.name).stem)]
            if len(liked) == 1:
                parts = liked
        src = _concat(path, parts, "Shapefile")
        src.path = path
        return src
    if kmls:
        src = read_source(kmls[0], layer=layer, encoding=encoding)
        return _relabel(src, path, kmls[0].name)
    raise InputFileError(
        f"压缩文件 {path.name} 中没有可读取的图层（.shp/.gdb/.kml/.gpkg/.geojson）",
        detail=f"{path}: no layer inside",
        fix="压缩包内应包含 .shp 及其 .shx/.dbf/.prj 等文件",
    )


def _no_layer(path: Path, layer: str, names: list[str]):
    raise InputFileError(
        f"{path.name} 中没有图层“{layer}”", detail=f"{path}: layers {names}", fix=f"可用图层：{'、'.join(names)}"
    )


def _relabel(src: RawSource, path: Path, inner: str) -> RawSource:
    src.row_files = np.array(
        [f"{path.name}/{f}" if not str(f).startswith(path.name) else f for f in src.files()], dtype=object
    )
    src.path = path
    return src


def _is_polygonal(frame: pd.DataFrame) -> bool:
    if not isinstance(frame, gpd.GeoDataFrame):
        return False
    kinds = set(frame.geometry.dropna().geom_type.unique())
    return bool(kinds) and kinds <= {"Polygon", "MultiPolygon"}


def _read_vector(
    path: Path, *, layer: str | None, encoding: str | None, prefer: Callable[[str], bool] | None = None
) -> RawSource:
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return _read_zip(path, layer=layer, encoding=encoding, prefer=prefer)
    if suffix == ".kmz":
        with _unzipped(path) as root:
            kml = sorted(root.rglob("*.kml"))
            if not kml:
                raise InputFileError(
                    f"{path.name} 中没有 .kml 文件",
                    detail=f"{path}: no kml inside",
                    fix="在奥维/Google Earth 中重新导出 KMZ 或 KML",
                )
            return _relabel(
                _read_multi(kml[0], layer=layer, encoding=encoding, what="文件夹", prefer=prefer), path, kml[0].name
            )
    if suffix in (".gdb", ".kml", ".gpkg"):
        what = {".gdb": "图层", ".kml": "文件夹", ".gpkg": "图层"}[suffix]
        return _read_multi(path, layer=layer, encoding=encoding, what=what, prefer=prefer)
    return _read_one(path, layer=layer, encoding=encoding)


# ------------------------------------------------------------------------------------------------ tables
def _csv_rows(path: Path) -> list[list[str | None]]:
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputFileError(f"无法识别 {path.name} 的文字编码", fix="另存为 UTF-8 编码的 CSV")
    return [[c if c != "" else None for c in row] for row in csv.reader(io.StringIO(text, newline=""))]


def list_sheets(path: str | Path) -> list[str]:
    """The sheet names of an Excel/WPS/OpenDocument workbook."""
    from python_calamine import CalamineWorkbook

    with open(path, "rb") as fh:
        return list(CalamineWorkbook.from_filelike(fh).sheet_names)


def _excel_sheets(path: Path, sheet: str | int | None) -> list[tuple[str, list[list]]]:
    from python_calamine import CalamineWorkbook

    try:
        with open(path, "rb") as fh:
            wb = CalamineWorkbook.from_filelike(fh)  # the format from the bytes: an .et is an .xls
            names = list(wb.sheet_names)
            if sheet is None:
                visible = (
                    [s.name for s in wb.sheets_metadata if str(s.visible).lower().endswith("visible")]
                    if hasattr(wb, "sheets_metadata")
                    else names
                )
                chosen = [visible[0] if visible else names[0]]
            elif isinstance(sheet, str) and sheet.strip().lower() in ("all", "全部", "*"):
                chosen = names
            elif isinstance(sheet, int) or (isinstance(sheet, str) and sheet.isdigit() and sheet not in names):
                idx = int(sheet)
                if not 0 <= idx < len(names):
                    raise InputFileError(
                        f"{path.name} 没有第 {idx} 个工作表（共 {len(names)} 个：{'、'.join(names)}）",
                        fix="用 --sheet 指定正确的工作表名",
                    )
                chosen = [names[idx]]
            else:
                if sheet not in names:
                    raise InputFileError(
                        f"{path.name} 中没有工作表“{sheet}”",
                        detail=f"{path}: sheets {names}",
                        fix=f"用 --sheet 指定以下之一：{'、'.join(names)}，或 --sheet all 读取全部",
                    )
                chosen = [sheet]
            return [(n, wb.get_sheet_by_name(n).to_python(skip_empty_area=False)) for n in chosen]
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(
            f"无法读取表格文件 {path.name}：{exc}",
            detail=f"{path}: {exc}",
            fix="确认文件完整，格式为 .xlsx/.xls/.et/.ods（可在 Excel/WPS 中打开后另存为 .xlsx）",
        ) from exc


def _read_tables(path: Path, *, sheet: str | int | None, resolve: Callable[[str], str | None]) -> RawSource:
    from .sheets import find_table

    suffix = path.suffix.lower()
    sheets = [(None, _csv_rows(path))] if suffix == ".csv" else _excel_sheets(path, sheet)
    frames, numbers, files, skipped, notes = [], [], [], [], []
    units: dict[str, dict[str, str]] = {}
    header_rows: dict[str, str] = {}
    ignored: list[str] = []
    shape = None
    used = []
    for name, cells in sheets:
        label = path.name if name is None or len(sheets) == 1 and sheet is None else f"{path.name}[{name}]"
        table = find_table(cells, resolve)
        if len(sheets) > 1:
            cols = tuple(table.frame.columns)
            mapped = sum(1 for c in cols if resolve(c))
            if mapped == 0:
                notes.append(f"{label}：没有可对应的表头，未读取该工作表")
                continue
            if shape is None:
                shape = cols
            elif set(cols) != set(shape):
                notes.append(f"{label}：表头与第一个工作表不同，未读取该工作表（{'、'.join(cols)}）")
                continue
            table.frame = table.frame[list(shape)]
        frames.append(table.frame)
        numbers.append(table.row_numbers)
        files.append(np.full(len(table.frame), label, dtype=object))
        skipped.extend((label, r, why) for r, why in table.skipped)
        units[label] = table.units
        header_rows[label] = table.header_text
        ignored.extend(c for c in table.ignored_columns if c not in ignored)
        used.append(f"{label}（{len(table.frame)} 行）")
        if table.above:
            notes.append(
                f"{label}：表头在{table.header_text}，其上第 {table.above[0]}–{table.above[-1]} 行为标题/单位行，未作为数据"
            )
        elif len(table.header_rows) > 1:
            notes.append(f"{label}：表头在{table.header_text}")
    if len(sheets) > 1:
        notes.append(f"{path.name}：读取了 {len(used)} 个工作表：{'、'.join(used)}")
    if not frames:
        raise InputFileError(f"{path.name} 中没有可读取的工作表", fix="检查表头，或用 --sheet 指定工作表")
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    return RawSource(
        path,
        frame,
        crs=None,
        has_geometry=False,
        notes=notes,
        headers={c: c for c in frame.columns},
        row_numbers=np.concatenate(numbers),
        row_files=np.concatenate(files),
        skipped=skipped,
        units=units,
        ignored_columns=ignored,
        header_rows=header_rows,
        is_table=True,
    )


def _any_field(header: str) -> str | None:
    from .schema import get_layer, layer_names

    for n in layer_names(outputs=False):
        f = get_layer(n).resolve_header(header)
        if f:
            return f
    return None


def read_source(
    path: str | Path,
    *,
    layer: str | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
    resolve: Callable[[str], str | None] | None = None,
    prefer: Callable[[str], bool] | None = None,
) -> RawSource:
    """Read any supported source file.

    Parameters
    ----------
    path
        The file (a FileGDB is its ``.gdb`` folder).  ``.gpkg``/``.gdb``/``.kml`` may need ``layer`` when
        they hold several polygon layers of different shape.
    sheet
        The Excel sheet (name or index), ``"all"`` for every sheet of the same shape; the first by default.
    encoding
        Force the attribute encoding of a Shapefile (normally detected).
    resolve
        Header text -> field name of the target layer, used to find the header row of a sheet.
    prefer
        For a dataset with several polygon layers: a layer name the target layer matches (e.g. ``宗地``).
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"找不到文件 {path}", detail=f"no such file: {path}", fix="检查路径和文件名")
    suffix = path.suffix.lower()
    if suffix in VECTOR_SUFFIXES:
        return _read_vector(path, layer=layer, encoding=encoding, prefer=prefer)
    if suffix in TABLE_SUFFIXES:
        src = _read_tables(path, sheet=sheet, resolve=resolve or _any_field)
        frame = src.frame
        wkt_col = next((c for c in frame.columns if c.strip().lower() in WKT_HEADERS), None)
        if wkt_col is not None:
            text = frame[wkt_col].astype("string")
            geoms = shapely.from_wkt(text.fillna("").replace("", None).to_numpy(dtype=object), on_invalid="ignore")
            bad = text.notna() & (text.str.strip() != "") & pd.Series(shapely.is_missing(geoms), index=frame.index)
            frame = frame.drop(columns=[wkt_col])
            gdf = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, index=frame.index))
            gdf["__wkt_bad__"] = bad.to_numpy()
            src.frame, src.has_geometry = gdf, True
            src.headers = {c: c for c in frame.columns}
        return src
    raise InputFileError(
        f"不支持的文件格式 {path.name}",
        detail=f"unsupported format: {suffix}",
        fix="支持 .gpkg .shp .zip(Shapefile/FileGDB) .gdb .geojson .kml .kmz .csv(含 WKT 列) .xlsx .xls .et .ods",
    )
