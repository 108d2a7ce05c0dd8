# ruff: noqa: F811  (pytest fixtures imported from tests.test_postgis, then used as parameters)
"""Disposal cases in PostGIS (revision 0004_cases): same rows and types as the GeoPackage, append-only for the
application role and, by trigger, for the owner too."""

from __future__ import annotations

import hashlib
import os

import pandas as pd
import psycopg
import pytest
import sqlalchemy as sa

from gis.cases import Attachment, is_identified, open_case, read_cases, read_events, record_event
from gis.disposal_warnings import disposal_warnings
from gis.errors import LandRenewError
from gis.store import GeoPackageStore, cases_store, migrations, postgis
from gis.store.cases_store import case_metadata
from gis.store.postgis import PostGISStore, normalize_url
from tests import case_fixtures
from tests.test_postgis import _admin_exec, cluster, db, pg_admin  # noqa: F401  (fixtures)

pytestmark = pytest.mark.postgis
TODAY = pd.Timestamp("2026-11-30").date()
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 400 + b"\n%%EOF\n"


@pytest.fixture
def pg(db):
    store = PostGISStore(db[0])
    case_fixtures.fill(store)
    yield store
    store.close()


@pytest.fixture
def gpkg(tmp_path):
    store = GeoPackageStore(tmp_path / "cases.gpkg")
    case_fixtures.fill(store)
    return store


def _scenario(store) -> None:
    """The same library calls on any store: three cases in different states."""

    def ev(case, event, date, by="wang", role="planner", **kw):
        return record_event(
            store, case_id=case["case_id"], event=event, event_date=date, recorded_by=by, role=role, today=TODAY, **kw
        )

    a = open_case(
        store,
        parcel_id="P-extend_start",
        route="continue",
        sub_route="extend_start",
        opened_by="wang",
        role="planner",
        run_id="run-7",
        opened_at="2025-01-02",
    )
    ev(
        a,
        "survey_notice",
        "2026-03-01",
        service_date="2026-03-03",
        doc_no="柯自然资调〔2026〕9号",
        attachments=[Attachment("调查通知书.pdf", PDF)],
    )
    b = open_case(
        store,
        parcel_id="P-continue_with_fee",
        route="reclaim",
        sub_route="reclaim_without_compensation",
        opened_by="wang",
        role="planner",
        reason="企业原因闲置满两年",
        opened_at="2025-01-02",
    )
    for i, e in enumerate(["survey_notice", "holder_response", "idle_determination", "public_notice", "plan_drafted"]):
        ev(b, e, f"2025-10-{i + 1:02d}")
    ev(b, "plan_approved", "2025-10-09", by="zhao", role="approver")
    ev(b, "reclaim_decision", "2026-01-05", service_date="2026-01-10")
    ev(b, "review_or_suit", "2026-02-01")
    ev(b, "review_or_suit_closed", "2026-03-03", note="复议维持")
    c = open_case(
        store,
        parcel_id="P-whole_transfer",
        route="transfer",
        sub_route="whole_transfer",
        opened_by="li",
        role="planner",
        opened_at="2025-01-02",
    )
    ev(c, "closed_other", "2025-02-01", note="企业已动工", by="li")


_VOLATILE = {
    "cases": ["case_id", "opened_at"],
    "case_events": ["event_id", "case_id", "recorded_at"],
    "attachments": ["attachment_id", "case_id", "event_id", "uploaded_at"],
}


