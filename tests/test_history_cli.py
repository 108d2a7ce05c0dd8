"""The history commands as a planner runs them: ingest modes, history, changes (+xlsx), runs, diff, what-if."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner

from pipelines.cli import main


def _run(*args: str) -> str:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def test_history_commands_on_the_demo(demo_store, tmp_path):
    store = str(demo_store.path)
    parcels = demo_store.read_layer("parcels").sort_values("parcel_id").reset_index(drop=True)
    pid = str(parcels["parcel_id"].iloc[0])
    row = parcels.iloc[[0]].copy()
    row["holder"] = "命令行更正公司"
    row.to_file(tmp_path / "fix.gpkg", driver="GPKG")
    out = _run(
        "ingest",
        "--store",
        store,
        "--parcels",
        str(tmp_path / "fix.gpkg"),
        "--mode",
        "upsert",
        "--effective",
        "2026-11-20",
        "--user",
        "王五",
    )
    assert "upsert" in out and "变更 1" in out
    # the demo's own history shows: its first batch effective 2024-03-31, then this correction
    out = _run("history", pid, "--store", store)
    assert "2026-11-20 至今" in out and f"受让人（holder）：{parcels.loc[0, 'holder']} -> 命令行更正公司" in out
    batches = demo_store.read_history("batches").sort_values("recorded_at")
    assert len(batches) >= 7 and pd.Timestamp(batches["effective"].iloc[0]) == pd.Timestamp("2024-03-31")
    since = str(batches["batch_id"].iloc[-2])
    xlsx = tmp_path / "changes.xlsx"
    out = _run("changes", "--since", since, "--store", store, "--xlsx", str(xlsx))
    assert "新增 0，变更 1，退出 0" in out and pid in out
    sheet = pd.read_excel(xlsx)
    assert sheet.iloc[0]["新值"] == "命令行更正公司" and sheet.iloc[0]["字段"] == "受让人"
    # kept runs: the demo's current run, a what-if with 45号's cutoff, their diff, an exact re-run
    rules = tmp_path / "idle_45.yaml"
    from gis.rules import RULES_DIR

    rules.write_text(
        (RULES_DIR / "idle.yaml")
        .read_text(encoding="utf-8")
        .replace("stock_cutoff: 2024-03-31", "stock_cutoff: 2024-11-07"),
        encoding="utf-8",
    )
    out = _run(
        "assess", "--store", store, "--as-of", "2026-11-01", "--rules", str(rules), "--what-if", "--label", "45号口径"
    )
    assert "假设分析批次" in out
    runs = _run("runs", "--store", store, "--kind", "assess")
    lines = [line for line in runs.splitlines() if line.startswith("A")]
    current = next(line.split()[0] for line in lines if "[当前]" in line)
    what_if = next(line.split()[0] for line in lines if "[假设分析]" in line)
    out = _run("diff", current, what_if, "--store", store)
    assert "属存量土地：否 -> 是" in out and "A 依据" in out and "B 依据" in out
    out = _run("runs", "--store", store, "--check", current)
    assert "完全一致" in out
