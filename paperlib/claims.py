"""Verdict rows for the paper's claims and the scorecard built from them.

A claim is decided by its experiment's ``check_<ID>`` function (a ``verdicts.Check``); a notebook records the
check with ``Recorder``. Rows are stored per profile under ``<runs>/claims/<profile>/<id>.json`` so that the
scorecard (shell or book) can be rebuilt at any time from what was actually run. Every reader takes a
``folder`` of such records (default: the run store's), so the same scorecard is read from a shipped build's
``verdicts/`` folder (``paperlib.shipped``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import registry
from .configs import PROFILES, check_profile
from .storage import atomic_write_json, runs_root
from .verdicts import Check

__all__ = [
    "PROFILES",
    "COLUMNS",
    "Row",
    "Recorder",
    "claim_ids",
    "differences",
    "record",
    "rows",
    "scorecard",
    "scorecard_markdown",
    "to_json",
]

COLUMNS = [
    "id",
    "verdict",
    "estimate",
    "interval",
    "null",
    "paper",
    "statistic",
    "threshold",
    "scale",
    "notebook",
]
SECTIONS = {
    "T": "Theorem checks (mathematics: they can fail only through a bug)",
    "E": "The paper's empirical claims",
    "X": "The study's own claims",
}
GROUPS = {"T": "theorem check", "E": "the paper's claim", "X": "ours"}  # the ``group`` of each JSON row


@dataclass(frozen=True)
class Row:
    """A recorded verdict: the check with its evidence, and where, at which profile and scale it was decided.

    ``verdict`` is the check's label ('inconclusive (underpowered)' keeps its note); ``scale`` names the data,
    model, steps and seeds behind it (``Experiment.scale``)."""

    id: str
    verdict: str
    statistic: str
    threshold: str
    profile: str
    notebook: str
    numbers: dict[str, Any] = field(default_factory=dict)
    estimate: float | None = None
    interval: list | None = None
    method: str = ""
    null: float | None = None
    paper: str = ""
    exact: str = ""
    scale: dict[str, Any] = field(default_factory=dict)


def section(cid: str) -> str:
    """Which part of the scorecard a claim id belongs to: 'T' theorem checks, 'X' ours, 'E' the paper's."""
    return cid[0] if cid[0] in "TX" else "E"


def group(cid: str) -> str:
    """The group a claim belongs to in words, as the JSON rows carry it: 'theorem check', "the paper's
    claim" or 'ours'."""
    return GROUPS[section(cid)]


def short(text: str, width: int = 48) -> str:
    """A claim in a few words for the compact table and the forest plot: cut at a word before ``width``."""
    if len(text) <= width:
        return text
    cut = text[: width - 1].rsplit(" ", 1)[0].rstrip(" ,;:(")
    return cut + "…"


def verdict_folder(profile: str, folder: Path | None = None) -> Path:
    """Where the verdict records of ``profile`` are read from: ``folder`` when given, else the run store's."""
    return Path(folder) if folder is not None else runs_root() / "claims" / profile


def claim_ids() -> list[str]:
    """Every claim id, in scorecard order."""
    return list(registry.claims())


def record(check: Check, profile: str, notebook: str, scale: dict | None = None) -> Row:
    """Store one verdict (replacing an earlier one for the same id and profile) and return its row."""
    if check.id not in registry.claims():
        raise ValueError(f"unknown claim id {check.id!r}; known ids: {', '.join(claim_ids())}")
    check_profile(profile)
    row = Row(
        check.id,
        check.label,
        check.statistic,
        check.threshold,
        profile,
        notebook,
        check.numbers,
        check.estimate,
        check.interval,
        check.method,
        check.null,
        check.paper,
        check.exact,
        dict(scale or {}),
    )
    atomic_write_json(runs_root() / "claims" / profile / f"{check.id}.json", asdict(row))
    return row


def rows(profile: str, folder: Path | None = None) -> list[dict]:
    """Every claim's stored row as a dict (all fields of ``Row`` plus ``claim`` and ``group``), in scorecard
    order, read from ``folder`` (default: the run store's records); an id without a stored verdict is
    ``not run``."""
    check_profile(profile)
    folder = verdict_folder(profile, folder)
    out = []
    for cid, claim in registry.claims().items():
        path = folder / f"{cid}.json"
        empty = asdict(Row(cid, "not run", "", "", profile, claim.notebook))
        stored = _read_row(path, claim) if path.exists() else {}
        out.append({**empty, **stored, "claim": claim.text, "group": group(cid)})
    return out


