"""Disposal cases (处置案件): open a case from an assessment, record its events in the procedure's order.

A case is opened for a parcel whose assessment is idle, or in stock scope with a route other than ``none``
(docs/disposal.md §2).  It records the route/sub_route adopted — a reason is required when it differs from the
recommendation — the assessment run it was based on (``run_id``, optional until runs exist), a snapshot of the
recommendation, and who opened it.  One open case per parcel; a case closed another way may be reopened or a
new one opened.

Events (docs/disposal.md §1) are appended, never edited, in the order of the rule file
(:mod:`gis.procedure`); an event out of order is refused with the reason.  The plan is approved or returned
by an approver other than the one who drafted it: self-approval is refused here, not only hidden in the page.

>>> from gis.disposal_rules import default_disposal_rules
>>> case_stage(default_disposal_rules(), ["survey_notice", "holder_response"])
'case_open'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import mimetypes
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .disposal_rules import DisposalRules, default_disposal_rules
from .errors import LandRenewError, PermissionDenied
from .procedure import check_next, next_events, replay
from .store import cases_store

__all__ = [
    "Attachment",
    "open_case",
    "record_event",
    "read_cases",
    "read_events",
    "case_events",
    "open_case_of",
    "allowed_events",
    "case_stage",
    "case_table",
    "is_identified",
    "STAGES",
    "STAGE_LABELS",
    "ALLOWED_MEDIA_TYPES",
    "MAX_ATTACHMENT_BYTES",
]

STAGES = ("none", "case_open", "approved", "executing", "completed", "closed")
STAGE_LABELS = {
    "none": "未立案",
    "case_open": "已立案",
    "approved": "方案已批准",
    "executing": "执行中",
    "completed": "处置完成",
    "closed": "其他方式结案",
}
ALLOWED_MEDIA_TYPES = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Attachment:
    """A file to attach to an event: its name and bytes (type from the extension unless given)."""

    filename: str
    content: bytes
    media_type: str | None = None

    @classmethod
    def from_path(cls, path: str | Path) -> Attachment:
        path = Path(path)
        return cls(path.name, path.read_bytes())


def _blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (not isinstance(value, (str, bytes, dict, list)) and pd.isna(value))
    )


def _date(value: Any, what: str) -> dt.date:
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError):
        raise LandRenewError(
            f"{what}“{value}”不是日期", detail=f"bad date {value!r}", fix="写成 YYYY-MM-DD，例如 2026-03-31"
        ) from None


def _now() -> pd.Timestamp:
    return pd.Timestamp(dt.datetime.now(dt.UTC)).floor("ms")


def _require(rules: DisposalRules, user: str, role: str, action: str) -> None:
    allowed = rules.roles(action)
    if _blank(user) or role not in allowed:
        what = {"record": "立案或登记处置事项", "approve": "审批处置方案"}[action]
        raise PermissionDenied(
            f"用户 {user or '（未登录）'}（角色 {role}）无权{what}",
            detail=f"role {role!r} may not {action}; allowed {allowed}",
            fix=f"请由 {'、'.join(allowed)} 角色的用户操作",
        )


def is_identified(assessment: pd.DataFrame) -> pd.Series:
    """Identified for disposal (docs/disposal.md §2, §6): idle, or in stock scope with a route other than none."""
    idle = assessment["idle_type"].astype("string").fillna("none").isin(["not_started_idle", "halted_idle"])
    scope = assessment["in_stock_scope"].astype("boolean").fillna(False).astype(bool)
    route = assessment["route"].astype("string").fillna("none")
    return (idle | (scope & (route != "none"))).astype(bool)


def read_cases(store) -> pd.DataFrame:
    """All cases."""
    return cases_store.read_cases(store)


def read_events(store) -> pd.DataFrame:
    """All case events."""
    return cases_store.read_events(store)


def case_events(store, case_id: str) -> pd.DataFrame:
    """The events of a case in their order."""
    return cases_store.read_events(store, where={"case_id": case_id}).sort_values("seq").reset_index(drop=True)


def _get_case(store, case_id: str) -> pd.Series:
    frame = cases_store.read_cases(store, where={"case_id": case_id})
    if frame.empty:
        raise LandRenewError(
            f"找不到案件 {case_id}", detail=f"no case {case_id!r}", fix="用 landrenew case list 查看案件编号"
        )
    return frame.iloc[0]


def _is_open(rules: DisposalRules, route: str, sub_route: str, events: Sequence[str]) -> bool:
    st = replay(rules, route, sub_route, events)
    return not (st.completed or st.closed)


def open_case_of(store, parcel_id: str, *, rules: DisposalRules | None = None) -> pd.Series | None:
    """The parcel's open case (not completed, not closed another way), or None."""
    rules = rules or default_disposal_rules()
    cases = cases_store.read_cases(store, where={"parcel_id": parcel_id})
    if cases.empty:
        return None
    events = cases_store.read_events(store, where={"case_id": list(cases["case_id"])})
    for _, case in cases.iloc[::-1].iterrows():
        codes = events.loc[events["case_id"] == case["case_id"]].sort_values("seq")["event"].tolist()
        if _is_open(rules, case["route"], case["sub_route"], codes):
            return case
    return None


