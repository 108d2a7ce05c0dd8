"""Limits on what one import through the app may upload (``uploads`` in ``layers/rules/security.yaml``).

Streamlit refuses a single file above ``server.maxUploadSize`` (``.streamlit/config.toml``, kept equal to
``uploads.max_file_mb``) before it reaches the app; :func:`check_uploads` checks the same per-file limit, the
number of files and their total again in the library, so a changed config or another caller cannot skip it.

>>> from gis.settings import security_settings
>>> check_uploads([("parcels.gpkg", 10 * 2**20)], security_settings())
>>> try:
...     check_uploads([("big.gpkg", 300 * 2**20)], security_settings())
... except Exception as exc:
...     print(exc.message)
上传文件 big.gpkg 为 300.0 MB，超过单个文件上限 200 MB
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import LandRenewError

__all__ = ["check_uploads"]

_MB = 1024 * 1024


def _mb(n: float) -> str:
    return f"{n / _MB:.1f}".rstrip("0").rstrip(".") if n % _MB else f"{n // _MB:.0f}"


def check_uploads(files: Iterable[tuple[str, int]], settings=None) -> None:
    """Raise :class:`LandRenewError` naming the file and the limit when ``(name, size in bytes)`` pairs
    pass the per-file size, the file count or the total size of one import."""
    from .settings import security_settings

    s = settings or security_settings()
    files = list(files)
    fix = "拆分为多次导入，或在服务器上用 landrenew ingest 导入大文件（上限见 layers/rules/security.yaml 的 uploads）"
    if len(files) > s.max_files:
        raise LandRenewError(
            f"一次最多上传 {s.max_files} 个文件，本次 {len(files)} 个",
            detail=f"{len(files)} files > max_files {s.max_files}",
            fix=fix,
        )
    for name, size in files:
        if size > s.max_file_bytes:
            raise LandRenewError(
                f"上传文件 {name} 为 {size / _MB:.1f} MB，超过单个文件上限 {_mb(s.max_file_bytes)} MB",
                detail=f"{name}: {size} bytes > {s.max_file_bytes}",
                fix=fix,
            )
    total = sum(size for _, size in files)
    if total > s.max_total_bytes:
        raise LandRenewError(
            f"本次上传共 {total / _MB:.1f} MB，超过一次导入上限 {_mb(s.max_total_bytes)} MB",
            detail=f"total {total} bytes > {s.max_total_bytes}",
            fix=fix,
        )
