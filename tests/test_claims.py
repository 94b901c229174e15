"""paperlib.claims and configs: verdict rows, the scorecard and its command line."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from paperlib import claims, registry
from paperlib.storage import runs_root
from paperlib.verdicts import Check

from .helpers import claims_json

PROJECT_CLAIMS = Path(__file__).resolve().parents[1] / "CLAIMS.md"


def _check(cid="T1", verdict="holds", statistic="err 0"):
    return Check(cid, verdict, statistic, "< 1e-10", {"max_error": 0.0})


@pytest.fixture(autouse=True)
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_RUNS", str(tmp_path))
    return tmp_path


def test_scorecard_lists_every_id_and_records(store):
    claims.record(_check(), "smoke", "01")
    claims.record(_check(verdict="fails", statistic="err 1"), "smoke", "01")  # replaces the earlier row
    card = claims.scorecard("smoke")
    assert list(card.id) == claims.claim_ids()
    assert card.set_index("id").loc["T1", "verdict"] == "fails"
    assert set(card.verdict) == {"fails", "not run"}
    assert claims.scorecard("cpu").set_index("id").loc["T1", "verdict"] == "not run"
    assert (store / "claims" / "smoke" / "T1.json").exists()


def test_registry_claims_are_the_projects_list():
    """CLAIMS.md (the project's list) and the experiments' declared claims agree: ids, order, notebooks."""
    rows = re.findall(r"^\| ([A-Z]\d) \| ([0-9/]+) \|", PROJECT_CLAIMS.read_text(), flags=re.M)
    assert [cid for cid, _ in rows] == claims.claim_ids()
    for cid, notebook in rows:
        assert registry.claims()[cid].notebook == notebook, cid


@pytest.mark.parametrize(
    "args,match",
    [
        ((_check("Z9"), "cpu", "01"), "unknown claim id"),
        ((_check(), "laptop", "01"), "unknown profile"),
    ],
)
def test_record_rejects_bad_rows(args, match):
    with pytest.raises(ValueError, match=match):
        claims.record(*args)
    with pytest.raises(ValueError, match="verdict must be"):
        _check(verdict="maybe")


def test_recorder_and_decide(capsys):
    rec = claims.Recorder("smoke", "01")
    rec(Check.of("T3", True, "min 0", "[0, 1]", min=np.float64(0.0)))
    rec(Check.of("T4", False, "1 violation", "0", inconclusive=True))
    assert list(rec.table().verdict) == ["holds", "inconclusive"]
    assert "T3: holds" in capsys.readouterr().out
    stored = json.loads((runs_root() / "claims" / "smoke" / "T3.json").read_text())
    assert stored["numbers"] == {"min": 0.0}


def test_cli_prints_scorecard(store):
    claims.record(Check("X1", "holds", "gap 0.5", "> 0.05"), "cpu", "01")
    out = subprocess.run(  # --store: the run store's cpu verdicts, not the shipped build's
        [sys.executable, "-m", "paperlib", "claims", "--profile", "cpu", "--store"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for cid in claims.claim_ids():
        assert re.search(rf"^\s*{cid}\s", out, flags=re.M), cid
    assert re.search(r"X1\s+holds", out)
    bad = subprocess.run(
        [sys.executable, "-m", "paperlib", "claims", "--profile", "laptop"], capture_output=True, text=True
    )
    assert bad.returncode != 0 and "invalid choice" in bad.stderr


def test_registry_config_and_errors():
    smoke, cpu = registry.config("nc_theory", "smoke"), registry.config("nc_theory", "cpu")
    assert cpu.range_draws_per_kind > smoke.range_draws_per_kind
    assert registry.config("nc_theory", "smoke", c_max=20).c_max == 20
    with pytest.raises(ValueError, match="unknown profile 'gpu'"):
        registry.config("nc_theory", "gpu")
    with pytest.raises(ValueError, match="unknown experiment"):
        registry.config("nope", "cpu")
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['c_maxx'\]"):
        registry.config("nc_theory", "cpu", c_maxx=3)


def test_every_experiment_has_a_notebook_and_a_book_entry():
    """Adding an experiment is a module, a notebook and a line in book/_toc.yml: all three must exist."""
    root = PROJECT_CLAIMS.parent
    toc = (root / "book" / "_toc.yml").read_text()
    assert len(registry.experiments_by_name()) >= 8  # one per chapter at least
    for spec in registry.experiments_by_name().values():
        notebooks = list((root / "notebooks").glob(f"{spec.notebook}_*.ipynb"))
        assert len(notebooks) == 1, spec.name
        assert f"chapters/{notebooks[0].stem}" in toc, spec.name


def test_rows_carry_evidence_and_json_prints_them(store):
    from paperlib.intervals import Interval

    iv = Interval(0.4, 0.3, 0.5, 3, "t interval over 3 seeds")
    check = Check.rule("D1", True, False, "rho 0.4", "interval above 0", evidence=iv, null=0.0, exact="0.61")
    claims.record(
        check, "smoke", "02", scale={"data": "fashion_mnist", "model": "wrn-10-1", "seeds": [0, 1, 2]}
    )
    rows = {r["id"]: r for r in claims_json("smoke")}
    assert list(rows) == claims.claim_ids()
    d1 = rows["D1"]
    assert d1["verdict"] == "holds" and d1["estimate"] == 0.4 and d1["interval"] == [0.3, 0.5]
    assert d1["null"] == 0.0 and d1["method"].startswith("t interval") and d1["scale"]["seeds"] == [0, 1, 2]
    assert rows["T1"]["verdict"] == "not run"
    table = claims.scorecard_text("smoke")
    assert max(len(line) for line in table.splitlines()) <= 100
    assert re.search(r"D1\s+holds\s+0\.4\s+\[0\.3, 0\.5\]", table)


def test_underpowered_label_and_sections(store):
    check = Check.rule("E1", False, False, "diff +0.1", "above 0", note="underpowered")
    assert check.verdict == "inconclusive" and check.label == "inconclusive (underpowered)"
    assert (
        Check.rule("E1", True, False, "s", "t", note="underpowered").label == "holds"
    )  # note only when undecided
    claims.record(check, "smoke", "07", scale={"data": "fashion_mnist", "steps": 60, "seeds": [0, 1]})
    assert claims.scorecard("smoke").set_index("id").loc["E1", "verdict"] == "inconclusive (underpowered)"
    assert {claims.section(c) for c in claims.claim_ids()} == {"T", "E", "X"}
    assert claims.section("T4") == "T" and claims.section("X4") == "X" and claims.section("G2") == "E"
    row = next(r for r in claims.rows("smoke") if r["id"] == "E1")
    gap = claims.setting_gap(row)
    assert gap.startswith("E1 (inconclusive (underpowered)): decided at fashion_mnist") and "cifar10" in gap
    found = claims.found("smoke")
    assert "**E1**" in found and "*inconclusive (underpowered)*" in found and "Theorem checks" in found
