"""environment.yml, pyproject.toml and the Makefile name the same dependencies."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {
        _name(r): r.replace(" ", "")
        for r in project["dependencies"] + project["optional-dependencies"]["dev"]
    }
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_name(r): r.replace(" ", "") for r in pip if not r.startswith("-e")}
    assert "python=3.11" in env["dependencies"]
    for name, spec in wanted.items():
        assert listed.get(name) == spec, f"{name}: pyproject says {spec}, environment.yml {listed.get(name)}"


def test_torch_pins_agree():
    makefile = (ROOT / "Makefile").read_text()
    env = (ROOT / "environment.yml").read_text()
    for pin in re.findall(r"(torch(?:vision)?==[\d.]+)", makefile):
        assert pin in env


def test_ruff_clean():
    import subprocess
    import sys

    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run(
        [str(ruff), "check", "paperlib", "tests", "benchmarks", "conftest.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout
