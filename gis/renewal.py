"""Urban-village renewal tracking (城中村改造跟踪), docs/rules.md §7.

From the ``villages`` layer and the ``village_progress`` history this module computes, as of a date, how
far each village is (``percent_complete``), how fast it has been moving, when it will finish at that pace,
what pace the deadline still requires, and a status (done / on_track / at_risk / late / not_started), with
Chinese notes on every edge case.  It also sums the villages up per town and for the district (the
resettlement-site suggestions are in gis/resettlement.py).

Every threshold is in ``layers/rules/renewal.yaml`` (see the comments there).  The arithmetic:

* ``percent_complete`` of a report = sum of weight x indicator ratio (each ratio clipped to 0..1), weights
  per mode; an indicator whose denominator is missing or 0 is left out and the mode's other weights are
  scaled up.  拆整结合 = s x (拆除新建 percent) + (1 - s) x (整治提升 percent) with the demolition share
  s = planned_demolition_m2 / village area (``area_m2`` column, else geometry area in EPSG:4549).
  A field missing from a report keeps its last reported value (0 before any report).
* A month is 365.25 / 12 days.  ``months_to_deadline`` = (deadline - as_of) in months.
* ``monthly_rate`` = (p_last - p_base) / months(base -> last), where *base* is the latest report at least
  ``forecast.rate_window_months`` calendar months before the last report, else the earliest usable report.
  A single usable report gives no rate.
* ``projected_completion`` = last_report_date + (1 - p_last) / rate months (rounded up to a whole day);
  NaT when the rate is <= 0 or missing.  A done village's projection is its last report date.
* ``required_monthly_rate`` = (1 - p_last) / months_to_deadline; 0 when done; ``inf`` when the deadline
  has passed (or is today) and the village is not done.
* status: the first row of the rule file's ``status_order`` table that holds (conditions named in
  gis/renewal_conditions.py), with its note — by default: done (p_last = 1; the indicators decide, the stage
  is a cross-check); late when the deadline has passed; not_started (no report, or p_last = 0 at a stage in
  ``status.not_started_stages``); late when there was no progress over ``status.stall_months``; late
  when the rate is <= 0 or the projection is more than ``status.late_margin_months`` after the deadline;
  at_risk when the projection is after the deadline; on_track otherwise.  One usable report: at_risk
  when the required rate exceeds ``status.single_report_max_required_rate``, else on_track.
* Data errors are flagged, never averaged away: a duplicated (village_id, report_date) keeps the last row
  of the file; a counted indicator that goes down between reports is named with both dates and values,
  the latest report stays the current state, and the rate (and the stall check) use only the reports from
  the last drop on.

>>> import datetime as dt
>>> rules = load_renewal_rules()
>>> rules["deadline.default"]
datetime.date(2027, 12, 31)
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .crs import AREA_CRS
from .decision_table import Evaluator, RowError, first_match, parse_template
from .errors import InputFileError, RuleFileError
from .renewal_conditions import CONDITIONS, PLACEHOLDERS, VillageFacts, status_table
from .rules import RuleSet, load_rules
from .schema import get_layer

__all__ = [
    "RULE_SPEC",
    "MODES",
    "STAGES",
    "STAGE_LABELS",
    "STATUSES",
    "STATUS_LABELS",
    "INDICATOR_FIELDS",
    "DAYS_PER_MONTH",
    "load_renewal_rules",
    "resolve_renewal_rules",
    "renewal_deadline",
    "percent_complete",
    "village_status",
    "district_summary",
]

#: Days in a month for every rate and projection (mean Julian month).
DAYS_PER_MONTH = 365.25 / 12

# Codes and Chinese labels come from the layer registry (layers/*.yaml), the single source.
MODES = get_layer("villages").field("mode").values
STAGES = get_layer("village_progress").field("stage").values
STAGE_LABELS = get_layer("village_progress").field("stage").value_labels
STATUSES = get_layer("village_status").field("status").values
STATUS_LABELS = get_layer("village_status").field("status").value_labels
#: indicator -> progress field
INDICATOR_FIELDS = {
    "signing": "signed_households",
    "relocation": "relocated_households",
    "demolition": "demolished_m2",
    "resettlement": "resettlement_units_delivered",
    "works": "works_progress",
}
_FIELD_LABELS = get_layer("village_progress").labels()
#: indicator -> the villages field of its denominator (its label names it in notes); works is a ratio already
_DENOMINATOR_FIELDS = {
    "signing": "households",
    "relocation": "households",
    "demolition": "planned_demolition_m2",
    "resettlement": "planned_resettlement_units",
    "works": None,
}
_DEN_LABELS = {ind: get_layer("villages").field(f).label if f else "1" for ind, f in _DENOMINATOR_FIELDS.items()}
#: note -> the placeholders its template (``notes.<name>`` in the renewal rule file) may use
NOTE_PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "mixed_share": ("planned_demolition_m2", "area_m2", "share", "clipped", "works_share"),
    "mixed_share_clipped": ("share_used",),
    "mixed_share_default": ("share_default",),
    "duplicate_reports": ("report_date", "count"),
    "unreadable_dates": ("count",),
    "indicator_drop": ("field", "before_date", "before", "date", "value"),
    "stage_drop": ("before_date", "before_stage", "date", "stage"),
    "rate_after_drop": ("last_report_date", "from_date"),
    "stale_report": ("last_report_date", "stale_months"),
    "stage_not_of_mode": ("stage", "mode"),
    "stage_behind_indicators": ("stage", "indicator", "ratio"),
    "done_stage_not_done": ("percent",),
    "done_but_stage_behind": ("stage",),
    "indicator_over_denominator": ("field", "value", "denominator"),
    "no_usable_indicator": (),
    "missing_denominator": ("indicator", "denominator"),
}
_FIELDS = tuple(INDICATOR_FIELDS.values())

RULE_SPEC: dict[str, tuple[str, Any]] = {
    "deadline.default": ("date", None),
    "stages.拆除新建": ("list", None),
    "stages.整治提升": ("list", None),
    "stages.拆整结合": ("list", None),
    "indicator_stage": ("dict", None),
    "weights.拆除新建": ("dict", None),
    "weights.整治提升": ("dict", None),
    "mixed.share_default": ("float", (0.0, 1.0)),
    "mixed.share_min": ("float", (0.0, 1.0)),
    "mixed.share_max": ("float", (0.0, 1.0)),
    "forecast.rate_window_months": ("int", (1, 60)),
    "status.stall_months": ("int", (1, 60)),
    "status.stall_min_progress": ("float", (0.0, 1.0)),
    "status.late_margin_months": ("int", (0, 60)),
    "status.single_report_max_required_rate": ("float", (0.0, 1.0)),
    "status.not_started_stages": ("list", None),
    "status.stale_report_months": ("int", (1, 120)),
    "sites.routes": ("list", None),
    "sites.residential_land_uses": ("list", None),
    "sites.max_distance_m": ("float", (0.0, 100_000.0)),
    "sites.land_m2_per_unit": ("float", (1.0, 10_000.0)),
    "sites.min_fit": ("float", (0.0, 1.0)),
    "sites.weight_distance": ("float", (0.0, 1.0)),
    "sites.weight_fit": ("float", (0.0, 1.0)),
    "sites.top_n": ("int", (1, 1000)),
    "status_order": ("list", None),
    "indicator_labels": ("dict", None),
    **{f"notes.{name}": ("str", None) for name in NOTE_PLACEHOLDERS},
}

_EPS = 1e-9
_EPOCH = np.datetime64("1970-01-01", "D")
_MAX_DAY = int((np.datetime64("2262-04-10", "D") - _EPOCH).astype(np.int64))


# ----------------------------------------------------------------------------------------------- rules
def _rule_error(rules: RuleSet, key: str, what: str, fix: str) -> RuleFileError:
    return RuleFileError(f"规则文件 {rules.path} 的键 “{key}” {what}", detail=f"renewal rule {key!r}: {what}", fix=fix)


def _check_rules(rules: RuleSet) -> None:
    """Cross-checks the spec cannot express; also run on what-if copies from ``RuleSet.replace``."""
    for mode in MODES:
        stages = rules[f"stages.{mode}"]
        unknown = [s for s in stages if s not in STAGES]
        if unknown:
            raise _rule_error(rules, f"stages.{mode}", f"含未知阶段 {unknown}", f"阶段只能取 {', '.join(STAGES)}")
        if len(stages) < 2 or stages[0] != "not_started" or stages[-1] != "done" or len(set(stages)) != len(stages):
            raise _rule_error(
                rules,
                f"stages.{mode}",
                "应以 not_started 开头、done 结尾且不重复",
                "按 未启动 -> ... -> 完成 的顺序列出阶段",
            )
    for ind, stage in rules["indicator_stage"].items():
        if ind not in INDICATOR_FIELDS or stage not in STAGES:
            raise _rule_error(
                rules,
                f"indicator_stage.{ind}",
                f"无效（{ind}: {stage}）",
                f"指标只能取 {', '.join(INDICATOR_FIELDS)}，阶段只能取 {', '.join(STAGES)}",
            )
    for mode in ("拆除新建", "整治提升"):
        weights = rules[f"weights.{mode}"]
        bad = [
            k
            for k, w in weights.items()
            if k not in INDICATOR_FIELDS or isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0
        ]
        if bad or not weights:
            raise _rule_error(
                rules,
                f"weights.{mode}",
                f"含无效指标或权重 {bad}",
                f"指标只能取 {', '.join(INDICATOR_FIELDS)}，权重为非负数",
            )
        total = float(sum(weights.values()))
        if abs(total - 1.0) > 1e-6:
            raise _rule_error(rules, f"weights.{mode}", f"的权重之和为 {total:g}，应为 1", "调整各指标权重使之和为 1")
    if not rules["mixed.share_min"] <= rules["mixed.share_default"] <= rules["mixed.share_max"]:
        raise _rule_error(rules, "mixed.share_default", "应在 share_min 与 share_max 之间", "调整三者的大小关系")
    if rules["sites.weight_distance"] + rules["sites.weight_fit"] <= 0:
        raise _rule_error(rules, "sites.weight_distance", "与 sites.weight_fit 之和应大于 0", "至少一个权重取正数")
    status_table(rules)
    missing = [ind for ind in INDICATOR_FIELDS if ind not in rules["indicator_labels"]]
    if missing:
        raise _rule_error(rules, "indicator_labels", f"缺少指标 {missing} 的名称", "为每个指标写出中文名称")
    for name, allowed in NOTE_PLACEHOLDERS.items():
        parse_template(rules[f"notes.{name}"], RowError(rules.path, "notes"), name, allowed)


def load_renewal_rules(path: str | Path | None = None) -> RuleSet:
    """Read and validate the renewal rule file (default ``layers/rules/renewal.yaml``).

    Parameters
    ----------
    path
        A district's own rule file.

    Raises
    ------
    RuleFileError
        A key is missing, of the wrong type or out of range, or the weights of a mode do not sum to 1.
    """
    rules = load_rules("renewal", path, spec=RULE_SPEC)
    _check_rules(rules)
    return rules


def resolve_renewal_rules(rules: RuleSet | None) -> RuleSet:
    """The given renewal rules, cross-checked again (what-if copies), or the default file when None."""
    if rules is None:
        return load_renewal_rules()
    _check_rules(rules)
    return rules


def renewal_deadline(rules: RuleSet | None = None) -> dt.date:
    """The district's renewal deadline (``deadline.default`` of the renewal rule file).

    The one place the date is kept: the dashboard, the report, the ledger and the villages layer's default
    read it from the rule file.

    >>> renewal_deadline()
    datetime.date(2027, 12, 31)
    """
    rules = load_renewal_rules() if rules is None else rules
    return rules["deadline.default"]


# ------------------------------------------------------------------------------------------- helpers
def _days(values: Any) -> np.ndarray:
    """Dates -> float days since 1970-01-01 (NaN where missing or unparseable)."""
    ts = pd.to_datetime(pd.Series(values), errors="coerce")
    arr = ts.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    out = (arr - _EPOCH).astype(np.int64).astype(float)
    out[np.isnat(arr)] = np.nan
    return out


def _day(value: Any) -> int:
    return int((np.datetime64(pd.Timestamp(value).date(), "D") - _EPOCH).astype(np.int64))


def _as_dt64(days: np.ndarray) -> np.ndarray:
    """Float days (NaN allowed) -> datetime64[s] with NaT."""
    out = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[s]")
    ok = ~np.isnan(days)
    out[ok] = (_EPOCH + days[ok].astype(np.int64)).astype("datetime64[s]")
    return out


def _add_months(days: np.ndarray, months: int) -> np.ndarray:
    """Calendar month shift of int day numbers, clamped to month end (2025-08-31 - 6 -> 2025-02-28)."""
    d = _EPOCH + np.asarray(days, dtype=np.int64)
    month = d.astype("datetime64[M]")
    dom = (d - month.astype("datetime64[D]")).astype(np.int64)
    target = month + months
    length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(np.int64)
    return (target.astype("datetime64[D]") + np.minimum(dom, length - 1) - _EPOCH).astype(np.int64)


def _date_str(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(_EPOCH + np.asarray(days, dtype=np.int64))


def _pct(x: np.ndarray) -> np.ndarray:
    return np.char.mod("%.1f%%", np.asarray(x, dtype=float) * 100)


def _num(x: np.ndarray) -> np.ndarray:
    return np.char.mod("%g", np.asarray(x, dtype=float))


def _note(rules: RuleSet, name: str, **values: Any) -> np.ndarray:
    """The note template ``notes.<name>`` filled with ``values`` (arrays or scalars, one value per village)."""
    template = parse_template(rules[f"notes.{name}"], RowError(rules.path, "notes"), name, NOTE_PLACEHOLDERS[name])
    parts = [values[text] if is_ph else text for is_ph, text in template.parts]
    return _cat(*parts) if parts else np.asarray("")


def _cat(*parts: Any) -> np.ndarray:
    out = np.asarray(parts[0]).astype(str)
    for part in parts[1:]:
        out = np.strings.add(out, np.asarray(part).astype(str))
    return out


class _Notes:
    """Collects (village position, Chinese text) pairs and builds one list per village."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.pos: list[np.ndarray] = []
        self.text: list[np.ndarray] = []

    def add(self, pos: np.ndarray, text: Any) -> None:
        pos = np.asarray(pos, dtype=np.int64)
        if pos.size == 0:
            return
        text = np.broadcast_to(np.asarray(text).astype(str), pos.shape)
        self.pos.append(pos)
        self.text.append(np.asarray(text, dtype=object))

    def build(self) -> list[list[str]]:
        out: list[list[str]] = [[] for _ in range(self.n)]
        if not self.pos:
            return out
        pos = np.concatenate(self.pos)
        text = np.concatenate(self.text)
        order = np.argsort(pos, kind="stable")
        grouped = pd.Series(text[order]).groupby(pos[order], sort=True).agg(list)
        for p, lst in zip(grouped.index.to_numpy(), grouped.to_list()):
            out[p] = lst
        return out


