"""Kept runs and time travel (docs/history.md §3–§4).

Every assessment and renewal run is kept: ``run_id``, ``as_of``, ``known_at`` (its creation time), the rule
file's version, SHA-256 and text, the batches known to it, who ran it, and whether it is a what-if; its rows go to
``<output>_runs``.  The current run is the latest that is not a what-if; it is also written to the output layer
the app shows.  A run reads the ledger as valid on ``as_of`` and as known at ``known_at``
(:func:`gis.history.ledger_at`), progress reports dated on or before ``as_of`` and recorded by ``known_at``,
rasters dated on or before ``as_of`` and registered by ``known_at``: re-running it with its own as_of, known_at and rule text
(:func:`reproduce_run`) gives its rows again, whatever was imported since.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .errors import LandRenewError
from .frames import conform
from .history import ledger_at
from .rules import RuleSet
from .schema import get_layer
from .store.history_schema import HistoryWrite, runs_layer, utc_now
from .yaml_text import load_yaml

__all__ = [
    "ledger_inputs",
    "list_runs",
    "current_run",
    "get_run",
    "read_run",
    "diff_runs",
    "reproduce_run",
    "rules_text",
    "rules_from_text",
    "new_run_id",
    "keep_run",
    "changed_since_run",
    "DIFF_FIELDS",
]

#: what a run diff compares (docs/history.md §3)
DIFF_FIELDS = ("in_stock_scope", "idle_type", "route", "sub_route", "idle_fee_wan")


def new_run_id(kind: str = "assess") -> str:
    prefix = "A" if kind == "assess" else "R"
    return pd.Timestamp.now(tz="Asia/Shanghai").strftime(f"{prefix}%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]


def rules_text(rules: RuleSet) -> str:
    """The rule text a run keeps: the file itself when the rules are the file's, else the values (what-if)."""
    path = Path(rules.path)
    if path.exists():
        text = path.read_text(encoding="utf-8")
        raw = load_yaml(text) or {}
        if str(raw.get("version")) == rules.version and rules_from_text(text, rules.kind) == rules:
            return text
    values = {**dict(rules.values), "version": rules.version}
    return yaml.safe_dump(values, allow_unicode=True, sort_keys=False)


def rules_from_text(text: str, kind: str) -> RuleSet:
    """The rules of a kept run, from its stored text (validated like a rule file)."""
    from .idle import load_idle_rules
    from .renewal import load_renewal_rules

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{kind}.yaml"
        path.write_text(text, encoding="utf-8")
        rules = (load_idle_rules if kind == "idle" else load_renewal_rules)(path)
    return rules


def ledger_inputs(store, *, as_of: dt.date, known_at: Any) -> dict[str, Any]:
    """The inputs of a run as of a day as known at a time: ledger layers, progress, rasters."""
    from .imagery import list_rasters
    from .zonal import raster_date

    frames = {
        name: ledger_at(store, name, as_of=as_of, known_at=known_at)
        for name in ("towns", "enterprises", "parcels", "projects", "villages")
    }
    progress = store.read_layer("village_progress")
    if len(progress):
        progress = progress[progress["report_date"] <= pd.Timestamp(as_of)]
        recorded = store.read_history("progress_recorded")
        if len(recorded):
            late = recorded[recorded["recorded_at"] > pd.Timestamp(known_at)]
            if len(late):
                drop = set(zip(late["village_id"], late["report_date"]))
                keep = [(v, d) not in drop for v, d in zip(progress["village_id"], progress["report_date"])]
                progress = progress[keep]
    frames["village_progress"] = progress.reset_index(drop=True)
    frames["rasters"] = [p for p in list_rasters(store, known_at=known_at) if raster_date(p) <= as_of]
    return frames


def _known_batches(store, known_at: Any) -> list[str]:
    batches = store.read_history("batches", filters=[("recorded_at", "<=", pd.Timestamp(known_at))])
    return [str(b) for b in batches["batch_id"]]


def keep_run(
    store,
    tx: HistoryWrite,
    *,
    run_id: str,
    kind: str,
    as_of: dt.date,
    known_at: pd.Timestamp,
    rules: RuleSet,
    outputs: dict[str, pd.DataFrame],
    what_if: bool,
    user: str | None,
    label: str | None,
) -> dict:
    """Add a run and its rows to a history write (the caller adds the current layers and writes it)."""
    text = rules_text(rules)
    first = next(iter(outputs.values()))
    record = {
        "run_id": run_id,
        "kind": kind,
        "as_of": pd.Timestamp(as_of),
        "known_at": known_at,
        "rules_version": rules.version,
        "rules_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "rules_text": text,
        "rules_path": rules.path,
        "batches": _known_batches(store, known_at),
        "created_at": utc_now(),
        "created_by": user or "landrenew",
        "what_if": bool(what_if),
        "label": label,
        "rows": len(first),
    }
    tx.add("runs", pd.DataFrame([record]))
    for name, frame in outputs.items():
        rows = pd.DataFrame(frame.drop(columns="geometry", errors="ignore")).copy()
        rows.insert(0, "run_id", run_id)
        tx.add(f"{name}_runs", conform(rows, runs_layer(name)))
    return record


def list_runs(store, *, kind: str | None = None) -> pd.DataFrame:
    """Every kept run, newest first, with ``current`` (the latest non-what-if run of its kind)."""
    runs = store.read_history("runs", columns=[f for f in runs_layer_fields() if f != "rules_text"])
    if kind is not None:
        runs = runs[runs["kind"] == kind]
    runs = runs.sort_values("created_at", ascending=False, kind="stable").reset_index(drop=True)
    current = set()
    for _kind, group in runs[~runs["what_if"].fillna(False).astype(bool)].groupby("kind"):
        current.add(group["run_id"].iloc[0])
    runs["current"] = runs["run_id"].isin(current)
    return runs


