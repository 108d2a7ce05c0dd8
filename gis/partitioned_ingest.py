"""Validated ingest at scale: a big source read chunk by chunk into partitioned GeoParquet, never all in memory.

Each chunk goes through the ingest's own public :func:`gis.ingest.read_layer_file` (header mapping, parsing,
checks, geometry repair, CRS) — there is no second validator.  As ``read_layer_file`` reads files, each chunk is
handed to it as a small temporary GeoPackage (spatial layers) or CSV (tables); its report's row numbers are
mapped back to the rows of the original source, so the one rejects report (``write_rejects``) lists every
rejected row of the whole source with its real row number.

Keys across chunks: the keys stored from earlier chunks are passed as ``existing_keys``, so a key repeated in a
later chunk is rejected there (and listed).  Within one chunk ``read_layer_file`` rejects every copy of a
repeated key, as for a whole file; across chunks the first copy is stored.  (A public header-mapping function in
``gis.ingest`` would let this module find the key column first and reject every copy, as the in-memory ingest
does.)

With a dask client the staged partitions are finally re-partitioned along the Hilbert curve
(:func:`gis.partitioned.spatial_partition`); without one they are kept in source order.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from .errors import InputFileError
from .ingest import IngestReport, read_layer_file, write_rejects
from .partitioned import ROWS_PER_PARTITION, spatial_partition, write_marker, write_partition
from .schema import get_layer

__all__ = ["ingest_partitioned"]

Progress = Callable[[int, int, str], None]


def _chunks(path: Path, rows: int) -> Iterator[tuple[pd.DataFrame, int, int]]:
    """(raw chunk, first row number in the source as a user counts it, total rows) for a big source."""
    suffix = path.suffix.lower()
    if path.is_dir() or suffix == ".parquet":
        files = (
            sorted(p for p in path.glob("*.parquet") if not p.name.startswith(("_", "."))) if path.is_dir() else [path]
        )
        total = sum(pyarrow_rows(f) for f in files)
        start = 1
        for f in files:
            try:
                frame = gpd.read_parquet(f)
            except ValueError:  # no geo metadata: a table
                frame = pd.read_parquet(f)
            for lo in range(0, len(frame), rows):
                part = frame.iloc[lo : lo + rows]
                yield part, start + lo, total
            start += len(frame)
        return
    if suffix == ".csv":
        total = sum(1 for _ in open(path, "rb")) - 1
        start = 2
        for part in pd.read_csv(
            path, dtype=object, encoding="utf-8-sig", keep_default_na=False, na_values=[""], chunksize=rows
        ):
            yield part, start, total
            start += len(part)
        return
    try:
        total = int(pyogrio.read_info(path)["features"])
    except Exception as exc:
        raise InputFileError(
            f"无法读取文件 {path.name}：{exc}",
            detail=f"{path}: {exc}",
            fix="分区导入支持 GeoPackage/Shapefile/GeoJSON、CSV 和 GeoParquet（文件或目录）",
        ) from exc
    for lo in range(0, total, rows):
        part = pyogrio.read_dataframe(path, skip_features=lo, max_features=rows, use_arrow=True)
        yield part, lo + 1, total


def pyarrow_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _as_file(chunk: pd.DataFrame, folder: Path, name: str) -> Path:
    """The chunk as a file ``read_layer_file`` reads: GeoPackage when it has geometry, else CSV (UTF-8)."""
    if isinstance(chunk, gpd.GeoDataFrame):
        path = folder / f"{name}.gpkg"
        pyogrio.write_dataframe(chunk.reset_index(drop=True), path, layer=name, driver="GPKG", promote_to_multi=False)
    else:
        path = folder / f"{name}.csv"
        chunk.to_csv(path, index=False, encoding="utf-8-sig")
    return path


def ingest_partitioned(
    layer_name: str,
    source: str | Path,
    dest: str | Path,
    *,
    crs: str | None = None,
    from_gcj02: bool = False,
    extent: tuple[float, float, float, float] | None = None,
    chunk_rows: int = ROWS_PER_PARTITION,
    rejects_dir: str | Path | None = None,
    client=None,
    on_progress: Progress | None = None,
) -> IngestReport:
    """Validate ``source`` (a big GeoPackage/Shapefile/GeoJSON/CSV, or raw GeoParquet files) into ``dest``.

    Returns one :class:`gis.ingest.IngestReport` over the whole source (``read == stored + rejected``); the
    rejects CSV goes to ``rejects_dir`` (default ``dest/../reports``).  ``extent`` is the lon/lat box the geometry
    must fall in (default the district's, ``layers/rules/district.yaml``): a province's ledger passes the province.
    """
    layer = get_layer(layer_name)
    source, dest = Path(source), Path(dest)
    step = on_progress or (lambda i, total, label: None)
    stage = dest.with_name(dest.name + ".staging") if client is not None else dest
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    report = IngestReport(layer=layer_name, files=[str(source)])
    seen: set = set()
    number = 0
    with tempfile.TemporaryDirectory(prefix="landrenew-ingest-") as tmp:
        for chunk, first_row, total in _chunks(source, chunk_rows):
            path = _as_file(chunk, Path(tmp), f"chunk{number:05d}")
            frame, part = read_layer_file(
                layer_name, path, crs=crs, from_gcj02=from_gcj02, existing_keys=seen or None, extent=extent
            )
            offset = first_row - (1 if path.suffix == ".gpkg" else 2)  # chunk row 1 (or 2) -> source row
            problems = [
                dataclasses.replace(
                    p,
                    file=source.name,
                    row=None if p.row is None else int(p.row) + offset,
                    extra={**p.extra, "chunk": number},
                )
                for p in part.problems
            ]
            report.read += part.read
            report.stored += part.stored
            report.rejected += part.rejected
            report.repaired += part.repaired
            report.problems.extend(problems)
            for note in part.notes:
                if note not in report.notes:
                    report.notes.append(note.replace(path.name, source.name))
            if not report.unmapped_columns:
                report.unmapped_columns[source.name] = part.unmapped_columns.get(path.name, [])
            keys = layer.key_fields
            if keys:
                if len(keys) == 1:
                    seen.update(frame[keys[0]].dropna().tolist())
                else:  # dates as ``datetime.date``, the way read_layer_file compares existing keys
                    seen.update(
                        tuple(v.date() if isinstance(v, pd.Timestamp) else v for v in row)
                        for row in frame[list(keys)].itertuples(index=False, name=None)
                    )
            if len(frame):
                write_partition(frame, layer_name, stage, number)
                number += 1
            path.unlink()
            step(min(first_row + len(chunk), total), total, f"已校验 {report.read} 行，拒收 {report.rejected} 行")
    write_marker(
        stage,
        layer=layer_name,
        order="source",
        partitions=number,
        rows=report.stored,
        written_by="gis.partitioned_ingest.ingest_partitioned",
        source=str(source),
    )
    if client is not None and layer.is_spatial and number:
        spatial_partition(stage, dest, rows_per_partition=chunk_rows, layer_name=layer_name, client=client)
        shutil.rmtree(stage)
    elif stage != dest:
        shutil.rmtree(dest, ignore_errors=True)
        stage.rename(dest)
    write_rejects([report], Path(rejects_dir) if rejects_dir else dest.parent / "reports")
    return report
