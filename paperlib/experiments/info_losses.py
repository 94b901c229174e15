"""The protocol shared by Table 2 (``supervised_info``) and Table 1 (``freematch``) of Sec 6 (notebook 07).

For each term (MI, HDR), lambda is chosen among the study's candidates by the validation accuracy of selection
runs at a seed of their own (``select_seed``, ties go to the smaller lambda); the validation images are held out
of those runs' training data. Selection runs are not part of the tables: the reported runs use fresh seeds,
the same seeds for every method, so that each term is compared with its baseline paired by seed (same
initialization and data order). The tables report test accuracy (error) as mean and sample sd over seeds; the
verdicts use the paired differences, their 95 % t intervals and the smallest effect the seeds can detect.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd

from .. import runs
from ..intervals import LEVEL, Interval, detectable, paired_interval
from ..train.info_loss import InfoLoss
from ..verdicts import Check, Part, compose, composed, toward_failing
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
    select: Callable[[str, float], dict],
) -> list[dict]:
    """Rows of the reported runs (role ``chosen``: plain training and each term at its chosen lambda, for every
    seed) followed by the selection runs (role ``selection``). ``launch(kind, lambda, seed)`` runs (or reads)
    one reported run and returns its row; ``select(kind, lambda)`` one selection run."""
    out = [launch("", 0.0, s) | {"role": "chosen"} for s in seeds]
    chosen_rows, selection_rows = [], []
    for kind in kinds:
        candidates = [select(kind, lam) | {"role": "selection"} for lam in lambdas]
        chosen = _select(candidates)
        selection_rows += candidates
        chosen_rows += [launch(kind, chosen, s) | {"role": "chosen"} for s in seeds]
    return out + chosen_rows + selection_rows


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


def paired(
    frame: pd.DataFrame,
    reference: str,
    error: bool = False,
    paper: dict | None = None,
    level: float = LEVEL,
) -> pd.DataFrame:
    """Each method's reported runs against ``reference``'s, paired by seed (per label count where there are
    several): the mean difference in points (accuracy, or error with ``error``), its paired t interval at
    ``level`` (a claim's familywise level), the number of seeds, the smallest difference the seeds can detect
    at that level (``intervals.detectable``) and the paper's effect for that comparison (``paper``: method or
    (method, num_labels) -> points)."""
    chosen = frame[frame.role == "chosen"].copy()
    chosen["method"] = chosen.apply(method_name, axis=1)
    chosen["x"] = (1 - chosen.test_acc) * 100 if error else chosen.test_acc * 100
    groups = chosen.groupby("num_labels") if "num_labels" in chosen else [(None, chosen)]
    rows = []
    for count, g in groups:
        ref = g[g.method == reference].set_index("seed").x
        for method in [m for m in g.method.unique() if m != reference]:
            other = g[g.method == method].set_index("seed").x
            seeds = sorted(set(ref.index) & set(other.index))
            iv = paired_interval(other[seeds].tolist(), ref[seeds].tolist(), level=level)
            sd = float((other[seeds] - ref[seeds]).std()) if len(seeds) > 1 else float("nan")
            effect = (paper or {}).get((method, count), (paper or {}).get(method, float("nan")))
            rows.append(
                {
                    "method": method,
                    **({"num_labels": count} if count is not None else {}),
                    "diff": iv.estimate,
                    "low": iv.low,
                    "high": iv.high,
                    "seeds": len(seeds),
                    "detectable": detectable(sd, len(seeds), level=level),
                    "level": level,
                    "paper": effect,
                }
            )
    return pd.DataFrame(rows)


def decide_term(row: pd.Series, better: int) -> str:
    """One term against its baseline: 'holds' when the interval lies on the claimed side of 0 (``better``:
    +1 for accuracy, -1 for error), 'fails' when it lies on the other side, 'underpowered' when neither and
    the paper's effect is below the smallest detectable one, else 'inconclusive'."""
    low, high = better * row["low"], better * row["high"]
    if not (math.isfinite(low) and math.isfinite(high)):
        return "inconclusive"
    if min(low, high) > 0:
        return "holds"
    if max(low, high) < 0:
        return "fails"
    power = math.isfinite(row["detectable"]) and abs(row["paper"]) < row["detectable"]
    return "underpowered" if power else "inconclusive"


