"""Find the table in a sheet as bureaus fill it in: title rows, a 单位 row, one- or two-row headers, a 序号
column, blank separator rows, 合计/小计 rows and footnotes.

The header is the row (or pair of rows) among the first :data:`SCAN_ROWS` whose cells name the most fields of
the registry layer.  In a two-row header a group cell merged over several columns (``约定日期`` over ``动工`` /
``竣工``) is carried to the right over its sub-columns, and a column whose cell is merged over both rows keeps
its one name.  Rows below the header that are not data are *skipped* (reported with their row number and why,
not rejected): blank rows between data rows, 合计/小计/总计 rows, a repeated header row and 注/填表人 footnotes.
Row numbers are the numbers Excel shows (1-based, title rows counted).

>>> cells = [["柯桥区2024年闲置存量土地台账", None, None], ["单位：万元、亩", None, None],
...          ["序号", "宗地编号", "出让价款"], [1, "KQ-1", "1,200"], [None, None, None], ["合计", None, "1,200"]]
>>> from gis.schema import get_layer
>>> t = find_table(cells, get_layer("parcels").resolve_header)
>>> list(t.frame.columns), t.row_numbers.tolist(), t.header_rows, t.units
(['宗地编号', '出让价款'], [4], (3,), {'money': '万元', 'area': '亩'})
>>> [(row, why) for row, why in t.skipped]
[(5, '空行'), (6, '合计/小计行')]
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Table", "find_table", "SCAN_ROWS", "column_letter"]

#: How many rows from the top are searched for the header.
SCAN_ROWS = 30
_SERIAL = {"序号", "序", "no", "no.", "编号序号", "顺序号"}
_TOTAL = re.compile(r"^(总合计|合计|小计|总计|共计|累计)")
_FOOTNOTE = re.compile(
    r"^(注|说明|备注[:：]|填表人|制表人|制表|审核人|审核|负责人|填报人|联系人|联系电话|填表日期|填报日期)"
)
_UNIT_ROW = re.compile(r"单位\s*[:：]\s*([^\s,，;；]+(?:[、,，/]\s*[^\s,，;；]+)*)")
_MONEY = ("亿元", "万元", "元")
_AREA = ("平方米", "公顷", "亩", "m2", "㎡")


def column_letter(i: int) -> str:
    """Excel's column name of a 0-based index (0 -> A, 26 -> AA)."""
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _text(v: Any) -> str | None:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and np.isnan(v):
        return None
    t = unicodedata.normalize("NFKC", str(v)).strip()
    return t or None


@dataclass
class Table:
    """The data block of a sheet: raw values under their header texts, and what was left out."""

    frame: pd.DataFrame
    row_numbers: np.ndarray
    header_rows: tuple[int, ...]
    skipped: list[tuple[int, str]] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    above: list[int] = field(default_factory=list)  # title/unit rows above the header

    @property
    def header_text(self) -> str:
        rows = self.header_rows
        return f"第{rows[0]}行" if len(rows) == 1 else f"第{rows[0]}–{rows[-1]}行（两行表头）"


def _score(names: Sequence[str | None], resolve: Callable[[str], str | None]) -> int:
    return len({f for f in (resolve(n) for n in names if n) if f})


def _variants(top: str | None, bottom: str | None) -> list[str]:
    """Names a column of a two-row header may stand for, best first."""
    if not bottom:
        return [top] if top else []
    if not top:
        return [bottom]
    out = [top + bottom]
    for tail in ("日期", "时间", "面积", "比例"):
        if top.endswith(tail) and not bottom.endswith(tail):
            out.append(top[: -len(tail)] + bottom + tail)  # 约定日期 / 动工 -> 约定动工日期
    out += [bottom + top, bottom, top]
    return out


def _pair_names(
    top: list[str | None], bottom: list[str | None], resolve: Callable[[str], str | None]
) -> list[str | None]:
    """Column names of a two-row header: group cells carried right over their sub-columns."""
    filled: list[str | None] = []
    group: str | None = None
    for t, b in zip(top, bottom):
        if t is not None:
            group = t
            filled.append(t)
        else:
            filled.append(group if b is not None else None)
    names: list[str | None] = []
    for t, b in zip(filled, bottom):
        cands = _variants(t, b)
        pick = next((c for c in cands if resolve(c)), None)
        names.append(pick or (f"{t}{b}" if t and b and t != b else (b or t)))
    return names


def _units(rows: list[list[str | None]]) -> dict[str, str]:
    units: dict[str, str] = {}
    for cells in rows:
        for c in cells:
            if not c:
                continue
            for m in _UNIT_ROW.finditer(c):
                for token in re.split(r"[、,，/]", m.group(1)):
                    token = token.strip()
                    if "money" not in units and token in _MONEY:
                        units["money"] = token
                    if "area" not in units and token in _AREA:
                        units["area"] = "平方米" if token in ("m2", "㎡") else token
    return units


