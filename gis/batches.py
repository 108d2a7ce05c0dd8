"""Import batches (docs/history.md §1): how the rows an ingest read go into the store.

Every ingest is a batch — its files (name, size, SHA-256), who, when, the mode and scope, the ledger's own date
(``effective``) and the counts — and writes in one transaction: the new versions (:mod:`gis.history`), the
current layers that follow them, the batch record.  Modes per layer:

``replace``   the layer becomes exactly the file; keys absent from it are retired (an explicit event with a
              reason).  Refused without ``confirm`` when it would retire a parcel that has a decision or an open
              disposal case (:func:`open_cases_of`), or more than the rule file's share of the layer (``layers/rules/history.yaml``, default 20%).
``replace`` + ``scope=("town_code", "330603001")``: only rows in scope are replaced; a file row outside the scope
              is rejected (rejects report) with the reason.
``upsert``    rows are added or updated by key; absent keys are untouched.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import LandRenewError, Problem
from .schema import get_layer
from .store.history_schema import LEDGER_LAYERS, HistoryWrite, conformed, utc_now
from .yaml_text import load_yaml

__all__ = [
    "write_batch",
    "record_frames",
    "list_batches",
    "batch_files",
    "file_sha256",
    "ImportRefused",
    "parse_scope",
    "history_rules",
    "open_cases_of",
    "MODES",
]

MODES = ("replace", "upsert")
RULES_FILE = Path(__file__).resolve().parent.parent / "layers" / "rules" / "history.yaml"


class ImportRefused(LandRenewError):
    """A replace that would retire decided parcels or too large a share of a layer, without ``confirm``."""


def history_rules(path: str | Path | None = None) -> dict:
    """The district's history rules (``max_retire_share``)."""
    raw = load_yaml(Path(path or RULES_FILE).read_text(encoding="utf-8")) or {}
    share = float(raw.get("max_retire_share", 0.2))
    if not 0 <= share <= 1:
        raise LandRenewError(
            f"规则文件 {path or RULES_FILE} 的 max_retire_share={share} 不在 0–1 之间",
            fix="写成 0 到 1 之间的小数，如 0.2",
        )
    return {"max_retire_share": share, "version": str(raw.get("version", ""))}


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def parse_scope(text: str | None) -> tuple[str, str] | None:
    """``"town_code=330603001"`` -> ``("town_code", "330603001")``."""
    if not text:
        return None
    if "=" not in text:
        raise LandRenewError(
            f"范围“{text}”应写成 字段=值", detail=f"--scope {text!r}", fix="例如 --scope town_code=330603001"
        )
    field_name, value = (s.strip() for s in text.split("=", 1))
    return field_name, value


def _user(user: str | None) -> str:
    if user:
        return user
    try:
        return getpass.getuser()
    except Exception:  # no login name in a container
        return os.environ.get("USER", "unknown")


def _files_of(sources: Mapping[str, Any] | None) -> list[dict]:
    out = []
    for layer, spec in (sources or {}).items():
        paths = [spec] if not isinstance(spec, Mapping) else [spec.get("path"), spec.get("geometry")]
        for p in paths:
            if p is None:
                continue
            p = Path(p)
            out.append({"layer": layer, "name": p.name, "size": p.stat().st_size, "sha256": file_sha256(p)})
    return out


def _same_batch(store, files: list[dict]) -> str | None:
    if not files:
        return None
    known = store.read_history("batch_files", filters=[("sha256", "in", sorted({f["sha256"] for f in files}))])
    if not len(known):
        return None
    want = {(f["layer"], f["sha256"]) for f in files}
    for batch_id, group in known.groupby("batch_id", sort=False):
        if {(a, b) for a, b in zip(group["layer"], group["sha256"])} == want:
            return str(batch_id)
    return None


def _reject_out_of_scope(frame: pd.DataFrame, report, scope: tuple[str, str]) -> pd.DataFrame:
    field_name, value = scope
    layer = get_layer(report.layer)
    if field_name not in layer.field_names:
        raise LandRenewError(
            f"{layer.label}没有字段 {field_name}，不能按它限定范围",
            detail=f"scope field {field_name!r} not in {layer.field_names}",
            fix=f"可用字段：{', '.join(layer.field_names)}",
        )
    outside = (frame[field_name].astype("string") != value).fillna(True).to_numpy()
    label = layer.field(field_name).label
    for pos in outside.nonzero()[0]:
        rid = frame[layer.key_fields[0]].iloc[pos]
        report.problems.append(
            Problem(
                file=Path(report.files[0]).name,
                row=None,
                record_id=None if pd.isna(rid) else str(rid),
                field=label,
                value=None if pd.isna(frame[field_name].iloc[pos]) else str(frame[field_name].iloc[pos]),
                reason=f"不在本次导入范围（{label}={value}）内",
                fix=f"分开导入该{label}的台账，或去掉 --scope",
                severity="reject",
            )
        )
    n = int(outside.sum())
    report.rejected += n
    report.stored -= n
    return frame[~outside].reset_index(drop=True)