def open_case(
    store,
    *,
    parcel_id: str,
    route: str,
    sub_route: str,
    opened_by: str,
    role: str,
    reason: str | None = None,
    run_id: str | None = None,
    rules: DisposalRules | None = None,
    opened_at: Any = None,
) -> dict:
    """Open a disposal case for an assessed parcel.

    Raises
    ------
    PermissionDenied
        The role may not record cases (rule file ``roles.record``).
    LandRenewError
        No assessment, a parcel not identified for disposal, an unknown route/sub_route, a route differing from
        the recommendation without a reason, or an open case already (the message names it).
    """
    rules = rules or default_disposal_rules()
    _require(rules, opened_by, role, "record")
    sub_route = None if _blank(sub_route) else str(sub_route)
    if not rules.has_route(route, sub_route):
        options = "、".join(f"{r}/{s}" for r, s in rules.routes())
        raise LandRenewError(
            f"处置路径“{route}/{sub_route}”没有处置程序，不能立案",
            detail=f"no sequence for {route}/{sub_route}",
            fix=f"可选：{options}",
        )
    assessed = store.read_layer("idle_assessment", where={"parcel_id": parcel_id})
    if assessed.empty:
        raise LandRenewError(
            f"宗地 {parcel_id} 没有研判结果，不能立案",
            detail=f"no assessment for {parcel_id!r}",
            fix="检查宗地编号，或先运行 landrenew assess",
        )
    row = assessed.iloc[0]
    if not bool(is_identified(assessed).iloc[0]):
        raise LandRenewError(
            f"宗地 {parcel_id} 未认定为闲置、也不属纳入处置的存量土地，不能立案",
            detail=f"{parcel_id}: idle_type={row['idle_type']}, route={row['route']}",
            fix="先复核研判结果；确需处置的，修正台账后重新研判",
        )
    rec_route = None if _blank(row["route"]) else str(row["route"])
    rec_sub = None if _blank(row.get("sub_route")) else str(row["sub_route"])
    if (route, sub_route) != (rec_route, rec_sub) and _blank(reason):
        raise LandRenewError(
            f"宗地 {parcel_id} 采用的路径“{route}/{sub_route}”与推荐路径“{rec_route}/{rec_sub}”不同，须填写理由",
            detail="reason required when the adopted route differs from the recommendation",
            fix="在“理由”中写明采用该路径的原因（例如 集体研究意见）",
        )
    snapshot = {k: (None if _blank(row.get(k)) else row.get(k)) for k in ("route", "sub_route", "idle_type")}
    for k in ("alternatives", "reasons"):
        v = row.get(k)
        snapshot[k] = list(v) if isinstance(v, (list, tuple)) else None
    snapshot["as_of"] = None if _blank(row.get("as_of")) else str(pd.Timestamp(row["as_of"]).date())
    snapshot["rules_version"] = None if _blank(row.get("rules_version")) else str(row["rules_version"])
    case = {
        "case_id": f"C-{uuid.uuid4().hex[:12]}",
        "parcel_id": str(parcel_id),
        "town_code": None if _blank(row.get("town_code")) else str(row["town_code"]),
        "route": route,
        "sub_route": sub_route,
        "recommended_route": rec_route,
        "recommended_sub_route": rec_sub,
        "reason": None if _blank(reason) else str(reason).strip(),
        "run_id": None if _blank(run_id) else str(run_id),
        "snapshot": snapshot,
        "rules_version": rules.version,
        "opened_by": opened_by,
        "opened_at": _now() if opened_at is None else pd.Timestamp(opened_at),
    }

    def one_open_case(existing: pd.DataFrame) -> None:
        if existing.empty:
            return
        events = cases_store.read_events(store, where={"case_id": list(existing["case_id"])})
        for _, c in existing.iterrows():
            codes = events.loc[events["case_id"] == c["case_id"]].sort_values("seq")["event"].tolist()
            if _is_open(rules, c["route"], c["sub_route"], codes):
                raise LandRenewError(
                    f"宗地 {parcel_id} 已有未结案件 {c['case_id']}，不能重复立案",
                    detail=f"open case {c['case_id']} exists",
                    fix="在该案件中继续登记事项，或先以“其他方式结案”结束它",
                )

    cases_store.append_case(store, case, check=one_open_case)
    return case


