"""Build the 一地一策 plan template ``layers/templates/plan.docx`` (docxtpl / Jinja tags) with python-docx.

A district may edit the built .docx in WPS or Word (wording, layout, logo, the signature blocks): keep the
``{{ ... }}`` and ``{%tr ... %}`` tags (fields listed in ``gis/plan_doc.py``).  Re-run this script only to
start again from the default:  ``.venv/bin/python scripts/build_plan_template.py``.

Fonts: SimSun (宋体) for Chinese (``w:eastAsia``) — present in WPS/Word on Windows; LibreOffice on Linux
substitutes its serif CJK face (Debian ``fonts-noto-cjk``: Noto Serif CJK) — and Times New Roman for Latin.
"""

from __future__ import annotations

import sys
from pathlib import Path

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "layers" / "templates" / "plan.docx"
EAST_ASIA = "SimSun"  # 宋体: the name WPS, Word and LibreOffice all resolve
LATIN = "Times New Roman"


def _fonts(style, size: float, *, bold: bool = False, east_asia: str = EAST_ASIA) -> None:
    style.font.name = LATIN
    style.font.size = Pt(size)
    style.font.bold = bold
    rpr = style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.insert(0, fonts)
    for attr in ("w:ascii", "w:hAnsi", "w:cs"):
        fonts.set(qn(attr), LATIN)
    fonts.set(qn("w:eastAsia"), east_asia)
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = rpr.makeelement(qn("w:lang"), {})
        rpr.append(lang)
    lang.set(qn("w:eastAsia"), "zh-CN")


def _defaults(doc) -> None:
    """Document defaults: SimSun (宋体) for East Asian text (no theme fonts, which name a Japanese face in
    python-docx's default template), language zh-CN, and a font-table entry for SimSun (alt. name 宋体,
    GB2312 charset).  Where SimSun is not installed LibreOffice substitutes its serif CJK face (Noto Serif CJK
    from Debian's fonts-noto-cjk; checked by tests/test_plan_doc.py with pdffonts)."""
    rpr = doc.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    fonts = rpr.find(qn("w:rFonts"))
    for attr in list(fonts.attrib):
        del fonts.attrib[attr]
    for attr in ("w:ascii", "w:hAnsi", "w:cs"):
        fonts.set(qn(attr), LATIN)
    fonts.set(qn("w:eastAsia"), EAST_ASIA)
    lang = rpr.find(qn("w:lang"))
    lang.set(qn("w:eastAsia"), "zh-CN")
    font_table = next(p for p in doc.part.package.iter_parts() if p.partname.endswith("fontTable.xml"))
    from lxml import etree

    root = etree.fromstring(font_table.blob)
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    for old in root.findall(f"{{{w}}}font"):
        if old.get(f"{{{w}}}name") in ("ＭＳ 明朝", "ＭＳ ゴシック"):
            root.remove(old)
    font = etree.SubElement(root, f"{{{w}}}font", {f"{{{w}}}name": EAST_ASIA})
    etree.SubElement(font, f"{{{w}}}altName", {f"{{{w}}}val": "宋体"})
    etree.SubElement(font, f"{{{w}}}charset", {f"{{{w}}}val": "86"})
    etree.SubElement(font, f"{{{w}}}family", {f"{{{w}}}val": "roman"})
    etree.SubElement(font, f"{{{w}}}pitch", {f"{{{w}}}val": "variable"})
    font_table._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _table(doc, rows: list[list[str]], widths: list[float]):
    table = doc.add_table(rows=len(rows), cols=len(rows[0]))
    table.style = "Table Grid"
    table.autofit = False
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for c, width in enumerate(widths):
        table.columns[c].width = Cm(width)  # w:gridCol, which LibreOffice and WPS read
    for r, values in enumerate(rows):
        for c, text in enumerate(values):
            cell = table.cell(r, c)
            cell.text = text
            cell.width = Cm(widths[c])
    return table