# ---------------------------------------------------------------------------------------- villages
def _village_table(villages: pd.DataFrame, rules: RuleSet) -> pd.DataFrame:
    """Validated village attributes (positional index), with the demolition share of each village."""
    missing = [c for c in ("village_id", "mode", "households") if c not in villages.columns]
    if missing:
        raise InputFileError(
            f"城中村图层缺少字段 {missing}",
            detail=f"villages: missing columns {missing}",
            fix="补上 村编号、改造方式、户数 列",
        )
    ids = villages["village_id"].astype(str).to_numpy()
    dup = pd.Series(ids).duplicated(keep=False).to_numpy()
    if dup.any():
        shown = sorted(set(ids[dup]))[:10]
        raise InputFileError(
            f"城中村编号重复：{', '.join(shown)}",
            detail=f"duplicate village_id {shown}",
            fix="每个村只保留一行，编号唯一",
        )
    mode = villages["mode"].astype(str).to_numpy()
    bad = ~np.isin(mode, MODES)
    if bad.any():
        shown = [f"{i}（{m}）" for i, m in zip(ids[bad][:10], mode[bad][:10])]
        raise InputFileError(
            f"城中村改造方式无法识别：{', '.join(shown)}",
            detail="unknown mode",
            fix=f"改造方式只能取 {', '.join(MODES)}",
        )

    def num(col: str) -> np.ndarray:
        if col not in villages.columns:
            return np.full(len(villages), np.nan)
        return pd.to_numeric(pd.Series(villages[col].to_numpy()), errors="coerce").to_numpy(dtype=float)

    vt = pd.DataFrame({"village_id": ids, "mode": mode})
    vt["households"] = num("households")
    vt["planned_demolition_m2"] = num("planned_demolition_m2")
    vt["planned_resettlement_units"] = num("planned_resettlement_units")
    default_day = _day(rules["deadline.default"])
    deadline = _days(villages["deadline"].to_numpy()) if "deadline" in villages.columns else np.full(len(vt), np.nan)
    vt["deadline_day"] = np.where(np.isnan(deadline), default_day, deadline)

    # demolition share s: 1 for 拆除新建, 0 for 整治提升, area-weighted for 拆整结合
    share = np.where(mode == "拆除新建", 1.0, 0.0)
    share_note = np.full(len(vt), "", dtype=object)
    mixed = mode == "拆整结合"
    if mixed.any():
        area = num("area_m2")
        need_geom = mixed & np.isnan(area)
        if need_geom.any() and isinstance(villages, gpd.GeoDataFrame) and villages.crs is not None:
            geoms = villages.geometry.to_numpy()[need_geom]
            projected = gpd.GeoSeries(geoms, crs=villages.crs).to_crs(AREA_CRS)
            area[need_geom] = projected.area.to_numpy()
        area = np.where(area > 0, area, np.nan)
        raw = vt["planned_demolition_m2"].to_numpy() / area
        lo, hi, default = rules["mixed.share_min"], rules["mixed.share_max"], rules["mixed.share_default"]
        ok = mixed & ~np.isnan(raw)
        clipped = np.clip(raw, lo, hi)
        share = np.where(mixed, np.where(ok, clipped, default), share)
        if ok.any():
            idx = np.flatnonzero(ok)
            clip_txt = np.where(
                clipped[idx] != raw[idx], _note(rules, "mixed_share_clipped", share_used=_pct(clipped[idx])), ""
            )
            share_note[idx] = _note(
                rules,
                "mixed_share",
                planned_demolition_m2=_num(vt["planned_demolition_m2"].to_numpy()[idx]),
                area_m2=np.char.mod("%.0f", area[idx]),
                share=_pct(raw[idx]),
                clipped=clip_txt,
                works_share=_pct(1 - clipped[idx]),
            )
        miss = np.flatnonzero(mixed & ~ok)
        share_note[miss] = str(_note(rules, "mixed_share_default", share_default=f"{default:.0%}"))
    vt["share"] = share
    vt["share_note"] = share_note
    return vt


