"""The README's example on your own model runs as printed."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- readme-probe-example"


def test_probe_example_runs():
    text = README.read_text()
    assert MARKER in text, "the README lost the probe example's marker"
    block = re.search(r"```python\n(.*?)```", text[text.index(MARKER) :], re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "README.md", "exec"), {})
    head, mir, hdr, n, d = out.getvalue().split()
    assert (head, n, d) == ("fc", "64", "512")
    assert 0 <= float(mir) <= 1 and 0 <= float(hdr) <= 1


def test_streaming_example_runs():
    text = README.read_text()
    marker = "<!-- readme-streaming-example"
    assert marker in text, "the README lost the streaming example's marker"
    block = re.search(r"```python\n(.*?)```", text[text.index(marker) :], re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "README.md", "exec"), {})
    n, mir, hdr = out.getvalue().split()
    assert n == "10240" and 0 < float(mir) <= 1 and 0 <= float(hdr) <= 1