def build(out: Path = OUT) -> Path:
    doc = Document()
    sec = doc.sections[0]
    sec.page_height, sec.page_width = Cm(29.7), Cm(21.0)
    sec.left_margin = sec.right_margin = Cm(2.6)
    sec.top_margin, sec.bottom_margin = Cm(3.0), Cm(2.5)
    _defaults(doc)
    _fonts(doc.styles["Normal"], 11)
    _fonts(doc.styles["Title"], 18, bold=True)
    for name in ("Heading 1", "Heading 2"):
        _fonts(doc.styles[name], 13 if name == "Heading 1" else 12, bold=True)
        doc.styles[name].font.color.rgb = None
    _fonts(doc.styles["Table Grid"], 10)

    p = doc.add_paragraph("{{ synthetic_banner }}")
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title = doc.add_paragraph("{{ town_name }}闲置土地处置方案（一地一策）", style="Title")
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p = doc.add_paragraph("文号：{{ doc_no }}　　　　宗地编号：{{ p.parcel_id }}")
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER

    doc.add_paragraph("一、宗地基本情况", style="Heading 1")
    _table(
        doc,
        [
            ["宗地编号", "{{ p.parcel_id }}", "电子监管号", "{{ p.supervision_no }}"],
            ["受让人", "{{ p.holder }}", "坐落（镇街）", "{{ town_name }}"],
            ["土地用途", "{{ p.land_use }}", "出让面积", "{{ p.area_m2 }} 平方米（{{ p.area_mu }} 亩）"],
            [
                "供地日期",
                "{{ p.supply_date }}",
                "约定动工/竣工",
                "{{ p.agreed_start_date }} / {{ p.agreed_completion_date }}",
            ],
            ["出让价款", "{{ p.land_price_wan }} 万元", "价款缴纳", "{{ p.price_paid }}"],
            ["办证", "{{ p.certificate }}", "抵押/查封", "{{ p.mortgaged }} / {{ p.sealed }}"],
        ],
        [2.6, 5.0, 2.8, 5.4],
    )

    doc.add_paragraph("二、位置图", style="Heading 1")
    p = doc.add_paragraph("{{ location_map }}")
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_paragraph("图例：红色为本宗地，灰色为相邻宗地，虚线为镇街界线。{{ map_note }}")

    doc.add_paragraph("三、开发现状与闲置认定", style="Heading 1")
    doc.add_paragraph(
        "开发状态：{{ a.dev_status }}；实际动工：{{ p.actual_start_date }}；已开发面积占比："
        "{{ p.developed_ratio }}；已投资额占比：{{ p.invested_ratio }}。"
    )
    doc.add_paragraph(
        "闲置类型：{{ a.idle_type }}；闲置起算日：{{ a.idle_since }}；闲置年限：{{ a.idle_years }} 年；"
        "闲置土地认定书：{{ determination }}。研判基准日 {{ a.as_of }}，规则版本 {{ a.rules_version }}。"
    )

    doc.add_paragraph("四、闲置原因", style="Heading 1")
    doc.add_paragraph("{{ a.cause }}{{ cause_detail }}")

    doc.add_paragraph("五、保交房情况", style="Heading 1")
    t = _table(
        doc,
        [
            ["项目", "状态", "白名单", "已预售套数/总套数"],
            ["{%tr for j in projects %}", "", "", ""],
            ["{{ j.name }}", "{{ j.status }}", "{{ j.whitelist }}", "{{ j.presold_units }}/{{ j.total_units }}"],
            ["{%tr endfor %}", "", "", ""],
        ],
        [5.6, 3.0, 3.0, 4.2],
    )
    del t
    doc.add_paragraph("{{ projects_note }}")

    doc.add_paragraph("六、遥感影像监测", style="Heading 1")
    doc.add_paragraph(
        "影像日期：{{ imagery_dates }}；遥感变化指数：{{ a.activity_index }}；台账与遥感{{ a.conflict }}。"
    )

    doc.add_paragraph("七、处置路径与措施", style="Heading 1")
    doc.add_paragraph(
        "推荐路径：{{ a.route }} — {{ a.sub_route }}。采用路径：{{ c.route }} — {{ c.sub_route }}{{ c.reason }}。"
    )
    doc.add_paragraph("备选路径：{{ alternatives }}。")
    doc.add_paragraph("配套措施：{{ measures }}。")
    doc.add_paragraph("研判依据：", style="Heading 2")
    _table(
        doc,
        [
            ["规则", "理由", "依据"],
            ["{%tr for r in reasons %}", "", ""],
            ["{{ r.rule_id }}", "{{ r.text }}", "{{ r.citation }}"],
            ["{%tr endfor %}", "", ""],
        ],
        [1.6, 8.2, 6.0],
    )

    doc.add_paragraph("八、土地闲置费", style="Heading 1")
    doc.add_paragraph("{{ fee_text }}")

    doc.add_paragraph("九、处置程序进展", style="Heading 1")
    doc.add_paragraph("案件编号：{{ c.case_id }}；立案：{{ c.opened_at }}（{{ c.opened_by }}）。")
    _table(
        doc,
        [
            ["序号", "事项", "日期", "送达日期", "文号", "说明"],
            ["{%tr for e in events %}", "", "", "", "", ""],
            ["{{ e.seq }}", "{{ e.label }}", "{{ e.date }}", "{{ e.service_date }}", "{{ e.doc_no }}", "{{ e.note }}"],
            ["{%tr endfor %}", "", "", "", "", ""],
        ],
        [1.0, 3.2, 2.7, 2.7, 3.2, 3.0],
    )

    doc.add_paragraph("十、审核签署", style="Heading 1")
    _table(
        doc,
        [
            ["经办人", "{{ sign.drafter }}", "日期", "{{ sign.drafted_on }}"],
            ["审核人", "{{ sign.reviewer }}", "日期", "{{ sign.reviewed_on }}"],
            ["分管领导", "{{ sign.approver }}", "日期", "{{ sign.approved_on }}"],
        ],
        [2.6, 6.0, 2.0, 5.2],
    )
    doc.add_paragraph("生成时间：{{ generated_at }}（landrenew，处置规则版本 {{ rules_version }}）")

    out.parent.mkdir(parents=True, exist_ok=True)
    doc.save(out)
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
