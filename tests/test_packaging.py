"""environment.yml, pyproject.toml and the Makefile name the same dependencies."""

import os
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
        for r in project["dependencies"]
        + project["optional-dependencies"]["dev"]
        + project["optional-dependencies"]["mutation"]
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
    pins = re.findall(r"(torch(?:vision)?==[\d.]+)", makefile)
    assert len(pins) == 2, f"the Makefile should pin torch and torchvision, found {pins}"
    for pin in pins:
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


def test_run_store_default_inside_and_outside_a_checkout(tmp_path, monkeypatch):
    from paperlib import storage

    monkeypatch.delenv("PAPERLIB_RUNS", raising=False)
    assert storage.in_checkout(ROOT) and storage.runs_root() == ROOT / "runs"
    monkeypatch.setattr(storage, "REPO_ROOT", tmp_path / "site-packages")  # an installed copy
    monkeypatch.chdir(tmp_path)
    assert storage.runs_root() == tmp_path / "runs"
    monkeypatch.setenv("PAPERLIB_RUNS", str(tmp_path / "elsewhere"))
    assert storage.runs_root() == tmp_path / "elsewhere"


INSTALLED_CHECK = """
import os, sys, sysconfig
from pathlib import Path
import torch
from torch import nn
import paperlib
from paperlib import storage
from paperlib.metrics import interplay

site = Path(sysconfig.get_paths()["purelib"]).resolve()
assert Path(paperlib.__file__).resolve().parent == site / "paperlib", paperlib.__file__
assert not storage.in_checkout(storage.REPO_ROOT)
assert storage.runs_root() == Path.cwd() / "runs", storage.runs_root()
x, y = torch.randn(60, 12), torch.arange(60) % 5
model = nn.Sequential(nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 5))
result = paperlib.probe(model, (x, y))
with torch.no_grad():
    assert abs(result.mir - interplay(torch.tanh(model[0](x)), model[2].weight, y)["mir"]) < 1e-9
monitor = paperlib.Monitor((x, y), every=1)
monitor.step(model)
assert len(monitor.frame) == len(monitor.METRICS)
print("installed ok", result.head)
"""


def test_wheel_installs_and_works_outside_the_checkout(tmp_path):
    """pip builds a wheel from the sources (offline, no build isolation) and installs it into a fresh venv
    that sees the project venv's third-party packages (torch, pandas) but not this checkout; a module
    missing from the wheel fails the import there."""
    import shutil
    import subprocess
    import sys
    import sysconfig
    import zipfile

    src = tmp_path / "src"
    shutil.copytree(ROOT / "paperlib", src / "paperlib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp_path / "dist")]
    subprocess.run([*build, str(src)], check=True, capture_output=True, text=True)
    (wheel,) = (tmp_path / "dist").glob("paperlib-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("probe", "monitor", "metrics", "theory", "storage", "models/wrn", "train/loop"):
        assert f"paperlib/{module}.py" in names, f"the wheel lacks paperlib/{module}.py"

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # A plain path line: the project venv's packages become importable, its .pth files (among them the
    # editable finder that maps paperlib to a checkout) do not run.
    (Path(site) / "project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        text=True,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PAPERLIB_RUNS", "PYTHONPATH")}
    done = subprocess.run(
        [str(python), "-c", INSTALLED_CHECK], cwd=work, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["installed", "ok", "2"]


def test_make_mutants_installs_the_declared_mutmut():
    makefile = (ROOT / "Makefile").read_text()
    (declared,) = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"][
        "mutation"
    ]
    assert f"'{declared}'" in makefile