def term_part(name: str, row: pd.Series, better: int) -> Part:
    """One comparison of a term with its baseline as a part of E1 / E2 (``decide_term``), its severity how far
    the interval reaches toward the wrong side of 0 in half-widths (``verdicts.toward_failing``), so a row
    shows the weakest of the parts that decided it."""
    word = decide_term(row, better)
    level = float(row.get("level", LEVEL))
    pct = "" if level == LEVEL else f" ({100 * level:.4g} %)"
    method = f"paired t interval over {int(row.seeds)} seeds{pct}"
    evidence = Interval(float(row["diff"]), float(row.low), float(row.high), int(row.seeds), method)
    return Part(
        name,
        word == "holds",
        word == "fails",
        evidence,
        toward_failing(evidence, 0.0, better),
        "underpowered" if word == "underpowered" else "",
        0.0,
    )


def part_of(name: str, parts: list[Part], how: str) -> Part:
    """Parts composed into one part (E2: a variant over the label counts of a setting, "most"), carrying the
    shown part's interval and an 'underpowered' note where an undecided part has one."""
    verdict, shown = compose(parts, how)
    note = "underpowered" if any(p.note == "underpowered" and not (p.holds or p.fails) for p in parts) else ""
    return Part(
        name,
        verdict == "holds",
        verdict == "fails",
        shown.evidence if shown else None,
        shown.severity if shown else -math.inf,
        note,
        0.0,
    )


def term_name(key, r: pd.Series, counts: bool) -> str:
    """'fashion_mnist / wrn-10-1: cross-entropy + MI' (with ', 250 labels' where there are label counts)."""
    return f"{key}: {r.method}{f', {r.num_labels} labels' if counts else ''}"


def combine(
    claim_id: str,
    d: pd.DataFrame,
    better: int,
    unit: str,
    threshold: str,
    parts: list[Part] | None = None,
    how: str = "every",
    paper_note: str = "",
    **numbers,
) -> Check:
    """E1 / E2 from per-term decisions (``decide_term``), each interval at the familywise level over the rows
    of ``d`` (computed so by the caller). By default every term must hold and any failing term fails the claim
    (``verdicts.compose``); ``parts`` replaces the terms where a claim composes them its own way (E2: each
    variant over most label counts). Inconclusive rows are 'underpowered' where an undecided term's paper
    effect is below what the seeds can detect. ``paper_note`` names the data set of the paper's effects."""
    counts = "num_labels" in d
    terms = [term_part(term_name(k, r, counts), r, better) for (k, _), r in d.iterrows()]
    words = [decide_term(r, better) for _, r in d.iterrows()]
    text = "; ".join(
        f"{p.name} {r['diff']:+.2f} [{r.low:+.2f}, {r.high:+.2f}] {unit} (detectable {r.detectable:.2f}, "
        f"paper {r.paper:+.2f}): {w}"
        for p, (_, r), w in zip(terms, d.iterrows(), words, strict=True)
    )
    paper = ", ".join(
        f"{r.method}{f' {r.num_labels}' if counts else ''}: {r.paper:+.2f}" for _, r in d.iterrows()
    )
    return composed(
        claim_id,
        parts if parts is not None else terms,
        how,
        text,
        threshold,
        null=0.0,
        intervals=len(d),
        paper=f"{paper} ({paper_note})" if paper and paper_note else paper,
        terms=[
            [
                str(k),
                r.method,
                *([int(r.num_labels)] if counts else []),
                r["diff"],
                r.low,
                r.high,
                r.detectable,
                w,
            ]
            for ((k, _), r), w in zip(d.iterrows(), words, strict=True)
        ],
        **numbers,
    )


# The paper's effects, in points, per data set (fashion_mnist, which the paper does not run, is compared with
# CIFAR-10): Table 2 accuracy gains over cross-entropy, and Table 1 error changes from FreeMatch per label
# count (negative: error goes down).
PAPER_TABLE2_GAINS = {
    "cifar10": {"cross-entropy + MI": 0.17, "cross-entropy + HDR": 0.22},
    "cifar100": {"cross-entropy + MI": 0.04, "cross-entropy + HDR": 0.19},
}
PAPER_TABLE1_GAINS = {
    "cifar10": {
        ("FreeMatch + MI", 10): -3.20,
        ("FreeMatch + HDR", 10): -3.38,
        ("FreeMatch + MI", 40): -0.24,
        ("FreeMatch + HDR", 40): -0.27,
        ("FreeMatch + MI", 250): -0.32,
        ("FreeMatch + HDR", 250): -0.28,
    },
    "cifar100": {
        ("FreeMatch + MI", 400): -1.57,
        ("FreeMatch + HDR", 400): -0.67,
        ("FreeMatch + MI", 2500): -0.70,
        ("FreeMatch + HDR", 2500): -0.68,
    },
    "stl10": {
        ("FreeMatch + MI", 40): 1.05,
        ("FreeMatch + HDR", 40): -0.63,
        ("FreeMatch + MI", 1000): -0.39,
        ("FreeMatch + HDR", 1000): -0.33,
    },
}


