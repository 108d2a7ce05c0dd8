"""Users and roles (gis.auth, ``landrenew users``) and append-only decisions (gis.decisions)."""

from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner

from gis.accounts import add_user, list_users
from gis.auth import User, authenticate, can, require
from gis.decisions import decision_history, latest_decisions, record_decision, sub_routes_of
from gis.errors import ConflictError, LandRenewError, PermissionDenied
from gis.store import assessment_version, decision_version
from tests.app_server import build_app_store


@pytest.fixture(scope="module")
def master(tmp_path_factory):
    return build_app_store(tmp_path_factory.mktemp("auth") / "store", users=False).path


@pytest.fixture
def store(master, tmp_path):
    import shutil

    from gis.store import GeoPackageStore

    shutil.copy2(master, tmp_path / master.name)
    return GeoPackageStore(tmp_path / master.name)


# ------------------------------------------------------------------------------------------- auth
def _hashes(store) -> dict[str, str]:
    with sqlite3.connect(store.path) as con:
        return dict(con.execute("SELECT name, password_hash FROM users").fetchall())


def test_users_table_holds_argon2id_hashes_not_passwords(store):
    add_user(store, "wang", "secret-pass", role="planner")
    hashed = _hashes(store)["wang"]
    assert hashed.startswith("$argon2id$") and "secret-pass" not in hashed
    assert b"secret-pass" not in store.path.read_bytes()
    assert authenticate(store, "wang", "secret-pass") == User("wang", "planner")
    assert [(u.name, u.role, u.disabled) for u in list_users(store)] == [("wang", "planner", False)]


@pytest.mark.parametrize("name, password", [("wang", "wrong-pass"), ("nobody", "secret-pass"), ("wang", "")])
def test_authenticate_refuses_with_one_message(store, name, password):
    add_user(store, "wang", "secret-pass", role="viewer")
    with pytest.raises(PermissionDenied, match="^用户名或密码错误；"):
        authenticate(store, name, password)


@pytest.mark.parametrize(
    "name, password, role, message",
    [
        ("wang", "short-pw1", "viewer", "密码太短（至少 10 位）"),
        ("wang li", "long-enough", "viewer", "用户名“wang li”不合规"),
        ("wang", "long-enough", "boss", "未知角色“boss”"),
        ("wangxiaoming", "WangXiaoMing", "viewer", "密码不能与用户名相同"),
        ("wang", "password123", "viewer", "密码过于常见"),
        ("wang", "aaaaabbbbb", "viewer", "至少要有 4 个不同的字符"),
    ],
)
def test_add_user_validates(store, name, password, role, message):
    with pytest.raises(LandRenewError, match=message):
        add_user(store, name, password, role=role)
    assert list_users(store) == []


def test_add_user_refuses_a_duplicate_unless_replace(store):
    add_user(store, "wang", "first-pass", role="viewer")
    with pytest.raises(LandRenewError, match="用户 wang 已存在"):
        add_user(store, "wang", "second-pass", role="admin")
    add_user(store, "wang", "second-pass", role="admin", replace=True)
    assert authenticate(store, "wang", "second-pass").role == "admin"


@pytest.mark.parametrize(
    "role, action, allowed",
    [
        ("viewer", "read", True),
        ("viewer", "export", True),
        ("viewer", "decide", False),
        ("planner", "decide", True),
        ("planner", "run_pipelines", False),
        ("planner", "manage_users", False),
        ("admin", "decide", True),
        ("admin", "run_pipelines", True),
        ("admin", "manage_users", True),
    ],
)
def test_role_permissions(role, action, allowed):
    assert can(role, action) is allowed


def test_require_names_the_user_and_the_roles_that_may():
    with pytest.raises(PermissionDenied, match="用户 li（浏览）无权审定.*规划审定或审批（分管领导）或管理员"):
        require(User("li", "viewer"), "decide")
    with pytest.raises(PermissionDenied, match="未登录用户无权查看"):
        require(None, "read")