def _stable(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    keys = [c for c in ("parcel_id", "seq", "filename") if c in frame]
    return frame.drop(columns=_VOLATILE[table]).sort_values(keys).reset_index(drop=True)


def test_migration_creates_the_case_tables(db):
    engine = postgis.create_engine(db[1])
    try:
        with engine.connect() as conn:
            from alembic.autogenerate import compare_metadata
            from alembic.runtime.migration import MigrationContext

            ctx = MigrationContext.configure(
                conn,
                opts={
                    "include_object": lambda obj, n, type_, reflected, compare_to: (
                        not (type_ == "table" and n not in case_metadata.tables)
                    )
                },
            )
            assert compare_metadata(ctx, case_metadata) == []
            triggers = conn.execute(
                sa.text(
                    "SELECT event_object_table, event_manipulation FROM information_schema.triggers "
                    "WHERE trigger_name LIKE '%append_only' AND event_object_table IN ('cases','case_events','attachments')"
                )
            ).fetchall()
        assert {(t, m) for t, m in triggers} == {
            (t, m) for t in ("cases", "case_events", "attachments") for m in ("UPDATE", "DELETE")
        }
        assert postgis.schema_revision(engine) == migrations.head_revision() == "0004_cases"
    finally:
        engine.dispose()


def test_both_stores_hold_the_same_rows_and_warnings(pg, gpkg):
    _scenario(pg)
    _scenario(gpkg)
    for table, read in (
        ("cases", cases_store.read_cases),
        ("case_events", cases_store.read_events),
        ("attachments", cases_store.read_attachments),
    ):
        ours, theirs = read(pg), read(gpkg)
        assert len(ours) == len(theirs) > 0
        assert ours.dtypes.to_dict() == theirs.dtypes.to_dict(), table
        pd.testing.assert_frame_equal(_stable(ours, table), _stable(theirs, table))
    assessment = gpkg.read_layer("idle_assessment")
    identified = assessment.loc[is_identified(assessment)]
    for as_of in ("2026-03-18", "2026-03-12", "2026-04-03"):
        w_pg = disposal_warnings(read_cases(pg), read_events(pg), as_of, identified=identified)
        w_gp = disposal_warnings(read_cases(gpkg), read_events(gpkg), as_of, identified=identified)
        cols = ["parcel_id", "level", "deadline_id", "due_date", "days"]
        pd.testing.assert_frame_equal(w_pg[cols], w_gp[cols])
    w = disposal_warnings(read_cases(pg), read_events(pg), "2026-04-03")
    # extend_start: answer due 2 Apr (red 1 day); reclaim: 9 Feb + 30 days pending = 11 Mar (red 23 days)
    assert sorted(w[["parcel_id", "level", "deadline_id", "days"]].values.tolist()) == [
        ["P-continue_with_fee", "red", "deregistration", 23],
        ["P-extend_start", "red", "holder_answer", 1],
    ]


def test_attachment_bytes_round_trip_in_postgis(pg):
    _scenario(pg)
    meta = cases_store.read_attachments(pg)
    assert meta["sha256"].tolist() == [hashlib.sha256(PDF).hexdigest()] and meta["size_bytes"].tolist() == [len(PDF)]
    assert cases_store.read_attachment_content(pg, meta["attachment_id"].iloc[0]) == PDF


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE case_events SET note = 'x'",
        "DELETE FROM case_events",
        "UPDATE cases SET route = 'reclaim'",
        "DELETE FROM attachments",
        "TRUNCATE cases CASCADE",
    ],
)
def test_postgis_refuses_update_and_delete(pg, db, statement):
    _scenario(pg)
    app, owner = (normalize_url(u).replace("+psycopg", "") for u in db)
    with psycopg.connect(app) as con, pytest.raises(psycopg.errors.InsufficientPrivilege):
        con.execute(statement)  # the app role has SELECT and INSERT only
    with psycopg.connect(owner) as con, pytest.raises(psycopg.errors.RestrictViolation, match="只能追加"):
        con.execute(statement)  # the trigger refuses the owner too
    assert len(cases_store.read_cases(pg)) == 3 and len(cases_store.read_events(pg)) == 11


def test_refused_event_leaves_postgis_unchanged(pg):
    case = open_case(
        pg, parcel_id="P-extend_start", route="continue", sub_route="extend_start", opened_by="wang", role="planner"
    )
    with pytest.raises(LandRenewError, match="下一步应为：下达调查通知书"):
        record_event(
            pg,
            case_id=case["case_id"],
            event="holder_response",
            event_date="2026-01-01",
            recorded_by="wang",
            role="planner",
            attachments=[Attachment("a.pdf", os.urandom(10))],
        )
    assert cases_store.read_events(pg).empty and cases_store.read_attachments(pg).empty


def test_upgrade_from_0001_keeps_the_data(cluster):
    name = cluster.new_database(template="template1")
    try:
        _admin_exec(cluster.admin, "CREATE EXTENSION IF NOT EXISTS postgis", database=name)
        url = cluster.owner_url(name)
        postgis.upgrade(url, "0001")
        with PostGISStore(url) as store:
            store._schema_ok = True  # at 0001 on purpose: write the layers with the 0001 tables only, as that code did
            with store._cursor(write=True) as cur:
                for layer, frame in case_fixtures.case_layers().items():
                    store._copy_frame(cur, layer, frame)
        assert postgis.upgrade(url) == "0004_cases"
        with PostGISStore(url) as store:
            assert len(store.read_layer("idle_assessment")) == len(case_fixtures.case_layers()["idle_assessment"])
            open_case(
                store, parcel_id="P-land_swap", route="reclaim", sub_route="land_swap", opened_by="wang", role="planner"
            )
            assert len(cases_store.read_cases(store)) == 1
        postgis.downgrade(url, "0001")
        assert postgis.schema_revision(url) == "0001"
    finally:
        cluster.drop_database(name)
