"""The pipeline from notebook to book: a smoke build of the whole book, and a failing notebook's message."""

import re

import nbformat
import pytest

from paperlib import book, claims, pages

from . import layout


def test_smoke_book_builds(tmp_path):
    # The committed notebooks are the smoke chapters: nbval re-executes each one and compares its outputs with
    # them, so this test compiles them instead of executing every chapter a second time. The scorecard shows
    # what the session's store holds (conftest.py runs this test after nbval when the tests run serially).
    before = {row["id"]: row["verdict"] for row in claims.rows("smoke")}
    index = book.build("smoke", tmp_path / "book", executed=book.NOTEBOOKS)
    html = index.parent
    assert index.exists()
    for nb in book.chapters():
        page = (html / "chapters" / nb.with_suffix(".html").name).read_text()
        # each of the chapter's claims has its printed verdict line ("E2: inconclusive  (..."), not just a
        # verdict word somewhere in the prose
        wanted = {row["id"] for row in claims.rows("smoke") if row["notebook"] == nb.name[:2]}
        printed = set(re.findall(r"\b([A-Z][0-9]+): (?:holds|fails|inconclusive)\b", page))
        assert wanted, f"no claim names chapter {nb.name}"
        assert wanted <= printed, f"{nb.name} shows no verdict for {sorted(wanted - printed)}"
    scorecard = (html / "scorecard.html").read_text()
    for cid in claims.claim_ids():
        assert f">{cid}<" in scorecard
    page = (tmp_path / "book" / "scorecard.md").read_text()
    for row in claims.rows("smoke"):
        if before[row["id"]] == row["verdict"]:  # not recorded anew while the book was built
            line = f"| {row['id']} | {pages.cell(claims.short(row['claim']))} | {row['verdict']} |"
            assert line in page, f"{row['id']}: not its stored verdict"
    assert (html / "about.html").exists() and (html / "_images" / "scorecard.png").exists()
    chapter = (html / "chapters" / book.chapters()[0].with_suffix(".html").name).read_text()
    assert "# Parameters" not in chapter and "Ran with the <strong>smoke</strong> profile" in chapter
    assert layout.chromium(), (
        "the layout check needs headless Chromium: apt-get install chromium (make test does)"
    )
    assert layout.overflow(html / "scorecard.html") == [], "the scorecard is wider than the window"
    assert "tex-chtml.js" in index.read_text() or "tex-chtml.js" in (html / "intro.html").read_text()
    assert (html / "_static" / "tex-chtml.js").exists()  # math renders offline
    api = (html / "api.html").read_text()  # autodoc imported this checkout's paperlib
    for name in (
        "paperlib.probe.probe",
        "paperlib.monitor.Monitor",
        "paperlib.metrics.interplay",
        "paperlib.streaming.StreamingInterplay",
        "paperlib.integrations.metric.InterplayMetric",
        "paperlib.integrations.hf.InterplayCallback",
    ):
        assert f'id="{name}"' in api, f"the API page lacks {name}"


def test_failing_notebook_names_notebook_and_cell(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('profile = "smoke"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("1 / 0")]
    path = tmp_path / "99_broken.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(book.BookError, match=r"99_broken.ipynb failed in cell .*ZeroDivisionError"):
        book.execute(path, tmp_path / "out.ipynb", "smoke")


def test_unknown_profile_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown profile"):
        book.build("laptop", tmp_path)


def test_executed_chapters_must_all_exist_and_come_from_the_profile(tmp_path):
    with pytest.raises(book.BookError, match="lacks the executed chapters 01_"):
        book.use_executed(tmp_path, tmp_path / "out", "smoke")
    for nb in book.chapters():
        (tmp_path / nb.name).write_bytes(nb.read_bytes())
    with pytest.raises(book.BookError, match="executed under profile 'smoke', not 'cpu'"):
        book.use_executed(tmp_path, tmp_path / "out", "cpu")
    book.use_executed(tmp_path, tmp_path / "out", "smoke")
    copied = sorted(p.name for p in (tmp_path / "out" / "chapters").iterdir())
    assert copied == [nb.name for nb in book.chapters()]


def test_every_chapter_takes_the_profile_from_one_parameters_cell():
    # papermill injects the profile after the cell tagged "parameters"; without that tag it would inject it
    # first, the notebook's own `profile = "smoke"` would win, and a cpu book would silently run smoke.
    assert len(book.chapters()) == 8
    for path in book.chapters():
        cells = nbformat.read(path, as_version=4).cells
        tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1 and tagged[0].source.startswith("profile = "), path.name
