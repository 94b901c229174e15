"""Verdict rows for the paper's claims and the scorecard built from them.

A claim is decided by its experiment's ``check_<ID>`` function (a ``verdicts.Check``); a notebook records the
check with ``Recorder``. Rows are stored per profile under ``<runs>/claims/<profile>/<id>.json`` so that the
scorecard (shell or book) can be rebuilt at any time from what was actually run.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from . import registry
from .configs import PROFILES, check_profile
from .storage import atomic_write_json, runs_root
from .verdicts import Check

__all__ = ["PROFILES", "COLUMNS", "Row", "Recorder", "claim_ids", "record", "scorecard", "scorecard_markdown"]

COLUMNS = ["id", "verdict", "statistic", "threshold", "profile", "notebook", "claim"]


@dataclass(frozen=True)
class Row:
    """A recorded verdict: the check, and where and at which profile it was decided."""

    id: str
    verdict: str
    statistic: str
    threshold: str
    profile: str
    notebook: str
    numbers: dict[str, Any] = field(default_factory=dict)


def claim_ids() -> list[str]:
    """Every claim id, in scorecard order."""
    return list(registry.claims())


def record(check: Check, profile: str, notebook: str) -> Row:
    """Store one verdict (replacing an earlier one for the same id and profile) and return its row."""
    if check.id not in registry.claims():
        raise ValueError(f"unknown claim id {check.id!r}; known ids: {', '.join(claim_ids())}")
    check_profile(profile)
    row = Row(check.id, check.verdict, check.statistic, check.threshold, profile, notebook, check.numbers)
    atomic_write_json(runs_root() / "claims" / profile / f"{check.id}.json", asdict(row))
    return row


def scorecard(profile: str) -> pd.DataFrame:
    """One row per claim id, in scorecard order; ids without a stored verdict are ``not run``."""
    check_profile(profile)
    folder = runs_root() / "claims" / profile
    rows = []
    for cid, claim in registry.claims().items():
        path = folder / f"{cid}.json"
        if path.exists():
            rows.append({**_read_row(path, claim), "claim": claim.text})
        else:
            empty = dict(verdict="not run", statistic="", threshold="", profile=profile)
            rows.append(dict(id=cid, **empty, notebook=claim.notebook, claim=claim.text))
    return pd.DataFrame(rows, columns=COLUMNS)


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


def scorecard_markdown(profile: str) -> str:
    """The scorecard as a Markdown table (for the book)."""
    df = scorecard(profile)
    head = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS) + "\n"
    body = "".join(
        "| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |\n"
        for row in df.itertuples(index=False)
    )
    return head + body


class Recorder:
    """A notebook's verdict book: ``verdict(check)`` records the check, prints it and remembers it."""

    def __init__(self, profile: str, notebook: str) -> None:
        check_profile(profile)
        self.profile, self.notebook = profile, notebook
        self.rows: list[Row] = []

    def __call__(self, check: Check) -> None:
        """Record and print ``check`` (returns nothing, so a notebook cell shows only the printed line: the
        full-precision numbers stay in the stored row, where nbval does not compare them)."""
        row = record(check, self.profile, self.notebook)
        self.rows.append(row)
        print(f"{row.id}: {row.verdict}  ({row.statistic}; threshold: {row.threshold})")

    def table(self) -> pd.DataFrame:
        """The verdicts recorded so far (id, verdict, threshold), for the notebook's summary cell."""
        return pd.DataFrame([asdict(r) for r in self.rows], columns=list(Row.__dataclass_fields__))[
            ["id", "verdict", "threshold"]
        ]