def _media_type(att: Attachment) -> str:
    ext = Path(att.filename).suffix.lower()
    if ext not in ALLOWED_MEDIA_TYPES:
        raise LandRenewError(
            f"附件“{att.filename}”的类型不支持",
            detail=f"extension {ext!r} not allowed",
            fix=f"可上传：{'、'.join(sorted(ALLOWED_MEDIA_TYPES))}",
        )
    return (
        att.media_type
        or ALLOWED_MEDIA_TYPES.get(ext)
        or mimetypes.guess_type(att.filename)[0]
        or "application/octet-stream"
    )


def _event_data(rules: DisposalRules, event: str, data: Mapping[str, Any] | None, event_date: dt.date) -> dict:
    spec = rules.events[event].get("fields") or {}
    data = dict(data or {})
    unknown = set(data) - set(spec)
    if unknown:
        raise LandRenewError(
            f"事项“{rules.label(event)}”没有字段 {'、'.join(sorted(unknown))}",
            detail=f"unknown fields {sorted(unknown)} for {event}",
            fix="可填：" + ("、".join(f"{k}（{v.get('label', k)}）" for k, v in spec.items()) or "无"),
        )
    out: dict[str, Any] = {}
    for name, fs in spec.items():
        label = fs.get("label", name)
        value = data.get(name)
        if _blank(value):
            if fs.get("required"):
                raise LandRenewError(
                    f"事项“{rules.label(event)}”须填写{label}", detail=f"{event}.{name} is required", fix=f"填写{label}"
                )
            continue
        if fs["type"] == "date":
            d = _date(value, label)
            years = fs.get("max_years_after_event")
            if years is not None:
                try:
                    limit = event_date.replace(year=event_date.year + years)
                except ValueError:  # Feb 29 -> Feb 28
                    limit = event_date.replace(year=event_date.year + years, day=28)
                if d > limit:
                    raise LandRenewError(
                        f"{label} {d} 超出法定期限：距{rules.label(event)}日期 {event_date} 不得超过 {years} 年（至 {limit}）",
                        detail=f"{event}.{name} {d} > {limit}",
                        fix=f"改为 {limit} 或之前的日期",
                    )
            out[name] = d.isoformat()
        elif fs["type"] == "float":
            try:
                out[name] = float(value)
            except (TypeError, ValueError):
                raise LandRenewError(
                    f"{label}“{value}”不是数值", detail=f"{event}.{name}={value!r}", fix="填写数字，例如 120.5"
                ) from None
        else:
            out[name] = str(value)
    return out