def test_users_command_adds_from_stdin_and_lists(store):
    from pipelines.users import command

    runner = CliRunner()
    result = runner.invoke(
        command,
        ["add", "zhang", "--role", "admin", "--password-stdin", "--store", str(store.path)],
        input="admin-pass-9\n",
    )
    assert result.exit_code == 0, result.output
    assert "已添加用户 zhang（管理员）" in result.output
    assert authenticate(store, "zhang", "admin-pass-9").role == "admin"
    listed = runner.invoke(command, ["list", "--store", str(store.path)])
    assert listed.output.strip() == "zhang\tadmin\t管理员\t启用"
    bad = runner.invoke(
        command, ["add", "li", "--role", "owner", "--password-stdin", "--store", str(store.path)], input="whatever-12\n"
    )
    assert bad.exit_code == 2 and "owner" in bad.output


def test_users_command_prompts_twice(store):
    from pipelines.users import command

    result = CliRunner().invoke(
        command, ["add", "li", "--role", "viewer", "--store", str(store.path)], input="viewer-pass\nviewer-pass\n"
    )
    assert result.exit_code == 0, result.output
    assert authenticate(store, "li", "viewer-pass").role == "viewer"


# -------------------------------------------------------------------------------------- decisions
def _decide(store, **kw):
    args = dict(
        parcel_id="KQ-0000",
        route="reclaim",
        sub_route="negotiated_reclaim",
        note="协商一致",
        decided_by="wang",
        role="planner",
        based_on_version=store.current_version("KQ-0000"),
    )
    args.update(kw)
    return record_decision(store, **args)


def test_a_decision_is_appended_with_who_when_and_versions(store):
    first_version = store.current_version("KQ-0000")
    assert first_version == assessment_version("2026-11-01", "test-r1", "reclaim", "negotiated_reclaim")
    row = _decide(store)
    assert len(row["decision_id"]) == 32 and row["rules_version"] == "test-r1"
    assert row["based_on_version"] == first_version
    assert row["decided_at"].tz is not None
    assert store.current_version("KQ-0000") == decision_version(row["decision_id"])
    second = _decide(store, route="transfer", sub_route="joint_development", note="改为合作开发")
    history = decision_history(store, "KQ-0000")
    assert history["decision_id"].tolist() == [second["decision_id"], row["decision_id"]]  # newest first
    assert history["based_on_version"].tolist() == [decision_version(row["decision_id"]), first_version]
    latest = latest_decisions(store.read_layer("decisions"))
    assert latest[["parcel_id", "route"]].values.tolist() == [["KQ-0000", "transfer"]]


def test_a_stale_decision_is_refused_and_nothing_is_written(store):
    loaded = store.current_version("KQ-0000")
    _decide(store, based_on_version=loaded)
    with pytest.raises(ConflictError, match="宗地 KQ-0000 的研判或审定已被更新.*本次保存未生效"):
        _decide(store, based_on_version=loaded, route="continue", sub_route="extend_start")
    assert len(store.read_layer("decisions")) == 1


def test_a_viewer_is_refused_even_with_a_forged_request(store):
    with pytest.raises(PermissionDenied, match="用户 wang（浏览）无权审定"):
        _decide(store, role="viewer")
    with pytest.raises(PermissionDenied):
        _decide(store, role="superuser")
    assert len(store.read_layer("decisions")) == 0


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"route": "sell", "sub_route": None}, "未知处置路径“sell”"),
        ({"route": "reclaim", "sub_route": "whole_transfer"}, "具体方式“整体转让”不属于路径“收回收购”"),
        ({"route": "review", "sub_route": "land_swap"}, "“待研判”不选具体方式"),
        ({"based_on_version": ""}, "缺少依据版本"),
        ({"parcel_id": "NOPE"}, "宗地 NOPE 没有研判结果"),
    ],
)
def test_invalid_decisions_are_refused(store, kw, message):
    with pytest.raises(LandRenewError, match=message):
        _decide(store, **kw)
    assert len(store.read_layer("decisions")) == 0


def test_decisions_cannot_be_edited_in_place(store):
    _decide(store)
    with sqlite3.connect(store.path) as con, pytest.raises(sqlite3.DatabaseError, match="只能追加"):
        con.execute("UPDATE decisions SET route = 'none'")


def test_sub_routes_of():
    assert sub_routes_of("reclaim") == [
        "negotiated_reclaim",
        "reclaim_without_compensation",
        "purchase_by_demand",
        "land_swap",
    ]
    assert sub_routes_of("review") == []
