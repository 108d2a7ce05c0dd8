"""Vectorised parsers for the value forms of docs/data-contract.md.

Each parser takes a raw column and returns ``(values, bad)``: the parsed values in canonical type and a
boolean mask of cells that held something but could not be parsed (null cells are not bad).
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

__all__ = [
    "parse_dates",
    "parse_ratio",
    "parse_bool",
    "parse_number",
    "parse_enum",
    "parse_str",
    "is_blank",
    "area_factor",
    "money_factor",
    "unit_of_header",
    "is_percent_header",
]

_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_CN_DATE = re.compile(r"^\s*(\d{4})\s*[年./\-]\s*(\d{1,2})\s*[月./\-]\s*(\d{1,2})\s*日?\s*$")
_COMPACT = re.compile(r"^\s*(\d{4})(\d{2})(\d{2})\s*$")
_TRUE = {"是", "有", "已", "已办", "已办证", "y", "yes", "true", "t", "1", "√", "抵押", "查封"}
_FALSE = {"否", "无", "未", "未办", "未办证", "n", "no", "false", "f", "0", "×", "-"}


def _na(v: object) -> bool:
    """A missing cell, whatever form it takes (None, NaN, pd.NA, NaT)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float) and np.isnan(v)


def is_blank(series: pd.Series) -> pd.Series:
    """True where a cell is empty: NA, NaN, None or only white space."""
    blank = series.isna()
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        text = series.astype("string").str.strip()
        blank = blank | (text == "").fillna(True)
    return blank.astype(bool)


def by_unique(parser):
    """Run a cell parser once per distinct value and spread the result back (ledger columns repeat a lot:
    a few thousand dates or a handful of enum values over 10^5 rows)."""
    import functools

    @functools.wraps(parser)
    def wrapper(series: pd.Series, *args, **kwargs) -> tuple[pd.Series, pd.Series]:
        if len(series) < 64 or pd.api.types.is_datetime64_any_dtype(series):
            return parser(series, *args, **kwargs)
        codes, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
        if len(uniques) > 0.5 * len(series):
            return parser(series, *args, **kwargs)
        values, bad = parser(pd.Series(uniques, dtype=object), *args, **kwargs)
        out = pd.Series(values.array.take(codes, allow_fill=True), index=series.index, name=series.name)
        flags = np.zeros(len(series), bool)
        present = codes >= 0
        flags[present] = bad.to_numpy(bool)[codes[present]]
        return out, pd.Series(flags, index=series.index)

    return wrapper


def _fold(text: object) -> str:
    return unicodedata.normalize("NFKC", str(text)).strip()


