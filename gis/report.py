"""The annual progress report (Plan §三(四)): one self-contained, printable HTML file.

Nothing is fetched when the file is opened: the maps and charts are PNGs drawn with matplotlib (a CJK font for
the Chinese text) and embedded as ``data:`` URIs, the CSS is inline and uses local fonts only.  Sections:
summary by route and town, the static map of routes, renewal status against the deadline of the renewal rule
file (``deadline.default``; map, chart,
villages behind schedule), and the decisions taken in the year (Beijing time).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import os
import warnings
from functools import cache
from pathlib import Path

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from .crs import AREA_CRS  # noqa: E402
from .district import district as district_rules  # noqa: E402
from .errors import LandRenewError  # noqa: E402
from .export import SYNTHETIC_NOTE  # noqa: E402
from .ledger import LOCAL_TZ, town_summary  # noqa: E402
from .renewal import renewal_deadline  # noqa: E402
from .rules import RuleSet  # noqa: E402
from .schema import Layer, get_layer  # noqa: E402
from .store.base import Store  # noqa: E402

__all__ = ["build_report", "report_html", "cjk_font", "decisions_in_year"]

_DISTRICT_FILE = Path(__file__).resolve().parent / "data" / "keqiao_district.geojson"
#: Font files tried first (Debian ``fonts-noto-cjk``, then other common CJK fonts).
_CJK_CANDIDATES = (
    "NotoSansCJK-Regular.ttc",
    "NotoSansCJKsc-Regular.otf",
    "NotoSerifCJK-Regular.ttc",
    "wqy-microhei.ttc",
    "wqy-zenhei.ttc",
    "SourceHanSansSC-Regular.otf",
    "msyh.ttc",
    "simhei.ttf",
)


# ------------------------------------------------------------------------------------------------ fonts
@cache
def cjk_font() -> str | None:
    """The family name of a CJK font registered with matplotlib, or None (with a warning) when none is found.

    Debian/Ubuntu: ``apt-get install fonts-noto-cjk``.
    """
    files = font_manager.findSystemFonts()
    by_name = {Path(f).name: f for f in files}
    path = next((by_name[n] for n in _CJK_CANDIDATES if n in by_name), None)
    if path is None:
        path = next((f for f in files if "cjk" in Path(f).name.lower()), None)
    if path is None:
        warnings.warn(
            "未找到中文字体，报告图表中的中文可能显示为方框；请安装 fonts-noto-cjk "
            "(no CJK font found: apt-get install fonts-noto-cjk)",
            stacklevel=2,
        )
        return None
    font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=path).get_name()


def _rc() -> dict:
    family = cjk_font()
    rc = {"axes.unicode_minus": False, "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}
    if family:
        rc["font.sans-serif"] = [family, "DejaVu Sans"]
        rc["font.family"] = "sans-serif"
    return rc


def _png(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# ------------------------------------------------------------------------------------------------ figures
def _district() -> gpd.GeoDataFrame:
    return gpd.read_file(_DISTRICT_FILE).to_crs(AREA_CRS)


def _category_map(frame: gpd.GeoDataFrame, layer: Layer, towns: gpd.GeoDataFrame | None, title: str) -> str:
    by = layer.style["by"]
    fld = layer.field(by)
    with plt.rc_context(_rc()):
        fig, ax = plt.subplots(figsize=(7.2, 7.2))
        _district().boundary.plot(ax=ax, color="#333333", linewidth=0.8)
        if towns is not None and len(towns):
            towns.to_crs(AREA_CRS).boundary.plot(ax=ax, color="#9e9e9e", linewidth=0.4)
        if len(frame):
            data = frame.to_crs(AREA_CRS)
            colors = data[by].map(lambda v: layer.color_of(v)).astype(str).to_numpy()
            data.plot(ax=ax, color=colors, edgecolor="none", linewidth=0)
        handles = [Patch(facecolor=layer.color_of(v), label=fld.label_of(v)) for v in fld.values]
        ax.legend(handles=handles, loc="lower right", frameon=True, fontsize=8)
        ax.set_title(title)
        ax.set_axis_off()
        ax.set_aspect("equal")
        return _png(fig)


def _route_bars(assessment: pd.DataFrame) -> str:
    layer = get_layer("idle_assessment")
    route = layer.field("route")
    counts = assessment["route"].value_counts()
    values = [v for v in route.values]
    with plt.rc_context(_rc()):
        fig, ax = plt.subplots(figsize=(6.0, 3.0))
        n = [int(counts.get(v, 0)) for v in values]
        bars = ax.bar([route.label_of(v) for v in values], n, color=[layer.color_of(v) for v in values])
        ax.bar_label(bars, fontsize=8)
        ax.set_ylabel("宗地数")
        ax.set_title("推荐处置路径（宗）")
        return _png(fig)


def _town_stack(summary: pd.DataFrame) -> str:
    layer = get_layer("idle_assessment")
    route = layer.field("route")
    body = summary[summary["镇街代码"] != "合计"]
    names = [n or c for c, n in zip(body["镇街代码"], body["镇街名称"])]
    with plt.rc_context(_rc()):
        fig, ax = plt.subplots(figsize=(7.2, max(2.5, 0.32 * len(body) + 1)))
        left = np.zeros(len(body))
        for v in route.values:
            if v == "none":
                continue
            n = body[f"{route.label_of(v)}(宗)"].to_numpy(dtype=float)
            ax.barh(names, n, left=left, color=layer.color_of(v), label=route.label_of(v))
            left += n
        ax.invert_yaxis()
        ax.set_xlabel("宗地数（不含不纳入）")
        ax.set_title("各镇街闲置存量土地处置路径")
        ax.legend(fontsize=8, loc="lower right")
        return _png(fig)


def _status_bars(status: pd.DataFrame, deadline: dt.date) -> str:
    layer = get_layer("village_status")
    fld = layer.field("status")
    counts = status["status"].value_counts()
    with plt.rc_context(_rc()):
        fig, ax = plt.subplots(figsize=(6.0, 3.0))
        bars = ax.bar(
            [fld.label_of(v) for v in fld.values],
            [int(counts.get(v, 0)) for v in fld.values],
            color=[layer.color_of(v) for v in fld.values],
            edgecolor="#555555",
            linewidth=0.4,
        )
        ax.bar_label(bars, fontsize=8)
        ax.set_ylabel("村数")
        ax.set_title(f"城中村改造进展（目标：{deadline.year} 年底前全面完成）")
        return _png(fig)


def _completion_chart(status: pd.DataFrame, deadline: dt.date) -> str:
    """Projected completion dates against the deadline (villages not yet done)."""
    layer = get_layer("village_status")
    todo = status[status["status"] != "done"].sort_values("percent_complete")
    with plt.rc_context(_rc()):
        fig, ax = plt.subplots(figsize=(7.2, 3.2))
        pct = todo["percent_complete"].fillna(0).to_numpy() * 100
        when = pd.to_datetime(todo["projected_completion"])
        has = when.notna().to_numpy()
        colors = [layer.color_of(v) for v in todo["status"]]
        ax.scatter(
            when[has],
            pct[has],
            c=np.asarray(colors, dtype=object)[has].tolist(),
            edgecolors="#333333",
            linewidths=0.4,
            s=28,
        )
        ax.axvline(pd.Timestamp(deadline), color="#d73027", linestyle="--", linewidth=1)
        ax.text(pd.Timestamp(deadline), 100, f" {deadline.isoformat()} 期限", color="#d73027", va="top", fontsize=8)
        ax.set_ylim(0, 105)
        ax.set_ylabel("当前完成比例（%）")
        ax.set_xlabel("预计完成日期")
        ax.set_title(f"未完成村的预计完成日期（{int((~has).sum())} 个村无法预测，未画出）")
        fig.autofmt_xdate()
        return _png(fig)


# ------------------------------------------------------------------------------------------------ tables
def _table(frame: pd.DataFrame, *, cls: str = "") -> str:
    def cell(v: object) -> str:
        if v is None or (not isinstance(v, (list, str)) and pd.isna(v)):
            return ""
        if isinstance(v, float):
            return f"{v:,.2f}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in frame.itertuples(index=False, name=None)
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def decisions_in_year(decisions: pd.DataFrame, year: int) -> pd.DataFrame:
    """The decisions whose ``decided_at`` (in Beijing time) falls in ``year``, oldest first."""
    if decisions.empty:
        return decisions
    local = decisions["decided_at"].dt.tz_convert(LOCAL_TZ)
    return decisions[(local.dt.year == year).to_numpy()].sort_values("decided_at", kind="stable")


def _decisions_table(dec: pd.DataFrame) -> str:
    layer = get_layer("decisions")
    route = layer.field("route")
    sub = get_layer("idle_assessment").field("sub_route")
    frame = pd.DataFrame(
        {
            "审定编号": dec["decision_id"],
            "宗地编号": dec["parcel_id"],
            "审定路径": dec["route"].map(route.value_labels).fillna(dec["route"]),
            "具体方式": dec["sub_route"].map(lambda v: sub.label_of(v) if isinstance(v, str) else ""),
            "审定人": dec["decided_by"],
            "审定时间（北京时间）": dec["decided_at"].dt.tz_convert(LOCAL_TZ).dt.strftime("%Y-%m-%d %H:%M"),
            "说明": dec["note"],
        }
    )
    return _table(frame)


# ------------------------------------------------------------------------------------------------ page
_CSS = """
body{font-family:"Noto Sans CJK SC","Noto Sans SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",sans-serif;
 color:#222;max-width:1100px;margin:0 auto;padding:24px;line-height:1.6;font-size:14px}
h1{font-size:24px;border-bottom:3px solid #1a9850;padding-bottom:6px}
h2{font-size:19px;margin-top:32px;border-left:5px solid #4575b4;padding-left:8px}
.banner{background:#fff3cd;border:1px solid #e0b100;padding:8px 12px;margin:12px 0;font-weight:bold}
.meta{color:#555;font-size:13px}
.kpis{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.kpi{border:1px solid #ccc;border-radius:6px;padding:8px 14px;min-width:120px}
.kpi b{display:block;font-size:22px}
table{border-collapse:collapse;width:100%;margin:10px 0;font-size:12.5px}
th,td{border:1px solid #bbb;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#ddebf7}
tbody tr:nth-child(even){background:#f7f7f7}
figure{margin:10px 0;text-align:center}
figure img{max-width:100%;height:auto}
.two{display:flex;gap:12px;flex-wrap:wrap}.two figure{flex:1 1 420px}
footer{margin-top:36px;color:#777;font-size:12px;border-top:1px solid #ccc;padding-top:8px}
@media print{
 body{max-width:none;padding:0;font-size:11pt}
 @page{size:A4;margin:15mm}
 h2{break-after:avoid;page-break-after:avoid}
 section{break-inside:avoid-page}
 figure,table,tr{break-inside:avoid;page-break-inside:avoid}
 .banner{border:2px solid #000;background:none}
 th{background:#eee !important;-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
"""


def _kpis(items: list[tuple[str, str]]) -> str:
    return (
        '<div class="kpis">'
        + "".join(f'<div class="kpi">{html.escape(k)}<b>{html.escape(v)}</b></div>' for k, v in items)
        + "</div>"
    )


def _fig(src: str, caption: str) -> str:
    return (
        f'<figure><img src="{src}" alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}'
        "</figcaption></figure>"
    )


def report_html(
    store: Store, *, year: int, generated_at: dt.datetime | None = None, renewal_rules: RuleSet | None = None
) -> str:
    """The annual report of ``year`` as one HTML string (images embedded as data URIs).

    Parameters
    ----------
    store
        The store (needs ``idle_assessment``; ``village_status``, ``towns`` and ``decisions`` when present).
    year
        The report year; the decisions section lists the decisions taken in it (Beijing time).
    generated_at
        Generation time shown in the footer (default now).
    renewal_rules
        Renewal rules whose ``deadline.default`` is the goal the report measures against (default file).
    """
    deadline = renewal_deadline(renewal_rules)
    if not store.has_layer("idle_assessment"):
        raise LandRenewError(
            "存储中没有闲置土地研判结果，无法生成年度报告",
            detail=f"idle_assessment empty in {store.url}",
            fix="先运行 landrenew assess",
        )
    ia_layer = get_layer("idle_assessment")
    route = ia_layer.field("route")
    assessment = store.read_layer("idle_assessment")
    towns = store.read_layer("towns") if store.has_layer("towns") else None
    status = store.read_layer("village_status") if store.has_layer("village_status") else None
    decisions = store.read_layer("decisions") if store.has_layer("decisions") else pd.DataFrame()
    synthetic = str(store.meta().get("synthetic", "")).lower() == "true"
    as_of = assessment["as_of"].dropna().max()
    as_of_s = as_of.date().isoformat() if pd.notna(as_of) else "未知"
    versions = "、".join(sorted(str(v) for v in assessment["rules_version"].dropna().unique())) or "未知"
    generated_at = generated_at or dt.datetime.now(dt.UTC)
    gen_local = pd.Timestamp(generated_at).tz_convert(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")

    summary = town_summary(assessment, towns)
    total = summary[summary["镇街代码"] == "合计"].iloc[0]
    in_scope = assessment[assessment["route"] != "none"]
    parts: list[str] = []
    title = f"{district_rules().name}闲置存量土地处置与城中村改造 {year}年度进展报告"
    parts.append(f"<h1>{html.escape(title)}</h1>")
    if synthetic:
        parts.append(f'<div class="banner">{html.escape(SYNTHETIC_NOTE)}</div>')
    parts.append(
        f'<p class="meta">研判基准日：{as_of_s}；规则版本：{html.escape(versions)}；'
        f"数据来源：{html.escape(Path(str(store.url)).name if '://' not in str(store.url) else 'PostGIS')}；"
        f"生成时间：{gen_local}（北京时间）</p>"
    )

    # 一、闲置存量土地
    kp = [("研判宗地", f"{len(assessment):,}"), ("纳入处置", f"{len(in_scope):,}")]
    kp += [(route.label_of(v), f"{int(total[f'{route.label_of(v)}(宗)']):,}") for v in route.values if v != "none"]
    route_rows = pd.DataFrame(
        {
            "处置路径": [route.label_of(v) for v in route.values],
            "宗地数": [int(total[f"{route.label_of(v)}(宗)"]) for v in route.values],
            "面积（公顷）": [float(total[f"{route.label_of(v)}(公顷)"]) for v in route.values],
        }
    )
    parts.append(
        "<section><h2>一、闲置存量土地处置路径</h2>"
        + _kpis(kp)
        + '<div class="two">'
        + _fig(_route_bars(assessment), "图1 推荐处置路径")
        + "</div>"
        + _table(route_rows)
        + "</section>"
    )
    parts.append(
        "<section><h2>二、分镇街情况</h2>"
        + _fig(_town_stack(summary), "图2 各镇街处置路径")
        + _table(summary, cls="small")
        + "</section>"
    )
    parts.append(
        "<section><h2>三、处置路径分布图</h2>"
        + _fig(_category_map(assessment, ia_layer, towns, "闲置存量土地推荐处置路径"), "图3 处置路径分布")
        + "</section>"
    )

    # 四、城中村改造
    if status is not None and len(status):
        vs_layer = get_layer("village_status")
        sfld = vs_layer.field("status")
        counts = status["status"].value_counts()
        done = int(counts.get("done", 0))
        kp = [
            ("城中村", f"{len(status)}"),
            ("已完成", f"{done}"),
            ("完成率", f"{done / len(status):.0%}"),
            ("严重滞后", f"{int(counts.get('late', 0))}"),
            ("滞后风险", f"{int(counts.get('at_risk', 0))}"),
        ]
        behind = status[status["status"].isin(["late", "at_risk"])].sort_values(["status", "percent_complete"])
        behind_rows = pd.DataFrame(
            {
                "村编号": behind["village_id"],
                "村名": behind["name"],
                "镇街代码": behind["town_code"],
                "阶段": behind["stage"].map(vs_layer.field("stage").value_labels).fillna(behind["stage"]),
                "完成比例": behind["percent_complete"].map(lambda v: f"{v:.0%}" if pd.notna(v) else ""),
                "预计完成": behind["projected_completion"].dt.strftime("%Y-%m-%d").fillna("无法预测"),
                "进展状态": behind["status"].map(sfld.value_labels),
            }
        )
        parts.append(
            f"<section><h2>四、城中村改造进展（对照 {deadline.year} 年底目标）</h2>"
            + _kpis(kp)
            + '<div class="two">'
            + _fig(_status_bars(status, deadline), "图4 进展状态")
            + _fig(_completion_chart(status, deadline), "图5 预计完成日期与期限")
            + "</div>"
            + _fig(_category_map(status, vs_layer, towns, "城中村改造进展状态"), "图6 城中村进展分布")
            + "<h3>进度滞后的村</h3>"
            + (_table(behind_rows) if len(behind_rows) else "<p>无进度滞后的村。</p>")
            + "</section>"
        )
    else:
        parts.append(
            "<section><h2>四、城中村改造进展</h2><p>存储中没有城中村改造进展数据"
            "（先运行 landrenew renewal）。</p></section>"
        )

    # 五、审定记录
    dec = decisions_in_year(decisions, year) if len(decisions) else decisions
    if len(dec):
        by_route = dec["route"].map(get_layer("decisions").field("route").value_labels).value_counts()
        text = "；".join(f"{k} {v} 宗" for k, v in by_route.items())
        parts.append(
            f"<section><h2>五、{year}年审定记录</h2><p>本年度共审定 {len(dec)} 宗：{html.escape(text)}。</p>"
            + _decisions_table(dec)
            + "</section>"
        )
    else:
        parts.append(f"<section><h2>五、{year}年审定记录</h2><p>本年度无审定记录。</p></section>")
    from .disposal_export import report_section  # 六、闲置土地处置 (docs/disposal.md §6)

    parts.append(report_section(store, year))
    parts.append(
        f"<footer>由 landrenew 生成。图中坐标为 CGCS2000，面积按 EPSG:4549 计算。"
        f"{html.escape(SYNTHETIC_NOTE) if synthetic else ''}</footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def build_report(
    store: Store,
    out: str | os.PathLike,
    *,
    year: int,
    generated_at: dt.datetime | None = None,
    renewal_rules: RuleSet | None = None,
) -> Path:
    """Write :func:`report_html` to ``out`` (UTF-8) and return the path."""
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise LandRenewError(
            f"报告文件应以 .html 结尾：{out}", detail=f"bad suffix {out.suffix!r}", fix="例如 --out 2026年度报告.html"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        report_html(store, year=year, generated_at=generated_at, renewal_rules=renewal_rules), encoding="utf-8"
    )
    return out
