"""The partitioned engine (dask-geopandas on a real ``distributed`` LocalCluster of 2 worker processes) gives
the same rows as the in-memory engine, row by row and field by field; parcels on partition edges included."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.assess import assess_idle_land
from gis.crs import AREA_CRS
from gis.demo import build_demo_layers, write_demo_rasters
from gis.partitioned import (
    MARKER,
    assess_partitioned,
    is_hilbert_ordered,
    read_partitioned,
    spatial_partition,
    start_client,
)
from gis.schema import get_layer
from gis.workflow import DEMO_AS_OF

N_PARCELS = 3000
ROWS_PER_PARTITION = 400  # -> 8 partitions


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with start_client(
        workers=2, memory_limit="2GiB", dashboard_address=":0", local_directory=tmp_path_factory.mktemp("dask")
    ) as (client, info):
        assert len(client.scheduler_info()["workers"]) == 2  # two real worker processes
        yield client


@pytest.fixture(scope="module")
def layers(tmp_path_factory):
    folder = tmp_path_factory.mktemp("partitioned")
    demo = build_demo_layers(n_parcels=N_PARCELS, seed=7)
    rasters = write_demo_rasters(demo["parcels"], folder / "rasters", seed=7)
    parcels = demo["parcels"]
    # a third of the projects lose their parcel_id: they are linked by largest overlap among all parcels
    projects = demo["projects"].copy()
    projects.loc[projects.index % 3 == 0, "parcel_id"] = pd.NA
    parcels.to_parquet(folder / "parcels.parquet")  # one file in ledger order: the engine must shuffle it
    return {**demo, "projects": projects, "rasters": rasters, "folder": folder}


@pytest.fixture(scope="module")
def in_memory(layers):
    return assess_idle_land(
        layers["parcels"],
        enterprises=layers["enterprises"],
        projects=layers["projects"],
        villages=layers["villages"],
        progress=layers["village_progress"],
        towns=layers["towns"],
        rasters=layers["rasters"],
        as_of=DEMO_AS_OF,
    )


@pytest.fixture(scope="module")
def partitioned(layers, client):
    out = layers["folder"] / "assessed"
    seen = []
    run = assess_partitioned(
        layers["folder"] / "parcels.parquet",
        enterprises=layers["enterprises"],
        projects=layers["projects"],
        villages=layers["villages"],
        progress=layers["village_progress"],
        towns=layers["towns"],
        rasters=layers["rasters"],
        as_of=DEMO_AS_OF,
        out=out,
        client=client,
        rows_per_partition=ROWS_PER_PARTITION,
        on_progress=lambda i, n, label: seen.append((i, n)),
    )
    return run, out, seen


def _missing(value) -> bool:
    return not isinstance(value, (list, dict)) and bool(pd.isna(value))


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("parcel_id").reset_index(drop=True)


def test_same_rows_as_in_memory_every_field(partitioned, in_memory):
    run, out, _ = partitioned
    assert run.shuffled and len(run.partitions) == -(-N_PARCELS // ROWS_PER_PARTITION)
    got = _sorted(read_partitioned(out, "idle_assessment"))
    want = _sorted(in_memory)
    assert len(got) == len(want) == len(in_memory["parcel_id"].unique())
    assert list(got.columns) == list(want.columns) == get_layer("idle_assessment").field_names + ["geometry"]
    for name in want.columns:
        if name == "geometry":
            assert shapely.equals_exact(got.geometry.to_numpy(), want.geometry.to_numpy(), tolerance=0).all()
            continue
        a, b = got[name], want[name]
        assert a.dtype == b.dtype, name
        if name == "activity_index":  # the same sums over the same pixels, possibly in another order
            np.testing.assert_allclose(
                a.to_numpy(float, na_value=np.nan),
                b.to_numpy(float, na_value=np.nan),
                rtol=1e-12,
                atol=1e-15,
                err_msg=name,
            )
            continue
        differ = [
            (pid, x, y)
            for pid, x, y in zip(want["parcel_id"], a, b)
            if not (_missing(x) and _missing(y)) and (_missing(x) or _missing(y) or x != y)
        ]
        assert not differ, f"{name}: {differ[:3]}"
    # the rows carry real content: every route occurs, imagery and joins answered
    assert set(got["route"]) == {"none", "continue", "transfer", "reclaim", "review"}
    assert got["activity_index"].notna().mean() > 0.9
    assert got["project_ids"].map(len).sum() > 0 and got["village_ids"].map(len).sum() > 0


def test_partitions_are_hilbert_ordered_and_marked(partitioned):
    run, out, seen = partitioned
    assert is_hilbert_ordered(out) and (out / MARKER).exists()
    assert run.rows == N_PARCELS
    assert seen[-1] == (len(run.partitions), len(run.partitions))  # progress reached the end
    # each partition is spatially compact: far less area than the whole district's bounding box
    parts = sorted(out.glob("part.*.parquet"))
    hulls = [shapely.convex_hull(shapely.multipolygons(gpd.read_parquet(p).geometry.to_numpy())) for p in parts]
    whole = shapely.box(*gpd.read_parquet(parts[0]).total_bounds) if len(parts) == 1 else None
    assert whole is None
    union = shapely.union_all(hulls)
    assert sum(h.area for h in hulls) < 1.6 * union.area  # hulls barely overlap


def test_parcels_straddling_partition_edges_get_the_in_memory_town(partitioned, in_memory, layers):
    _, out, _ = partitioned
    parts = sorted(out.glob("part.*.parquet"))
    frames = [gpd.read_parquet(p, columns=["parcel_id", "town_code", "geometry"]) for p in parts]
    hulls = np.array([shapely.convex_hull(shapely.multipolygons(f.geometry.to_numpy())) for f in frames])
    # a parcel is on an edge when it also meets the hull of another partition
    edge = []
    for i, f in enumerate(frames):
        others = np.delete(hulls, i)
        tree = shapely.STRtree(others)
        li, _ = tree.query(f.geometry.to_numpy(), predicate="intersects")
        edge.append(f.iloc[np.unique(li)])
    edge = pd.concat(edge, ignore_index=True)
    assert len(edge) > 50
    want = in_memory.set_index("parcel_id")["town_code"]
    assert (edge["town_code"].to_numpy() == want.loc[edge["parcel_id"]].to_numpy()).all()
    # among them, parcels crossing a town boundary whose town came from the join (ledger left it empty):
    ledger = layers["parcels"].set_index("parcel_id")["town_code"]
    towns = layers["towns"].to_crs(AREA_CRS)
    geoms = edge.to_crs(AREA_CRS)
    crossing = geoms[np.array([towns.geometry.intersects(g).sum() > 1 for g in geoms.geometry])]
    crossing = crossing[ledger.loc[crossing["parcel_id"]].isna().to_numpy()]
    assert len(crossing) > 0
    # independent reference: geopandas.overlay areas, largest wins
    pieces = gpd.overlay(crossing[["parcel_id", "geometry"]], towns[["town_code", "geometry"]], how="intersection")
    pieces["area"] = pieces.area
    best = pieces.sort_values(["parcel_id", "area"], ascending=[True, False]).groupby("parcel_id").head(1)
    best = best.set_index("parcel_id")["town_code"]
    assert (crossing.set_index("parcel_id")["town_code"].loc[best.index].to_numpy() == best.to_numpy()).all()


def test_ordered_input_is_not_shuffled_again(layers, client, in_memory, tmp_path):
    ordered = spatial_partition(
        layers["folder"] / "parcels.parquet", tmp_path / "parcels", rows_per_partition=1000, client=client
    )
    assert is_hilbert_ordered(ordered) and len(list(ordered.glob("*.parquet"))) == 3
    run = assess_partitioned(
        ordered,
        enterprises=layers["enterprises"],
        projects=layers["projects"],
        villages=layers["villages"],
        progress=layers["village_progress"],
        towns=layers["towns"],
        as_of=DEMO_AS_OF,
        out=None,
        client=client,
    )
    assert not run.shuffled and len(run.partitions) == 3
    want = assess_idle_land(
        layers["parcels"],
        enterprises=layers["enterprises"],
        projects=layers["projects"],
        villages=layers["villages"],
        progress=layers["village_progress"],
        towns=layers["towns"],
        as_of=DEMO_AS_OF,
    )
    got, want = _sorted(run.result), _sorted(want)
    pd.testing.assert_frame_equal(
        pd.DataFrame(got.drop(columns="geometry")), pd.DataFrame(want.drop(columns="geometry"))
    )


def test_store_mode_writes_the_in_memory_assessment(demo_store, demo_store_master, client):
    from gis.partitioned import assess_store_partitioned
    from gis.store import GeoPackageStore

    want = GeoPackageStore(demo_store_master).read_layer("idle_assessment")  # assessed in memory by the demo
    before = demo_store.read_layer("idle_assessment")
    demo_store.write_layers({"idle_assessment": before.iloc[:10]})  # so the job must really replace it
    run = assess_store_partitioned(demo_store, as_of=DEMO_AS_OF, client=client, rows_per_partition=300)
    assert len(run.partitions) == 5
    got = demo_store.read_layer("idle_assessment")
    assert list(got["parcel_id"]) == list(want["parcel_id"])  # the store's parcel order, every parcel
    pd.testing.assert_frame_equal(
        pd.DataFrame(got.drop(columns="geometry")),
        pd.DataFrame(want.drop(columns="geometry")),
        check_exact=False,
        rtol=1e-12,
    )
    assert shapely.equals_exact(got.geometry.to_numpy(), want.geometry.to_numpy(), tolerance=0).all()
    assert demo_store.meta()["assess_engine"] == "dask (5 partitions)"


@pytest.fixture(scope="module")
def scale_demo(tmp_path_factory):
    from gis.scale_demo import write_scale_demo

    folder = tmp_path_factory.mktemp("scale")
    paths = write_scale_demo(folder, n_parcels=6000, tile_parcels=1500, templates=2, raster_resolution=80.0, seed=3)
    return folder, paths


def test_scale_demo_is_tiled_in_global_hilbert_order(scale_demo):
    import json

    folder, paths = scale_demo
    marker = json.loads((paths["parcels"] / MARKER).read_text(encoding="utf-8"))
    parts = sorted(paths["parcels"].glob("part.*.parquet"))
    assert len(parts) == marker["partitions"] == 4 and marker["rows"] == 6000
    frames = [gpd.read_parquet(p) for p in parts]
    assert [len(f) for f in frames] == [1500] * 4
    everything = pd.concat(frames, ignore_index=True)
    assert everything["parcel_id"].is_unique
    # geopandas' own Hilbert distance over the marker's extent never decreases across the partitions
    dist = gpd.GeoSeries(everything.geometry).hilbert_distance(total_bounds=marker["hilbert_extent"], level=16)
    assert (np.diff(dist.to_numpy().astype(np.int64)) >= 0).all()
    towns = gpd.read_parquet(paths["towns"])
    assert len(towns) == 4 * 16 and towns["town_code"].is_unique
    assert len(list(paths["rasters"].glob("*.vrt"))) == 4 * 4


def test_cli_assess_engine_dask_on_the_scale_demo_matches_in_memory(scale_demo, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    folder, paths = scale_demo
    out = tmp_path / "assessed"
    cmd = [
        str(Path(sys.executable).parent / "landrenew"),
        "assess",
        "--engine",
        "dask",
        "--workers",
        "2",
        "--memory-limit",
        "1GiB",
        "--as-of",
        "2026-11-01",
        "--parcels",
        str(paths["parcels"]),
        "--enterprises",
        str(paths["enterprises"]),
        "--projects",
        str(paths["projects"]),
        "--villages",
        str(paths["villages"]),
        "--progress",
        str(paths["village_progress"]),
        "--towns",
        str(paths["towns"]),
        "--rasters",
        str(paths["rasters"]),
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "dask 调度器：tcp://" in proc.stdout
    assert "dask 仪表板：" in proc.stdout  # a link, or why there is none (bokeh missing)
    assert "已写出" in proc.stdout and "6000 宗，4 个分区" in proc.stdout
    got = _sorted(read_partitioned(out, "idle_assessment"))
    small = {
        n: read_partitioned(paths[n], n) for n in ("enterprises", "projects", "villages", "village_progress", "towns")
    }
    want = _sorted(
        assess_idle_land(
            read_partitioned(paths["parcels"], "parcels"),
            enterprises=small["enterprises"],
            projects=small["projects"],
            villages=small["villages"],
            progress=small["village_progress"],
            towns=small["towns"],
            rasters=sorted(paths["rasters"].glob("*.vrt")),
            as_of=DEMO_AS_OF,
        )
    )
    assert got["activity_index"].notna().mean() > 0.9  # the VRT tiles were read under every tile's parcels
    pd.testing.assert_frame_equal(
        pd.DataFrame(got.drop(columns="geometry")),
        pd.DataFrame(want.drop(columns="geometry")),
        check_exact=False,
        rtol=1e-12,
    )


def test_partitioned_ingest_rejects_the_same_rows_as_the_whole_file(tmp_path, client):
    import pyogrio

    from gis.ingest import read_layer_file
    from gis.partitioned_ingest import ingest_partitioned

    parcels = build_demo_layers(n_parcels=1500, seed=5)["parcels"]
    raw = parcels.rename(columns=get_layer("parcels").labels())
    raw["出让面积(平方米)"] = raw["出让面积(平方米)"].astype(object)
    raw.loc[[9, 699], "出让面积(平方米)"] = -5.0  # rows 10 and 700 of the file
    raw["土地用途"] = raw["土地用途"].astype(object)
    raw.loc[1199, "土地用途"] = "菜地"  # row 1200
    source = tmp_path / "全省供地台账.gpkg"
    pyogrio.write_dataframe(raw, source, layer="parcels", driver="GPKG")
    whole, whole_report = read_layer_file("parcels", source)  # the in-memory ingest of the same file
    report = ingest_partitioned(
        "parcels", source, tmp_path / "parcels", chunk_rows=400, client=client, rejects_dir=tmp_path / "reports"
    )
    assert report.balanced and report.read == 1500 and report.rejected == whole_report.rejected == 3
    key = lambda ps: sorted((p.file, p.row, p.record_id, p.field, p.reason, p.severity) for p in ps)  # noqa: E731
    assert key(report.problems) == key(whole_report.problems)
    assert {p.row for p in report.problems if p.severity == "reject"} == {10, 700, 1200}
    rejects = pd.read_csv(next((tmp_path / "reports").glob("rejects-*.csv")), encoding="utf-8-sig")
    assert sorted(rejects.loc[rejects["级别"] == "拒收", "行号"]) == [10, 700, 1200]
    got = read_partitioned(tmp_path / "parcels", "parcels")
    assert is_hilbert_ordered(tmp_path / "parcels") and len(list((tmp_path / "parcels").glob("*.parquet"))) == 4
    got, want = _sorted(got), _sorted(whole)
    pd.testing.assert_frame_equal(
        pd.DataFrame(got.drop(columns="geometry")), pd.DataFrame(want.drop(columns="geometry"))
    )
    assert shapely.equals_exact(got.geometry.to_numpy(), want.geometry.to_numpy(), tolerance=0).all()


def test_partitioned_ingest_rejects_a_key_repeated_in_a_later_chunk(tmp_path):
    import pyogrio

    from gis.partitioned_ingest import ingest_partitioned

    parcels = build_demo_layers(n_parcels=600, seed=6)["parcels"]
    raw = parcels.rename(columns=get_layer("parcels").labels())
    raw.loc[550, "宗地编号"] = raw.loc[3, "宗地编号"]  # row 551 repeats row 4's id, 300-row chunks apart
    source = tmp_path / "台账.gpkg"
    pyogrio.write_dataframe(raw, source, layer="parcels", driver="GPKG")
    report = ingest_partitioned("parcels", source, tmp_path / "out", chunk_rows=300)  # no client: source order
    assert report.balanced and report.rejected == 1
    (problem,) = [p for p in report.problems if p.severity == "reject"]
    assert (problem.row, problem.record_id) == (551, raw.loc[3, "宗地编号"])
    assert not is_hilbert_ordered(tmp_path / "out")
    assert len(read_partitioned(tmp_path / "out", "parcels")) == 599


def test_cli_assess_engine_dask_store_mode(demo_store, demo_store_master):
    from click.testing import CliRunner

    from gis.store import GeoPackageStore
    from pipelines.cli import main

    result = CliRunner().invoke(
        main,
        [
            "assess",
            "--engine",
            "dask",
            "--store",
            demo_store.url,
            "--as-of",
            "2026-11-01",
            "--workers",
            "2",
            "--memory-limit",
            "1GiB",
            "--partition-rows",
            "500",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "dask 调度器：tcp://" in result.output and "3 个分区" in result.output
    want = GeoPackageStore(demo_store_master).read_layer("idle_assessment")
    got = demo_store.read_layer("idle_assessment")
    assert list(got["parcel_id"]) == list(want["parcel_id"])
    assert (got["route"] == want["route"]).all() and (got["sub_route"].fillna("") == want["sub_route"].fillna("")).all()


def test_any_running_scheduler_by_address(client, layers, in_memory):
    address = client.scheduler.address  # a running scheduler, as a province's cluster would be
    with start_client(scheduler=address) as (remote, info):
        assert info.address == address and info.workers == 2
        assert info.dashboard or info.note  # a link, or the reason there is none
        run = assess_partitioned(
            layers["folder"] / "parcels.parquet",
            enterprises=layers["enterprises"],
            projects=layers["projects"],
            villages=layers["villages"],
            progress=layers["village_progress"],
            towns=layers["towns"],
            rasters=layers["rasters"],
            as_of=DEMO_AS_OF,
            client=remote,
            rows_per_partition=1500,
        )
    assert len(run.partitions) == 2
    got, want = _sorted(run.result), _sorted(in_memory)
    assert list(got["parcel_id"]) == list(want["parcel_id"]) and (got["route"] == want["route"]).all()