@by_unique
def parse_dates(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Dates from ISO ``2021-06-01``, ``2021年6月1日``, ``2021/6/1``, ``2021.06.01``, ``20210601``,
    Excel serial numbers (1900 system) and datetime cells.  Returns datetime64[ms] (naive) and the bad mask."""
    blank = is_blank(series)
    out = pd.Series(pd.NaT, index=series.index, dtype="datetime64[ms]")
    if pd.api.types.is_datetime64_any_dtype(series):
        s = series.dt.tz_localize(None) if getattr(series.dt, "tz", None) is not None else series
        return s.dt.normalize().astype("datetime64[ms]"), pd.Series(False, index=series.index)
    values = series[~blank]
    if len(values) == 0:
        return out, pd.Series(False, index=series.index)
    numeric = pd.to_numeric(values, errors="coerce")
    serial = numeric.notna() & (numeric >= 1) & (numeric < 100000) & ~values.astype(str).str.fullmatch(r"\s*\d{8}\s*")
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ms]")
    if serial.any():
        days = numeric[serial].astype(float)
        ok = days == np.floor(days)
        parsed.loc[days[ok].index] = (_EXCEL_EPOCH + pd.to_timedelta(days[ok], unit="D")).astype("datetime64[ms]")
    rest = values[~serial]
    if len(rest):
        objs = rest.map(lambda v: pd.Timestamp(v) if hasattr(v, "year") and not isinstance(v, str) else None)
        direct = objs.notna()
        if direct.any():
            parsed.loc[objs[direct].index] = (
                pd.to_datetime(objs[direct]).dt.tz_localize(None).dt.normalize().astype("datetime64[ms]")
                if getattr(pd.to_datetime(objs[direct]).dt, "tz", None) is not None
                else pd.to_datetime(objs[direct]).dt.normalize().astype("datetime64[ms]")
            )
        text = rest[~direct].map(_fold)
        if len(text):
            norm = text.str.replace(r"[T ]00:00(:00(\.0+)?)?$", "", regex=True)
            m = norm.str.extract(_CN_DATE)
            m2 = norm.str.extract(_COMPACT)
            y = m[0].fillna(m2[0])
            mo = m[1].fillna(m2[1])
            d = m[2].fillna(m2[2])
            parts = pd.DataFrame(
                {
                    "year": pd.to_numeric(y, errors="coerce"),
                    "month": pd.to_numeric(mo, errors="coerce"),
                    "day": pd.to_numeric(d, errors="coerce"),
                }
            )
            good = parts.notna().all(axis=1)
            if good.any():
                dates = pd.to_datetime(parts[good].astype(int), errors="coerce")
                parsed.loc[dates.index] = dates.astype("datetime64[ms]")
    out.loc[parsed.index] = parsed
    bad = ~blank & out.isna()
    # plausibility: a land-administration date between 1949 and 2100
    implausible = out.notna() & ((out.dt.year < 1949) | (out.dt.year > 2100))
    out = out.mask(implausible)
    return out, (bad | implausible)


def is_percent_header(header: str) -> bool:
    """A column whose header says its values are percentages: ``（%）``, ``%``, ``百分比``."""
    text = _fold(header)
    return "%" in text or "百分比" in text or "百分数" in text


@by_unique
def parse_number(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numbers, tolerating thousands separators and full-width digits."""
    blank = is_blank(series)
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.astype("float64"), pd.Series(False, index=series.index)
    text = series.astype(object).map(lambda v: None if _na(v) else _fold(v).replace(",", ""))
    values = pd.to_numeric(text, errors="coerce").astype("float64")
    return values, (~blank & values.isna())


@by_unique
def parse_ratio(series: pd.Series, *, percent_column: bool = False) -> tuple[pd.Series, pd.Series]:
    """Ratios 0..1; ``30%`` always means 0.3; a bare ``30`` only in a percentage column.

    In a percentage column whose bare numbers exceed 1 every bare number is a percentage; where none
    exceeds 1 they are ratios already (an Excel cell formatted as % holds 0.3 and shows 30%).
    """
    blank = is_blank(series)
    text = series.astype(object).map(lambda v: None if _na(v) else _fold(v)).astype("string")
    has_pct = text.fillna("").str.endswith("%")
    stripped = text.str.rstrip("%").str.strip().str.replace(",", "", regex=False)
    values = pd.to_numeric(stripped, errors="coerce").astype("float64")
    values = values.where(~has_pct, values / 100.0)
    if percent_column and (values[~has_pct] > 1).any():
        # a percentage column holding bare numbers (30 = 30%); cells formatted as % in Excel arrive as 0.3
        values = values.where(has_pct, values / 100.0)
    bad = (~blank & values.isna()) | (values < 0) | (values > 1)
    return values.where(~bad), bad.fillna(False).astype(bool)


@by_unique
def parse_bool(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """是/否, 有/无, Y/N, true/false, 1/0 (and a real bool)."""
    blank = is_blank(series)
    if pd.api.types.is_bool_dtype(series):
        return series.astype("boolean"), pd.Series(False, index=series.index)

    def one(v: object) -> object:
        if _na(v):
            return pd.NA
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        t = _fold(v).lower()
        if t.endswith(".0"):
            t = t[:-2]
        if t in _TRUE:
            return True
        if t in _FALSE:
            return False
        return pd.NA

    values = series.astype(object).map(one).astype("boolean")
    return values, (~blank & values.isna()).astype(bool)


@by_unique
def parse_enum(series: pd.Series, codes: tuple[str, ...], labels: dict[str, str]) -> tuple[pd.Series, pd.Series]:
    """An enum from its code or its Chinese label (case-insensitive for codes)."""
    blank = is_blank(series)
    lookup = {c.lower(): c for c in codes}
    lookup.update({_fold(label): code for code, label in labels.items()})
    folded = series.astype(object).map(lambda v: None if _na(v) else _fold(v))
    values = folded.map(lambda t: None if _na(t) else lookup.get(t, lookup.get(t.lower()))).astype("string")
    return values, (~blank & values.isna()).astype(bool)


def parse_str(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Text, stripped and NFC-normalised; Excel's ``123.0`` for an id typed as a number becomes ``123``."""
    ok = pd.Series(False, index=series.index)
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        numbers = pd.to_numeric(series, errors="coerce")
        whole = numbers.dropna()
        if (whole == np.floor(whole)).all():
            return numbers.astype("Int64").astype("string"), ok
        return numbers.astype("string"), ok
    if series.dtype == object:
        series = series.map(
            lambda v: pd.NA if _na(v) else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
        )
    import pyarrow as pa
    import pyarrow.compute as pc

    arrow = pa.array(series.astype("string[pyarrow]").array)
    arrow = pc.utf8_normalize(pc.utf8_trim_whitespace(arrow), form="NFC")
    arrow = pc.if_else(pc.equal(arrow, ""), pa.scalar(None, pa.string()), arrow)
    return pd.Series(pd.array(arrow, dtype="string"), index=series.index), ok


_UNIT_IN_HEADER = re.compile(r"[（(]\s*(?:单位\s*[:：]\s*)?([^（()）]+?)\s*[）)]\s*$")


def unit_of_header(header: str) -> str | None:
    """The unit a header names in brackets at its end: ``出让面积（亩）`` -> ``亩``; None without one."""
    m = _UNIT_IN_HEADER.search(_fold(header))
    return m.group(1).strip() if m else None


def area_factor(header: str, default_unit: str | None = None) -> float:
    """Square metres per unit named in an area column's header: 公顷 -> 10,000; 亩 -> 666.67; else 1.

    ``default_unit`` is the sheet's 单位 row (``单位：亩``), used when the header names no unit.
    """
    text = _fold(header)
    if "公顷" in text or "hm2" in text.lower() or "ha" == text.lower()[-2:]:
        return 10000.0
    if "亩" in text:
        return 10000.0 / 15.0
    if "平方米" in text or "m2" in text.lower() or "㎡" in text:
        return 1.0
    if default_unit and default_unit != header:
        return area_factor(default_unit)
    return 1.0


def money_factor(header: str, default_unit: str | None = None) -> float:
    """万元 per unit named in a money column's header: 元 -> 0.0001, 万元 -> 1, 亿元 -> 10,000.

    ``default_unit`` is the sheet's 单位 row (``单位：万元``), used when the header names no unit.
    """
    unit = unit_of_header(header)
    text = unit if unit else (default_unit or "")
    if "亿元" in text:
        return 10000.0
    if "万元" in text:
        return 1.0
    if "元" in text:
        return 0.0001
    return 1.0
