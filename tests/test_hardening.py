"""Hostile but realistic use: bad settings on the command line, a damaged run store, concurrent runs, a
corrupt verdict file and a failing book build each give one clear line, or the right answer."""

import dataclasses
import json
import os
import subprocess
import sys
import time

import pytest
import torch

from paperlib import book, claims, registry, runs
from paperlib.__main__ import main
from paperlib.configs import SettingError
from paperlib.train.supervised import Recipe, TrainConfig, train

from .helpers import write_fashion_mnist

TINY = TrainConfig(
    recipe=Recipe(model="wrn-10-1", bn_momentum=0.1, steps=6, batch_size=16, eval_every=3, ckpt_every=3)
)


@pytest.fixture
def fm_data(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_DATA", str(write_fashion_mnist(tmp_path / "data")))
    monkeypatch.setenv("PAPERLIB_RUNS", str(tmp_path / "runs"))
    return tmp_path


def _cli(tmp_path, experiment, *sets):
    env = {**os.environ, "PAPERLIB_RUNS": str(tmp_path / "runs"), "PAPERLIB_QUIET": "1"}
    args = [sys.executable, "-m", "paperlib", "run", experiment, "--profile", "smoke"]
    for s in sets:
        args += ["--set", s]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "experiment,setting,words",
    [
        ("dynamics", "steps=-3", "recipe.steps = -3"),
        ("dynamics", "batch_size=0", "recipe.batch_size = 0"),
        ("dynamics", "label_smoothing=2", "label_smoothing = 2"),
        ("dynamics", "steps=true", "recipe.steps = True"),
        ("dynamics", "steps=abc", "recipe.steps = 'abc'"),
        ("dynamics", "steps=0", "recipe.steps = 0"),
        ("dynamics", "steps=2.5", "recipe.steps = 2.5"),
        ("dynamics", "eval_every=0", "recipe.eval_every = 0"),
        ("dynamics", "ckpt_every=0", "recipe.ckpt_every = 0"),
        ("dynamics", "batch_size=16.0", "recipe.batch_size = 16.0"),
        ("freematch", "seeds=abc", "seeds = 'abc'"),
        ("grokking", "train_frac=1.5", "train_frac = 1.5"),
    ],
)
def test_bad_settings_fail_in_one_line_before_anything_runs(
    tmp_path, monkeypatch, capsys, experiment, setting, words
):
    """The command line's own entry point, in this process (one subprocess below checks the real exit)."""
    monkeypatch.setenv("PAPERLIB_RUNS", str(tmp_path / "runs"))
    code = main(["run", experiment, "--profile", "smoke", "--set", setting])
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: setting ") and words in lines[0], lines
    assert "must be" in lines[0]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.csv"))


def test_a_bad_setting_exits_2_from_the_shell(tmp_path):
    done = _cli(tmp_path, "dynamics", "steps=-3")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "recipe.steps = -3" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_bad_settings_are_refused_from_python_too():
    with pytest.raises(SettingError, match=r"recipe.steps = -3 .* positive integer"):
        registry.config("dynamics", "smoke", steps=-3)
    with pytest.raises(SettingError, match="steps = 0"):
        Recipe(steps=0)
    with pytest.raises(SettingError, match="select_at = 7"):
        registry.config("freematch", "smoke", select_at=7)
    with pytest.raises(SettingError, match="extra_loss"):
        dataclasses.replace(TINY, extra_loss="entropy:1")


def _finished(fm_data):
    return runs.run("supervised", TINY, train)