def scorecard(profile: str, folder: Path | None = None) -> pd.DataFrame:
    """One row per claim id, in scorecard order, with the columns ``COLUMNS`` (plus ``claim``), as text
    readable in a table: the estimate and interval rounded, the scale in a few words."""
    return pd.DataFrame([readable(r) for r in rows(profile, folder)], columns=[*COLUMNS, "claim"])


def _num(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def interval_text(interval: list | None) -> str:
    """'[0.1, 0.3]', '[0.1, –]' when one end is undefined, '' when there is no interval."""
    if not interval or all(_num(v) == "" for v in interval):
        return ""
    return "[" + ", ".join(_num(v) or "–" for v in interval) + "]"


def readable(row: dict) -> dict:
    """A stored row as table text: the estimate, interval and null rounded, the scale in a few words."""
    shown = interval_text(row.get("interval"))
    return {
        **{k: row.get(k, "") for k in COLUMNS},
        "estimate": _num(row.get("estimate")),
        "interval": shown,
        "null": _num(row.get("null")),
        "scale": scale_text(row.get("scale") or {}),
        "claim": row["claim"],
    }


def scale_text(scale: dict) -> str:
    """'fashion_mnist, wrn-10-1, 5000 steps, seeds 0-2': the scale of a verdict in a few words."""
    parts = []
    for key in ("data", "model"):
        if scale.get(key):
            parts.append(", ".join(map(str, scale[key])) if isinstance(scale[key], list) else str(scale[key]))
    if scale.get("steps"):
        parts.append(f"{scale['steps']} steps")
    seeds = scale.get("seeds")
    if seeds:
        parts.append(f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}")
    for key in ("p", "train_frac"):
        if key in scale:
            parts.append(f"{key} {scale[key]}")
    return ", ".join(parts)


def _read_row(path, claim: registry.Claim) -> dict:
    """A stored verdict row; an unreadable file is a ``ValueError`` that says how to rebuild it."""
    try:
        row = json.loads(path.read_text())
        if not isinstance(row, dict) or row.get("id") != claim.id:
            raise ValueError("not a verdict row of this claim")
        return row
    except ValueError as err:
        raise ValueError(
            f"{path} is not a readable verdict ({err}); delete it and rerun notebook {claim.notebook} "
            "to record the verdict again"
        ) from None


def scorecard_markdown(profile: str, ids: list[str] | None = None, folder: Path | None = None) -> str:
    """The scorecard (or the rows of ``ids``) as a Markdown table of every column."""
    df = scorecard(profile, folder)
    if ids is not None:
        df = df[df.id.isin(ids)]
    cols = ["id", "verdict", "estimate", "interval", "null", "paper", "statistic", "threshold", "scale"]
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    body = "".join(
        "| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |\n"
        for row in df[cols].itertuples(index=False)
    )
    return head + body


VERDICT_WIDTH = 44  # characters of a verdict label the terminal scorecard shows


def scorecard_text(profile: str, width: int = 100, folder: Path | None = None) -> str:
    """The scorecard for a terminal: one line per id (verdict, estimate, interval, null), each line cut to
    ``width`` columns; ``--json`` gives every field, the scale included."""
    df = scorecard(profile, folder)[["id", "verdict", "estimate", "interval", "null"]]
    # a long note ("inconclusive (...)") would widen the column past the line: it is cut, --json has it whole
    df["verdict"] = df.verdict.map(lambda v: v if len(v) <= VERDICT_WIDTH else v[: VERDICT_WIDTH - 1] + "…")
    lines = df.to_string(index=False).splitlines()
    return "\n".join(line.rstrip()[:width] for line in lines)


def _paper_scale(cid: str) -> dict:
    """The scale the paper profile runs a claim at (its experiment's ``scale('paper')``)."""
    claim = registry.claims()[cid]
    return registry.get(claim.experiments[0]).scale("paper") if claim.experiments else {}


def setting_gap(row: dict) -> str:
    """One generated line on how a verdict's setting differs from the paper's: the scale it was decided at
    against the paper profile's (data, model, steps, seeds), or that it is the paper's setting."""
    if row["verdict"] == "not run":
        return f"{row['id']}: not run in this build."
    ours, paper = row.get("scale") or {}, _paper_scale(row["id"])
    keys = ("data", "model", "steps", "seeds", "p", "train_frac")
    differs = [k for k in keys if k in ours and k in paper and ours[k] != paper[k]]
    if not differs:
        return f"{row['id']} ({row['verdict']}): decided at the paper's settings ({scale_text(ours)})."
    return (
        f"{row['id']} ({row['verdict']}): decided at {scale_text(ours)}; the paper profile runs "
        f"{scale_text(paper)}."
    )


def found(profile: str, folder: Path | None = None) -> str:
    """'What this build found': per section, the count of each verdict and one line per claim with its
    verdict, estimate and interval, written from the stored rows."""
    lines = []
    by_section: dict[str, list[dict]] = {}
    for row in rows(profile, folder):
        by_section.setdefault(section(row["id"]), []).append(row)
    for key, title in SECTIONS.items():
        part = by_section.get(key, [])
        if not part:
            continue
        counts = pd.Series([r["verdict"].split(" (")[0] for r in part]).value_counts()
        lines.append(f"**{title}** ({', '.join(f'{n} {v}' for v, n in counts.items())}):\n")
        for r in part:
            shown = readable(r)
            evidence = (
                f"; estimate {shown['estimate']} {shown['interval']}".rstrip() if shown["estimate"] else ""
            )
            lines.append(f"- **{r['id']}** {r['claim']}: *{r['verdict']}*{evidence}.")
        lines.append("")
    return "\n".join(lines)


def to_json(profile: str, folder: Path | None = None) -> str:
    """Every row with its evidence, as the JSON that ``python -m paperlib claims --json`` prints."""
    return json.dumps(rows(profile, folder), indent=2, allow_nan=False)


def _rounded(value: Any, digits: int = 3) -> Any:
    """``value`` with every float to ``digits`` significant digits: what two builds must agree on (their low
    bits may differ with the machine and the thread count)."""
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v, digits) for v in value]
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if math.isfinite(value) else None
    return value


