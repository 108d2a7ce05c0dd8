"""environment.yml (conda) and pyproject.toml (pip) list the same dependencies; constraints pin them all."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    name = re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0]
    return name.lower().replace("_", "-")


def _pyproject() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = data["project"]["dependencies"] + data["project"]["optional-dependencies"]["test"]
    return {_name(r): r.replace("[binary]", "") for r in reqs}


def _conda() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = [d for d in env["dependencies"] if isinstance(d, str) and _name(d) not in ("python", "pip")]
    return {_name(d): d for d in deps}


def test_environment_yml_matches_pyproject():
    pip, conda = _pyproject(), _conda()
    assert sorted(pip) == sorted(conda)
    for name in pip:  # the same lower bounds
        assert (
            pip[name].replace(" ", "").split(name, 1)[-1].lstrip("]") == conda[name].replace(" ", "").split(name, 1)[-1]
        ), name


def test_every_dependency_is_pinned_in_constraints():
    pins = {_name(line): line for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line}
    missing = [n for n in _pyproject() if n not in pins]
    assert not missing, f"add to constraints.txt: {missing}"