def _guard(store, plans: dict, totals: dict[str, int], *, share: float, confirm: bool) -> None:
    if confirm:
        return
    problems = []
    for name, plan in plans.items():
        if not plan.retired:
            continue
        label = get_layer(name).label
        if name == "parcels":
            decided = set(store.read_layer("decisions")["parcel_id"].dropna().astype(str))
            hit = [k for k in plan.retired if k in decided]
            if hit:
                problems.append(
                    f"{len(hit)} 宗已有审定记录的宗地将退出台账：{'、'.join(hit[:30])}"
                    + ("……" if len(hit) > 30 else "")
                )
            cases = open_cases_of(store, plan.retired)
            if cases:
                listed = [f"{pid}（案件 {case}）" for pid, case in cases.items()]
                problems.append(
                    f"{len(cases)} 宗有未结处置案件的宗地将退出台账：{'、'.join(listed[:30])}"
                    + ("……" if len(listed) > 30 else "")
                )
        total = totals.get(name, 0)
        if total and len(plan.retired) / total > share:
            problems.append(
                f"{label}将退出 {len(plan.retired)} / {total} 条（{len(plan.retired) / total:.0%}，"
                f"超过规则上限 {share:.0%}）：{'、'.join(plan.retired[:30])}" + ("……" if len(plan.retired) > 30 else "")
            )
    if problems:
        raise ImportRefused(
            "替换导入未执行：" + "；".join(problems),
            detail=f"replace would retire: { {n: len(p.retired) for n, p in plans.items()} }",
            fix="核对台账是否完整；确需退出这些记录请加 --confirm（并用 --reason 说明原因），"
            "只更新部分记录请用 --mode upsert 或 --scope",
        )


def open_cases_of(store, parcel_ids: Sequence[str]) -> dict[str, str]:
    """``{parcel_id: case_id}`` of the parcels among ``parcel_ids`` with an open disposal case (not completed, not
    closed another way; docs/disposal.md §2) — a replace may not retire them unconfirmed (docs/history.md §1)."""
    from .cases import case_table
    from .store import cases_store

    if not len(parcel_ids):
        return {}
    cases = cases_store.read_cases(store, where={"parcel_id": [str(p) for p in parcel_ids]})
    if cases.empty:
        return {}
    events = cases_store.read_events(store, where={"case_id": list(cases["case_id"])})
    table = case_table(cases, events)
    table = table[~table["stage"].isin(["completed", "closed"])].sort_values(["parcel_id", "opened_at"])
    return dict(zip(table["parcel_id"].astype(str), table["case_id"].astype(str)))


def _next_ids(store) -> dict[str, int]:
    return store.next_version_ids()