def record_event(
    store,
    *,
    case_id: str,
    event: str,
    event_date: Any,
    recorded_by: str,
    role: str,
    service_date: Any = None,
    doc_no: str | None = None,
    note: str | None = None,
    data: Mapping[str, Any] | None = None,
    attachments: Sequence[Attachment] = (),
    rules: DisposalRules | None = None,
    today: dt.date | None = None,
) -> dict:
    """Append an event to a case, after the order check (in the store's transaction).

    ``data`` holds the event's own fields (rule file ``events.<code>.fields``: e.g. ``new_start_date`` of a
    supplementary agreement, ``amount_wan`` of a fee decision).  ``today`` (default: the real date) bounds the
    event and service dates.

    Raises
    ------
    PermissionDenied
        The role may not record events, or may not approve/return a plan.
    OrderError
        The event does not follow the case's events (the message lists the allowed next ones).
    LandRenewError
        Bad dates (before the previous event, service before issue, in the future), a missing required field
        or note, self-approval, an attachment of a type not allowed.
    """
    rules = rules or default_disposal_rules()
    p = rules.procedure
    approving = event in (p["approve"], p["return"])
    _require(rules, recorded_by, role, "approve" if approving else "record")
    if event not in rules.events:
        check_next(rules, "", "", [], event)  # raises the unknown-event error
    case = _get_case(store, case_id)
    today = today or dt.date.today()
    event_date = _date(event_date, "事项日期")
    if event_date > today:
        raise LandRenewError(
            f"事项日期 {event_date} 晚于今天 {today}", detail="event date in the future", fix="填写事项实际发生的日期"
        )
    service = None if _blank(service_date) else _date(service_date, "送达日期")
    if service is not None and not event_date <= service <= today:
        raise LandRenewError(
            f"送达日期 {service} 应在事项日期 {event_date} 与今天之间",
            detail=f"service {service} outside [{event_date}, {today}]",
            fix="核对送达回证上的日期",
        )
    if rules.events[event].get("note_required") and _blank(note):
        raise LandRenewError(
            f"事项“{rules.label(event)}”须填写说明（原因）", detail=f"{event} needs a note", fix="在“说明”中写明原因"
        )
    values = _event_data(rules, event, data, event_date)
    files = []
    event_id = f"E-{uuid.uuid4().hex[:12]}"
    now = _now()
    for att in attachments:
        content = bytes(att.content)
        if not content:
            raise LandRenewError(f"附件“{att.filename}”为空文件", detail="empty attachment", fix="重新选择文件")
        if len(content) > MAX_ATTACHMENT_BYTES:
            raise LandRenewError(
                f"附件“{att.filename}”超过 {MAX_ATTACHMENT_BYTES // 2**20} MB",
                detail=f"{len(content)} bytes",
                fix="压缩或拆分后上传",
            )
        files.append(
            {
                "attachment_id": f"F-{uuid.uuid4().hex[:12]}",
                "case_id": case_id,
                "event_id": event_id,
                "filename": Path(att.filename).name,
                "media_type": _media_type(att),
                "size_bytes": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
                "content": content,
                "uploaded_by": recorded_by,
                "uploaded_at": now,
            }
        )
    row = {
        "event_id": event_id,
        "case_id": case_id,
        "parcel_id": case["parcel_id"],
        "seq": None,
        "event": event,
        "event_date": event_date,
        "service_date": service,
        "doc_no": None if _blank(doc_no) else str(doc_no).strip(),
        "note": None if _blank(note) else str(note).strip(),
        "data": values or None,
        "recorded_by": recorded_by,
        "role": role,
        "recorded_at": now,
    }

    def in_order(existing: pd.DataFrame) -> None:
        existing = existing.sort_values("seq")
        codes = existing["event"].tolist()
        check_next(rules, case["route"], case["sub_route"], codes, event)
        if len(existing):
            last = pd.Timestamp(existing["event_date"].iloc[-1]).date()
            if event_date < last:
                raise LandRenewError(
                    f"事项日期 {event_date} 早于上一事项“{rules.label(codes[-1])}”的日期 {last}",
                    detail=f"event date {event_date} < {last}",
                    fix="按发生先后登记事项；日期有误的请核对",
                )
        if approving:
            drafts = existing.loc[existing["event"] == p["draft"]]
            drafter = drafts["recorded_by"].iloc[-1] if len(drafts) else None
            if drafter == recorded_by:
                raise PermissionDenied(
                    f"处置方案由 {recorded_by} 拟定，不能由本人{rules.label(event)}",
                    detail="self-approval refused",
                    fix="请由拟定人以外的审批人（分管领导）审批或退回",
                )
        row["seq"] = int(existing["seq"].max()) + 1 if len(existing) else 1

    cases_store.append_event(store, row, files, check=in_order)
    for f in files:
        f.pop("content")
    return {**row, "attachments": files}


def allowed_events(store, case_id: str, *, rules: DisposalRules | None = None) -> list[str]:
    """The events a case may record next (for the forms of the page)."""
    rules = rules or default_disposal_rules()
    case = _get_case(store, case_id)
    return next_events(rules, case["route"], case["sub_route"], case_events(store, case_id)["event"].tolist())


def case_stage(rules: DisposalRules, events: Sequence[str]) -> str:
    """The disposal stage (docs/disposal.md §6) after a case's events: case_open, approved, executing, completed,
    closed (another way) — :func:`gis.disposal_progress.stages_of` for one case."""
    from .disposal_progress import stages_of

    frame = pd.DataFrame({"case_id": "c", "seq": range(1, len(events) + 1), "event": list(events)})
    return stages_of(frame, rules).get("c", "case_open")


def lookup(keys: pd.Series, mapping: pd.Series) -> pd.Series:
    from .deadlines import lookup as _lookup

    return _lookup(keys, mapping)


def case_table(cases: pd.DataFrame, events: pd.DataFrame, *, rules: DisposalRules | None = None) -> pd.DataFrame:
    """One row per case: its state (last event), stage, last event date, number of events (vectorised)."""
    rules = rules or default_disposal_rules()
    out = cases.copy()
    if events.empty:
        out["state"] = None
        out["last_event_date"] = pd.NaT
        out["n_events"] = 0
        out["stage"] = "case_open"
        return out
    ev = events.sort_values(["case_id", "seq"])
    last = ev.drop_duplicates("case_id", keep="last").set_index("case_id")
    out["state"] = out["case_id"].map(last["event"])
    out["last_event_date"] = lookup(out["case_id"], last["event_date"])
    out["n_events"] = out["case_id"].map(ev.groupby("case_id").size()).fillna(0).astype(int)
    from .disposal_progress import stages_of

    out["stage"] = out["case_id"].map(stages_of(ev, rules)).fillna("case_open")
    return out
