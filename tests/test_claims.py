"""paperlib.claims and configs: verdict rows, the scorecard and its command line."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from paperlib import claims, configs

SHARED_CLAIMS = Path(__file__).resolve().parents[2] / "shared" / "CLAIMS.md"


@pytest.fixture(autouse=True)
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_RUNS", str(tmp_path))
    return tmp_path


def test_scorecard_lists_every_id_and_records(store):
    claims.record("T1", "holds", "err 0", "< 1e-10", "smoke", "01")
    claims.record("T1", "fails", "err 1", "< 1e-10", "smoke", "01")  # replaces the earlier row
    card = claims.scorecard("smoke")
    assert list(card.id) == list(claims.CLAIMS)
    assert card.set_index("id").loc["T1", "verdict"] == "fails"
    assert set(card.verdict) == {"fails", "not run"}
    assert claims.scorecard("cpu").set_index("id").loc["T1", "verdict"] == "not run"
    assert (store / "claims" / "smoke" / "T1.json").exists()


@pytest.mark.skipif(not SHARED_CLAIMS.exists(), reason="shared/CLAIMS.md not beside the checkout")
def test_ids_are_those_of_claims_md():
    ids = re.findall(r"^\| ([A-Z]\d) \|", SHARED_CLAIMS.read_text(), flags=re.M)
    assert ids == list(claims.CLAIMS)


@pytest.mark.parametrize(
    "args,match",
    [
        (("Z9", "holds", "", "", "cpu", "01"), "unknown claim id"),
        (("T1", "maybe", "", "", "cpu", "01"), "verdict must be"),
        (("T1", "holds", "", "", "laptop", "01"), "unknown profile"),
    ],
)
def test_record_rejects_bad_rows(args, match):
    with pytest.raises(ValueError, match=match):
        claims.record(*args)


def test_recorder_and_decide(capsys):
    rec = claims.Recorder("smoke", "01")
    rec("T3", True, "min 0", "[0, 1]")
    rec("T4", False, "1 violation", "0", inconclusive=True)
    assert list(rec.table().verdict) == ["holds", "inconclusive"]
    assert "T3: holds" in capsys.readouterr().out


def test_cli_prints_scorecard(store):
    claims.record("X1", "holds", "gap 0.5", "> 0.05", "cpu", "01")
    out = subprocess.run(
        [sys.executable, "-m", "paperlib", "claims", "--profile", "cpu"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for cid in claims.CLAIMS:
        assert re.search(rf"^\s*{cid}\s", out, flags=re.M), cid
    assert re.search(r"X1\s+holds", out)
    bad = subprocess.run(
        [sys.executable, "-m", "paperlib", "claims", "--profile", "laptop"], capture_output=True, text=True
    )
    assert bad.returncode != 0 and "invalid choice" in bad.stderr


def test_configs_get_and_errors():
    smoke, cpu = configs.get("nc_theory", "smoke"), configs.get("nc_theory", "cpu")
    assert cpu.range_draws_per_kind > smoke.range_draws_per_kind
    assert configs.get("nc_theory", "smoke", c_max=20).c_max == 20
    with pytest.raises(ValueError, match="unknown profile 'gpu'"):
        configs.get("nc_theory", "gpu")
    with pytest.raises(ValueError, match="unknown experiment"):
        configs.get("nope", "cpu")
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['c_maxx'\]"):
        configs.get("nc_theory", "cpu", c_maxx=3)
