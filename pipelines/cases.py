"""``landrenew case open|event|show|list``, ``landrenew plan``, ``landrenew plans``, ``landrenew warnings``.

The acting user is ``--user NAME``; the role comes from the store's users table (``landrenew users add``), so
the command line obeys the same rights as the app (a viewer records nothing; nobody approves their own plan).
"""

from __future__ import annotations

import datetime as dt

import click
import pandas as pd

from gis.accounts import list_users
from gis.errors import LandRenewError

from .options import get_store, parse_as_of, store_option

user_option = click.option("--user", "user", required=True, help="操作人用户名（角色取自存储中的用户表）。")


def _role(store, user: str) -> str:
    for u in list_users(store):
        if u.name == user:
            if u.disabled:
                raise LandRenewError(
                    f"用户 {user} 已停用",
                    detail=f"user {user!r} is disabled",
                    fix="请管理员用 landrenew users enable 重新启用",
                )
            return u.role
    raise LandRenewError(
        f"用户 {user} 不存在",
        detail=f"no user {user!r} in the store's users table",
        fix="先用 landrenew users add NAME --role planner 添加用户",
    )


def _date(value: str | None, hint: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"“{value}” 不是日期，应写成 YYYY-MM-DD", param_hint=hint) from None


@click.group("case")
def command() -> None:
    """处置案件：立案、登记事项、查看。"""


@command.command("open")
@click.argument("parcel_id")
@click.option("--route", required=True, help="采用的处置路径：continue / transfer / reclaim。")
@click.option("--sub-route", "sub_route", required=True, help="具体方式，例如 extend_start。")
@click.option("--reason", default=None, help="与推荐路径不同时必填：采用理由。")
@click.option("--run-id", "run_id", default=None, help="所依据的研判运行编号（可选）。")
@user_option
@store_option
def open_(
    parcel_id: str, route: str, sub_route: str, reason: str | None, run_id: str | None, user: str, store_url: str | None
) -> None:
    """为宗地 PARCEL_ID 立案。"""
    from gis.cases import open_case

    store = get_store(store_url)
    case = open_case(
        store,
        parcel_id=parcel_id,
        route=route,
        sub_route=sub_route,
        reason=reason,
        run_id=run_id,
        opened_by=user,
        role=_role(store, user),
    )
    click.echo(f"已立案 {case['case_id']}：宗地 {parcel_id}，{route}/{sub_route}")


@command.command("event")
@click.argument("case_id")
@click.argument("event")
@click.option("--date", "event_date", required=True, metavar="YYYY-MM-DD", help="事项日期。")
@click.option("--service-date", "service_date", default=None, metavar="YYYY-MM-DD", help="送达日期。")
@click.option("--doc-no", "doc_no", default=None, help="文号。")
@click.option("--note", default=None, help="说明（结案、退回、重新开启时必填）。")
@click.option(
    "--data",
    "data",
    multiple=True,
    metavar="KEY=VALUE",
    help="事项字段，例如 new_start_date=2026-09-30 或 amount_wan=1600（可重复）。",
)
@click.option(
    "--attach",
    "attach",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="附件（PDF、图片、docx、xlsx；可重复）。",
)
@user_option
@store_option
def event(
    case_id: str,
    event: str,
    event_date: str,
    service_date: str | None,
    doc_no: str | None,
    note: str | None,
    data: tuple[str, ...],
    attach: tuple[str, ...],
    user: str,
    store_url: str | None,
) -> None:
    """为案件 CASE_ID 登记事项 EVENT（按处置程序的顺序）。"""
    from gis.cases import Attachment, allowed_events, record_event
    from gis.disposal_rules import default_disposal_rules

    values = {}
    for item in data:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"“{item}” 应写成 KEY=VALUE", param_hint="--data")
        values[key.strip()] = value.strip()
    store = get_store(store_url)
    row = record_event(
        store,
        case_id=case_id,
        event=event,
        event_date=_date(event_date, "--date"),
        service_date=_date(service_date, "--service-date"),
        doc_no=doc_no,
        note=note,
        data=values,
        attachments=[Attachment.from_path(p) for p in attach],
        recorded_by=user,
        role=_role(store, user),
    )
    rules = default_disposal_rules()
    click.echo(f"已登记 {case_id} 第 {row['seq']} 项：{rules.label(event)}（{row['event_date']}）")
    for f in row["attachments"]:
        click.echo(f"  附件 {f['attachment_id']}  {f['filename']}  {f['size_bytes']} 字节  SHA-256 {f['sha256']}")
    nxt = allowed_events(store, case_id)
    click.echo("下一步可登记：" + ("、".join(f"{e}（{rules.label(e)}）" for e in nxt) or "无（已处置完成）"))


