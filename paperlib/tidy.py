"""Make an executed chapter read well in the book, on the copy that is rendered, never on the notebook's source.

The two parameter cells (the tagged defaults and papermill's injected values) read as a contradiction
(``profile = "smoke"`` above ``profile = "cpu"``), so they are hidden (Jupyter Book's ``remove-cell`` tag) and
one generated line says which profile and settings the chapter ran with. For a shipped build the figures are
re-encoded as palette PNGs at the same resolution (a third of the size; plots use few colours).
"""

from __future__ import annotations

import ast
import base64
import io
from pathlib import Path
from typing import Any

import nbformat

HIDDEN = ("parameters", "injected-parameters")
REMOVE = "remove-cell"
_MARK = "ran-with"  # metadata.paperlib of the generated line, so tidying twice changes nothing


def assigned(source: str) -> dict[str, Any]:
    """The literal assignments of a parameters cell (``profile = "smoke"``, ``seed = 0``) as a dict."""
    out: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                out[node.targets[0].id] = ast.unparse(node.value)
    return out


def ran_with(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The parameters a chapter ran with: its defaults, overridden by what papermill injected."""
    params: dict[str, Any] = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            params.update(assigned(cell.source))
    params.update(nb.metadata.get("papermill", {}).get("parameters", {}))
    return params


def ran_with_line(nb: nbformat.NotebookNode) -> str:
    """'Ran with the **cpu** profile (seed = 0); ...': the one line that replaces the parameter cells."""
    params = ran_with(nb)
    profile = params.pop("profile", "?")
    settings = ", ".join(f"`{k} = {v!r}`" for k, v in params.items())
    return (
        f"*Ran with the **{profile}** profile{f' ({settings})' if settings else ''}. The profile's settings, "
        "the machine and the time of each chapter are on [About this build](../about.md).*"
    )


def shrink_png(data: str) -> str:
    """A base64 PNG re-encoded with a 256-colour palette, same size in pixels; the original if not smaller."""
    from PIL import Image

    raw = base64.b64decode(data)
    out = io.BytesIO()
    Image.open(io.BytesIO(raw)).convert("RGB").quantize(256).save(out, "PNG", optimize=True)
    small = out.getvalue()
    return base64.b64encode(small).decode() if len(small) < len(raw) else data


def tidy(path: Path, shrink: bool = False) -> None:
    """Hide the parameter cells of the executed notebook ``path`` and put the ran-with line after them (in
    place, idempotent); with ``shrink``, also re-encode its PNG figures (``shrink_png``)."""
    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if c.metadata.get("paperlib") != _MARK]
    last = -1
    for i, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        if any(t in tags for t in HIDDEN):
            cell.metadata["tags"] = [*tags, REMOVE] if REMOVE not in tags else tags
            last = i
        if shrink and cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if "image/png" in output.get("data", {}):
                    output["data"]["image/png"] = shrink_png(output["data"]["image/png"])
    if last >= 0:
        line = nbformat.v4.new_markdown_cell(ran_with_line(nb))
        line.metadata["paperlib"] = _MARK
        line.id = "paperlib-ran-with"  # a fixed id: the same chapter tidies to the same file
        nb.cells.insert(last + 1, line)
    nbformat.write(nb, path)
