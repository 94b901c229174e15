"""environment.yml, pyproject.toml and the Makefile name the same dependencies; the wheel works installed, with
every dependency and with only the measurement's (torch and numpy)."""

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {
        _name(r): r.replace(" ", "")
        for r in project["dependencies"]
        + [r for extra in project["optional-dependencies"].values() for r in extra]
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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """pip builds a wheel from the sources (offline, no build isolation), once for this file's tests."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    src = tmp_path / "src"
    shutil.copytree(ROOT / "paperlib", src / "paperlib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    build = [*PIP, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp_path / "dist")]
    subprocess.run([*build, str(src)], check=True, capture_output=True, text=True)
    (built,) = (tmp_path / "dist").glob("paperlib-*.whl")
    return built


def fresh_venv(path: Path) -> tuple[Path, Path]:
    """A venv without pip (pip runs from outside with --python): its python and its site-packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return python, Path(site)


def install_and_run(python: Path, wheel: Path, code: str, cwd: Path) -> subprocess.CompletedProcess:
    subprocess.run(
        [*PIP, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        text=True,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PAPERLIB_RUNS", "PYTHONPATH")}
    return subprocess.run([str(python), "-c", code], cwd=cwd, env=env, capture_output=True, text=True)


def test_wheel_installs_and_works_outside_the_checkout(tmp_path, wheel):
    """The wheel installed into a fresh venv that sees the project venv's third-party packages (torch,
    pandas) but not this checkout; a module missing from the wheel fails the import there."""
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in (
        "probe",
        "monitor",
        "metrics",
        "streaming",
        "integrations/metric",
        "integrations/hf",
        "theory",
        "storage",
        "models/wrn",
        "train/loop",
    ):
        assert f"paperlib/{module}.py" in names, f"the wheel lacks paperlib/{module}.py"
    python, site = fresh_venv(tmp_path / "venv")
    # A plain path line: the project venv's packages become importable, its .pth files (among them the
    # editable finder that maps paperlib to a checkout) do not run.
    (site / "project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    done = install_and_run(python, wheel, INSTALLED_CHECK, work)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["installed", "ok", "2"]


def test_wheel_requires_only_numpy_besides_the_extras(wheel):
    """``pip install paperlib`` pulls numpy alone (torch is the user's, installed first); the study's and the
    tests' packages come only with the ``book`` and ``dev`` extras."""
    metadata = zipfile.ZipFile(wheel).read("paperlib-0.1.0.dist-info/METADATA").decode()
    requires = [
        Requirement(line.split(":", 1)[1].strip())
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    ]
    core = [r.name for r in requires if r.marker is None]
    assert core == ["numpy"], core
    by_extra = {
        extra: {r.name for r in requires if r.marker is not None and r.marker.evaluate({"extra": extra})}
        for extra in ("book", "dev")
    }
    assert {"pandas", "scipy", "matplotlib", "papermill", "jupyter-book"} <= by_extra["book"]
    assert {"torchmetrics", "lightning", "transformers", "accelerate", "pytest"} <= by_extra["dev"]


def _closure(names: list[str]) -> dict[str, importlib.metadata.Distribution]:
    """The installed distributions ``names`` need, through their requirements (extras they name included,
    requirements whose environment markers do not hold left out, uninstalled optional ones skipped)."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = [Requirement(name) for name in names]
    while todo:
        req = todo.pop()
        try:
            dist = importlib.metadata.distribution(req.name)
        except importlib.metadata.PackageNotFoundError:
            continue
        key = (dist.metadata["Name"].lower().replace("_", "-"), tuple(sorted(req.extras)))
        if key in found:
            continue
        found[key] = dist
        for line in dist.requires or []:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in ("", *req.extras)):
                todo.append(sub)
    return {key[0]: dist for key, dist in found.items()}


LIGHT_CHECK = """
import importlib.util, sys
import torch
from torch import nn
import paperlib
from paperlib.metrics import interplay

missing = [m for m in ('pandas', 'scipy', 'matplotlib', 'seaborn', 'papermill', 'torchmetrics', 'transformers')
           if importlib.util.find_spec(m) is not None]
assert not missing, f"the light venv can import {missing}"
x, y = torch.randn(300, 12), torch.arange(300) % 5
model = nn.Sequential(nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 5))
result = paperlib.probe(model, (x, y))
with torch.no_grad():
    feats = torch.tanh(model[0](x))
acc = paperlib.StreamingInterplay(5)
for part in range(0, 300, 64):
    acc.update(feats[part:part + 64], y[part:part + 64])
want = interplay(feats, model[2].weight, y)
assert abs(acc.compute(model[2].weight)["mir"] - want["mir"]) < 1e-10
assert abs(result.mir - want["mir"]) < 1e-10
monitor = paperlib.Monitor((x, y), every=1)
monitor.step(model)
assert len(monitor.records) == len(monitor.METRICS)
try:
    monitor.frame
except ImportError as e:
    assert "Monitor.records" in str(e)
try:
    paperlib.InterplayMetric
except ImportError as e:
    assert "pip install torchmetrics" in str(e), e
print("light ok", sorted(m.split('.')[0] for m in sys.modules if m.startswith(('pandas', 'tqdm', 'scipy'))))
"""


def test_the_measurement_works_with_only_torch_and_numpy(tmp_path, wheel):
    """The light install: a fresh venv sees only the distributions that torch and the wheel's core
    requirements need (through a folder of links to them, listed by their installed metadata), the wheel is
    installed there without dependencies, and the measurement runs; the study's packages cannot be imported."""
    metadata = zipfile.ZipFile(wheel).read("paperlib-0.1.0.dist-info/METADATA").decode()
    core = [
        Requirement(line.split(":", 1)[1].strip()).name
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and ";" not in line
    ]
    python, site = fresh_venv(tmp_path / "venv")
    links = tmp_path / "light"
    links.mkdir()
    purelib = Path(sysconfig.get_paths()["purelib"])
    for dist in _closure(["torch", *core]).values():
        for file in dist.files or []:
            top = file.parts[0]
            if top in ("..", "__pycache__") or (links / top).exists() or not (purelib / top).exists():
                continue
            (links / top).symlink_to(purelib / top)
    assert (links / "torch").exists() and (links / "numpy").exists() and not (links / "pandas").exists()
    (site / "light_deps.pth").write_text(f"{links}\n")
    done = install_and_run(python, wheel, LIGHT_CHECK, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[:2] == ["light", "ok"]


def test_make_mutants_installs_the_declared_mutmut():
    makefile = (ROOT / "Makefile").read_text()
    (declared,) = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"][
        "mutation"
    ]
    assert f"'{declared}'" in makefile
