"""Zip archives as they arrive by mail (zipped shapefiles, a zipped FileGDB, KMZ): checked, then unpacked.

Before anything is written to disk every member name is checked (no absolute path, no drive letter, no ``..``
component: a "zip slip" could otherwise write outside the target folder) and the total uncompressed size is
compared with a limit (a "zip bomb" of a few kB can unpack to many GB).  The limit is a setting:
``LANDRENEW_MAX_UNZIPPED_MB`` in the environment (default :data:`DEFAULT_MAX_UNZIPPED_MB`), or the
``max_bytes`` argument.  Member names written by Chinese Windows tools without the UTF-8 flag are decoded as
GB18030, so ``宗地.shp`` keeps its name.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path, PurePosixPath

from .errors import InputFileError

__all__ = ["DEFAULT_MAX_UNZIPPED_MB", "max_unzipped_bytes", "check_zip", "safe_extract"]

#: Default limit of the total uncompressed size of one uploaded/read zip, in MB.
DEFAULT_MAX_UNZIPPED_MB = 2048
_DRIVE = re.compile(r"^[A-Za-z]:")


def max_unzipped_bytes() -> int:
    """The limit in bytes: ``LANDRENEW_MAX_UNZIPPED_MB`` (MB) or :data:`DEFAULT_MAX_UNZIPPED_MB`."""
    raw = os.environ.get("LANDRENEW_MAX_UNZIPPED_MB", "").strip()
    try:
        mb = float(raw) if raw else DEFAULT_MAX_UNZIPPED_MB
    except ValueError:
        mb = DEFAULT_MAX_UNZIPPED_MB
    return int(mb * 1024 * 1024)


def _member_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    if not info.flag_bits & 0x800:  # no UTF-8 flag: cp437 as decoded by zipfile; Chinese tools write GBK
        try:
            name = name.encode("cp437").decode("gb18030")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name


def check_zip(path: Path, *, max_bytes: int | None = None) -> list[tuple[zipfile.ZipInfo, str]]:
    """The members of a zip with their decoded names, or :class:`InputFileError` for an unsafe archive."""
    path = Path(path)
    limit = max_unzipped_bytes() if max_bytes is None else max_bytes
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise InputFileError(
            f"{path.name} 不是有效的 zip 压缩文件", detail=f"{path}: {exc}", fix="重新压缩后上传（.zip 格式）"
        ) from exc
    with zf:
        members = [(info, _member_name(info)) for info in zf.infolist()]
    for _info, name in members:
        unified = name.replace("\\", "/")
        parts = PurePosixPath(unified).parts
        if unified.startswith("/") or _DRIVE.match(unified) or ".." in parts:
            raise InputFileError(
                f"压缩文件 {path.name} 中的文件名“{name}”指向解压目录之外（绝对路径或含 ..），已拒绝整个压缩文件",
                detail=f"{path}: unsafe member name {name!r}",
                fix="请用常规方式重新压缩（文件放在压缩包内的普通文件夹中），不要包含绝对路径或 ..",
            )
    total = sum(info.file_size for info, _ in members)
    if total > limit:
        raise InputFileError(
            f"压缩文件 {path.name} 解压后共 {total / 1024 / 1024:,.1f} MB，超过上限 {limit / 1024 / 1024:,.0f} MB，"
            "未解压",
            detail=f"{path}: uncompressed size {total} > limit {limit}",
            fix="只压缩需要导入的图层文件；确需更大文件请管理员调高 LANDRENEW_MAX_UNZIPPED_MB",
        )
    return members


def safe_extract(path: Path, target: Path, *, max_bytes: int | None = None) -> Path:
    """Check (:func:`check_zip`) and unpack a zip into ``target``; returns ``target``.

    While unpacking the written size is counted again, so a member whose header understates its size is
    stopped at the limit too.
    """
    limit = max_unzipped_bytes() if max_bytes is None else max_bytes
    members = check_zip(path, max_bytes=limit)
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    written = 0
    with zipfile.ZipFile(path) as zf:
        for info, name in members:
            dest = (root / name.replace("\\", "/")).resolve()
            if root not in dest.parents and dest != root:  # pragma: no cover - check_zip refused it already
                raise InputFileError(f"压缩文件 {Path(path).name} 中的文件名“{name}”不安全", fix="重新压缩")
            if info.is_dir() or name.endswith(("/", "\\")):
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(dest, "wb") as out:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > limit:
                        raise InputFileError(
                            f"压缩文件 {Path(path).name} 解压后超过上限 {limit / 1024 / 1024:,.0f} MB，已停止解压",
                            detail=f"{path}: more than {limit} bytes written",
                            fix="只压缩需要导入的图层文件",
                        )
                    out.write(chunk)
    return target
