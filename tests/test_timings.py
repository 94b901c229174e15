"""make book's timing records: a cache read never replaces the last time that trained runs."""

import json

from paperlib import book


def test_cache_read_keeps_the_last_trained_time(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_RUNS", str(tmp_path))
    book.record_time("cpu", "02_x.ipynb", 120.0, 3)
    book.record_time("cpu", "02_x.ipynb", 4.0, 0)
    entry = json.loads(book.timings_file("cpu").read_text())["02_x.ipynb"]
    assert entry["seconds"] == 4.0 and entry["new_runs"] == 0
    assert entry["trained"]["seconds"] == 120.0 and entry["trained"]["new_runs"] == 3
    book.record_time("cpu", "02_x.ipynb", 60.0, 1)
    entry = json.loads(book.timings_file("cpu").read_text())["02_x.ipynb"]
    assert entry["trained"]["seconds"] == 60.0


def test_timing_table_sums_and_counts():
    text = book.timing_table([("01_a.ipynb", 30.0, 0), ("02_b.ipynb", 90.0, 2)])
    last = text.splitlines()[-1].split()
    assert last[:3] == ["all", "120.0", "2"] and "(2.0 min)" in text
