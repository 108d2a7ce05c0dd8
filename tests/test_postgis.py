"""The PostGIS store against a real server: migrations, parity with GeoPackage, transactions, concurrency,
the audit trail the database enforces.

The server comes from ``tests/pg_cluster.py`` (``$LANDRENEW_TEST_PG_URL``, else a throwaway cluster).  Each test
gets a fresh database cloned from a migrated template; the app connects as a least-privileged role, migrations
and the checks of the owner's limits use the owner role.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely
import sqlalchemy as sa
from click.testing import CliRunner

from gis.errors import ConflictError, StoreError
from gis.frames import conform
from gis.schema import layer_names
from gis.store import GeoPackageStore, assessment_version, decision_version, migrations, open_store, postgis
from gis.store.cases_store import case_metadata
from gis.store.models import metadata
from gis.store.postgis import PostGISStore, normalize_url
from tests import pg_cluster

pytestmark = pytest.mark.postgis

OUTPUTS = ("idle_assessment", "village_status", "resettlement_sites")


# -- server and databases ------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_admin() -> str:
    try:
        return pg_cluster.admin_url()
    except pg_cluster.PgUnavailable as exc:
        reason = str(exc)
    if pg_cluster.skip_requested():
        pytest.skip(f"PostGIS tests SKIPPED because {pg_cluster.SKIP_ENV}=1: {reason}")
    pytest.fail(
        f"The PostGIS tests need a PostgreSQL 15 + PostGIS server and none could be started: {reason}\n"
        f"Fix: `make system-deps` (installs postgresql-15-postgis-3), or point {pg_cluster.ENV_URL} at a "
        f"server; to skip these tests knowingly, set {pg_cluster.SKIP_ENV}=1.",
        pytrace=False,
    )


def _url(admin: str, *, user: str | None = None, password: str | None = None, database: str | None = None) -> str:
    url = sa.engine.make_url(admin)
    if user is not None:
        url = url.set(username=user, password=password)
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def _admin_exec(admin: str, *statements: str, database: str | None = None) -> None:
    with psycopg.connect(normalize_url(_url(admin, database=database)).replace("+psycopg", ""), autocommit=True) as con:
        for s in statements:
            con.execute(s)


class Cluster:
    """The roles and the migrated template of this test session."""

    def __init__(self, admin: str):
        tag = uuid.uuid4().hex[:8]
        self.admin = admin
        self.owner, self.app = f"lr_owner_{tag}", f"lr_app_{tag}"
        self.password = f"pw-{tag}"
        self.template = f"lr_tmpl_{tag}"
        _admin_exec(
            admin,
            f"CREATE ROLE {self.owner} LOGIN CREATEROLE PASSWORD '{self.password}'",
            f"CREATE DATABASE {self.template} OWNER {self.owner}",
        )
        _admin_exec(admin, "CREATE EXTENSION IF NOT EXISTS postgis", database=self.template)
        engine = postgis.create_engine(self.owner_url(self.template))
        postgis.upgrade(engine)
        postgis.grant_app_role(engine, self.app, password=self.password)
        engine.dispose()

    def owner_url(self, db: str) -> str:
        return _url(self.admin, user=self.owner, password=self.password, database=db)

    def app_url(self, db: str) -> str:
        return _url(self.admin, user=self.app, password=self.password, database=db)

    def new_database(self, *, template: str | None = None) -> str:
        name = f"lr_{uuid.uuid4().hex[:10]}"
        _admin_exec(self.admin, f"CREATE DATABASE {name} OWNER {self.owner} TEMPLATE {template or self.template}")
        return name

    def drop_database(self, name: str) -> None:
        _admin_exec(self.admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def close(self) -> None:
        self.drop_database(self.template)
        _admin_exec(self.admin, f"DROP ROLE IF EXISTS {self.app}", f"DROP ROLE IF EXISTS {self.owner}")


@pytest.fixture(scope="session")
def cluster(pg_admin):
    c = Cluster(pg_admin)
    yield c
    c.close()


@pytest.fixture
def db(cluster):
    """A fresh, migrated database: ``(app_url, owner_url)``."""
    name = cluster.new_database()
    yield cluster.app_url(name), cluster.owner_url(name)
    cluster.drop_database(name)


@pytest.fixture
def pg(db):
    store = PostGISStore(db[0])
    yield store
    store.close()


@pytest.fixture
def gpkg(tmp_path):
    return GeoPackageStore(tmp_path / "parity.gpkg")


# -- frames ------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def demo_layers() -> dict[str, pd.DataFrame]:
    from gis.demo import build_demo_layers

    layers = build_demo_layers(n_parcels=600, seed=7)
    layers.pop("_meta", None)
    return layers


def _squares(n: int, *, x0: float = 120.5, y0: float = 30.0, multi_every: int = 3) -> list:
    """Small squares near Keqiao; every ``multi_every``-th a MultiPolygon of two parts."""
    out = []
    for i in range(n):
        a = shapely.box(x0 + i * 0.001, y0, x0 + i * 0.001 + 0.0004, y0 + 0.0004)
        if i % multi_every == 0:
            out.append(
                shapely.MultiPolygon(
                    [a, shapely.box(x0 + i * 0.001, y0 + 0.0006, x0 + i * 0.001 + 0.0002, y0 + 0.0008)]
                )
            )
        else:
            out.append(a)
    return out


TRICKY = ["含,逗号", 'a "quoted" word', "多行\n文本", r"back\slash \N", "NA", "null"]


def _outputs() -> dict[str, pd.DataFrame]:
    """Hand-made output rows with every awkward value: lists (Chinese, empty, nested quotes), NA in each type."""
    n = len(TRICKY)
    ia = gpd.GeoDataFrame(
        {
            "parcel_id": [f"KQ2021-{i:04d}" for i in range(n)],
            "town_code": ["330603001", None, *TRICKY[2:]],
            "as_of": [dt.date(2026, 11, 1)] * n,
            "rules_version": ["idle-2026.1"] * n,
            "in_stock_scope": [True, False, True, True, False, True],
            "dev_status": ["not_started", "started", None, "completed", "started", "not_started"],
            "idle_type": ["not_started_idle", "none", "halted_idle", None, "none", "none"],
            "idle_discretionary": [True, None, False, True, None, False],
            "idle_since": [dt.date(2023, 5, 1), None, dt.date(2024, 2, 29), None, None, dt.date(2020, 1, 1)],
            "idle_years": [3.5041095890410956, np.nan, 1 / 3, 0.0, 1e-12, 12.25],
            "cause": ["enterprise", "government", None, "mixed", "unknown", "force_majeure"],
            "route": ["reclaim", "continue", "transfer", "review", "none", "continue"],
            "sub_route": ["negotiated_reclaim", "on_schedule", "whole_transfer", None, None, "extend_start"],
            "alternatives": [["transfer"], [], ["reclaim", "review"], [], [], ["continue"]],
            "measures": [["限期处置", '含"引号"'], [], ["多行\n措施"], ["a,b"], [], []],
            "reasons": [
                ["《闲置土地处置办法》第十四条：超过两年未动工"],
                ["按期开发"],
                [],
                ["原因不明，待核实"],
                [],
                ["政府原因，延长动工期限"],
            ],
            "idle_fee_wan": [123.456789, np.nan, 0.0, 7.0, np.nan, 1e6],
            "activity_index": [0.12, np.nan, -0.3, 0.0, 0.987654321, np.nan],
            "evidence_conflict": [False, True, None, False, False, True],
            "project_ids": [["P001"], [], ["P002", "P003"], [], [], []],
            "village_ids": [[], ["CZC001"], [], [], ["CZC002", "CZC003"], []],
            "decision": [None, "继续开发（张三 2026-11-02）", None, None, None, None],
        },
        geometry=_squares(n),
        crs="EPSG:4490",
    )
    vs = gpd.GeoDataFrame(
        {
            "village_id": ["CZC001", "CZC002", "CZC003"],
            "name": ["柯岩村", "华舍村", None],
            "town_code": ["330603001", "330603002", "330603003"],
            "mode": ["拆除新建", "整治提升", None],
            "stage": ["done", "signing", "not_started"],
            "status": ["done", "at_risk", "not_started"],
            "as_of": [dt.date(2026, 11, 1)] * 3,
            "percent_complete": [1.0, 0.4567, np.nan],
            "households": [120, None, 0],
            "projected_completion": [dt.date(2026, 3, 1), None, dt.date(2028, 1, 31)],
            "notes": [["已完成"], [], ["进度滞后", "需加快签约"]],
        },
        geometry=_squares(3, y0=30.1),
        crs="EPSG:4490",
    )
    rs = pd.DataFrame(
        {
            "village_id": ["CZC002", "CZC002", "CZC003"],
            "rank": [1, 2, 1],
            "parcel_id": ["KQ2021-0001", "KQ2021-0004", "KQ2021-0005"],
            "distance_m": [812.25, 1500.0, np.nan],
            "reason": ["距离近、面积合适", "面积略小", None],
        }
    )
    return {"idle_assessment": ia, "village_status": vs, "resettlement_sites": rs}


def _all_frames(demo_layers) -> dict[str, pd.DataFrame]:
    return {**demo_layers, **_outputs()}


def assert_same_layer(a: pd.DataFrame, b: pd.DataFrame, *, geom_types: bool = True) -> None:
    """Identical attributes and dtypes; geometries equal within 1e-9 degrees (and of the same type)."""
    assert list(a.columns) == list(b.columns)
    attrs = [c for c in a.columns if c != "geometry"]
    pd.testing.assert_frame_equal(pd.DataFrame(a[attrs]), pd.DataFrame(b[attrs]))
    if "geometry" in a.columns:
        assert a.crs.equals(b.crs)
        other = b.geometry
        if geom_types:
            assert list(a.geom_type) == list(b.geom_type)
        else:
            other = other.map(lambda g: shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g)
        assert bool(a.geometry.geom_equals_exact(other, tolerance=1e-9).all())


def _snapshot(store) -> dict:
    return {"layers": {n: store.read_layer(n) for n in layer_names()}, "meta": store.meta()}


def assert_unchanged(store, before: dict) -> None:
    after = _snapshot(store)
    assert after["meta"] == before["meta"]
    for name, frame in before["layers"].items():
        assert_same_layer(after["layers"][name], frame)


# -- URLs -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg2://u@h/d", "postgresql+psycopg://u@h/d"),
    ],
)
def test_urls_normalised_to_psycopg(url, expected):
    assert normalize_url(url) == expected


def test_non_postgres_url_refused():
    with pytest.raises(StoreError, match="不是 PostgreSQL 地址"):
        normalize_url("mysql://u@h/d")


def test_password_hidden_in_repr():
    store = PostGISStore("postgresql://planner:s3cret@db.kq/landrenew")
    assert repr(store) == "PostGISStore('postgresql+psycopg://planner:***@db.kq/landrenew')"


# -- migrations -------------------------------------------------------------------------------------
def _public_tables(url: str) -> set[str]:
    engine = postgis.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_upgrade_from_empty_and_downgrade_to_empty(cluster):
    name = cluster.new_database(template="template1")
    try:
        _admin_exec(cluster.admin, "CREATE EXTENSION IF NOT EXISTS postgis", database=name)
        url = cluster.owner_url(name)
        assert postgis.schema_revision(url) is None
        assert postgis.upgrade(url) == migrations.head_revision()
        assert _public_tables(url) == {*metadata.tables, *case_metadata.tables, "alembic_version", "spatial_ref_sys"}
        engine = postgis.create_engine(url)
        with engine.connect() as conn:
            from alembic.autogenerate import compare_metadata
            from alembic.runtime.migration import MigrationContext

            ctx = MigrationContext.configure(
                conn,
                opts={
                    "include_object": lambda obj, n, type_, reflected, compare_to: (
                        not (type_ == "table" and n not in metadata.tables)
                    )
                },
            )
            assert compare_metadata(ctx, metadata) == []
            geom = conn.execute(sa.text("SELECT type, srid FROM geometry_columns WHERE f_table_name = 'parcels'")).one()
            assert tuple(geom) == ("MULTIPOLYGON", 4490)
            gist = conn.execute(
                sa.text("SELECT indexdef FROM pg_indexes WHERE tablename = 'parcels' AND indexdef LIKE '%gist%'")
            ).scalar()
            assert "geometry" in gist
            jsonb = conn.execute(
                sa.text(
                    "SELECT data_type FROM information_schema.columns WHERE table_name = 'idle_assessment' "
                    "AND column_name = 'reasons'"
                )
            ).scalar()
            assert jsonb == "jsonb"
        engine.dispose()
        assert postgis.downgrade(url) is None
        assert _public_tables(url) == {"alembic_version", "spatial_ref_sys"}
        assert postgis.upgrade(url) == migrations.head_revision()  # and up again from empty
    finally:
        cluster.drop_database(name)


def test_app_role_cannot_migrate_an_empty_database(cluster):
    name = cluster.new_database(template="template1")
    try:
        _admin_exec(
            cluster.admin,
            "CREATE EXTENSION IF NOT EXISTS postgis",
            f"GRANT CONNECT ON DATABASE {name} TO {cluster.app}",
            database=name,
        )
        store = PostGISStore(cluster.app_url(name))
        with pytest.raises(StoreError, match="尚未建立平台表结构.*landrenew db upgrade"):
            store.layer_counts()
        store.close()
    finally:
        cluster.drop_database(name)


def test_owner_store_migrates_an_empty_database_on_first_use(cluster):
    name = cluster.new_database(template="template1")
    try:
        _admin_exec(cluster.admin, "CREATE EXTENSION IF NOT EXISTS postgis", database=name)
        with PostGISStore(cluster.owner_url(name)) as store:
            assert store.layer_counts() == {}
            assert postgis.schema_revision(store.engine) == migrations.head_revision()
    finally:
        cluster.drop_database(name)


def test_open_store_picks_postgis(db):
    store = open_store(db[0].replace("postgresql://", "postgres://"))
    assert isinstance(store, PostGISStore)
    assert store.layer_counts() == {}
    store.close()


# -- parity with GeoPackage -------------------------------------------------------------------------
@pytest.mark.parametrize("name", [n for n in layer_names() if n != "decisions"])
def test_every_layer_round_trips_like_geopackage(pg, gpkg, demo_layers, name):
    frames = _all_frames(demo_layers)
    pg.write_layers({name: frames[name]})
    gpkg.write_layers({name: frames[name]})
    ours, theirs = pg.read_layer(name), gpkg.read_layer(name)
    assert len(ours) == len(frames[name]) > 0
    assert_same_layer(ours, theirs)
    # what was written (Polygons come back as MultiPolygons, like GeoPackage's promote_to_multi)
    assert_same_layer(ours, conform(frames[name], name).reset_index(drop=True), geom_types=False)


def test_tricky_text_and_lists_survive_exactly(pg):
    pg.write_layers({"idle_assessment": _outputs()["idle_assessment"]})
    back = pg.read_layer("idle_assessment")
    assert list(back["town_code"].iloc[2:]) == TRICKY[2:]
    assert back["measures"].iloc[0] == ["限期处置", '含"引号"']
    assert back["measures"].iloc[2] == ["多行\n措施"]
    assert back["alternatives"].iloc[1] == []
    assert back["idle_years"].iloc[2] == 1 / 3
    assert list(back.geom_type) == ["MultiPolygon"] * 6


def test_where_filters_like_geopackage(pg, gpkg, demo_layers):
    parcels = demo_layers["parcels"]
    ids = list(parcels["parcel_id"].iloc[[5, 1, 9]])
    town = parcels["town_code"].iloc[0]
    for store in (pg, gpkg):
        store.write_layers({"parcels": parcels})
    for where in (
        {"parcel_id": ids},
        {"town_code": town},
        {"parcel_id": ids[0], "town_code": town},
        {"parcel_id": []},
        {"town_code": int(town)},
        {"parcel_id": "no-such"},
    ):
        assert_same_layer(pg.read_layer("parcels", where=where), gpkg.read_layer("parcels", where=where))
    assert sorted(pg.read_layer("parcels", where={"parcel_id": ids})["parcel_id"]) == sorted(ids)
    with pytest.raises(KeyError, match="no field 'nope'"):
        pg.read_layer("parcels", where={"nope": 1})


def test_append_adds_rows_and_replace_replaces(pg, demo_layers):
    progress = demo_layers["village_progress"]
    first, second = progress.iloc[:100], progress.iloc[100:160]
    pg.write_layers({"village_progress": first})
    pg.write_layers({"village_progress": second}, append=("village_progress",))
    assert pg.layer_counts()["village_progress"] == 160
    assert_same_layer(
        pg.read_layer("village_progress"), conform(progress.iloc[:160], "village_progress").reset_index(drop=True)
    )
    pg.write_layers({"village_progress": second})
    assert pg.layer_counts()["village_progress"] == 60


def test_meta_merges_keys(pg, gpkg):
    for store in (pg, gpkg):
        store.write_layers({}, meta={"synthetic": "true", "assessed_at": "2026-11-01T08:00:00+00:00"})
        store.write_layers({}, meta={"assessed_at": "2026-11-02T08:00:00+00:00"})
    assert pg.meta() == gpkg.meta() == {"synthetic": "true", "assessed_at": "2026-11-02T08:00:00+00:00"}


def test_write_layers_refuses_decisions(pg):
    with pytest.raises(StoreError, match="审定记录只能逐条追加"):
        pg.write_layers({"decisions": pd.DataFrame()})


def test_contract_violations_refused_with_layer_named(pg, demo_layers):
    bad = demo_layers["parcels"].iloc[:3].copy()
    bad["land_use"] = pd.array(["住宅用地", "火星用地", "工业用地"], dtype="string")
    with pytest.raises(StoreError, match="写入图层 parcels 失败，本次写入未生效.*取值不在允许范围内"):
        pg.write_layers({"parcels": bad})
    dup = pd.concat([demo_layers["villages"].iloc[:2], demo_layers["villages"].iloc[:1]])
    with pytest.raises(StoreError, match="写入图层 villages 失败.*记录编号重复"):
        pg.write_layers({"villages": dup})
    assert pg.layer_counts() == {}


# -- fault injection ----------------------------------------------------------------------------------
def _fail_on_copy(monkeypatch, nth: int, *, after: bool) -> None:
    """Make the ``nth`` COPY raise (before or after its rows went in)."""
    original = PostGISStore._copy_frame
    calls = []

    def copy(self, cur, name, frame):
        calls.append(name)
        if len(calls) == nth and not after:
            raise RuntimeError(f"injected failure before copying {name}")
        original(self, cur, name, frame)
        if len(calls) == nth and after:
            raise RuntimeError(f"injected failure after copying {name}")

    monkeypatch.setattr(PostGISStore, "_copy_frame", copy)


@pytest.mark.parametrize(
    ("case", "nth", "after"),
    [
        ("replace", 1, True),
        ("append", 1, True),
        ("multi", 2, False),
        ("multi", 3, True),
    ],
)
def test_failure_midway_through_write_leaves_database_unchanged(pg, demo_layers, monkeypatch, case, nth, after):
    pg.write_layers({n: demo_layers[n].iloc[:50] for n in ("towns", "parcels", "village_progress")}, meta={"run": "1"})
    before = _snapshot(pg)
    if case == "replace":
        frames, append = {"parcels": demo_layers["parcels"].iloc[100:130]}, ()
    elif case == "append":
        frames, append = {"village_progress": demo_layers["village_progress"].iloc[50:90]}, ("village_progress",)
    else:
        frames = {n: demo_layers[n] for n in ("parcels", "villages", "village_progress")}
        append = ()
    _fail_on_copy(monkeypatch, nth, after=after)
    with pytest.raises(RuntimeError, match="injected failure"):
        pg.write_layers(frames, append=append, meta={"run": "2"})
    monkeypatch.undo()
    assert_unchanged(pg, before)


def test_failure_while_writing_meta_leaves_layers_unchanged(pg, demo_layers, monkeypatch):
    pg.write_layers({"towns": demo_layers["towns"]}, meta={"run": "1"})
    before = _snapshot(pg)

    def broken(self, cur, meta):
        cur.execute("DELETE FROM store_meta")
        raise RuntimeError("injected failure in meta")

    monkeypatch.setattr(PostGISStore, "_write_meta", broken)
    with pytest.raises(RuntimeError, match="injected failure in meta"):
        pg.write_layers({"towns": demo_layers["towns"].iloc[:3]}, meta={"run": "2"})
    monkeypatch.undo()
    assert_unchanged(pg, before)


# -- decisions ------------------------------------------------------------------------------------------
def _decision(
    parcel_id: str, based_on: str, *, route: str = "reclaim", by: str = "张三", at: str = "2026-11-02T09:30:00.123Z"
) -> dict:
    return {
        "decision_id": uuid.uuid4().hex,
        "parcel_id": parcel_id,
        "route": route,
        "sub_route": None,
        "note": "审定意见，含,逗号",
        "decided_by": by,
        "decided_at": pd.Timestamp(at),
        "based_on_version": based_on,
        "rules_version": "idle-2026.1",
    }


@pytest.fixture
def assessed(pg):
    pg.write_layers({"idle_assessment": _outputs()["idle_assessment"]})
    return pg


def test_current_version_and_decision_chain_like_geopackage(assessed, gpkg):
    gpkg.write_layers({"idle_assessment": _outputs()["idle_assessment"]})
    pid = "KQ2021-0000"
    first = assessment_version("2026-11-01", "idle-2026.1", "reclaim", "negotiated_reclaim")
    for store in (assessed, gpkg):
        assert store.current_version(pid) == first
        assert store.current_version("KQ-none") is None
    d1 = _decision(pid, first)
    d2 = _decision(pid, decision_version(d1["decision_id"]), route="transfer", at="2026-11-03T01:00:00Z")
    same_time = _decision(pid, decision_version(d2["decision_id"]), route="continue", at="2026-11-03T01:00:00Z")
    for store in (assessed, gpkg):
        for d in (d1, d2, same_time):
            store.append_decision(d)
        assert store.current_version(pid) == decision_version(same_time["decision_id"])
    assert_same_layer(assessed.read_layer("decisions"), gpkg.read_layer("decisions"))
    assert assessed.layer_counts()["decisions"] == 3


def test_stale_version_gets_conflict_message(assessed):
    pid = "KQ2021-0001"
    first = assessed.current_version(pid)
    assessed.append_decision(_decision(pid, first, route="continue"))
    with pytest.raises(ConflictError, match=f"宗地 {pid} 的研判或审定已被更新.*本次保存未生效"):
        assessed.append_decision(_decision(pid, first, route="reclaim", by="李四"))
    assert len(assessed.read_layer("decisions")) == 1


def test_decision_on_unassessed_parcel_refused(assessed):
    with pytest.raises(StoreError, match="宗地 KQ-none 没有研判结果，不能审定"):
        assessed.append_decision(_decision("KQ-none", "A:x"))


def test_failure_after_decision_insert_leaves_no_row(assessed, monkeypatch):
    original = PostGISStore._insert_decision

    def insert_then_fail(self, cur, values):
        original(self, cur, values)
        raise RuntimeError("injected failure after insert")

    monkeypatch.setattr(PostGISStore, "_insert_decision", insert_then_fail)
    pid = "KQ2021-0002"
    with pytest.raises(RuntimeError, match="injected failure after insert"):
        assessed.append_decision(_decision(pid, assessed.current_version(pid)))
    monkeypatch.undo()
    assert len(assessed.read_layer("decisions")) == 0
    assert assessed.current_version(pid).startswith("A:2026-11-01")


def test_two_planners_racing_on_one_parcel(db, assessed, monkeypatch):
    """Two real connections decide at the same moment on the same version: one wins, one conflicts."""
    pid = "KQ2021-0003"
    version = assessed.current_version(pid)
    original = PostGISStore._insert_decision
    inside = threading.Barrier(2, timeout=10)

    def slow_insert(self, cur, values):  # widen the window between the version check and the insert
        threading.Event().wait(0.3)
        original(self, cur, values)

    monkeypatch.setattr(PostGISStore, "_insert_decision", slow_insert)
    stores = [PostGISStore(db[0]), PostGISStore(db[0])]
    outcomes: dict[str, object] = {}

    def decide(i: int) -> None:
        stores[i].layer_counts()  # connect first, so both start together
        inside.wait()
        try:
            stores[i].append_decision(_decision(pid, version, by=f"planner{i}"))
            outcomes[f"planner{i}"] = "ok"
        except ConflictError as exc:
            outcomes[f"planner{i}"] = exc

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for s in stores:
        s.close()
    assert sorted(str(type(v).__name__) if v != "ok" else "ok" for v in outcomes.values()) == ["ConflictError", "ok"]
    loser = next(v for v in outcomes.values() if v != "ok")
    assert "已被更新" in str(loser)
    rows = assessed.read_layer("decisions")
    winner = next(k for k, v in outcomes.items() if v == "ok")
    assert list(rows["decided_by"]) == [winner]
    assert assessed.current_version(pid) == decision_version(rows["decision_id"].iloc[0])


# -- the audit trail the database enforces ---------------------------------------------------------------
def _sql(url: str, statement: str) -> None:
    with psycopg.connect(normalize_url(url).replace("+psycopg", "")) as con:
        con.execute(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE decisions SET route = 'none'",
        "DELETE FROM decisions",
        "TRUNCATE decisions",
        "TRUNCATE parcels",
        "UPDATE idle_assessment SET route = 'none'",
        "CREATE TABLE sneaky (id int)",
        "DROP TABLE decisions",
        "ALTER TABLE decisions DISABLE TRIGGER decisions_append_only",
    ],
)
def test_app_role_is_refused(db, assessed, statement):
    pid = "KQ2021-0000"
    assessed.append_decision(_decision(pid, assessed.current_version(pid)))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _sql(db[0], statement)
    assert len(assessed.read_layer("decisions")) == 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE decisions SET route = 'none'",
        "DELETE FROM decisions",
        "TRUNCATE decisions",
    ],
)
def test_even_the_owner_cannot_change_decisions(db, assessed, statement):
    pid = "KQ2021-0000"
    assessed.append_decision(_decision(pid, assessed.current_version(pid)))
    with pytest.raises(psycopg.errors.RestrictViolation, match="审定记录只能追加，不能修改或删除"):
        _sql(db[1], statement)
    assert len(assessed.read_layer("decisions")) == 1


def test_app_role_privileges_are_exactly_the_documented_ones(db):
    with psycopg.connect(normalize_url(db[1]).replace("+psycopg", "")) as con:
        role = sa.engine.make_url(db[0]).username
        rows = con.execute(
            "SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type) "
            "FROM information_schema.role_table_grants WHERE grantee = %s GROUP BY table_name",
            (role,),
        ).fetchall()
    grants = dict(rows)
    assert grants["decisions"] == "INSERT,SELECT"
    assert grants["alembic_version"] == "SELECT"
    for name in (*layer_names(), "store_meta"):
        if name != "decisions":
            assert grants[name] == "DELETE,INSERT,SELECT", name
    assert not any("UPDATE" in g or "TRUNCATE" in g for g in grants.values())


# -- command line ---------------------------------------------------------------------------------------
def test_db_commands_upgrade_grant_and_downgrade(cluster):
    from pipelines.cli import main

    name = cluster.new_database(template="template1")
    role = f"lr_cli_{uuid.uuid4().hex[:6]}"
    try:
        _admin_exec(cluster.admin, "CREATE EXTENSION IF NOT EXISTS postgis", database=name)
        url = cluster.owner_url(name)
        runner = CliRunner()
        res = runner.invoke(main, ["db", "upgrade", "--store", url])
        assert res.exit_code == 0, res.output
        assert migrations.head_revision() in res.output
        res = runner.invoke(main, ["db", "grant-app-role", "--store", url, "--role", role, "--password", "pw"])
        assert res.exit_code == 0, res.output
        assert role in res.output
        res = runner.invoke(main, ["db", "current", "--store", url])
        assert res.exit_code == 0 and migrations.head_revision() in res.output
        res = runner.invoke(main, ["db", "downgrade", "--store", url])
        assert res.exit_code != 0 and "--yes" in res.output
        assert postgis.schema_revision(url) == migrations.head_revision()
        res = runner.invoke(main, ["db", "downgrade", "--store", url, "--yes"])
        assert res.exit_code == 0, res.output
        assert postgis.schema_revision(url) is None
    finally:
        cluster.drop_database(name)
        _admin_exec(cluster.admin, f"DROP ROLE IF EXISTS {role}")


def test_db_commands_refuse_a_geopackage(tmp_path):
    from pipelines.cli import main

    res = CliRunner().invoke(main, ["db", "upgrade", "--store", str(tmp_path / "x.gpkg")])
    assert res.exit_code == 2
    assert "db 命令只用于 PostgreSQL/PostGIS 存储" in res.output


# -- whole pipeline parity ---------------------------------------------------------------------------------
def test_assess_and_renewal_identical_on_both_stores(pg, gpkg, demo_layers):
    from gis.workflow import assess_store, renewal_store

    as_of = dt.date(2026, 11, 1)
    for store in (pg, gpkg):
        store.write_layers(demo_layers)
        assess_store(store, as_of=as_of)
        renewal_store(store, as_of=as_of)
    for name in OUTPUTS:
        ours, theirs = pg.read_layer(name), gpkg.read_layer(name)
        assert len(ours) > 0, name
        assert_same_layer(ours, theirs)
    assert pg.layer_counts() == {k: v for k, v in gpkg.layer_counts().items() if v}


@pytest.mark.slow
def test_demo_pipeline_from_source_files_identical_on_both_stores(db, tmp_path, monkeypatch):
    """The demo's real source files (xlsx, shp, gpkg, geojson, GeoTIFF) ingested, assessed and tracked."""
    from gis.workflow import build_demo_store

    monkeypatch.setenv("LANDRENEW_FILES", str(tmp_path / "pg_files"))
    pg, pg_reports = build_demo_store(db[0], n_parcels=500, seed=11)
    gp, gp_reports = build_demo_store(tmp_path / "gpkg" / "demo.gpkg", n_parcels=500, seed=11)
    try:
        assert [(r.read, r.stored, r.rejected) for r in pg_reports] == [
            (r.read, r.stored, r.rejected) for r in gp_reports
        ]
        assert pg.files_dir == tmp_path / "pg_files"
        for name in layer_names():
            assert_same_layer(pg.read_layer(name), gp.read_layer(name))
        assert len(pg.read_layer("idle_assessment")) == pg.layer_counts()["parcels"] > 400
        # times and ids of the runs and batches differ by nature; schema_version is the GeoPackage file format's own
        stamps = ("assessed_at", "renewal_at", "assess_run", "renewal_run", "last_batch", "schema_version")
        assert {k: v for k, v in pg.meta().items() if k not in stamps} == {
            k: v for k, v in gp.meta().items() if k not in stamps
        }
    finally:
        pg.close()