def paper_effects(table: dict[str, dict], frame: pd.DataFrame) -> dict:
    """The paper's effects for the data set of ``frame`` (CIFAR-10's for a data set the paper does not run)."""
    return table.get(str(frame.dataset.iloc[0]), table["cifar10"]) if len(frame) else {}


DATASET_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "stl10": "STL-10"}


def paper_source(table: dict[str, dict], frames: dict[str, pd.DataFrame], what: str) -> str:
    """Which of the paper's data sets the reference effects come from, per setting: 'the paper's CIFAR-10
    Table 2 numbers, applied to fashion_mnist, which the paper does not run'."""
    out = []
    for frame in frames.values():
        if not len(frame):
            continue
        dataset = str(frame.dataset.iloc[0])
        if dataset in table:
            out.append(f"the paper's {DATASET_NAMES.get(dataset, dataset)} {what} numbers")
        else:
            out.append(
                f"the paper's CIFAR-10 {what} numbers, applied to {dataset}, which the paper does not run"
            )
    return "; ".join(dict.fromkeys(out))


def _moves(d: pd.DataFrame, base: str) -> str:
    return ", ".join(
        f"{r.method.removeprefix(base).strip()} {r.diff:+.2f} [{r.low:+.2f}, {r.high:+.2f}]"
        for r in d.itertuples()
    )


def _span(table: dict[str, dict]) -> str:
    sizes = [abs(v) for effects in table.values() for v in effects.values()]
    return f"{min(sizes):.2f} to {max(sizes):.2f}"


def reading(sup: dict[str, pd.DataFrame], ssl: dict[str, pd.DataFrame]) -> str:
    """The chapter's paragraph on what this build's Tables 1 and 2 show, written from the runs (paired
    differences by seed with their 95 % intervals, ``paired``), so it is right under every profile."""
    sentences, diffs = [], []
    for name, frame in sup.items():
        d = paired(frame, "cross-entropy", paper=paper_effects(PAPER_TABLE2_GAINS, frame))
        diffs.append(d)
        sentences.append(
            f"In Table 2 ({name}) the terms change test accuracy by {_moves(d, 'cross-entropy')} points "
            "(mean paired difference over seeds, 95 % interval)."
        )
    for name, frame in ssl.items():
        d = paired(frame, "FreeMatch", error=True, paper=paper_effects(PAPER_TABLE1_GAINS, frame))
        terms, base = d[d.method.str.startswith("FreeMatch")], d[d.method == "supervised only"]
        diffs.append(terms)
        by_count = "; ".join(
            f"{n} labels: {_moves(terms[terms.num_labels == n], 'FreeMatch')}"
            for n in terms.num_labels.unique()
        )
        sentences.append(f"In Table 1 ({name}) they change FreeMatch's test error by {by_count} points.")
        vs = ", ".join(
            f"{-r.diff:+.2f} [{-r.high:+.2f}, {-r.low:+.2f}] points at {r.num_labels} labels"
            for r in base.itertuples()
        )
        sentences.append(
            f"FreeMatch's test error minus that of supervised training on the same labeled images: {vs}."
        )
    if diffs:
        all_d = pd.concat(diffs)
        straddle = int(((all_d.low <= 0) & (all_d.high >= 0)).sum())
        mde = all_d.detectable.dropna()
        band = f"{mde.min():.2f} to {mde.max():.2f}" if len(mde) else "not computable (one seed)"
        sentences.append(
            f"{straddle} of the {len(all_d)} intervals between a term and its baseline contain 0. The smallest "
            f"differences these seeds can detect (80 % power) are {band} points, against the paper's effects "
            f"of {_span(PAPER_TABLE2_GAINS)} points (Table 2) and {_span(PAPER_TABLE1_GAINS)} points (Table 1)."
        )
    return " ".join(sentences)
