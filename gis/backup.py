"""Backups of a store (docs/history.md §6): a consistent copy, and its restore into an empty store.

GeoPackage
    SQLite's online backup API under the store's write lock: a consistent copy of the one file (layers, history,
    decisions, meta), plus the store's ``rasters/`` folder beside it (``<backup>.rasters/``).
PostGIS
    ``pg_dump --format=custom`` as the database owner (one consistent snapshot; Debian package
    ``postgresql-client``) and
    ``pg_restore --single-transaction`` into a database without the landrenew schema.  The PostGIS extension
    is not part of the copy (the target has it, created by an administrator), nor are privileges: run
    ``landrenew db grant-app-role`` on the restored database.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

from .errors import StoreError

__all__ = ["backup_store", "restore_store"]


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _tool(name: str) -> str:
    path = shutil.which(name) or (
        f"/usr/lib/postgresql/15/bin/{name}" if Path(f"/usr/lib/postgresql/15/bin/{name}").exists() else None
    )
    if path is None:
        raise StoreError(
            f"找不到 {name}",
            detail=f"{name} not on PATH",
            fix="安装 PostgreSQL 客户端：apt-get install postgresql-client-15",
        )
    return path


def _run(args: list[str], what: str) -> str:
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise StoreError(
            f"{what}失败：{proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}",
            detail=proc.stderr.strip()[-2000:],
            fix="检查数据库地址、账号权限与磁盘空间",
        )
    return proc.stdout


def backup_store(store, dest: str | Path) -> Path:
    """Write a consistent copy of the store to ``dest`` (a ``.gpkg`` file, or a ``pg_dump`` archive)."""
    from .store.gpkg import GeoPackageStore

    dest = Path(dest).expanduser().resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(store, GeoPackageStore):
        if not store.path.exists():
            raise StoreError(f"存储 {store.path} 不存在，无可备份", fix="检查 --store 路径")
        if dest == store.path:
            raise StoreError("备份文件不能就是存储本身", fix="换一个备份路径")
        tmp = dest.with_name(dest.name + ".part")
        with store._lock():
            with (
                contextlib.closing(sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)) as src,
                contextlib.closing(sqlite3.connect(tmp)) as out,
            ):
                src.backup(out)
        tmp.replace(dest)
        rasters = store.rasters_dir
        if rasters.exists():
            target = dest.with_name(dest.name + ".rasters")
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(rasters, target)
        return dest
    store.upgrade_history()
    _run(
        [
            _tool("pg_dump"),
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            "--exclude-table-data=spatial_ref_sys",
            "--file",
            str(dest),
            _libpq_url(store.url),
        ],
        "备份数据库（需用数据库所有者账号）",
    )
    return dest


def restore_store(store, source: str | Path, *, force: bool = False) -> None:
    """Restore a backup made by :func:`backup_store` into ``store``, which must be empty (``force``: a
    GeoPackage store with data is replaced)."""
    from .store.gpkg import GeoPackageStore

    source = Path(source).expanduser().resolve()
    if not source.exists():
        raise StoreError(f"找不到备份 {source}", fix="检查备份文件路径")
    if isinstance(store, GeoPackageStore):
        if store.path.exists() and store.layer_counts() and any(store.layer_counts().values()) and not force:
            raise StoreError(f"存储 {store.path} 已有数据，恢复会覆盖它", fix="换一个空的存储路径，或加 --force 覆盖")
        with contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src:
            if src.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise StoreError(f"备份 {source} 已损坏（SQLite 完整性检查未通过）", fix="换一份备份")
        store.path.parent.mkdir(parents=True, exist_ok=True)
        with store._lock():
            tmp = store.path.with_name(f".{store.path.stem}.restore.tmp.gpkg")
            with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(tmp)) as out:
                src.backup(out)
            tmp.replace(store.path)
        rasters = source.with_name(source.name + ".rasters")
        if rasters.exists():
            shutil.copytree(rasters, store.rasters_dir, dirs_exist_ok=True)
        return
    from .store import migrations

    if migrations.current_revision(store.engine) is not None:
        raise StoreError(
            "目标数据库已有平台表结构，恢复只能进入空数据库",
            fix="新建一个空数据库（CREATE DATABASE ...; CREATE EXTENSION postgis）后再恢复",
        )
    pg_restore = _tool("pg_restore")
    listing = _run([pg_restore, "--list", str(source)], "读取备份目录")
    keep = [
        line
        for line in listing.splitlines()
        if not any(k in line for k in (" EXTENSION ", "SCHEMA - public", " SCHEMA public ", "spatial_ref_sys"))
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False, encoding="utf-8") as fh:
        fh.write("\n".join(keep) + "\n")
        listfile = fh.name
    try:
        _run(
            [
                pg_restore,
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                "--use-list",
                listfile,
                "--dbname",
                _libpq_url(store.url),
                str(source),
            ],
            "恢复数据库",
        )
    finally:
        Path(listfile).unlink(missing_ok=True)
    store.engine.dispose()
    store._schema_ok = False
