"""docs/rules.md, the rules for a bureau: every rule id and citation of the rule files is in it, and its
generated tables match the rule files (scripts/rules_doc.py --check)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
# the land and renewal rules (docs/rules.md); disposal.yaml, history.yaml and security.yaml are documented in
# docs/disposal.md, docs/history.md and the README's security section
RULE_FILES = [ROOT / "layers" / "rules" / "idle.yaml", ROOT / "layers" / "rules" / "renewal.yaml"]


def _ids_and_citations(raw: dict) -> list[str]:
    """Read straight from the YAML: rule ids and citation texts wherever the file keeps them."""
    out: list[str] = []
    for key in ("citations", "route_citations", "cause_detail_articles"):
        for rid, text in (raw.get(key) or {}).items():
            out += [str(rid), str(text)]
    for row in (raw.get("recommendation") or {}).get("rows", []):
        out += [str(row[k]) for k in ("rule",) if k in row]
    for slot in raw.get("reasons") or []:
        out.append(str(slot["rule"]))
        out += [str(r["rule"]) for r in slot["rows"] if "rule" in r]
    for row in raw.get("status_order") or []:
        out.append(str(row["citation"]))
    if "source" in raw:
        out.append(str(raw["source"]))
    return out


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_every_rule_id_and_citation_is_documented(path):
    items = _ids_and_citations(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert len(items) > 10
    missing = [item for item in items if item not in DOC]
    assert not missing, f"not in docs/rules.md: {missing}"


def test_generated_tables_are_up_to_date():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "rules_doc.py"), "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


# that no file points outside the repository is tests/test_docs.py's check
