"""The 一地一策 plan document (docs/disposal.md §4): one .docx per parcel from an editable template.

The template ``layers/templates/plan.docx`` (built by ``scripts/build_plan_template.py``, edited by a district
in WPS or Word) holds docxtpl/Jinja tags; :func:`plan_context` gives the values:

``p`` (parcel facts: parcel_id, supervision_no, holder, land_use, area_m2, area_mu, supply_date,
agreed_start_date, agreed_completion_date, land_price_wan, price_paid, certificate, mortgaged, sealed,
actual_start_date, developed_ratio, invested_ratio), ``a`` (assessment: as_of, rules_version, dev_status,
idle_type, idle_since, idle_years, cause, route, sub_route, activity_index, conflict), ``c`` (case: case_id,
route, sub_route, reason, opened_at, opened_by), ``reasons`` (rule_id, text, citation), ``alternatives``,
``measures``, ``projects`` (name, status, whitelist, presold_units, total_units), ``events`` (seq, label, date,
service_date, doc_no, note, citation), ``sign`` (drafter, drafted_on, reviewer, reviewed_on, approver,
approved_on), ``town_name``, ``doc_no``, ``determination``, ``cause_detail``, ``fee_text``, ``imagery_dates``,
``location_map`` (the map image), ``map_note``, ``projects_note``, ``synthetic_banner``, ``generated_at``,
``rules_version``.

The location map is drawn offline with matplotlib from the store: the parcel, its neighbours, the town
boundary and a scale bar (in the district's metric CRS).
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .crs import AREA_CRS
from .disposal_rules import DisposalRules, default_disposal_rules
from .errors import LandRenewError
from .schema import get_layer

__all__ = [
    "TEMPLATE",
    "PlanData",
    "load_plan_data",
    "plan_context",
    "location_map_png",
    "write_plan",
    "write_plans_zip",
]

TEMPLATE = Path(__file__).resolve().parent.parent / "layers" / "templates" / "plan.docx"
_BLANK = "—"
M2_PER_MU = 2000.0 / 3.0


@dataclass
class PlanData:
    """The layers a batch of plans reads once."""

    parcels: Any
    assessment: pd.DataFrame
    towns: Any
    projects: pd.DataFrame
    cases: pd.DataFrame
    events: pd.DataFrame
    raster_dates: list[str]
    synthetic: bool


def load_plan_data(store) -> PlanData:
    """Read what the plans need from a store (once for a batch)."""
    from .cases import read_cases, read_events
    from .imagery import list_rasters
    from .zonal import raster_date

    dates = []
    for path in list_rasters(store):
        try:
            dates.append(str(raster_date(path)))
        except Exception:  # a raster without a date in its name: listed by name
            dates.append(path.name)
    return PlanData(
        store.read_layer("parcels"),
        store.read_layer("idle_assessment"),
        store.read_layer("towns"),
        store.read_layer("projects"),
        read_cases(store),
        read_events(store),
        dates,
        store.meta().get("synthetic") == "true",
    )


def _v(value: Any, fmt: str | None = None) -> str:
    if value is None or (not isinstance(value, (list, dict, str)) and pd.isna(value)):
        return _BLANK
    if isinstance(value, (pd.Timestamp, dt.date, dt.datetime)):
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    if isinstance(value, (bool, np.bool_)):
        return "是" if value else "否"
    if fmt and isinstance(value, (int, float, np.number)):
        return format(value, fmt)
    text = str(value).strip()
    return text or _BLANK


def _label(layer: str, field: str, value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return _BLANK
    return get_layer(layer).field(field).label_of(value) or str(value)


def plan_context(data: PlanData, parcel_id: str, *, rules: DisposalRules | None = None) -> dict:
    """The template values for one parcel (see the module docstring)."""
    rules = rules or default_disposal_rules()
    parcels = data.parcels.loc[data.parcels["parcel_id"] == parcel_id]
    assessed = data.assessment.loc[data.assessment["parcel_id"] == parcel_id]
    if parcels.empty or assessed.empty:
        raise LandRenewError(
            f"宗地 {parcel_id} 不在台账或没有研判结果，不能生成处置方案",
            detail=f"parcel {parcel_id!r}: ledger rows {len(parcels)}, assessment rows {len(assessed)}",
            fix="检查宗地编号，或先运行 landrenew assess",
        )
    p, a = parcels.iloc[0], assessed.iloc[0]
    town_code = p.get("town_code")
    towns = data.towns.loc[data.towns["town_code"] == town_code]
    town_name = str(towns["name"].iloc[0]) if len(towns) else _v(town_code)
    cases = data.cases.loc[data.cases["parcel_id"] == parcel_id].sort_values("opened_at")
    case = cases.iloc[-1] if len(cases) else None
    events = (
        data.events.loc[data.events["case_id"] == case["case_id"]].sort_values("seq")
        if case is not None
        else data.events.iloc[0:0]
    )
    ia = "idle_assessment"
    area = float(p["area_m2"]) if pd.notna(p["area_m2"]) else np.nan
    price_ratio = p.get("price_paid_ratio")
    facts = {
        "parcel_id": str(p["parcel_id"]),
        "supervision_no": _v(p.get("supervision_no")),
        "holder": _v(p["holder"]),
        "land_use": _v(p["land_use"]),
        "area_m2": _v(area, ",.1f"),
        "area_mu": _v(area / M2_PER_MU, ",.2f"),
        "supply_date": _v(p["supply_date"]),
        "agreed_start_date": _v(p["agreed_start_date"]),
        "agreed_completion_date": _v(p["agreed_completion_date"]),
        "land_price_wan": _v(p["land_price_wan"], ",.2f"),
        "price_paid": _BLANK
        if pd.isna(price_ratio)
        else ("已全部缴纳" if price_ratio >= 1 else f"已缴 {price_ratio:.0%}"),
        "certificate": _v(p.get("certificate_issued")),
        "mortgaged": _v(p.get("mortgaged")),
        "sealed": _v(p.get("sealed")),
        "actual_start_date": _v(p.get("actual_start_date")),
        "developed_ratio": _v(p.get("developed_area_ratio"), ".0%"),
        "invested_ratio": _v(p.get("invested_ratio"), ".0%"),
    }
    assess = {
        "as_of": _v(a["as_of"]),
        "rules_version": _v(a["rules_version"]),
        "dev_status": _label(ia, "dev_status", a.get("dev_status")),
        "idle_type": _label(ia, "idle_type", a.get("idle_type")),
        "idle_since": _v(a.get("idle_since")),
        "idle_years": _v(a.get("idle_years"), ".1f"),
        "cause": _label(ia, "cause", a.get("cause")),
        "route": _label(ia, "route", a["route"]),
        "sub_route": _label(ia, "sub_route", a.get("sub_route")),
        "activity_index": _v(a.get("activity_index"), ".3f"),
        "conflict": "不符" if _v(a.get("evidence_conflict")) == "是" else "未见不符",
    }
    reasons = [
        {"rule_id": _v(r.get("rule_id")), "text": _v(r.get("text")), "citation": _v(r.get("citation"))}
        for r in (a.get("reasons") or [])
        if isinstance(r, dict)
    ]
    alts = [
        f"{_label(ia, 'route', x.get('route'))}（{_label(ia, 'sub_route', x.get('sub_route'))}）"
        for x in (a.get("alternatives") or [])
        if isinstance(x, dict)
    ]
    measures = [str(m) for m in (a.get("measures") or [])]
    projects = data.projects.loc[data.projects["parcel_id"] == parcel_id]
    proj = [
        {
            "name": _v(j["name"]),
            "status": _v(j["status"]),
            "whitelist": _label("projects", "whitelist", j["whitelist"]),
            "presold_units": _v(j.get("presold_units")),
            "total_units": _v(j.get("total_units")),
        }
        for _, j in projects.iterrows()
    ]
    ev_rows = [
        {
            "seq": int(e["seq"]),
            "label": rules.label(e["event"]),
            "date": _v(e["event_date"]),
            "service_date": _v(e["service_date"]),
            "doc_no": _v(e["doc_no"]),
            "note": _v(e["note"]),
            "citation": rules.citation(e["event"]) or _BLANK,
        }
        for _, e in events.iterrows()
    ]

    def last(code):
        rows = events.loc[events["event"] == code]
        return rows.iloc[-1] if len(rows) else None

    det = last("idle_determination")
    draft, approve = last(rules.procedure["draft"]), last(rules.procedure["approve"])
    fee_dec = last("fee_decision")
    fee = a.get("idle_fee_wan")
    fee_cit = next((r["citation"] for r in reasons if r["rule_id"] == "F1"), "《闲置土地处置办法》第十四条第（一）项")
    if fee_dec is not None:
        amount = (fee_dec["data"] or {}).get("amount_wan")
        paid = last("fee_paid")
        fee_text = (
            f"已下达征缴土地闲置费决定书（{_v(fee_dec['doc_no'])}，{_v(fee_dec['event_date'])}），金额 "
            f"{_v(amount, ',.2f')} 万元；"
            + (f"已于 {_v(paid['event_date'])} 缴纳。" if paid is not None else "尚未缴纳。")
            + f"依据：{fee_cit}"
        )
    elif pd.notna(fee) and fee > 0:
        fee_text = f"应征缴土地闲置费 {fee:,.2f} 万元（出让价款的 20%）。依据：{fee_cit}"
    else:
        fee_text = "不征缴土地闲置费（非企业原因或未满一年）。"
    detail = p.get("idle_cause_detail")
    case_ctx = {
        "case_id": _BLANK,
        "route": _BLANK,
        "sub_route": _BLANK,
        "reason": "",
        "opened_at": _BLANK,
        "opened_by": _BLANK,
    }
    if case is not None:
        case_ctx = {
            "case_id": case["case_id"],
            "route": _label(ia, "route", case["route"]),
            "sub_route": _label(ia, "sub_route", case["sub_route"]),
            "reason": f"（与推荐不同的理由：{case['reason']}）" if case["reason"] else "",
            "opened_at": _v(case["opened_at"]),
            "opened_by": case["opened_by"],
        }
    blank_sign = "　" * 6
    return {
        "p": facts,
        "a": assess,
        "c": case_ctx,
        "reasons": reasons,
        "projects": proj,
        "events": ev_rows,
        "alternatives": "、".join(alts) or "无",
        "measures": "；".join(measures) or "无",
        "town_name": town_name,
        "doc_no": _v(draft["doc_no"]) if draft is not None else "〔　　〕　号",
        "determination": (f"{_v(det['doc_no'])}（{_v(det['event_date'])}）" if det is not None else "尚未下达"),
        "cause_detail": f"（{_label('parcels', 'idle_cause_detail', detail)}）" if isinstance(detail, str) else "",
        "fee_text": fee_text,
        "imagery_dates": "、".join(data.raster_dates) or "无影像",
        "projects_note": "" if proj else "本宗地无关联商品住房项目。",
        "sign": {
            "drafter": draft["recorded_by"] if draft is not None else blank_sign,
            "drafted_on": _v(draft["event_date"]) if draft is not None else blank_sign,
            "reviewer": blank_sign,
            "reviewed_on": blank_sign,
            "approver": approve["recorded_by"] if approve is not None else blank_sign,
            "approved_on": _v(approve["event_date"]) if approve is not None else blank_sign,
        },
        "synthetic_banner": "【演示数据（合成），非真实宗地】" if data.synthetic else "",
        "generated_at": pd.Timestamp.now(tz="Asia/Shanghai").strftime("%Y-%m-%d %H:%M"),
        "rules_version": rules.version,
        "map_note": "",
    }


def _nice(length: float) -> float:
    base = 10 ** np.floor(np.log10(length))
    for k in (5, 2, 1):
        if k * base <= length:
            return float(k * base)
    return float(base)


def location_map_png(data: PlanData, parcel_id: str, *, width_cm: float = 14.0) -> bytes:
    """The location map as PNG: the parcel (red), neighbours (grey), the town boundary (dashed), scale bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parcels = data.parcels.to_crs(AREA_CRS)
    me = parcels.loc[parcels["parcel_id"] == parcel_id]
    if me.empty:
        raise LandRenewError(f"宗地 {parcel_id} 没有图形，不能绘制位置图", fix="检查台账中的宗地图形")
    x0, y0, x1, y1 = me.total_bounds
    pad = max(300.0, 1.5 * max(x1 - x0, y1 - y0))
    box = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    near = parcels.iloc[parcels.sindex.query(__import__("shapely").box(*box))]
    fig, ax = plt.subplots(figsize=(width_cm / 2.54, width_cm / 2.54 * 0.75), dpi=150)
    towns = data.towns.to_crs(AREA_CRS) if len(data.towns) else None
    if towns is not None:
        towns.boundary.plot(ax=ax, color="#555555", linewidth=1.0, linestyle="--")
    near.loc[near["parcel_id"] != parcel_id].plot(ax=ax, facecolor="#dddddd", edgecolor="#888888", linewidth=0.5)
    me.plot(ax=ax, facecolor="#d73027", edgecolor="#7f0000", linewidth=1.0, alpha=0.85)
    ax.set_xlim(box[0], box[2])
    ax.set_ylim(box[1], box[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    span = box[2] - box[0]
    bar = _nice(span / 4)
    bx, by = box[0] + span * 0.05, box[1] + (box[3] - box[1]) * 0.06
    ax.plot([bx, bx + bar], [by, by], color="black", linewidth=3, solid_capstyle="butt")
    ax.text(
        bx + bar / 2,
        by + (box[3] - box[1]) * 0.02,
        f"{bar:g} m" if bar < 1000 else f"{bar / 1000:g} km",
        ha="center",
        va="bottom",
        fontsize=8,
    )
    ax.annotate(
        "N",
        xy=(0.95, 0.93),
        xytext=(0.95, 0.80),
        xycoords="axes fraction",
        ha="center",
        fontsize=10,
        arrowprops={"arrowstyle": "-|>", "color": "black"},
    )
    ax.text(
        0.02,
        0.97,
        str(parcel_id),
        transform=ax.transAxes,
        fontsize=8,
        va="top",
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8},
    )
    fig.tight_layout(pad=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write_plan(
    store_or_data,
    parcel_id: str,
    out: str | Path,
    *,
    template: str | Path | None = None,
    rules: DisposalRules | None = None,
) -> Path:
    """Write the plan of one parcel as .docx (``store_or_data``: a store, or :class:`PlanData` for a batch)."""
    from docx.shared import Mm
    from docxtpl import DocxTemplate, InlineImage

    data = store_or_data if isinstance(store_or_data, PlanData) else load_plan_data(store_or_data)
    context = plan_context(data, parcel_id, rules=rules)
    tpl = DocxTemplate(str(template or TEMPLATE))
    context["location_map"] = InlineImage(tpl, io.BytesIO(location_map_png(data, parcel_id)), width=Mm(140))
    tpl.render(context, autoescape=True)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tpl.save(str(out))
    return out


def write_plans_zip(
    store,
    out: str | Path,
    *,
    town_code: str | None = None,
    route: str | None = None,
    parcel_ids: list[str] | None = None,
    template: str | Path | None = None,
    rules: DisposalRules | None = None,
) -> tuple[Path, list[str]]:
    """All plans of a town / route / list of parcels (default: every parcel with a case) as one zip.

    Returns the zip's path and the parcel ids written (``<parcel_id>.docx`` each)."""
    import tempfile

    data = load_plan_data(store)
    ids = set(parcel_ids) if parcel_ids else set(data.cases["parcel_id"])
    pick = data.assessment.loc[data.assessment["parcel_id"].isin(ids)]
    if town_code:
        pick = pick.loc[pick["town_code"] == town_code]
    if route:
        case_route = (
            data.cases.sort_values("opened_at")
            .drop_duplicates("parcel_id", keep="last")
            .set_index("parcel_id")["route"]
        )
        pick = pick.loc[pick["parcel_id"].map(case_route).fillna(pick["route"]) == route]
    chosen = sorted(pick["parcel_id"].astype(str))
    if not chosen:
        raise LandRenewError(
            "没有符合条件的宗地（须已立案）",
            detail=f"town={town_code} route={route}",
            fix="检查镇街代码或路径；先用 landrenew case open 立案",
        )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for pid in chosen:
            path = write_plan(data, pid, Path(tmp) / f"{pid}.docx", template=template, rules=rules)
            zf.write(path, f"{pid}.docx")
    return out, chosen