@command.command("show")
@click.argument("case_or_parcel")
@store_option
def show(case_or_parcel: str, store_url: str | None) -> None:
    """显示案件（或宗地的全部案件）的事项时间线、附件和下一步。"""
    from gis.cases import allowed_events, case_events, case_stage
    from gis.disposal_rules import default_disposal_rules
    from gis.store import cases_store

    store = get_store(store_url)
    rules = default_disposal_rules()
    cases = cases_store.read_cases(store, where={"case_id": case_or_parcel})
    if cases.empty:
        cases = cases_store.read_cases(store, where={"parcel_id": case_or_parcel})
    if cases.empty:
        raise LandRenewError(f"找不到案件或宗地 {case_or_parcel} 的案件", fix="用 landrenew case list 查看")
    for _, c in cases.iterrows():
        ev = case_events(store, c["case_id"])
        stage = case_stage(rules, ev["event"].tolist())
        click.echo(
            f"案件 {c['case_id']}  宗地 {c['parcel_id']}  {c['route']}/{c['sub_route']}  立案 "
            f"{pd.Timestamp(c['opened_at']).date()}（{c['opened_by']}）  阶段：{stage}"
        )
        if c["reason"]:
            click.echo(f"  理由：{c['reason']}（推荐 {c['recommended_route']}/{c['recommended_sub_route']}）")
        att = cases_store.read_attachments(store, where={"case_id": c["case_id"]})
        for _, e in ev.iterrows():
            extra = "".join(f"  {k}={v}" for k, v in (e["data"] or {}).items())
            served = f"  送达 {pd.Timestamp(e['service_date']).date()}" if pd.notna(e["service_date"]) else ""
            click.echo(
                f"  {e['seq']:>2}. {pd.Timestamp(e['event_date']).date()}  {rules.label(e['event'])}"
                f"{served}  {e['doc_no'] or ''}  {e['note'] or ''}{extra}  [{e['recorded_by']}]"
            )
            for _, a in att.loc[att["event_id"] == e["event_id"]].iterrows():
                click.echo(
                    f"      附件 {a['attachment_id']} {a['filename']} {a['size_bytes']} 字节 {a['sha256'][:16]}…"
                )
        nxt = allowed_events(store, c["case_id"])
        click.echo("  下一步可登记：" + ("、".join(f"{e}（{rules.label(e)}）" for e in nxt) or "无"))


@command.command("list")
@click.option("--town", "town", default=None, help="镇街代码。")
@click.option(
    "--stage",
    "stage",
    default=None,
    type=click.Choice(["case_open", "approved", "executing", "completed", "closed"]),
    help="阶段。",
)
@store_option
def list_(town: str | None, stage: str | None, store_url: str | None) -> None:
    """列出案件（编号、宗地、路径、阶段、最后事项）。"""
    from gis.cases import case_table, read_cases, read_events

    store = get_store(store_url)
    table = case_table(read_cases(store), read_events(store))
    if town:
        table = table.loc[table["town_code"] == town]
    if stage:
        table = table.loc[table["stage"] == stage]
    if table.empty:
        click.echo("没有案件。")
        return
    for _, c in table.iterrows():
        last = pd.Timestamp(c["last_event_date"]).date() if pd.notna(c["last_event_date"]) else "—"
        click.echo(
            f"{c['case_id']}\t{c['parcel_id']}\t{c['town_code'] or ''}\t{c['route']}/{c['sub_route']}\t"
            f"{c['stage']}\t{c['state'] or '—'}\t{last}"
        )
    click.echo(f"共 {len(table)} 件")


@click.command("plan")
@click.argument("parcel_id")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="输出 .docx 文件。")
@click.option(
    "--template",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="另一个模板（默认 layers/templates/plan.docx）。",
)
@store_option
def plan(parcel_id: str, out: str, template: str | None, store_url: str | None) -> None:
    """生成宗地 PARCEL_ID 的一地一策处置方案（.docx，WPS / LibreOffice 可打开）。"""
    from gis.plan_doc import write_plan

    path = write_plan(get_store(store_url), parcel_id, out, template=template)
    click.echo(f"已生成处置方案：{path}")


@click.command("plans")
@click.option("--town", "town", default=None, help="镇街代码。")
@click.option(
    "--route",
    "route",
    default=None,
    type=click.Choice(["continue", "transfer", "reclaim"]),
    help="处置路径（已立案的按采用路径）。",
)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="输出 .zip 文件。")
@click.option("--template", default=None, type=click.Path(exists=True, dir_okay=False), help="另一个模板。")
@store_option
def plans(town: str | None, route: str | None, out: str, template: str | None, store_url: str | None) -> None:
    """批量生成已立案宗地的处置方案（每宗一个 .docx，打包为 .zip）。"""
    from gis.plan_doc import write_plans_zip

    path, ids = write_plans_zip(get_store(store_url), out, town_code=town, route=route, template=template)
    click.echo(f"已生成 {len(ids)} 份处置方案：{path}")


@click.command("warnings")
@click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD", help="预警基准日（默认今天）。")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False), help="导出 .xlsx 预警清单。")
@store_option
def warnings_(as_of: str | None, out: str | None, store_url: str | None) -> None:
    """处置预警：红色（逾期）、黄色（临期）、停滞、未立案。"""
    from gis.disposal_export import current_warnings, write_warnings_xlsx

    store = get_store(store_url)
    day = parse_as_of(as_of)
    table = current_warnings(store, day)
    counts = table["level_label"].value_counts()
    click.echo(f"{day} 预警：" + ("，".join(f"{k} {v}" for k, v in counts.items()) or "无"))
    for _, w in table.loc[table["level"].isin(["red", "amber"])].head(30).iterrows():
        click.echo(f"  {w['level_label']}\t{w['parcel_id']}\t{w['case_id']}\t{w['message']}")
    if out:
        path = write_warnings_xlsx(table, out, as_of=day)
        click.echo(f"已导出预警清单：{path}")


extra_commands = (plan, plans, warnings_)
