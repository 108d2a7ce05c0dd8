"""The docs in the repository stay true: the data contract is the generated one, links resolve, and no file points
at documents outside the repository (a bureau receives only the repository)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT / "scripts"))

import gen_docs  # noqa: E402


def test_data_contract_is_generated_from_layers():
    committed = (DOCS / "data-contract.md").read_text(encoding="utf-8")
    assert committed == gen_docs.render(), "docs/data-contract.md is stale: run `make docs`"


def test_check_mode_reports_stale(tmp_path, monkeypatch):
    stale = tmp_path / "data-contract.md"
    stale.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(gen_docs, "OUT", stale)
    monkeypatch.setattr(gen_docs, "ROOT", tmp_path)
    assert gen_docs.main(["--check"]) == 1
    assert gen_docs.main([]) == 0 and gen_docs.main(["--check"]) == 0


def test_every_layer_and_field_is_in_the_data_contract():
    from gis.schema import get_layer, layer_names

    text = (DOCS / "data-contract.md").read_text(encoding="utf-8")
    for name in layer_names():
        layer = get_layer(name)
        assert f"`{name}` — {layer.label}" in text, name
        for f in layer.fields:
            assert f"| `{f.name}` | {f.type} | {f.label} |" in text, (name, f.name)


def test_every_export_sheet_column_is_in_the_data_contract():
    from gis.disposal_export import export_sheets

    text = (DOCS / "data-contract.md").read_text(encoding="utf-8")
    for key, spec in export_sheets().items():
        assert f"### `{key}`" in text, key
        for c in spec["columns"]:
            assert f"| `{c['name']}` | {c['type']} | {c['label']} |" in text, (key, c["name"])


def _links() -> list[tuple[str, str]]:
    out = []
    for md in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", md.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            out.append((md.relative_to(ROOT).as_posix(), target.split("#", 1)[0]))
    return out


@pytest.mark.parametrize("source, target", _links())
def test_relative_links_resolve(source, target):
    path = ((ROOT / source).parent / target).resolve()
    assert path.exists(), f"{source} links to {target}, which is not in the repository"


def test_docs_index_lists_every_doc():
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for md in DOCS.glob("*.md"):
        if md.name != "README.md":
            assert f"]({md.name})" in index, md.name


OUTSIDE = re.compile(r"/work/shared|\b(?:DATA_CONTRACT|DESIGN|RULES|HISTORY|DISPOSAL|STYLE)\.md\b")


def test_no_file_points_outside_the_repository():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    hits = {}
    for rel in files:
        path = ROOT / rel
        if rel == "tests/test_docs.py" or not path.is_file() or path.suffix in {".png", ".gpkg", ".tif", ".zip"}:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        lines = [i for i, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
        if lines:
            hits[rel] = lines
    assert not hits, f"point these at docs/ instead (file: line numbers): {hits}"
