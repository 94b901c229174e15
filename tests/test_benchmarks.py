"""The benchmark's building blocks (``make bench`` itself is not part of the tests)."""

import pytest

from benchmarks import run as bench
from paperlib.metrics import interplay


def test_plain_route_is_the_reference_the_exact_route_must_match():
    feats, heads, labels = bench.synthetic(400, 16, 10)
    fast, plain = interplay(feats, heads, labels), bench.plain_route(feats, heads, labels)
    for key, value in plain.items():
        assert fast[key] == pytest.approx(value, abs=1e-9), key


def test_memory_probe_measures_the_call_alone():
    probe = bench.memory_probe(5000, 128, 10)
    assert 0 <= probe["peak_mb"] < 200 and probe["seconds"] > 0 and 0 < probe["mir"] <= 1


def test_report_tables_are_markdown():
    text = bench.table(["a", "b"], [[1, 2]])
    assert text.splitlines() == ["| a | b |", "|---|---|", "| 1 | 2 |"]
    verdict = bench.verdicts({"loss": {"+ MI": 0.05, "+ HDR": 0.2}})
    assert verdict == ["- information-loss overhead: at most 20.0 % (target <= 10 %): missed"]
