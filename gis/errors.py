"""One errors module for the platform.

Every error says what, where and how to fix it.  Messages that a planner sees are
Chinese; the English ``detail`` is for developers and logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "LandRenewError",
    "InputFileError",
    "CRSError",
    "RuleFileError",
    "StoreError",
    "ConflictError",
    "PermissionDenied",
    "Problem",
]


class LandRenewError(ValueError):
    """Base class: a problem a user can fix.  ``str(err)`` is the Chinese message."""

    def __init__(self, message: str, *, detail: str | None = None, fix: str | None = None):
        self.message = message
        self.detail = detail
        self.fix = fix
        text = message if not fix else f"{message}；处理办法：{fix}"
        super().__init__(text)


class InputFileError(LandRenewError):
    """A whole input file cannot be read (format, missing columns, wrong geometry type)."""


class CRSError(InputFileError):
    """The coordinate reference system of an input file is missing or implausible."""


class RuleFileError(LandRenewError):
    """A rule file is invalid: names the key and why."""


class StoreError(LandRenewError):
    """The store cannot be opened, read or written."""


class ConflictError(StoreError):
    """A write was based on a version that has changed since (optimistic concurrency)."""


class PermissionDenied(LandRenewError):
    """The user's role does not allow the action."""


@dataclass(frozen=True)
class Problem:
    """One rejected (or repaired) input row: file, row, id, field, value, reason, fix.

    ``row`` is the number a person finds the row by: the Excel row (title and header rows counted) or CSV line
    of a table, the feature id (FID, as QGIS shows it) of a vector layer.
    """

    file: str
    row: int | None
    record_id: str | None
    field: str | None
    value: object
    reason: str
    fix: str
    severity: str = "reject"  # reject | repair | warning | skip (not a data row: 合计, blank, footnote)
    extra: dict = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict:
        return {
            "文件": self.file,
            "行号": self.row,
            "编号": self.record_id,
            "字段": self.field,
            "值": None if self.value is None else str(self.value),
            "问题": self.reason,
            "处理办法": self.fix,
            "级别": {"reject": "拒收", "repair": "已修复", "warning": "提示", "skip": "跳过"}.get(
                self.severity, self.severity
            ),
        }

    def __str__(self) -> str:  # one line, Chinese
        where = f"{self.file}"
        if self.row is not None:
            where += f" 第{self.row}行"
        if self.record_id:
            where += f"（编号 {self.record_id}）"
        if self.field and self.value is not None and self.value != "":
            what = f"字段“{self.field}”值“{self.value}”："
        elif self.field:
            what = f"字段“{self.field}”："
        else:
            what = ""
        return f"{where}：{what}{self.reason}；处理办法：{self.fix}"
