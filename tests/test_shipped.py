"""The shipped build's machinery on small inputs: reproduce into a temporary folder (a one-cell chapter under
the smoke profile), the comparison it prints, the staleness check, the tidied chapters, the generated pages.
The real cpu build is guarded by tests/test_shipped_build.py."""

import dataclasses
import json
import subprocess
import sys

import nbformat
import pytest

from paperlib import book, claims, pages, provenance, registry, reproduce, shipped, tidy

from .helpers import claims_json

RECORD_T3 = """from paperlib import claims
from paperlib.verdicts import Check
claims.record(Check("T3", "{verdict}", "min 0", "[0, 1]", {{"min": 0.0}}, estimate=0.5, interval=[0.25, None], null=0.0), profile, "01")
print("T3 recorded")"""


def _chapter(path, verdict="holds"):
    """A chapter of three cells: its parameters, a code cell that records T3, and a markdown line."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('profile = "smoke"  # smoke | cpu\nseed = 0')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A tiny chapter"),
        params,
        nbformat.v4.new_code_cell(RECORD_T3.format(verdict=verdict)),
    ]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """The book's chapters replaced by one tiny notebook (01_tiny), and the real notebooks' names by its own."""
    source = tmp_path / "src"
    source.mkdir()
    nb = _chapter(source / "01_tiny.ipynb")
    monkeypatch.setattr(book, "chapters", lambda: [nb])
    monkeypatch.setattr(shipped, "_notebook_names", lambda: ["01_tiny.ipynb"])
    return nb


def test_reproduce_ships_compares_and_reports_staleness(tiny, tmp_path, capsys, monkeypatch):
    target = tmp_path / "smoke-build"
    assert reproduce.reproduce("smoke", target) == []
    out = capsys.readouterr().out
    assert "no earlier smoke build" in out and "reproduce took" in out
    assert sorted(p.name for p in target.iterdir()) == [
        "chapters",
        "provenance.json",
        "scorecard.png",
        "verdicts",
    ]
    assert (target / "verdicts" / "T3.json").exists()
    prov = shipped.provenance(target)
    assert prov["profile"] == "smoke" and prov["chapters"]["01_tiny.ipynb"]["runs_trained"] == 0
    assert prov["chapters"]["01_tiny.ipynb"]["configs"] == provenance.fingerprints("smoke")["01"]
    assert prov["machine"]["torch"] and "nc_theory" in prov["settings"]
    assert shipped.stale("smoke", target) == []

    assert reproduce.reproduce("smoke", target) == []  # the same code again: the same verdicts
    assert "identical to the shipped build" in capsys.readouterr().out

    _chapter(tiny, verdict="fails")
    diffs = reproduce.reproduce("smoke", target)
    assert diffs == ["T3 verdict: holds -> fails"]
    assert "T3 verdict: holds -> fails" in capsys.readouterr().out

    # a changed smoke setting of chapter 01's experiment makes the shipped chapter stale, in one line
    spec = registry.get("nc_theory")
    default = spec.profiles["smoke"]
    monkeypatch.setitem(
        spec.profiles, "smoke", lambda: dataclasses.replace(default(), c_max=default().c_max + 1)
    )
    (line,) = shipped.stale("smoke", target)
    assert line.startswith("chapter 01_tiny.ipynb ran with other configs (nc_theory: 1 new, 1 gone)")
    assert line.endswith("is stale; run `make reproduce`") and "\n" not in line


def test_a_missing_build_says_run_make_reproduce(tmp_path):
    with pytest.raises(shipped.ShippedError, match=r"no shipped cpu build in .*run `make reproduce`"):
        shipped.require("cpu", tmp_path / "nothing")
    assert shipped.folder_of("smoke") is None and shipped.folder_of("cpu") == shipped.default_folder("cpu")
    done = subprocess.run(
        [sys.executable, "-m", "paperlib", "claims", "--profile", "cpu", "--shipped", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "run `make reproduce`" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_stale_names_chapters_new_and_changed(tmp_path, monkeypatch):
    folder = tmp_path / "b"
    for name in (shipped.CHAPTERS, shipped.VERDICTS):
        (folder / name).mkdir(parents=True)
    chapters = {"01_a.ipynb": {"configs": {"x": ["aaa"]}}, "02_b.ipynb": {"configs": {"y": ["bbb"]}}}
    (folder / shipped.PROVENANCE).write_text(json.dumps({"chapters": chapters}))
    monkeypatch.setattr(shipped, "_notebook_names", lambda: ["01_a.ipynb", "02_b.ipynb", "03_c.ipynb"])
    current = {"01": {"x": ["aaa"]}, "02": {"y": ["ccc"]}, "03": {"z": ["ddd"]}}
    lines = shipped.stale("cpu", folder, current)
    assert len(lines) == 2
    assert lines[0].startswith("chapter 02_b.ipynb ran with other configs (y: 1 new, 1 gone)")
    assert lines[1].startswith("chapter 03_c.ipynb is not in the shipped build")
    assert all(line.endswith("run `make reproduce`") for line in lines)


def test_tidy_hides_parameter_cells_and_says_what_ran(tmp_path):
    path = _chapter(tmp_path / "01_tiny.ipynb")
    nb = nbformat.read(path, as_version=4)
    injected = nbformat.v4.new_code_cell('# Parameters\nprofile = "cpu"\n')
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(2, injected)
    nb.metadata["papermill"] = {"parameters": {"profile": "cpu"}}
    nbformat.write(nb, path)
    tidy.tidy(path)
    tidy.tidy(path)  # idempotent
    cells = nbformat.read(path, as_version=4).cells
    hidden = [c for c in cells if "remove-cell" in c.metadata.get("tags", [])]
    assert len(hidden) == 2 and len(cells) == 5
    line = cells[3]
    assert line.cell_type == "markdown" and line.source.startswith(
        "*Ran with the **cpu** profile (`seed = 0`)"
    )
    assert tidy.assigned('a = 1  # x\nb = "s"\nc = f(2)') == {"a": 1, "b": "s", "c": "f(2)"}


def test_shrunk_png_is_smaller_and_the_same_size(tmp_path):
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    from PIL import Image

    rows = [
        {
            "id": "D1",
            "claim": "a claim",
            "verdict": "holds",
            "estimate": 0.4,
            "interval": [0.1, 0.7],
            "null": 0.0,
        },
        {
            "id": "D2",
            "claim": "b",
            "verdict": "fails",
            "estimate": 0.2,
            "interval": [None, float("nan")],
            "null": 0,
        },
        {"id": "E1", "claim": "c", "verdict": "not run", "estimate": None, "interval": None, "null": None},
        {
            "id": "E2",
            "claim": "d",
            "verdict": "inconclusive (underpowered)",
            "estimate": 3.0,
            "interval": [float("nan"), 4.0],
        },
    ]
    png = pages.write_forest(rows, tmp_path / "f.png")
    data = base64.b64encode(png.read_bytes()).decode()
    small = tidy.shrink_png(data)
    assert len(small) < len(data)
    before, after = (Image.open(io.BytesIO(base64.b64decode(d))) for d in (data, small))
    assert before.size == after.size


def test_scorecard_page_opens_with_the_figure_then_a_compact_table(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_RUNS", str(tmp_path))
    rows = claims.rows("smoke")
    page = pages.scorecard_page("smoke", rows, ["01_nc_theory.ipynb", "02_training_dynamics.ipynb"])
    assert page.index("{figure} scorecard.png") < page.index("| id | claim | verdict | estimate [interval] |")
    assert page.count("{dropdown}") == len(rows)
    for line in page.splitlines():
        if line.startswith("| ") and not line.startswith("| id "):
            assert len(line) < 110, line  # four short columns: it fits the text column
    assert "[02_training_dynamics](chapters/02_training_dynamics.ipynb)" in page


def test_json_rows_say_their_group(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_RUNS", str(tmp_path))
    groups = {r["id"]: r["group"] for r in claims_json("smoke")}
    assert groups["T1"] == "theorem check" and groups["D1"] == "the paper's claim" and groups["X1"] == "ours"


def test_differences_round_to_three_digits():
    old = [
        {"id": "D1", "verdict": "holds", "estimate": 0.43112, "interval": [0.1, 0.7], "numbers": {"a": 1.0}}
    ]
    same = [{**old[0], "estimate": 0.43104}]
    assert claims.differences(old, same) == []
    moved = [{**old[0], "estimate": 0.44, "interval": [0.1, None]}]
    assert claims.differences(old, moved) == [
        "D1 estimate: 0.431 -> 0.44",
        "D1 interval: [0.1, 0.7] -> [0.1, null]",
    ]