def write_batch(
    store,
    frames: Mapping[str, pd.DataFrame],
    reports: Sequence[Any] = (),
    *,
    sources: Mapping[str, Any] | None = None,
    mode: str = "replace",
    scope: tuple[str, str] | str | None = None,
    effective: dt.date | str | None = None,
    confirm: bool = False,
    user: str | None = None,
    reason: str | None = None,
    append: Sequence[str] = ("village_progress",),
    meta: Mapping[str, str] | None = None,
    note: str | None = None,
    write_rejects_report: bool = True,
) -> dict:
    """Write an ingest's frames as one batch; returns the batch record (``batch_id``, ``counts``, ``same_as`` ...).

    ``frames`` are the validated rows per layer (what :func:`gis.ingest.read_layer_file` returns), ``reports``
    their ingest reports (out-of-scope rows are added to them as rejects).
    """
    from .history import plan_layer
    from .ingest import write_rejects

    if mode not in MODES:
        raise LandRenewError(f"未知的导入方式“{mode}”", fix="用 --mode replace 或 --mode upsert")
    scope = parse_scope(scope) if isinstance(scope, str) else scope
    store.upgrade_history()
    started = utc_now()
    batch_id = started.tz_convert("Asia/Shanghai").strftime("B%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]
    given = effective is not None
    eff = pd.Timestamp(effective) if given else pd.Timestamp(dt.date.today())
    files = _files_of(sources)
    same = _same_batch(store, files)
    by_layer = {r.layer: r for r in reports}
    frames = dict(frames)
    if scope is not None:
        for name in list(frames):
            if name in LEDGER_LAYERS and name in by_layer:
                frames[name] = _reject_out_of_scope(frames[name], by_layer[name], scope)
            elif name in LEDGER_LAYERS:
                frames[name] = frames[name][(frames[name][scope[0]].astype("string") == scope[1]).fillna(False)]
    at = utc_now()
    ids = store.next_version_ids()
    plans = {}
    for name in [n for n in LEDGER_LAYERS if n in frames]:
        plans[name] = plan_layer(
            store,
            name,
            frames[name],
            mode=mode,
            effective=eff,
            effective_given=given,
            batch_id=batch_id,
            at=at,
            scope=scope,
            next_version_id=ids.get(name, 1),
            retire_reason=reason or f"{batch_id} 替换导入时台账中已无此记录",
        )
    if mode == "replace":
        counts_now = store.layer_counts()
        totals = {n: counts_now.get(n, 0) for n in plans if plans[n].retired}
        _guard(store, plans, totals, share=history_rules()["max_retire_share"], confirm=confirm)
    tx = HistoryWrite()
    for name, plan in plans.items():
        plan.to_write(tx, at=at, batch_id=batch_id, store_current=conformed(frames[name], get_layer(name)))
    progress_rows = 0
    for name, frame in frames.items():
        if name in LEDGER_LAYERS:
            continue
        if name in append:
            tx.layer_append[name] = frame
            if name == "village_progress" and len(frame):
                tx.add(
                    "progress_recorded",
                    pd.DataFrame(
                        {
                            "village_id": frame["village_id"].to_numpy(),
                            "report_date": frame["report_date"].to_numpy(),
                            "batch_id": batch_id,
                            "recorded_at": at,
                        }
                    ),
                )
                progress_rows = len(frame)
        else:
            tx.layer_replace[name] = frame
    rejects = write_rejects(list(reports), store.reports_dir) if write_rejects_report and reports else None
    counts = {
        name: {
            **plan.counts,
            **(
                {k: getattr(by_layer[name], k) for k in ("read", "stored", "repaired", "rejected")}
                if name in by_layer
                else {}
            ),
        }
        for name, plan in plans.items()
    }
    if progress_rows:
        counts["village_progress"] = {"added": progress_rows}
    late = any(p.late for p in plans.values())
    record = {
        "batch_id": batch_id,
        "started_at": started,
        "recorded_at": at,
        "imported_by": _user(user),
        "mode": mode,
        "scope": None if scope is None else f"{scope[0]}={scope[1]}",
        "effective": eff.normalize(),
        "effective_given": given,
        "late": late,
        "layers": sorted(frames),
        "counts": json.dumps(counts, ensure_ascii=False),
        "rejects_path": None if rejects is None else str(rejects),
        "same_as": same,
        "note": note,
    }
    tx.add("batches", pd.DataFrame([record]))
    if files:
        tx.add("batch_files", pd.DataFrame([{**f, "batch_id": batch_id} for f in files]))
    tx.meta.update({str(k): str(v) for k, v in (meta or {}).items()})
    tx.meta["last_batch"] = batch_id
    store.write_history(tx)
    for name, report in by_layer.items():
        plan = plans.get(name)
        if plan is not None:
            c = plan.counts
            report.notes.append(
                f"批次 {batch_id}（{mode}{'，范围 ' + record['scope'] if scope else ''}，"
                f"台账日期 {eff:%Y-%m-%d}）：新增 {c['added']}，变更 {c['changed']}，"
                f"退出 {c['retired']}，未变 {c['unchanged']}" + (f"，其中迟到更正 {c['late']}" if c["late"] else "")
            )
        if same:
            report.notes.append(f"与批次 {same} 导入的文件相同（SHA-256 一致）")
        report.batch_id = batch_id
    return {**record, "counts": counts, "plans": plans}


def record_frames(
    store,
    frames: Mapping[str, pd.DataFrame],
    *,
    append: Sequence[str] = (),
    meta: Mapping[str, str] | None = None,
    note: str = "write_layers",
) -> dict:
    """Layers written by code (``Store.write_layers``), not files: a confirmed replace batch effective today,
    all layers in its one transaction."""
    return write_batch(
        store,
        frames,
        (),
        mode="replace",
        confirm=True,
        user="landrenew",
        note=note,
        append=append,
        meta=meta,
        write_rejects_report=False,
    )


def list_batches(store) -> pd.DataFrame:
    """Every batch, newest first."""
    frame = store.read_history("batches")
    return frame.sort_values("recorded_at", ascending=False, kind="stable").reset_index(drop=True)


def batch_files(store, batch_id: str) -> pd.DataFrame:
    return store.read_history("batch_files", filters=[("batch_id", "=", batch_id)])
