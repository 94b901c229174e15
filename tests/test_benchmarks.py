"""The benchmark's building blocks (``make bench`` itself is not part of the tests)."""

import os
from pathlib import Path

import pytest

from benchmarks import notebooks as nb_bench
from benchmarks.common import synthetic, table
from benchmarks.memory import memory_probe
from benchmarks.routes import plain_route
from benchmarks.run import verdicts
from paperlib import book
from paperlib.metrics import interplay


def test_plain_route_is_the_reference_the_exact_route_must_match():
    feats, heads, labels = synthetic(400, 16, 10)
    fast, plain = interplay(feats, heads, labels), plain_route(feats, heads, labels)
    for key, value in plain.items():
        assert fast[key] == pytest.approx(value, abs=1e-9), key


def test_memory_probe_measures_the_call_alone():
    probe = memory_probe(5000, 128, 10)
    assert 0 <= probe["peak_mb"] < 200 and probe["seconds"] > 0 and 0 < probe["mir"] <= 1


def test_report_tables_are_markdown():
    text = table(["a", "b"], [[1, 2]])
    assert text.splitlines() == ["| a | b |", "|---|---|", "| 1 | 2 |"]
    verdict = verdicts({"loss": {"+ MI": 0.05, "+ HDR": 0.2}})
    assert verdict == ["- information-loss overhead: at most 20.0 % (target <= 10 %): missed"]


@pytest.mark.parametrize("before", ["/users/own/store", None], ids=["set", "unset"])
def test_notebook_bench_restores_the_users_run_store_when_a_notebook_fails(monkeypatch, tmp_path, before):
    if before is None:
        monkeypatch.delenv("PAPERLIB_RUNS", raising=False)
    else:
        monkeypatch.setenv("PAPERLIB_RUNS", before)
    seen = []

    def failing_execute(notebook: Path, out: Path, profile: str) -> float:
        seen.append(os.environ["PAPERLIB_RUNS"])
        raise book.BookError("notebook failed")

    monkeypatch.setattr(book, "chapters", lambda: [tmp_path / "01_x.ipynb"])
    monkeypatch.setattr(book, "execute", failing_execute)
    with pytest.raises(book.BookError):
        nb_bench.bench_notebooks(quick=True)
    assert seen and seen[0] != before  # the notebook ran against the temporary, empty store
    assert os.environ.get("PAPERLIB_RUNS") == before


def test_streaming_bench_pieces():
    from benchmarks.streaming import against_probe, batches, verdict

    parts = list(batches(10_000, size=4096, rank=1, world=2))
    assert [len(p[1]) for p in parts] == [4096]  # the second of three batches (4096, 4096, 1808)
    versus = against_probe(6000)
    assert versus["diff"] < 1e-10 and versus["stream_s"] > 0 and versus["whole_mb"] >= 0
    line = verdict(
        {"stream": {"n": 10, "seconds": 11.0, "peak_mb": 5.0}, "two": {"diff": 0.0}, "against": versus}
    )
    assert line[0].startswith("- streaming n = 10,") and "missed" in line[0]


def test_mutation_scores_group_mutants_by_scored_file():
    from benchmarks.mutants import report, scores, survivors

    listing = "\n".join(
        [
            "    paperlib.verdicts.x_decide__mutmut_1: killed",
            "    paperlib.verdicts.xǁCheckǁrule__mutmut_2: survived",
            "    paperlib.verdicts.x_decide__mutmut_3: timeout",
            "    paperlib.experiments.lmc.x_check_L1__mutmut_4: killed",
            "    paperlib.experiments.lmc.x_barriers__mutmut_1: survived",  # not a check_*: not scored
            "    paperlib.theory.x_simplex_etf__mutmut_9: not checked",
        ]
    )
    counts = scores(listing)
    assert counts["paperlib/verdicts.py"] == {"killed": 1, "survived": 1, "timeout": 1}
    assert counts["check_* in experiments/lmc.py"] == {"killed": 1}
    assert counts["paperlib/theory.py"] == {"not checked": 1}
    assert len(counts) == 3
    assert survivors(listing) == ["paperlib.verdicts.xǁCheckǁrule__mutmut_2"]
    text = report(counts, {"verdicts": 90.0})
    assert "| paperlib/verdicts.py | 2 / 3 | 66.7 | 1 | 0 |" in text
    assert "| paperlib/theory.py | 0 / 0 | - | 0 | 1 |" in text
    assert text.endswith("Run times: verdicts 1.5 min.")