def _weighted(ratios: dict[str, np.ndarray], weights: dict[str, float], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean over the indicators that have a denominator; (percent, some-weight-left-out)."""
    num = np.zeros(size)
    den = np.zeros(size)
    for ind, w in weights.items():
        r = ratios[ind]
        ok = ~np.isnan(r)
        num += np.where(ok, w * np.nan_to_num(r), 0.0)
        den += np.where(ok, w, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    total = float(sum(weights.values()))
    return pct, (den > 0) & (den < total - 1e-9)


def _denominators(vt: pd.DataFrame) -> dict[str, np.ndarray]:
    share = vt["share"].to_numpy()
    part = np.where(vt["mode"].to_numpy() == "拆整结合", share, 1.0)
    hh = vt["households"].to_numpy() * part
    out = {
        "signing": hh,
        "relocation": hh,
        "demolition": vt["planned_demolition_m2"].to_numpy(),
        "resettlement": vt["planned_resettlement_units"].to_numpy(),
        "works": np.ones(len(vt)),
    }
    return {k: np.where(v > 0, v, np.nan) for k, v in out.items()}


def _row_percent(
    vt: pd.DataFrame, g: np.ndarray, values: dict[str, np.ndarray], rules: RuleSet
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """percent_complete of report rows (g = village position of each row); also the raw ratios."""
    dens = _denominators(vt)
    raw = {ind: values[field] / dens[ind][g] for ind, field in INDICATOR_FIELDS.items()}
    raw["works"] = values["works_progress"]  # a ratio already
    ratios = {k: np.clip(v, 0.0, 1.0) for k, v in raw.items()}
    size = len(g)
    demolish, _ = _weighted(ratios, rules["weights.拆除新建"], size)
    works, _ = _weighted(ratios, rules["weights.整治提升"], size)
    share = vt["share"].to_numpy()[g]
    a = np.where(share > 0, share * demolish, 0.0)
    b = np.where(share < 1, (1 - share) * works, 0.0)
    return a + b, raw


def _reports(
    vt: pd.DataFrame, progress: pd.DataFrame, *, as_of_day: int | None, dedupe: bool
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Report rows of known villages, sorted by (village, date, file order), fields forward-filled."""
    missing = [c for c in ("village_id", "report_date", "stage") if c not in progress.columns]
    if missing:
        raise InputFileError(
            f"城中村改造进度表缺少字段 {missing}",
            detail=f"village_progress: missing {missing}",
            fix="补上 村编号、填报日期、阶段 列",
        )
    m = len(progress)
    g = pd.Index(vt["village_id"]).get_indexer(progress["village_id"].astype(str).to_numpy())
    day = _days(progress["report_date"].to_numpy())
    df = pd.DataFrame({"row": np.arange(m), "g": g, "day": day, "stage": progress["stage"].astype(str).to_numpy()})
    for field in _FIELDS:
        df[field] = (
            pd.to_numeric(pd.Series(progress[field].to_numpy()), errors="coerce").to_numpy(dtype=float)
            if field in progress.columns
            else np.nan
        )
    info: dict[str, Any] = {
        "bad_date_g": g[(g >= 0) & np.isnan(day)],
        "unknown_villages": sorted(set(progress["village_id"].astype(str).to_numpy()[g < 0])),
    }
    keep = (g >= 0) & ~np.isnan(day)
    if as_of_day is not None:
        keep &= day <= as_of_day
    df = df[keep]
    df = df.iloc[np.lexsort((df["row"].to_numpy(), df["day"].to_numpy(), df["g"].to_numpy()))]
    df = df.reset_index(drop=True)
    info["dups"] = pd.DataFrame(columns=["g", "day", "count"])
    if dedupe and len(df):
        gg, dd = df["g"].to_numpy(), df["day"].to_numpy()
        superseded = np.r_[(gg[1:] == gg[:-1]) & (dd[1:] == dd[:-1]), False]
        if superseded.any():
            counts = df[superseded].groupby(["g", "day"]).size().rename("count").reset_index()
            counts["count"] += 1
            info["dups"] = counts
            df = df[~superseded].reset_index(drop=True)
    filled = df.groupby("g", sort=False)[list(_FIELDS)].ffill()
    for field in _FIELDS:
        df[field] = filled[field].fillna(0.0).to_numpy()
    return df, info


# ------------------------------------------------------------------------------------------- public
def percent_complete(villages: pd.DataFrame, progress: pd.DataFrame, *, rules: RuleSet | None = None) -> pd.Series:
    """Share of the renewal done (0..1) at each report.

    Parameters
    ----------
    villages
        The ``villages`` layer (``village_id``, ``mode``, ``households``, planned quantities; for 拆整结合
        an ``area_m2`` column or a geometry with a CRS gives the area weights).
    progress
        ``village_progress`` rows.  A field missing from a report keeps the village's last reported value.
    rules
        Renewal rules (default file when None).

    Returns
    -------
    pandas.Series
        Aligned with ``progress.index``; NaN for rows of unknown villages or without a usable date.
    """
    rules = resolve_renewal_rules(rules)
    vt = _village_table(villages, rules)
    rep, _ = _reports(vt, progress, as_of_day=None, dedupe=False)
    p, _ = _row_percent(vt, rep["g"].to_numpy(), {f: rep[f].to_numpy() for f in _FIELDS}, rules)
    out = np.full(len(progress), np.nan)
    out[rep["row"].to_numpy()] = np.nan_to_num(p, nan=0.0)
    return pd.Series(out, index=progress.index, name="percent_complete")


def _stage_index(mode: np.ndarray, stage: np.ndarray, rules: RuleSet) -> np.ndarray:
    """Position of each stage in its mode's stage list; -1 when the stage does not belong to the mode."""
    out = np.full(len(stage), -1, dtype=np.int64)
    for m in MODES:
        sel = mode == m
        if sel.any():
            order = {s: i for i, s in enumerate(rules[f"stages.{m}"])}
            out[sel] = pd.Series(stage[sel]).map(order).fillna(-1).to_numpy(dtype=np.int64)
    return out


def _counted(rules: RuleSet) -> dict[str, set[str]]:
    """The indicators with a weight above zero, per mode (拆整结合: both parts)."""
    counted = {mode: {k for k, w in rules[f"weights.{mode}"].items() if w > 0} for mode in ("拆除新建", "整治提升")}
    counted["拆整结合"] = counted["拆除新建"] | counted["整治提升"]
    return counted


class _History:
    """The usable reports of known villages (sorted by village, date), their percent and runs per village."""

    def __init__(self, vt: pd.DataFrame, rep: pd.DataFrame, rules: RuleSet):
        self.g = rep["g"].to_numpy()
        self.day = rep["day"].to_numpy().astype(np.int64)
        self.m = m = len(rep)
        self.pos = np.arange(m)
        self.values = {f: rep[f].to_numpy() for f in _FIELDS}
        p, self.raw = _row_percent(vt, self.g, self.values, rules)
        self.nan_p = np.isnan(p)
        self.p = np.nan_to_num(p, nan=0.0)
        self.stage = rep["stage"].to_numpy(dtype=object)
        self.mode = vt["mode"].to_numpy()[self.g]
        self.sidx = _stage_index(self.mode, self.stage, rules)
        g = self.g
        # groups: contiguous runs of one village
        self.first = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if m else np.zeros(0, np.int64)
        self.last = np.r_[self.first[1:] - 1, m - 1] if m else np.zeros(0, np.int64)
        self.gv = g[self.first]
        self.gi = np.repeat(np.arange(len(self.first)), self.last - self.first + 1)
        self.same_prev = np.r_[False, g[1:] == g[:-1]] if m else np.zeros(0, bool)


def _data_errors(h: _History, info: dict, n: int, rules: RuleSet, notes: _Notes) -> tuple[np.ndarray, np.ndarray]:
    """Duplicates, unreadable dates, indicators or stage going backwards: noted, never averaged away.

    Returns (data_error per village, report rows where a counted indicator dropped).
    """
    g, day = h.g, h.day
    dups = info["dups"]
    if len(dups):
        notes.add(
            dups["g"].to_numpy(),
            _note(
                rules,
                "duplicate_reports",
                report_date=_date_str(dups["day"].to_numpy()),
                count=dups["count"].to_numpy(),
            ),
        )
    bad_g = info["bad_date_g"]
    if len(bad_g):
        ug, cnt = np.unique(bad_g, return_counts=True)
        notes.add(ug, _note(rules, "unreadable_dates", count=cnt))
    data_error = np.zeros(n, bool)
    data_error[dups["g"].to_numpy(dtype=np.int64)] = True
    data_error[bad_g] = True
    counted = _counted(rules)
    drop_counted = np.zeros(h.m, bool)
    for ind, field in INDICATOR_FIELDS.items():
        v = h.values[field]
        dec = h.same_prev & (v < np.r_[np.nan, v[:-1]] - _EPS)
        if not dec.any():
            continue
        idx = np.flatnonzero(dec)
        notes.add(
            g[idx],
            _note(
                rules,
                "indicator_drop",
                field=_FIELD_LABELS[field],
                before_date=_date_str(day[idx - 1]),
                before=_num(v[idx - 1]),
                date=_date_str(day[idx]),
                value=_num(v[idx]),
            ),
        )
        data_error[g[idx]] = True
        is_counted = np.isin(h.mode, [mm for mm in MODES if ind in counted[mm]])
        drop_counted |= dec & is_counted
    sdec = h.same_prev & (h.sidx >= 0) & (np.r_[-1, h.sidx[:-1]] > h.sidx)
    if sdec.any():
        idx = np.flatnonzero(sdec)
        prev_lab = pd.Series(h.stage[idx - 1]).map(STAGE_LABELS).fillna("?").to_numpy()
        lab = pd.Series(h.stage[idx]).map(STAGE_LABELS).fillna("?").to_numpy()
        notes.add(
            g[idx],
            _note(
                rules,
                "stage_drop",
                before_date=_date_str(day[idx - 1]),
                before_stage=prev_lab,
                date=_date_str(day[idx]),
                stage=lab,
            ),
        )
        data_error[g[idx]] = True
    return data_error, drop_counted


def _forecast(
    h: _History, vt: pd.DataFrame, drop_counted: np.ndarray, as_of_day: int, rules: RuleSet
) -> tuple[VillageFacts, np.ndarray]:
    """Latest percent, the rate over the recent window, the stall check and the projection, per village.

    The rate and the stall check use only the reports from the last drop of a counted indicator on.
    Returns the facts and the start day of that consistent range per village (int64 min when none).
    """
    n, m, k = len(vt), h.m, len(h.first)
    g, day, p, pos, gi, gv, last = h.g, h.day, h.p, h.pos, h.gi, h.gv, h.last
    cs = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(cs, g[drop_counted], day[drop_counted])
    last_day = day[last]
    ok = day >= cs[gv][gi]
    p_last = p[last]
    # rate over the recent window
    cut = _add_months(last_day, -rules["forecast.rate_window_months"])
    elig = ok & (day <= cut[gi])
    base = np.full(k, -1, dtype=np.int64)
    np.maximum.at(base, gi[elig], pos[elig])
    first_ok = np.full(k, m, dtype=np.int64)
    np.minimum.at(first_ok, gi[ok], pos[ok])
    base = np.where(base >= 0, base, first_ok)
    has_rate = base < last
    span = (last_day - day[base]) / DAYS_PER_MONTH
    with np.errstate(invalid="ignore", divide="ignore"):
        rate_g = np.where(has_rate, (p_last - p[base]) / np.where(has_rate, span, 1.0), np.nan)
    # stall: no progress since the latest report at least stall_months before the last one
    stall_cut = _add_months(last_day, -rules["status.stall_months"])
    elig_s = ok & (day <= stall_cut[gi])
    ref = np.full(k, -1, dtype=np.int64)
    np.maximum.at(ref, gi[elig_s], pos[elig_s])
    stalled_g = (ref >= 0) & (p_last - p[np.maximum(ref, 0)] <= rules["status.stall_min_progress"] + _EPS)

    def per_village(values: np.ndarray, fill: Any, dtype: Any = None) -> np.ndarray:
        out = np.full(n, fill, dtype=dtype or np.asarray(values).dtype)
        out[gv] = values
        return out

    has = per_village(np.ones(k, bool), False)
    P = per_village(p_last, 0.0, float)
    rate = per_village(rate_g, np.nan, float)
    hr = per_village(has_rate, False)
    lastd = per_village(last_day.astype(float), np.nan, float)
    deadline = vt["deadline_day"].to_numpy()
    months_to_deadline = (deadline - as_of_day) / DAYS_PER_MONTH
    done = has & (P >= 1 - _EPS)
    with np.errstate(invalid="ignore", divide="ignore"):
        required = np.where(
            done,
            0.0,
            np.where(
                months_to_deadline > 0, (1 - P) / np.where(months_to_deadline > 0, months_to_deadline, 1.0), np.inf
            ),
        )
        proj_months = np.where(hr & (rate > 0), (1 - P) / np.where(rate > 0, rate, 1.0), np.nan)
    proj_day = lastd + np.ceil(proj_months * DAYS_PER_MONTH - 1e-6)
    proj_day = np.where(done, lastd, proj_day)
    facts = VillageFacts(
        rules=rules,
        as_of_day=as_of_day,
        has_report=has,
        percent=P,
        stage=per_village(h.stage[last], "not_started", object),
        last_day=lastd,
        deadline_day=deadline,
        months_to_deadline=months_to_deadline,
        required=required,
        has_rate=hr,
        rate=rate,
        projected_day=proj_day,
        projection_overflow=proj_day > _MAX_DAY,
        late_cut_day=_add_months(deadline.astype(np.int64), rules["status.late_margin_months"]),
        stalled=per_village(stalled_g, False),
        stall_reference=per_village(np.maximum(ref, 0), 0, np.int64),
        rate_base=per_village(base, 0, np.int64),
        report_day=day,
        report_percent=p,
    )
    return facts, cs


def _status(v: VillageFacts, rules: RuleSet, notes: _Notes) -> np.ndarray:
    """The first row of ``status_order`` that holds, per village, and its note."""
    rows = status_table(rules)
    n = len(v.percent)
    masks = {name: np.asarray(fn(v), dtype=bool) for name, fn in CONDITIONS.items()}
    ev = Evaluator(n, masks.__getitem__, lambda name, ix: PLACEHOLDERS[name](v, ix))
    which = first_match([ev.mask(r.when) for r in rows])
    status = np.array([r.status for r in rows], dtype=object)[which]
    for k, row in enumerate(rows):
        idx = np.flatnonzero(which == k)
        if idx.size and row.note is not None:
            notes.add(idx, ev.render(row.note, idx))
    return status


def _history_notes(v: VillageFacts, cs: np.ndarray, rules: RuleSet, notes: _Notes) -> None:
    """The consistent range after a drop, and a stale last report."""
    has, lastd = v.has_report, v.last_day
    lastd_i = np.nan_to_num(lastd).astype(np.int64)
    idx = np.flatnonzero((cs > np.iinfo(np.int64).min) & has)
    if idx.size:
        notes.add(
            idx, _note(rules, "rate_after_drop", last_report_date=_date_str(lastd_i[idx]), from_date=_date_str(cs[idx]))
        )
    done = has & (v.percent >= 1 - _EPS)
    stale_cut = _add_months(np.array([v.as_of_day]), -rules["status.stale_report_months"])[0]
    idx = np.flatnonzero(has & ~done & (lastd < stale_cut))
    notes.add(
        idx,
        _note(
            rules,
            "stale_report",
            last_report_date=_date_str(lastd_i[idx]),
            stale_months=rules["status.stale_report_months"],
        ),
    )


def _report_checks(h: _History, vt: pd.DataFrame, rules: RuleSet, notes: _Notes, data_error: np.ndarray) -> None:
    """The latest report against the village: its stage, ratios above 100 %, no usable indicator."""
    if not h.m:
        return
    gv, last, raw = h.gv, h.last, h.raw
    k = len(gv)
    counted = _counted(rules)
    p_last = h.p[last]
    lmode = h.mode[last]
    lstage = h.stage[last]
    lsidx = h.sidx[last]
    bad_stage = lsidx < 0
    idx = np.flatnonzero(bad_stage)
    notes.add(gv[idx], _note(rules, "stage_not_of_mode", stage=lstage[idx].astype(str), mode=lmode[idx]))
    implied = np.full(k, -1, dtype=np.int64)
    implied_ind = np.full(k, "", dtype=object)
    implied_ratio = np.zeros(k)
    for ind, st in rules["indicator_stage"].items():
        for mm in MODES:
            order = rules[f"stages.{mm}"]
            # 拆整结合: its two parts run in parallel and one stage is reported (the demolition chain's),
            # so only the demolition-chain indicators are checked against it
            checked = counted["拆除新建"] if mm == "拆整结合" else counted[mm]
            if st not in order or ind not in checked:
                continue
            started = (lmode == mm) & (np.nan_to_num(raw[ind][last]) > 0) & (order.index(st) > implied)
            implied = np.where(started, order.index(st), implied)
            implied_ind = np.where(started, ind, implied_ind)
            implied_ratio = np.where(started, raw[ind][last], implied_ratio)
    ahead = ~bad_stage & (implied > lsidx)
    idx = np.flatnonzero(ahead)
    if idx.size:
        ind_lab = pd.Series(implied_ind[idx]).map(rules["indicator_labels"]).to_numpy()
        notes.add(
            gv[idx],
            _note(
                rules,
                "stage_behind_indicators",
                stage=pd.Series(lstage[idx]).map(STAGE_LABELS).to_numpy(),
                indicator=ind_lab,
                ratio=_pct(implied_ratio[idx]),
            ),
        )
    idx = np.flatnonzero(~bad_stage & (lstage == "done") & (p_last < 1 - _EPS))
    notes.add(gv[idx], _note(rules, "done_stage_not_done", percent=_pct(p_last[idx])))
    idx = np.flatnonzero(~bad_stage & (lstage != "done") & (p_last >= 1 - _EPS))
    if idx.size:
        notes.add(
            gv[idx], _note(rules, "done_but_stage_behind", stage=pd.Series(lstage[idx]).map(STAGE_LABELS).to_numpy())
        )
    data_error[gv[ahead | (~bad_stage & ((lstage == "done") != (p_last >= 1 - _EPS)))]] = True
    dens = _denominators(vt)
    for ind, field in INDICATOR_FIELDS.items():
        over = raw[ind][last] > 1 + _EPS
        if ind == "works":
            den_txt = np.full(k, "100%")
        else:
            den_txt = _cat(_DEN_LABELS[ind], " ", _num(np.nan_to_num(dens[ind][gv])))
        active_ind = np.isin(lmode, [mm for mm in MODES if ind in counted[mm]])
        idx = np.flatnonzero(over & active_ind)
        notes.add(
            gv[idx],
            _note(
                rules,
                "indicator_over_denominator",
                field=_FIELD_LABELS[field],
                value=_num(h.values[field][last[idx]]),
                denominator=den_txt[idx],
            ),
        )
    idx = np.flatnonzero(h.nan_p[last])
    notes.add(gv[idx], _note(rules, "no_usable_indicator"))


def _denominator_notes(vt: pd.DataFrame, rules: RuleSet, notes: _Notes) -> None:
    """An indicator left out because its denominator is missing (the other weights are scaled up)."""
    dens = _denominators(vt)
    mode_v = vt["mode"].to_numpy()
    share = vt["share"].to_numpy()
    for ind in INDICATOR_FIELDS:
        modes_using = [mm for mm in ("拆除新建", "整治提升") if rules[f"weights.{mm}"].get(ind, 0) > 0]
        use = np.isin(mode_v, modes_using) | ((mode_v == "拆整结合") & np.isin("拆除新建", modes_using) & (share > 0))
        if "整治提升" in modes_using:
            use |= (mode_v == "拆整结合") & (share < 1)
        idx = np.flatnonzero(use & np.isnan(dens[ind]))
        notes.add(
            idx,
            _note(rules, "missing_denominator", indicator=rules["indicator_labels"][ind], denominator=_DEN_LABELS[ind]),
        )


def village_status(
    villages: gpd.GeoDataFrame, progress: pd.DataFrame, *, as_of: dt.date, rules: RuleSet | None = None
) -> gpd.GeoDataFrame:
    """Progress, forecast and status of every village as of a date (output layer ``village_status``).

    The steps of docs/rules.md §7: the village table (deadline, demolition share), the usable reports and their
    percent, data errors, the forecast (rate, stall, projection), the status (first row of the rule file's
    ``status_order`` that holds, with its note), then the checks of the latest report.

    Parameters
    ----------
    villages
        The ``villages`` layer; every village gets a row, in the input order.
    progress
        The ``village_progress`` history; only reports with ``report_date <= as_of`` count.
    as_of
        The reference date.
    rules
        Renewal rules (default file when None); ``rules.replace`` gives what-if copies.

    Returns
    -------
    geopandas.GeoDataFrame
        The contract columns (village_id, name, town_code, mode, stage, percent_complete, monthly_rate,
        required_monthly_rate, projected_completion, status, months_to_deadline, geometry) plus deadline,
        last_report_date, report_count, households, signed_households, relocated_households,
        needs_resettlement_units, data_error, notes (list of Chinese str), rules_version, as_of.
    """
    rules = resolve_renewal_rules(rules)
    as_of_day = _day(as_of)
    vt = _village_table(villages, rules)
    n = len(vt)
    notes = _Notes(n)
    share_note = vt["share_note"].to_numpy(dtype=object)
    notes.add(np.flatnonzero(share_note != ""), share_note[share_note != ""])
    rep, info = _reports(vt, progress, as_of_day=as_of_day, dedupe=True)
    h = _History(vt, rep, rules)
    data_error, drop_counted = _data_errors(h, info, n, rules, notes)
    facts, consistent_from = _forecast(h, vt, drop_counted, as_of_day, rules)
    status = _status(facts, rules, notes)
    _history_notes(facts, consistent_from, rules, notes)
    _report_checks(h, vt, rules, notes, data_error)
    _denominator_notes(vt, rules, notes)

    count = np.zeros(n, dtype=np.int64)
    count[h.gv] = h.last - h.first + 1
    latest = {f: np.zeros(n) for f in _FIELDS}
    for f in _FIELDS:
        latest[f][h.gv] = h.values[f][h.last]
    planned_units = np.nan_to_num(vt["planned_resettlement_units"].to_numpy())
    needs = np.maximum(planned_units - latest["resettlement_units_delivered"], 0).round().astype(np.int64)
    projected = np.where(facts.projection_overflow, np.nan, facts.projected_day)

    src = villages.reset_index(drop=True)
    out = pd.DataFrame(
        {
            "village_id": vt["village_id"].to_numpy(),
            "name": src["name"].to_numpy() if "name" in src.columns else np.full(n, None, dtype=object),
            "town_code": src["town_code"].to_numpy() if "town_code" in src.columns else np.full(n, None, dtype=object),
            "mode": vt["mode"].to_numpy(),
            "stage": facts.stage,
            "percent_complete": facts.percent,
            "monthly_rate": facts.rate,
            "required_monthly_rate": facts.required,
            "projected_completion": _as_dt64(projected),
            "status": status,
            "months_to_deadline": facts.months_to_deadline,
            "deadline": _as_dt64(facts.deadline_day),
            "last_report_date": _as_dt64(facts.last_day),
            "report_count": count,
            "households": vt["households"].to_numpy(),
            "signed_households": latest["signed_households"],
            "relocated_households": latest["relocated_households"],
            "needs_resettlement_units": needs,
            "data_error": data_error,
            "notes": notes.build(),
            "rules_version": rules.version,
            "as_of": np.datetime64(pd.Timestamp(as_of).date(), "s"),
        },
        index=villages.index,
    )
    geometry = villages.geometry.to_numpy() if isinstance(villages, gpd.GeoDataFrame) else np.full(n, None)
    crs = villages.crs if isinstance(villages, gpd.GeoDataFrame) else None
    result = gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geometry, index=villages.index, crs=crs), crs=crs)
    result.attrs["unknown_village_ids"] = info["unknown_villages"]
    return result


