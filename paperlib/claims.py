"""Verdict rows for the paper's claims and the scorecard built from them.

A notebook decides each verdict from a statistic and a threshold fixed before the run, then calls
``record``; the rows are stored per profile under ``<runs>/claims/<profile>/<id>.json`` so that the scorecard
(shell or book) can be rebuilt at any time from what was actually run.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import pandas as pd

from .storage import atomic_write_json, runs_root

VERDICTS = ("holds", "fails", "inconclusive")
PROFILES = ("smoke", "cpu", "paper")

# id -> (notebook, the claim in a line). The ids are those of shared/CLAIMS.md.
CLAIMS: dict[str, tuple[str, str]] = {
    "T1": ("01", "At neural collapse HDR(G(W), G(M)) = 0 and MIR equals the closed form of Thm 4.2"),
    "T2": ("01", "The same values hold between sample features and their class heads (Cor 4.3)"),
    "T3": ("01", "MIR and HDR lie in [0, 1]"),
    "T4": ("01", "Lemma 4.5 and Thm 4.6 bounds hold; exp(H(G(Z))) tracks rank(Z)"),
    "D1": ("02", "Test accuracy and MIR move together; MIR rises toward its collapse value"),
    "D2": ("02", "HDR falls during training, opposite to accuracy"),
    "L1": ("03", "Where LMC holds, MIR and HDR stay almost constant along the path"),
    "L2": ("03", "Where LMC fails, MIR rises extra at the barrier and HDR dips near the ends"),
    "L3": ("03", "A lower learning rate restores LMC and shrinks the fluctuations"),
    "S1": ("04", "Accuracy, MIR and HDR change little across label-smoothing levels"),
    "P1": ("05", "Pruned + fine-tuned features keep a high MIR with the original ones up to 90% sparsity"),
    "G1": ("06", "Grokking: train accuracy hits 100% early, test accuracy much later"),
    "G2": ("06", "Two phases: MIR up / HDR down, then MIR down / HDR up; HDR drops after grokking"),
    "E1": ("07", "-lambda MI or +lambda |dH| slightly improves fully supervised accuracy (Table 2)"),
    "E2": ("07", "FreeMatch + MI / + HDR beat FreeMatch in most label settings (Table 1)"),
    "X1": ("01/02", "The batch-mean estimate is biased against the exact dataset-level value"),
    "X2": ("02", "MIR and HDR track the classical neural-collapse measures NC1-NC3"),
}

COLUMNS = ["id", "verdict", "statistic", "threshold", "profile", "notebook", "claim"]


@dataclass(frozen=True)
class Verdict:
    id: str
    verdict: str
    statistic: str
    threshold: str
    profile: str
    notebook: str


def _check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")


def record(
    claim_id: str, verdict: str, statistic: str, threshold: str, profile: str, notebook: str
) -> Verdict:
    """Store one verdict (replacing an earlier one for the same id and profile) and return it."""
    if claim_id not in CLAIMS:
        raise ValueError(f"unknown claim id {claim_id!r}; known ids: {', '.join(CLAIMS)}")
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    _check_profile(profile)
    row = Verdict(claim_id, verdict, statistic, threshold, profile, notebook)
    atomic_write_json(runs_root() / "claims" / profile / f"{claim_id}.json", asdict(row))
    return row


def decide(ok: bool, inconclusive: bool = False) -> str:
    """The verdict word for a pre-registered test: inconclusive wins, then holds/fails."""
    return "inconclusive" if inconclusive else ("holds" if ok else "fails")


def scorecard(profile: str) -> pd.DataFrame:
    """One row per claim id, in the order of CLAIMS.md; ids without a stored verdict are ``not run``."""
    _check_profile(profile)
    folder = runs_root() / "claims" / profile
    rows = []
    for cid, (nb, text) in CLAIMS.items():
        path = folder / f"{cid}.json"
        if path.exists():
            stored = json.loads(path.read_text())
            stored["claim"] = text
            rows.append(stored)
        else:
            rows.append(
                dict(
                    id=cid,
                    verdict="not run",
                    statistic="",
                    threshold="",
                    profile=profile,
                    notebook=nb,
                    claim=text,
                )
            )
    return pd.DataFrame(rows, columns=COLUMNS)


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
    """A notebook's verdict book: ``verdict(id, ok, statistic, threshold)`` records, prints and remembers."""

    def __init__(self, profile: str, notebook: str) -> None:
        _check_profile(profile)
        self.profile, self.notebook = profile, notebook
        self.rows: list[Verdict] = []

    def __call__(
        self, claim_id: str, ok: bool, statistic: str, threshold: str, inconclusive: bool = False
    ) -> None:
        row = record(
            claim_id, decide(bool(ok), inconclusive), statistic, threshold, self.profile, self.notebook
        )
        self.rows.append(row)
        print(f"{row.id}: {row.verdict}  ({statistic}; threshold: {threshold})")

    def table(self) -> pd.DataFrame:
        """The verdicts recorded so far (id, verdict, threshold), for the notebook's summary cell."""
        return pd.DataFrame([asdict(r) for r in self.rows], columns=list(Verdict.__dataclass_fields__))[
            ["id", "verdict", "threshold"]
        ]
