"""The protocol shared by Table 2 (``supervised_info``) and Table 1 (``freematch``) of Sec 6 (notebook 07).

For each term (MI, HDR), lambda is chosen among the study's candidates by the validation accuracy of the first
seed (ties go to the smaller lambda); the validation images are held out of the training data and never
trained on. The remaining seeds then run with the chosen lambda, and the tables report test accuracy (error)
as mean and sample standard deviation over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd

from .. import runs
from ..train.info_loss import InfoLoss
from .common import last

METHOD_NAMES = {"": "", "mi": " + MI", "hdr": " + HDR"}


def loss_spec(kind: str, lam: float, detach_head: bool) -> str:
    """The ``extra_loss`` string of a run (see ``train.info_loss``)."""
    if not kind:
        return ""
    spec = f"{kind}:{lam:g}"
    InfoLoss.parse(spec)  # fail early on a bad kind or weight
    return spec + (":detach" if detach_head else "")


def result_row(run: runs.Run, **labels) -> dict:
    """One table row: ``labels`` and the run's final validation and test accuracy and test MIR / HDR."""
    return {
        **labels,
        "val_acc": last(run, "val", "acc"),
        "test_acc": last(run, "test", "acc"),
        "mir": last(run, "test", "mir"),
        "hdr": last(run, "test", "hdr"),
    }


def _select(candidates: list[dict]) -> float:
    """The lambda with the best validation accuracy (first, i.e. smallest, on a tie)."""
    if len(candidates) > 1 and any(math.isnan(r["val_acc"]) for r in candidates):
        raise ValueError(
            "choosing lambda needs a validation split: set val_per_class > 0 (or give one lambda)"
        )
    best = max(candidates, key=lambda r: (r["val_acc"], -r["lambda"]))
    return best["lambda"]


def with_lambda_chosen(
    kinds: tuple[str, ...],
    lambdas: tuple[float, ...],
    seeds: tuple[int, ...],
    launch: Callable[[str, float, int], dict],
    select: Callable[[str], list[dict]] | None = None,
) -> list[dict]:
    """Rows for plain training and each term: candidates at the first seed, the chosen lambda for the rest.
    ``launch(kind, lambda, seed)`` runs (or reads) one run and returns its row; ``select(kind)`` overrides
    where the candidates come from (Table 1 selects at one label count and reuses lambda elsewhere)."""
    out = [launch("", 0.0, s) for s in seeds]
    for kind in kinds:
        candidates = select(kind) if select else [launch(kind, lam, seeds[0]) for lam in lambdas]
        chosen = _select(candidates)
        for r in candidates:
            r["role"] = "chosen" if r["lambda"] == chosen else "candidate"
        out += [r for r in candidates if select is None]
        out += [launch(kind, chosen, s) | {"role": "chosen"} for s in seeds if select or s != seeds[0]]
    for r in out:
        r.setdefault("role", "chosen")
    return out


# ------------------------------------------------------------------------------------------------ summaries


def method_name(row: pd.Series) -> str:
    """'cross-entropy + MI' (Table 2), 'supervised only' / 'FreeMatch + HDR' (Table 1)."""
    base = {"supervised": "supervised only", "FreeMatch": "FreeMatch"}.get(row.get("method"), "cross-entropy")
    return base + METHOD_NAMES[row["loss"]]


def summarize(frame: pd.DataFrame, value: str = "test_acc", scale: float = 100.0, error: bool = False):
    """Mean ± sd (over seeds) of the chosen runs, in percent; ``error`` gives 100 - accuracy."""
    chosen = frame[frame.role == "chosen"].copy()
    chosen["method"] = chosen.apply(method_name, axis=1)
    chosen["x"] = (1 - chosen[value]) * scale if error else chosen[value] * scale
    keys = ["method"] + (["num_labels"] if "num_labels" in chosen else [])
    stats = chosen.groupby(keys, sort=False).agg(
        mean=("x", "mean"), sd=("x", "std"), seeds=("seed", "nunique"), lam=("lambda", "first")
    )
    return stats.reset_index()


def formatted(stats: pd.DataFrame, columns: str | None = None) -> pd.DataFrame:
    """``mean ± sd`` strings; with ``columns`` (e.g. ``num_labels``) one column per value of that key."""
    cell = stats["mean"].map("{:.2f}".format) + " ± " + stats["sd"].fillna(0).map("{:.2f}".format)
    table = stats.assign(cell=cell)
    if columns is None:
        return table.set_index("method")[["cell", "seeds", "lam"]]
    return table.pivot(index="method", columns=columns, values="cell").reindex(table.method.unique())


def against(stats: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Each method's mean minus the ``reference`` method's (per label count where there are several), with the
    standard error of the difference from the two seed spreads."""
    keys = ["num_labels"] if "num_labels" in stats else []
    ref = stats[stats.method == reference].set_index(keys) if keys else stats[stats.method == reference]
    rows = []
    for r in stats[stats.method != reference].itertuples():
        base = ref.loc[r.num_labels] if keys else ref.iloc[0]
        se = ((r.sd**2 / r.seeds) + (base["sd"] ** 2 / base["seeds"])) ** 0.5
        rows.append(
            {"method": r.method, **{k: getattr(r, k) for k in keys}, "diff": r.mean - base["mean"], "se": se}
        )
    return pd.DataFrame(rows)


PAPER_SUPERVISED_GAINS = (0.04, 0.22)  # Table 2 of the paper: the terms' gains over cross-entropy, in points


def _moves(d: pd.DataFrame, base: str) -> str:
    return ", ".join(
        f"{r.method.removeprefix(base).strip()} {r.diff:+.2f} ± {r.se:.2f}" for r in d.itertuples()
    )


def reading(sup_stats: dict[str, pd.DataFrame], ssl_stats: dict[str, pd.DataFrame]) -> str:
    """The chapter's paragraph on what this build's Tables 1 and 2 show, written from the numbers (means and
    standard errors over seeds, as ``summarize`` gives them), so it is right under every profile."""
    sentences, diffs = [], []
    for name, stats in sup_stats.items():
        d = against(stats, "cross-entropy")
        diffs.append(d)
        sentences.append(
            f"In Table 2 ({name}) the terms change mean test accuracy by {_moves(d, 'cross-entropy')} points."
        )
    for name, stats in ssl_stats.items():
        d = against(stats, "FreeMatch")
        terms, base = d[d.method.str.startswith("FreeMatch")], d[d.method == "supervised only"]
        diffs.append(terms)
        by_count = "; ".join(
            f"{n} labels: {_moves(terms[terms.num_labels == n], 'FreeMatch')}"
            for n in terms.num_labels.unique()
        )
        sentences.append(f"In Table 1 ({name}) they change FreeMatch's mean test error by {by_count} points.")
        vs = ", ".join(
            f"{-r.diff:+.2f} ± {r.se:.2f} points at {r.num_labels} labels" for r in base.itertuples()
        )
        sentences.append(
            f"FreeMatch's mean test error minus that of supervised training on the same labeled images: {vs}."
        )
    if diffs:
        all_d = pd.concat(diffs)
        noise = int((all_d["diff"].abs() <= 2 * all_d.se).sum())
        band = float((2 * all_d.se).min())
        sentences.append(
            f"{noise} of the {len(all_d)} differences between a term and its baseline lie within two standard "
            f"errors, that is, within seed noise; the narrowest two-standard-error band here is {band:.2f} "
            f"points, against the paper's supervised gains of {PAPER_SUPERVISED_GAINS[0]} to "
            f"{PAPER_SUPERVISED_GAINS[1]} points."
        )
    return " ".join(sentences)