def runs_layer_fields() -> list[str]:
    from .store.history_schema import history_layer

    return history_layer("runs").field_names


def current_run(store, kind: str = "assess") -> str | None:
    runs = list_runs(store, kind=kind)
    cur = runs[runs["current"]]
    return None if cur.empty else str(cur["run_id"].iloc[0])


def get_run(store, run_id: str) -> dict:
    runs = store.read_history("runs", filters=[("run_id", "=", run_id)])
    if runs.empty:
        known = list_runs(store)["run_id"].head(5).tolist()
        raise LandRenewError(
            f"没有研判批次 {run_id}",
            detail=f"unknown run {run_id!r}",
            fix=f"用 landrenew runs 查看已保留的研判批次（最近：{'、'.join(known) or '无'}）",
        )
    return runs.iloc[0].to_dict()


def read_run(store, run_id: str, output: str = "idle_assessment") -> pd.DataFrame:
    """The rows a kept run wrote (the output's columns, without geometry)."""
    rows = store.read_history(f"{output}_runs", filters=[("run_id", "=", run_id)])
    layer = get_layer(output)
    return (
        pd.DataFrame(rows[layer.field_names]).sort_values(list(layer.key_fields), kind="stable").reset_index(drop=True)
    )


def reproduce_run(store, run_id: str) -> pd.DataFrame:
    """Compute a kept assessment run again from its as_of, known_at and rule text (nothing is written)."""
    from .workflow import compute_assessment

    run = get_run(store, run_id)
    if run["kind"] != "assess":
        raise LandRenewError(f"{run_id} 不是闲置土地研判批次", fix="选择 landrenew runs 中类型为 assess 的批次")
    rules = rules_from_text(run["rules_text"], "idle")
    result = compute_assessment(store, as_of=pd.Timestamp(run["as_of"]).date(), known_at=run["known_at"], rules=rules)
    return pd.DataFrame(result.drop(columns="geometry")).sort_values("parcel_id", kind="stable").reset_index(drop=True)


def diff_runs(store, run_a: str, run_b: str) -> pd.DataFrame:
    """Parcels whose scope, idle type, route, sub_route or fee differ between two runs, with both reasons."""
    a = read_run(store, run_a).set_index("parcel_id")
    b = read_run(store, run_b).set_index("parcel_id")
    rows = []
    for pid in sorted(set(a.index) | set(b.index)):
        if pid not in b.index or pid not in a.index:
            rows.append({"parcel_id": pid, "changed": ["only_in_a" if pid in a.index else "only_in_b"]})
            continue
        ra, rb = a.loc[pid], b.loc[pid]
        changed = []
        for f in DIFF_FIELDS:
            va, vb = ra[f], rb[f]
            if pd.isna(va) and pd.isna(vb):
                continue
            if f == "idle_fee_wan" and not (pd.isna(va) or pd.isna(vb)) and abs(float(va) - float(vb)) < 1e-9:
                continue
            if pd.isna(va) != pd.isna(vb) or va != vb:
                changed.append(f)
        if changed:
            rows.append({"parcel_id": pid, "changed": changed})
    out = []
    for r in rows:
        pid = r["parcel_id"]
        item = {"parcel_id": pid, "changed": r["changed"]}
        for side, frame in (("a", a), ("b", b)):
            for f in (*DIFF_FIELDS, "reasons"):
                item[f"{f}_{side}"] = frame.loc[pid, f] if pid in frame.index else None
        out.append(item)
    columns = ["parcel_id", "changed", *[f"{f}_{s}" for s in ("a", "b") for f in (*DIFF_FIELDS, "reasons")]]
    return pd.DataFrame(out, columns=columns)


def changed_since_run(store, run_id: str | None = None, *, layer: str = "parcels") -> pd.DataFrame:
    """Parcels whose ledger changed (added / changed / retired) after a kept run learned the ledger — the ones
    to assess again.  ``run_id`` default: the current assessment run (the one the app shows).

    Compares the layer's latest state as known at the run's ``known_at`` with the latest state now
    (:func:`gis.history.changes_since`).  One row per parcel: ``parcel_id``, ``change``, ``fields`` (the changed
    field names, ``geometry`` included), ``text`` (Chinese: ``变更：受让人、图形``).  Empty without a kept run.
    """
    from .history import changes_since

    columns = ["parcel_id", "change", "fields", "text"]
    run_id = run_id or current_run(store)
    if run_id is None:
        return pd.DataFrame(columns=columns)
    known_at = pd.Timestamp(get_run(store, run_id)["known_at"])
    changes = changes_since(store, known_at, layer=layer)
    lay = get_layer(layer)
    labels = {**{f.name: f.label for f in lay.fields}, "geometry": "图形"}
    words = {"added": "新增", "changed": "变更", "retired": "退出台账"}
    rows = []
    for key, group in changes.groupby("key", sort=True):
        change = str(group["change"].iloc[0])
        fields = [str(f) for f in group["field"].dropna()]
        text = words[change] + ("：" + "、".join(labels.get(f, f) for f in fields) if fields else "")
        rows.append({"parcel_id": str(key), "change": change, "fields": fields, "text": text})
    return pd.DataFrame(rows, columns=columns)