_COMPARED = ("verdict", "estimate", "interval", "null", "numbers")


def differences(old: list[dict], new: list[dict], digits: int = 3) -> list[str]:
    """One line per claim whose verdict or rounded numbers differ between two lists of rows (``rows``), e.g.
    'D1 estimate: 0.431 -> 0.428'; an empty list when the two builds agree."""
    before = {r["id"]: r for r in old}
    lines = []
    for row in new:
        was = before.get(row["id"], {})
        for key in _COMPARED:
            a, b = _rounded(was.get(key), digits), _rounded(row.get(key), digits)
            if a != b:
                lines.append(f"{row['id']} {key}: {_short_value(a)} -> {_short_value(b)}")
    return lines


def _short_value(value: Any, width: int = 80) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 1] + "…"


class Recorder:
    """A notebook's verdict book: ``verdict(check)`` records the check, prints it and remembers it."""

    def __init__(self, profile: str, notebook: str, scale: dict | None = None) -> None:
        check_profile(profile)
        self.profile, self.notebook, self.scale = profile, notebook, scale
        self.rows: list[Row] = []

    def __call__(self, check: Check, scale: dict | None = None) -> None:
        """Record and print ``check`` at ``scale`` (else the recorder's). Returns nothing, so a notebook cell
        shows only the printed line: the full-precision numbers stay in the stored row, where nbval does not
        compare them."""
        row = record(check, self.profile, self.notebook, scale if scale is not None else self.scale)
        self.rows.append(row)
        print(f"{row.id}: {row.verdict}  ({row.statistic}; threshold: {row.threshold})")

    def table(self) -> pd.DataFrame:
        """The verdicts recorded so far (id, verdict, threshold), for the notebook's summary cell."""
        return pd.DataFrame([asdict(r) for r in self.rows], columns=list(Row.__dataclass_fields__))[
            ["id", "verdict", "threshold"]
        ]
