"""The pipeline from notebook to book: a smoke build of the whole book, and a failing notebook's message."""

import nbformat
import pytest

from paperlib import book, claims


def test_smoke_book_builds(tmp_path):
    # The session's run store (conftest.py), shared with nbval: each smoke run is trained once per session.
    index = book.build("smoke", tmp_path / "book")
    html = index.parent
    assert index.exists()
    for nb in book.chapters():
        page = (html / "chapters" / nb.with_suffix(".html").name).read_text()
        assert "holds" in page or "fails" in page, f"{nb.name} shows no verdict"
    scorecard = (html / "scorecard.html").read_text()
    for cid in claims.claim_ids():
        assert f">{cid}<" in scorecard
    assert "tex-chtml.js" in index.read_text() or "tex-chtml.js" in (html / "intro.html").read_text()
    assert (html / "_static" / "tex-chtml.js").exists()  # math renders offline
    api = (html / "api.html").read_text()  # autodoc imported this checkout's paperlib
    for name in ("paperlib.probe.probe", "paperlib.monitor.Monitor", "paperlib.metrics.interplay"):
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
