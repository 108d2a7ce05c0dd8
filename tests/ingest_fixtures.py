"""Tiny source files for the ingest tests: a valid parcel ledger and ways to spoil it."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import shapely

# three small parcels in 柯桥街道 (EPSG:4490 lon/lat), ~100 m squares
CENTRES = [(120.49, 30.08), (120.50, 30.08), (120.51, 30.08)]


def square(x: float, y: float, d: float = 0.001) -> shapely.Polygon:
    return shapely.box(x - d / 2, y - d / 2, x + d / 2, y + d / 2)


def ledger_rows(n: int = 3) -> dict[str, list]:
    """Columns under their Chinese labels, as a bureau ledger has them."""
    return {
        "宗地编号": [f"KQ2020-{i:04d}" for i in range(1, n + 1)],
        "受让人": ["绍兴某某置业有限公司", "柯桥某某房地产开发有限公司", "浙江某某实业有限公司"][:n],
        "土地用途": ["住宅用地", "商服用地", "工业用地"][:n],
        "出让面积": [10000.0, 12000.5, 8000.0][:n],
        "供地日期": ["2020-01-15", "2020-02-15", "2020-03-15"][:n],
        "约定动工日期": ["2020-06-30", "2020-07-30", "2020-08-30"][:n],
        "约定竣工日期": ["2023-06-30", "2023-07-30", "2023-08-30"][:n],
        "出让价款(万元)": [5000.0, 6000.0, 1200.0][:n],
    }


def parcels_frame(n: int = 3, *, crs: str | None = "EPSG:4490") -> gpd.GeoDataFrame:
    geoms = [square(x, y) for x, y in CENTRES[:n]]
    return gpd.GeoDataFrame(ledger_rows(n), geometry=geoms, crs=crs)


def write(frame: gpd.GeoDataFrame, path: Path, **kwargs) -> Path:
    frame.to_file(path, **kwargs)
    return path


# ------------------------------------------------------------------------- sheets as bureaus fill them in
TITLE = "柯桥区2024年闲置存量土地台账"
HEADERS = ["宗地编号", "受让人", "土地用途", "出让面积", "供地日期", "约定动工日期", "约定竣工日期", "出让价款"]


def ledger_records(n: int = 3) -> list[list]:
    """Data rows in HEADERS order, numbers written as text with thousands separators as typed in WPS."""
    rows = ledger_rows(n)
    out = []
    for i in range(n):
        out.append(
            [
                rows["宗地编号"][i],
                rows["受让人"][i],
                rows["土地用途"][i],
                f"{rows['出让面积'][i]:,.1f}",
                rows["供地日期"][i],
                rows["约定动工日期"][i],
                rows["约定竣工日期"][i],
                f"{rows['出让价款(万元)'][i]:,.0f}",
            ]
        )
    return out


def titled_sheet(
    n: int = 3,
    *,
    unit_row: str = "填报单位：柯桥区自然资源分局        单位：万元、平方米",
    total: bool = True,
    blank_between: bool = True,
    footnote: bool = True,
) -> list[list]:
    """Rows of a titled 台账: title, unit row, header with 序号, data (a blank row inside), 合计, footnote."""
    width = len(HEADERS) + 1
    rows: list[list] = [[TITLE] + [None] * (width - 1), [unit_row] + [None] * (width - 1), ["序号", *HEADERS]]
    for i, rec in enumerate(ledger_records(n), start=1):
        rows.append([i, *rec])
        if blank_between and i == 1:
            rows.append([None] * width)
    if total:
        area = sum(ledger_rows(n)["出让面积"])
        price = sum(ledger_rows(n)["出让价款(万元)"])
        rows.append(["合计", None, None, None, f"{area:,.1f}", None, None, None, f"{price:,.0f}"])
    if footnote:
        rows.append(["填表人：张三    审核人：李四"] + [None] * (width - 1))
    return rows


def write_xlsx(
    rows: list[list],
    path: Path,
    *,
    sheet: str = "台账",
    merge_title: bool = True,
    merges: tuple[str, ...] = (),
    extra_sheets: dict[str, list[list]] | None = None,
) -> Path:
    """An .xlsx written with openpyxl, the title merged across the table as in a printed 台账."""
    import openpyxl
    from openpyxl.utils import get_column_letter

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for sheet_name, sheet_rows in [(sheet, rows), *(extra_sheets or {}).items()]:
        if sheet_name != sheet:
            ws = wb.create_sheet(sheet_name)
        for r in sheet_rows:
            ws.append(r)
        width = max(len(r) for r in sheet_rows)
        if merge_title:
            ws.merge_cells(f"A1:{get_column_letter(width)}1")
        for m in merges:
            ws.merge_cells(m)
    wb.save(path)
    return path


def write_xls(rows: list[list], path: Path, *, sheet: str = "台账") -> Path:
    """A legacy .xls (BIFF8) written with xlwt, as Excel 2003 / WPS save it; merged title row."""
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet(sheet)
    width = max(len(r) for r in rows)
    for i, r in enumerate(rows):
        if i == 0:
            ws.write_merge(0, 0, 0, width - 1, r[0])
            continue
        for j, v in enumerate(r):
            if v is not None:
                ws.write(i, j, v)
    wb.save(str(path))
    return path


def geometry_frame(ids: list[str], *, extra: dict | None = None, crs: str = "EPSG:4490") -> gpd.GeoDataFrame:
    """Polygons keyed by 宗地编号 (the i-th id on the i-th of a row of squares)."""
    geoms = [square(120.49 + 0.01 * i, 30.08) for i in range(len(ids))]
    return gpd.GeoDataFrame({"宗地编号": ids, **(extra or {})}, geometry=geoms, crs=crs)


def zip_folder(folder: Path, path: Path, *, arcroot: str = "") -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                zf.write(f, arcname=str(Path(arcroot) / f.relative_to(folder)))
    return path


def set_dbf_language_driver(dbf: Path, ldid: int) -> None:
    data = bytearray(dbf.read_bytes())
    data[29] = ldid
    dbf.write_bytes(bytes(data))


def write_ods(rows: list[list], path: Path, *, sheet: str = "台账") -> Path:
    """A minimal OpenDocument spreadsheet (as LibreOffice/WPS save it: a zip of content.xml), text cells as
    strings and numbers as floats; the title cell spans the table (number-columns-spanned)."""
    import zipfile
    from xml.sax.saxutils import escape

    width = max(len(r) for r in rows)

    def cell(v, span=1):
        attr = f' table:number-columns-spanned="{span}"' if span > 1 else ""
        if v is None:
            return "<table:table-cell/>"
        if isinstance(v, (int, float)):
            return (
                f'<table:table-cell office:value-type="float" office:value="{v}"{attr}>'
                f"<text:p>{v}</text:p></table:table-cell>"
            )
        return (
            f'<table:table-cell office:value-type="string"{attr}><text:p>{escape(str(v))}</text:p></table:table-cell>'
        )

    body = []
    for i, r in enumerate(rows):
        if i == 0:
            cells = cell(r[0], width) + "<table:covered-table-cell/>" * (width - 1)
        else:
            cells = "".join(cell(v) for v in list(r) + [None] * (width - len(r)))
        body.append(f"<table:table-row>{cells}</table:table-row>")
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="{escape(sheet)}">{"".join(body)}'
        "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
        zf.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return path