def find_table(
    cells: Sequence[Sequence[Any]] | pd.DataFrame, resolve: Callable[[str], str | None], *, first_row: int = 1
) -> Table:
    """The table in a sheet's cells (rows of values as read, header not yet known).

    Parameters
    ----------
    cells
        The sheet's rows from its first row (row ``first_row`` in Excel's numbering).
    resolve
        Header text -> registry field name, or None (:meth:`gis.schema.Layer.resolve_header`).
    first_row
        Excel's number of the first row given.
    """
    if isinstance(cells, pd.DataFrame):
        grid = cells.astype(object).to_numpy()
    else:
        width = max((len(r) for r in cells), default=0)
        grid = np.full((len(cells), width), None, dtype=object)
        for i, r in enumerate(cells):
            grid[i, : len(r)] = list(r)
    n, width = grid.shape
    scan = [[_text(v) for v in grid[i]] for i in range(min(n, SCAN_ROWS))]
    scores = [_score(r, resolve) for r in scan]
    if not scan or max(scores, default=0) == 0:
        best = next((i for i, r in enumerate(scan) if sum(v is not None for v in r) >= 1), 0)
        header = (best,)
        names = scan[best] if scan else []
    else:
        best = int(np.argmax(scores))
        header, names, score = (best,), scan[best], scores[best]
        for t, b in ((best, best + 1), (best - 1, best)):
            if t < 0 or b >= len(scan):
                continue
            pair = _pair_names(scan[t], scan[b], resolve)
            s = _score(pair, resolve)
            if s > score:
                header, names, score = (t, b), pair, s
    header_score = _score(names, resolve)
    start = header[-1] + 1
    above = list(range(header[0]))
    units = _units([scan[i] for i in above] + [scan[i] for i in header])

    # columns: drop 序号 and empty unnamed columns; name unnamed ones by their letter
    keep: list[int] = []
    headers: list[str] = []
    ignored: list[str] = []
    seen: dict[str, int] = {}
    body = grid[start:]
    for j in range(width):
        name = names[j] if j < len(names) else None
        if name is not None and name.lower().replace(" ", "") in _SERIAL and not resolve(name):
            ignored.append(name)
            continue
        if name is None:
            col = body[:, j] if len(body) else np.array([], dtype=object)
            if all(_text(v) is None for v in col):
                continue
            name = f"列{column_letter(j)}"
        if name in seen:
            seen[name] += 1
            name = f"{name}（列{column_letter(j)}）"
        else:
            seen[name] = 1
        keep.append(j)
        headers.append(name)

    data_rows: list[int] = []
    skipped: list[tuple[int, str]] = []
    pending_blank: list[int] = []
    # column-wise first (a sheet may have 10^5 rows): only rows that may not be data are looked at one by one
    m = n - start
    txt = [pd.Series(body[:, j], dtype=object).astype("string").str.strip() for j in range(width)]
    filled = (
        np.column_stack([(t.fillna("") != "").to_numpy(bool) for t in txt])
        if width and m
        else np.zeros((m, max(width, 1)), bool)
    )
    count_all = filled.sum(axis=1)
    count_keep = filled[:, keep].sum(axis=1) if keep else np.zeros(m, int)
    suspect = (count_all <= 2) | (count_keep == 0)
    for t in txt:
        bare = t.str.replace(" ", "", regex=False)
        suspect |= (bare.str.match(_TOTAL.pattern) & (bare.str.len() <= 8)).fillna(False).to_numpy(bool)
    same = np.zeros(m, int)
    for j, h in zip(keep, headers):
        if resolve(h):
            same += (txt[j] == h).fillna(False).to_numpy(int)
    suspect |= same >= 2
    for i in range(start, n):
        k = i - start
        if count_all[k] == 0:
            pending_blank.append(i)
            continue
        if not suspect[k]:
            skipped.extend((first_row + b, "空行") for b in pending_blank)
            pending_blank = []
            data_rows.append(i)
            continue
        row = grid[i]
        texts = [_text(row[j]) for j in keep]
        present = [t for t in texts if t is not None]
        every = [t for t in (_text(v) for v in row) if t is not None]
        if not every:
            pending_blank.append(i)
            continue
        first = every[0].replace(" ", "")
        reason = None
        if (
            any(_TOTAL.match(t.replace(" ", "")) and len(t.replace(" ", "")) <= 8 for t in every[:3])
            and resolve(first) is None
        ):
            reason = "合计/小计行"
        elif len(every) <= 2 and _FOOTNOTE.match(first):
            reason = "表尾说明行"
        elif header_score >= 2 and _score(texts, resolve) >= max(2, int(0.6 * header_score)):
            reason = "重复的表头行"
        elif not present:
            reason = "空行"  # only a 序号
        skipped.extend((first_row + b, "空行") for b in pending_blank)
        pending_blank = []
        if reason:
            skipped.append((first_row + i, reason))
        else:
            data_rows.append(i)
    frame = pd.DataFrame(
        grid[np.asarray(data_rows, dtype=int)][:, keep]
        if data_rows and keep
        else np.empty((len(data_rows), len(keep)), dtype=object),
        columns=headers,
        dtype=object,
    )
    return Table(
        frame=frame,
        row_numbers=np.asarray(data_rows, dtype=np.int64) + first_row,
        header_rows=tuple(first_row + h for h in header),
        skipped=skipped,
        units=units,
        ignored_columns=ignored,
        above=[first_row + a for a in above],
    )
