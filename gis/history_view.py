"""A parcel's history as a planner reads it (docs/history.md §2, §5): its versions with what changed, and the
decisions taken on it with the assessment they were based on.  ``landrenew history`` prints these items and the
app's parcel detail shows them as tables; neither formats anything itself.

>>> _day(None), _value(None), _value(pd.Timestamp("2026-03-31"))
('自始', '（空）', '2026-03-31')
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .history import parcel_history
from .schema import get_layer

__all__ = ["CHANGE_LABELS", "version_items", "decision_items", "versions_table", "decisions_table"]

#: the change a version records, in the planner's words
CHANGE_LABELS = {
    "added": "新增",
    "changed": "变更",
    "retired": "退出台账",
    "restored": "重新纳入",
    "correction": "迟到更正",
}


def _day(value: Any) -> str:
    return "自始" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


def _value(v: Any) -> str:
    if v is None or (not isinstance(v, (list, dict)) and pd.isna(v)):
        return "（空）"
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d")
    return str(v)


def _local(ts: Any) -> str:
    t = pd.Timestamp(ts)
    t = t.tz_localize("UTC") if t.tzinfo is None else t
    return t.tz_convert("Asia/Shanghai").strftime("%Y-%m-%d %H:%M")


def version_items(store, parcel_id: str, *, layer: str = "parcels") -> list[dict]:
    """Every believed version of a row, oldest first, as text: ``valid_from``, ``valid_to`` (``至今`` when still
    valid), ``change`` (Chinese), ``batch_id``, ``recorded_at`` (Shanghai time), ``lines`` — what changed, one
    line each (``受让人（holder）：A -> B``, ``图形：面积 a -> b 平方米（+d）``, the retirement reason, the
    corrections of that time)."""
    lay = get_layer(layer)
    out = []
    for v in parcel_history(store, parcel_id, layer=layer):
        lines = []
        if v["retired"]:
            lines.append(f"退出原因：{v['reason']}")
        for name, old, new in v["diff"]:
            if name == "geometry":
                lines.append(f"图形：面积 {old} -> {new} 平方米（{new - old:+.1f}）")
            else:
                lines.append(f"{lay.field(name).label}（{name}）：{_value(old)} -> {_value(new)}")
        for batch, by in v["corrected"]:
            lines.append(f"（此期间批次 {batch} 的记录已被批次 {by} 更正）")
        out.append(
            {
                "valid_from": _day(v["valid_from"]),
                "valid_to": "至今" if v["valid_to"] is None else _day(v["valid_to"]),
                "change": CHANGE_LABELS.get(v["change"], v["change"]),
                "batch_id": str(v["batch_id"]),
                "recorded_at": _local(v["recorded_at"]),
                "area_m2_delta": v["area_m2_delta"],
                "lines": lines,
            }
        )
    return out


def _reason_text(reason: Any) -> str:
    if isinstance(reason, dict):
        text = str(reason.get("text", ""))
        return f"{text}（{reason['citation']}）" if reason.get("citation") else text
    return str(reason)


def decision_items(store, parcel_id: str) -> list[dict]:
    """The decisions on a parcel, newest first, with what they were based on: ``decided_at`` (Shanghai time),
    ``decided_by``, ``route`` (the decided route/sub_route, Chinese), ``note``, ``run_id`` (None for a decision
    recorded before runs were kept), ``seen_route``, ``seen_alternatives`` and ``seen_reasons`` (texts, with
    their citation) of that run's row."""
    from .dashboard import list_text
    from .decisions import decision_snapshots

    ia = get_layer("idle_assessment")
    route, sub = ia.field("route"), ia.field("sub_route")

    def both(r: Any, s: Any) -> str:
        if not isinstance(r, str):
            return ""
        return route.label_of(r) + (f"／{sub.label_of(s)}" if isinstance(s, str) else "")

    out = []
    for d in decision_snapshots(store, parcel_id).to_dict("records"):
        has_run = isinstance(d.get("run_id"), str)
        out.append(
            {
                "decided_at": _local(d["decided_at"]),
                "decided_by": str(d["decided_by"]),
                "route": both(d["route"], d.get("sub_route")),
                "note": "" if d.get("note") is None or pd.isna(d.get("note")) else str(d["note"]),
                "run_id": d["run_id"] if has_run else None,
                "seen_route": both(d.get("seen_route"), d.get("seen_sub_route")) if has_run else "",
                "seen_alternatives": [list_text(a) for a in (d.get("seen_alternatives") or [])] if has_run else [],
                "seen_reasons": [_reason_text(r) for r in (d.get("seen_reasons") or [])] if has_run else [],
            }
        )
    return out


def versions_table(items: list[dict]) -> pd.DataFrame:
    """:func:`version_items` as the page's table (Chinese headers, one row per version)."""
    return pd.DataFrame(
        {
            "有效期自": [i["valid_from"] for i in items],
            "有效期至": [i["valid_to"] for i in items],
            "变化": [i["change"] for i in items],
            "入库批次": [i["batch_id"] for i in items],
            "入库时间": [i["recorded_at"] for i in items],
            "变化内容": ["；".join(i["lines"]) for i in items],
        },
        index=pd.Index([str(i) for i in range(1, len(items) + 1)], name="版本", dtype=object),
    )


def decisions_table(items: list[dict]) -> pd.DataFrame:
    """:func:`decision_items` as the page's table: each decision with the run and the row it was based on."""
    return pd.DataFrame(
        {
            "审定时间": [i["decided_at"] for i in items],
            "审定人": [i["decided_by"] for i in items],
            "审定路径": [i["route"] for i in items],
            "依据研判批次": [i["run_id"] or "（未记录）" for i in items],
            "当时建议": [i["seen_route"] for i in items],
            "当时备选": ["；".join(i["seen_alternatives"]) for i in items],
            "当时依据": ["；".join(i["seen_reasons"]) for i in items],
        }
    ).set_index("审定时间")