# ------------------------------------------------------------------------------------------ summary
def district_summary(status: gpd.GeoDataFrame, *, towns: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Town and district totals of ``village_status``, and the villages that decide the 2027 goal.

    Parameters
    ----------
    status
        Output of :func:`village_status`.
    towns
        The ``towns`` layer (``town_code``, ``name``) for town names; villages without a town are grouped
        as 未分配.

    Returns
    -------
    dict
        ``"by_town"``: one row per town and a last row ``town_code == "全区"``, with the village count by
        status, households, signed and relocated households, ``goal_share`` (household-weighted share of
        the goal reached: sum(households x percent_complete) / sum(households); plain mean of
        percent_complete where a town has no households) and ``months_left`` (months from as_of to the
        latest deadline among its villages).
        ``"decisive"``: villages that are late, at_risk or not_started, most households first, with
        ``households_at_stake`` = households x (1 - percent_complete), its share of all district households
        (``stake_share``), the cumulative share, and a Chinese ``reason``.
    """
    df = pd.DataFrame(
        {
            "town_code": status["town_code"].astype(object).where(status["town_code"].notna(), "未分配").astype(str),
            "status": status["status"].astype(str),
            "households": pd.to_numeric(status["households"], errors="coerce").fillna(0.0),
            "signed_households": status["signed_households"].astype(float),
            "relocated_households": status["relocated_households"].astype(float),
            "percent_complete": status["percent_complete"].astype(float),
            "months_to_deadline": status["months_to_deadline"].astype(float),
        }
    )
    df["weighted"] = df["households"] * df["percent_complete"]

    def totals(frame: pd.DataFrame, keys: pd.Series) -> pd.DataFrame:
        grp = frame.groupby(keys, sort=True)
        counts = pd.crosstab(keys, frame["status"]).reindex(columns=list(STATUSES), fill_value=0)
        res = pd.DataFrame(
            {
                "villages": grp.size(),
                "households": grp["households"].sum(),
                "signed_households": grp["signed_households"].sum(),
                "relocated_households": grp["relocated_households"].sum(),
                "weighted": grp["weighted"].sum(),
                "mean_pct": grp["percent_complete"].mean(),
                "months_left": grp["months_to_deadline"].max(),
            }
        ).join(counts)
        res["goal_share"] = np.where(
            res["households"] > 0,
            res["weighted"] / res["households"].where(res["households"] > 0, 1.0),
            res["mean_pct"],
        )
        return res.drop(columns=["weighted", "mean_pct"])

    by_town = totals(df, df["town_code"])
    district = totals(df, pd.Series("全区", index=df.index, name="town_code"))
    by_town = pd.concat([by_town, district])
    by_town.index.name = "town_code"
    by_town = by_town.reset_index()
    names = {"全区": "全区", "未分配": "未分配"}
    if towns is not None and {"town_code", "name"} <= set(towns.columns):
        names.update(dict(zip(towns["town_code"].astype(str), towns["name"].astype(str))))
    by_town.insert(1, "town_name", by_town["town_code"].map(names).fillna(by_town["town_code"]))
    cols = [
        "town_code",
        "town_name",
        "villages",
        *STATUSES,
        "households",
        "signed_households",
        "relocated_households",
        "goal_share",
        "months_left",
    ]
    by_town = by_town[cols]
    for c in ("villages", *STATUSES):
        by_town[c] = by_town[c].astype(np.int64)

    total_hh = float(df["households"].sum())
    sel = status["status"].isin(["late", "at_risk", "not_started"]).to_numpy()
    dec = pd.DataFrame(
        {
            "village_id": status["village_id"].to_numpy()[sel],
            "name": status["name"].to_numpy()[sel],
            "town_code": status["town_code"].to_numpy()[sel],
            "status": status["status"].to_numpy()[sel],
            "households": df["households"].to_numpy()[sel],
            "percent_complete": df["percent_complete"].to_numpy()[sel],
            "required_monthly_rate": status["required_monthly_rate"].to_numpy(dtype=float)[sel],
        }
    )
    dec["households_at_stake"] = dec["households"] * (1 - dec["percent_complete"])
    dec = dec.sort_values(
        ["households", "households_at_stake", "village_id"], ascending=[False, False, True], kind="stable"
    ).reset_index(drop=True)
    denom = total_hh if total_hh > 0 else 1.0
    dec["stake_share"] = dec["households_at_stake"] / denom
    dec["cumulative_share"] = dec["stake_share"].cumsum()
    dec.insert(0, "rank", np.arange(1, len(dec) + 1))
    dec["reason"] = (
        _cat(
            pd.Series(dec["status"]).map(STATUS_LABELS).to_numpy(dtype=str),
            "，",
            _num(dec["households"]),
            " 户，完成 ",
            _pct(dec["percent_complete"]),
            "，尚有约 ",
            np.char.mod("%.0f", dec["households_at_stake"].to_numpy()),
            " 户未完成，占全区户数 ",
            _pct(dec["stake_share"]),
            "（累计 ",
            _pct(dec["cumulative_share"]),
            "）",
        )
        if len(dec)
        else []
    )
    return {"by_town": by_town, "decisive": dec}
