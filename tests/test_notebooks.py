"""The analyst notebooks run clean against the demo store (executed with nbclient, outputs not kept).

The kernel is this interpreter (the project's virtualenv): a ``python3`` kernel spec is written to a temporary
folder with ``argv[0] = sys.executable`` and used through its own KernelSpecManager, so neither a user-level
``python3`` kernel nor the ``python`` on PATH can be picked instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIMEOUT = 300  # seconds per cell


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("kernels")
    spec = folder / "python3"
    spec.mkdir()
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "landrenew (.venv)",
                "language": "python",
            }
        ),
        encoding="utf-8",
    )
    return folder


def _execute(nb: nbformat.NotebookNode, kernel_dir: Path, cwd: Path) -> nbformat.NotebookNode:
    ksm = KernelSpecManager(kernel_dirs=[str(kernel_dir)], ensure_native_kernel=False)
    km = KernelManager(kernel_name="python3", kernel_spec_manager=ksm)
    client = NotebookClient(
        nb, km=km, kernel_name="python3", timeout=TIMEOUT, resources={"metadata": {"path": str(cwd)}}
    )
    return client.execute()


def test_notebooks_found_and_clean():
    assert [p.name for p in NOTEBOOKS] == [
        "01_idle_land.ipynb",
        "02_renewal_progress.ipynb",
        "03_upper_level_package.ipynb",
        "04_history.ipynb",
    ]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata["kernelspec"]["name"] == "python3"
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.outputs == [] and c.execution_count is None for c in code), f"{path.name} has outputs"
        assert "import gis" in code[0].source and "LANDRENEW_STORE" in code[0].source


def test_kernel_is_this_interpreter(kernel_dir, tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.executable)")])
    out = _execute(nb, kernel_dir, tmp_path)
    assert out.cells[0].outputs[0]["text"].strip() == sys.executable


def test_failing_cell_is_reported(kernel_dir, tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise ValueError('坏了')")])
    with pytest.raises(CellExecutionError, match="坏了"):
        _execute(nb, kernel_dir, tmp_path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, demo_store, kernel_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("LANDRENEW_STORE", str(demo_store.url))
    monkeypatch.setenv("LANDRENEW_OUT", str(tmp_path / "package"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    out = _execute(nb, kernel_dir, path.parent)  # run from notebooks/, as an analyst would
    errors = [o for c in out.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    first = "".join(o.get("text", "") for o in out.cells[1].outputs)
    assert str(demo_store.url) in first
    if path.stem.startswith("03"):
        files = {p.name for p in (tmp_path / "package").rglob("*") if p.is_file()}
        assert {
            "idle_assessment.geojson",
            "idle_assessment.meta.json",
            "village_status.geojson",
            "柯桥区闲置存量土地台账.xlsx",
        } <= files
        assert any(n.endswith(".gpkg") for n in files) and any(n.endswith("年度报告.html") for n in files)
