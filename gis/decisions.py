"""Planners' decisions: append-only, with who, when and the version they were based on.

A decision is never edited: a new decision on the same parcel is a new row whose
``based_on_version`` is the previous decision (``gis.store.decision_version``), or the assessment
row for the first one (``gis.store.assessment_version``).  The store refuses a decision based on a
stale version with :class:`~gis.errors.ConflictError` (no lost update): the page captures
``store.current_version(parcel_id)`` when the parcel's detail loads and passes it here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pandas as pd

from .auth import User, require
from .errors import LandRenewError
from .rules import load_rules
from .schema import get_layer

__all__ = [
    "record_decision",
    "decision_history",
    "latest_decisions",
    "sub_routes_of",
    "decision_snapshot",
    "decision_snapshots",
]


def _sub_routes() -> dict[str, str]:
    """sub_route -> route, from the idle rule file (``sub_routes``, docs/rules.md §6), in the table's order."""
    rules = load_rules("idle", spec={"sub_routes": ("list", None)})
    return {str(k): str(v) for item in rules["sub_routes"] for k, v in item.items()}


def sub_routes_of(route: str) -> list[str]:
    """The sub-routes (docs/rules.md §6) a route allows, in the table's order; none for none/review.

    >>> sub_routes_of("transfer")
    ['whole_transfer', 'preregistered_transfer', 'joint_development']
    """
    return [sub for sub, rt in _sub_routes().items() if rt == route]


def _blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (not isinstance(value, str) and pd.isna(value))
    )


def record_decision(
    store,
    *,
    parcel_id: str,
    route: str,
    sub_route: str | None,
    note: str | None,
    decided_by: str,
    role: str,
    based_on_version: str,
) -> dict:
    """Record a planner's decision on a parcel.

    Parameters
    ----------
    store
        A :class:`gis.store.Store`.
    parcel_id
        The assessed parcel.
    route, sub_route
        The decided route (``decisions.route`` values) and, for continue/transfer/reclaim, one of its
        sub-routes (docs/rules.md §6); none/review take no sub-route.
    note
        The planner's reason (free text).
    decided_by, role
        The signed-in user and role; a viewer is refused even if the form was forged.
    based_on_version
        ``store.current_version(parcel_id)`` as captured when the detail was loaded.

    Returns
    -------
    dict
        The stored row (decision_id, parcel_id, route, sub_route, note, decided_by, decided_at,
        based_on_version, rules_version).

    Raises
    ------
    PermissionDenied
        The role may not decide.
    LandRenewError
        Unknown route or sub-route, a sub-route of another route, a missing version.
    ConflictError
        The parcel's assessment or latest decision changed since ``based_on_version``.
    """
    require(User(decided_by, role), "decide")
    routes = get_layer("decisions").field("route")
    if route not in routes.values:
        raise LandRenewError(
            f"未知处置路径“{route}”",
            detail=f"route {route!r} not in {routes.values}",
            fix=f"可选：{'、'.join(f'{v}（{routes.label_of(v)}）' for v in routes.values)}",
        )
    sub_field = get_layer("idle_assessment").field("sub_route")
    sub_route = None if _blank(sub_route) else str(sub_route)
    allowed = sub_routes_of(route)
    if sub_route is not None and sub_route not in allowed:
        owner = _sub_routes().get(sub_route)
        raise LandRenewError(
            f"具体方式“{sub_field.label_of(sub_route)}”不属于路径“{routes.label_of(route)}”",
            detail=f"sub_route {sub_route!r} belongs to {owner!r}, not {route!r}",
            fix=(
                f"“{routes.label_of(route)}”可选：{'、'.join(sub_field.label_of(s) for s in allowed)}"
                if allowed
                else f"“{routes.label_of(route)}”不选具体方式"
            ),
        )
    if _blank(based_on_version):
        raise LandRenewError(
            f"宗地 {parcel_id} 缺少依据版本，不能保存",
            detail="based_on_version is empty",
            fix="刷新页面重新打开宗地详情后再审定",
        )
    assessed = store.read_layer("idle_assessment", where={"parcel_id": parcel_id})
    if assessed.empty:
        raise LandRenewError(
            f"宗地 {parcel_id} 没有研判结果，不能审定",
            detail=f"no assessment for {parcel_id!r}",
            fix="检查宗地编号，或先运行 landrenew assess",
        )
    rules_version = assessed["rules_version"].iloc[0]
    row = {
        "decision_id": uuid.uuid4().hex,
        "parcel_id": str(parcel_id),
        "route": route,
        "sub_route": sub_route,
        "note": None if _blank(note) else str(note).strip(),
        "decided_by": decided_by,
        "decided_at": pd.Timestamp(dt.datetime.now(dt.UTC)).floor("ms"),
        "based_on_version": str(based_on_version),
        "rules_version": None if pd.isna(rules_version) else str(rules_version),
    }
    store.append_decision(row, snapshot=decision_snapshot(store, row, assessed.iloc[0]))
    return row


def decision_snapshot(store, decision: dict, assessed: pd.Series) -> dict:
    """What a decision was based on (docs/history.md §5): the current run and the row's route, sub_route,
    alternatives, reasons as the planner saw them — kept with the decision, in its transaction."""
    from .runs import current_run

    return {
        "decision_id": decision["decision_id"],
        "parcel_id": decision["parcel_id"],
        "run_id": current_run(store, "assess"),
        "route": assessed["route"],
        "sub_route": None if pd.isna(assessed["sub_route"]) else assessed["sub_route"],
        "alternatives": list(assessed["alternatives"] or []),
        "reasons": list(assessed["reasons"] or []),
        "idle_type": None if pd.isna(assessed["idle_type"]) else assessed["idle_type"],
        "as_of": assessed["as_of"],
    }


def decision_snapshots(store, parcel_id: str) -> pd.DataFrame:
    """The snapshots of the decisions on a parcel joined to the decisions, newest first."""
    decisions = decision_history(store, parcel_id)
    snaps = store.read_history("decision_snapshots", filters=[("parcel_id", "=", parcel_id)])
    snaps = pd.DataFrame(snaps.drop(columns=["parcel_id"])).rename(
        columns={
            "route": "seen_route",
            "sub_route": "seen_sub_route",
            "alternatives": "seen_alternatives",
            "reasons": "seen_reasons",
            "idle_type": "seen_idle_type",
            "as_of": "seen_as_of",
        }
    )
    return decisions.merge(snaps, on="decision_id", how="left")


def decision_history(store, parcel_id: str) -> pd.DataFrame:
    """The decisions on a parcel, newest first (canonical ``decisions`` columns)."""
    frame = store.read_layer("decisions", where={"parcel_id": parcel_id})
    return frame.sort_values("decided_at", ascending=False, kind="stable").reset_index(drop=True)


def latest_decisions(decisions: pd.DataFrame) -> pd.DataFrame:
    """The latest decision per parcel (one row per ``parcel_id``)."""
    if decisions.empty:
        return decisions
    ordered = decisions.sort_values("decided_at", kind="stable")
    return ordered.drop_duplicates("parcel_id", keep="last").reset_index(drop=True)
