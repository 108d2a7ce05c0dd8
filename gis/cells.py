"""Cells written to spreadsheets and CSV files never run as formulas (CSV/formula injection).

A text cell whose first character is ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is taken by
Excel/WPS as the start of a formula (or DDE command) when the file is opened.  Every xlsx and CSV the platform
writes goes through this module:

* CSV: :func:`safe_frame` / :func:`safe_cell` put a single quote before such text (OWASP's advice; Excel
  shows the text and does not evaluate it);
* xlsx (openpyxl): :func:`text_cell` makes a cell of type string (``t="s"``/inline string), so the text is
  shown exactly as given, never stored as a formula.

>>> safe_cell("=1+2"), safe_cell("-"), safe_cell("绍兴某公司"), safe_cell(-5)
("'=1+2", "'-", '绍兴某公司', -5)
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["FORMULA_PREFIXES", "safe_cell", "safe_frame", "looks_like_formula", "text_cell"]

#: First characters that make a spreadsheet treat text as a formula or command.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def looks_like_formula(value: Any) -> bool:
    """True for text that a spreadsheet would evaluate (starts with one of :data:`FORMULA_PREFIXES`)."""
    return isinstance(value, str) and value.startswith(FORMULA_PREFIXES)


def safe_cell(value: Any) -> Any:
    """The value for a CSV cell: formula-looking text gets a leading ``'``; other values are unchanged."""
    return "'" + value if looks_like_formula(value) else value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are :func:`safe_cell`-ed (numbers, dates, NaN untouched)."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            text = s.astype("string")
            risky = text.str.match(r"^[=+\-@\t\r]").fillna(False).to_numpy(bool)
            if risky.any():
                s = s.astype(object).copy()
                s[risky] = ["'" + str(v) for v in s[risky]]
                out[col] = s
    return out


def text_cell(ws: Any, value: str) -> Any:
    """An openpyxl write-only cell holding ``value`` as text (type string, never a formula)."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, value=value)
    cell.data_type = "s"
    return cell