def test_a_truncated_or_deleted_metrics_file_is_restored_from_the_checkpoint(fm_data, capsys):
    run = _finished(fm_data)
    good = (run.folder / "metrics.csv").read_bytes()
    for damage in ("truncate", "cut mid-line", "delete"):
        path = run.folder / "metrics.csv"
        if damage == "delete":
            path.unlink()
        else:
            path.write_bytes(
                good[: len(good) // 2] if damage == "cut mid-line" else good.split(b"\n")[0] + b"\n"
            )
        again = runs.run("supervised", TINY, _must_not_train)
        assert (again.folder / "metrics.csv").read_bytes() == good, damage
        assert "repaired" in capsys.readouterr().err


def _must_not_train(*_):
    raise AssertionError("a finished run was trained again")


def test_damage_that_cannot_be_restored_names_the_folder(fm_data):
    run = _finished(fm_data)
    (run.folder / "metrics.csv").write_text("step,split,metric,value\n0,test,acc,0.99\n")
    ckpt = torch.load(run.folder / "checkpoint.pt", weights_only=True)
    ckpt["rows"] = ckpt["rows"][:1]  # the checkpoint no longer holds the rows DONE vouched for
    torch.save(ckpt, run.folder / "checkpoint.pt")
    with pytest.raises(runs.StoreError, match=rf"damaged and cannot be restored.*rm -r {run.folder}"):
        runs.run("supervised", TINY, _must_not_train)


@pytest.mark.parametrize("content", [b"", b"\x00garbage\xff" * 10, "truncate"])
def test_an_unreadable_checkpoint_is_one_clear_error(fm_data, content):
    run = runs.Run("supervised", TINY)
    runs.run("supervised", TINY, train)
    path = run.folder / "checkpoint.pt"
    path.write_bytes(path.read_bytes()[:1000] if content == "truncate" else content)
    (run.folder / "DONE").unlink()  # an interrupted run: it must resume from the checkpoint
    with pytest.raises(runs.StoreError, match=rf"{path} is unreadable .*rm -r"):
        runs.run("supervised", TINY, train)


def test_two_processes_on_one_config_train_it_once(fm_data):
    code = (
        "import sys, time\n"
        "from paperlib import runs\n"
        "from tests.test_hardening import TINY\n"
        "from paperlib.train.supervised import train\n"
        "calls = []\n"
        "def counted(cfg, run):\n"
        "    calls.append(1); time.sleep(1.0); train(cfg, run)\n"
        "runs.run('supervised', TINY, counted)\n"
        "print('trained' if calls else 'read')\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root, "PAPERLIB_QUIET": "1"}
    procs = []
    for _ in range(2):
        procs.append(
            subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        )
        time.sleep(0.3)
    outs = sorted(p.communicate(timeout=300)[0].strip() for p in procs)
    assert outs == ["read", "trained"]


def test_a_corrupt_verdict_file_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_RUNS", str(tmp_path))
    folder = tmp_path / "claims" / "smoke"
    folder.mkdir(parents=True)
    (folder / "T1.json").write_text('{"id": "T1", "verdict": ')
    with pytest.raises(ValueError, match="T1.json is not a readable verdict.*rerun notebook 01"):
        claims.scorecard("smoke")
    done = subprocess.run(
        [sys.executable, "-m", "paperlib", "claims", "--profile", "smoke"],
        env={**os.environ, "PAPERLIB_RUNS": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "T1.json" in done.stderr


def test_a_failing_notebook_leaves_the_last_good_chapters(tmp_path, monkeypatch):
    good = [tmp_path / "01_a.ipynb", tmp_path / "02_b.ipynb"]
    monkeypatch.setattr(book, "chapters", lambda: good)

    def execute(nb, out, profile):
        out.write_text(json.dumps({"from": nb.name, "run": state["run"]}))
        if state["fail"] and nb.name.startswith("02"):
            raise book.BookError(f"notebook {nb.name} failed in cell 3")
        return 0.1

    monkeypatch.setattr(book, "execute", execute)
    monkeypatch.setattr(book, "record_time", lambda *a: None)
    state = {"run": 1, "fail": False}
    book.execute_all(tmp_path, "smoke")
    state.update(run=2, fail=True)
    with pytest.raises(book.BookError, match="last good build are unchanged"):
        book.execute_all(tmp_path, "smoke")
    for nb in good:
        assert json.loads((tmp_path / "chapters" / nb.name).read_text())["run"] == 1
    assert json.loads((tmp_path / ".chapters-new" / "02_b.ipynb").read_text())["run"] == 2
