"""Information losses in training (Sec 6, notebook 07): Table 2 (fully supervised) and Table 1 (FreeMatch).

Both tables follow one protocol. For each term (MI, HDR), lambda is chosen among the study's candidates by
the validation accuracy of the first seed (ties go to the smaller lambda); the validation images are held out
of the training data and never trained on. The remaining seeds then run with the chosen lambda, and the
tables report test accuracy (error) as mean and sample standard deviation over seeds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import pandas as pd

from .. import runs
from ..configs import SemiSupervisedInfo, SupervisedInfo
from ..data import NUM_CLASSES
from ..train import freematch, supervised
from ..train.info_loss import KINDS, InfoLoss
from .supervised import STORE

FREEMATCH_STORE = "freematch"
METHOD_NAMES = {"": "", "mi": " + MI", "hdr": " + HDR"}

# The paper's numbers, printed beside ours (accuracy % for Table 2, error % for Table 1).
PAPER_TABLE2 = pd.DataFrame(
    {"CIFAR-10 / WRN-28-2": [95.35, 95.52, 95.57], "CIFAR-100 / WRN-28-8": [80.77, 80.81, 80.96]},
    index=["cross-entropy", "cross-entropy + MI", "cross-entropy + HDR"],
)
PAPER_TABLE1 = pd.DataFrame(
    {
        "CIFAR-10 10": ["8.07 ± 4.24", "4.87 ± 0.66", "4.69 ± 0.16"],
        "CIFAR-10 40": ["4.90 ± 0.04", "4.66 ± 0.13", "4.63 ± 0.25"],
        "CIFAR-10 250": ["4.88 ± 0.18", "4.56 ± 0.15", "4.60 ± 0.15"],
        "CIFAR-100 400": ["37.98 ± 0.42", "36.41 ± 1.91", "37.31 ± 1.96"],
        "CIFAR-100 2500": ["26.47 ± 0.20", "25.77 ± 0.35", "25.79 ± 0.41"],
        "STL-10 40": ["15.56 ± 0.55", "16.61 ± 1.19", "14.93 ± 3.28"],
        "STL-10 1000": ["5.63 ± 0.15", "5.24 ± 0.17", "5.30 ± 0.18"],
    },
    index=["FreeMatch", "FreeMatch + MI", "FreeMatch + HDR"],
)


def loss_spec(kind: str, lam: float, detach_head: bool) -> str:
    """The ``extra_loss`` string of a run (see ``train.info_loss``)."""
    if not kind:
        return ""
    spec = f"{kind}:{lam:g}"
    InfoLoss.parse(spec)  # fail early on a bad kind or weight
    return spec + (":detach" if detach_head else "")


def _last(run: runs.Run, split: str, metric: str) -> float:
    rows = run.metrics()
    rows = rows[(rows.split == split) & (rows.metric == metric)]
    return float(rows.sort_values("step").value.iloc[-1]) if len(rows) else math.nan


def _row(run: runs.Run, **labels) -> dict:
    return {
        **labels,
        "val_acc": _last(run, "val", "acc"),
        "test_acc": _last(run, "test", "acc"),
        "mir": _last(run, "test", "mir"),
        "hdr": _last(run, "test", "hdr"),
    }


def _select(candidates: list[dict]) -> float:
    """The lambda with the best validation accuracy (first, i.e. smallest, on a tie)."""
    if len(candidates) > 1 and any(math.isnan(r["val_acc"]) for r in candidates):
        raise ValueError(
            "choosing lambda needs a validation split: set val_per_class > 0 (or give one lambda)"
        )
    best = max(candidates, key=lambda r: (r["val_acc"], -r["lambda"]))
    return best["lambda"]


def _with_lambda_chosen(
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


# ---------------------------------------------------------------------------------------------------- Table 2


def run_supervised(study: SupervisedInfo) -> pd.DataFrame:
    """One row per run of Table 2 (plain, candidates and chosen), trained or read from the store."""

    def launch(kind: str, lam: float, seed: int) -> dict:
        cfg = dataclasses.replace(study.train, seed=seed, extra_loss=loss_spec(kind, lam, study.detach_head))
        run = runs.run(STORE, cfg, supervised.train)
        return _row(run, dataset=cfg.dataset, model=cfg.model, loss=kind, **{"lambda": lam}, seed=seed)

    return pd.DataFrame(_with_lambda_chosen(KINDS, study.lambdas, study.seeds, launch))


# ---------------------------------------------------------------------------------------------------- Table 1


def baseline_config(fm: freematch.FreeMatchConfig, num_labels: int, seed: int) -> supervised.TrainConfig:
    """Supervised-only training on FreeMatch's labeled images (same hold-out, same draw, same steps and
    batch), with the weak augmentation."""
    return supervised.TrainConfig(
        dataset=fm.dataset,
        model=fm.model,
        bn_momentum=fm.bn_momentum,
        train_per_class=num_labels // NUM_CLASSES[fm.dataset],
        eval_per_class=fm.eval_per_class,
        steps=fm.steps,
        batch_size=fm.batch_size,
        lr=fm.lr,
        weight_decay=fm.weight_decay,
        augment=True,
        eval_every=fm.eval_every,
        ckpt_every=fm.ckpt_every,
        seed=seed,
        val_per_class=fm.val_per_class,
    )


def run_semi_supervised(study: SemiSupervisedInfo) -> pd.DataFrame:
    """One row per run of Table 1 (baseline, FreeMatch, candidates and chosen), per label count."""
    fm = study.freematch
    if study.select_at not in study.label_counts:
        raise ValueError(f"select_at={study.select_at} must be one of label_counts {study.label_counts}")

    def launch_at(num_labels: int) -> Callable[[str, float, int], dict]:
        def launch(kind: str, lam: float, seed: int) -> dict:
            spec = loss_spec(kind, lam, study.detach_head)
            cfg = dataclasses.replace(fm, num_labels=num_labels, seed=seed, extra_loss=spec)
            run = runs.run(FREEMATCH_STORE, cfg, freematch.train)
            labels = dict(dataset=fm.dataset, model=fm.model, num_labels=num_labels, method="FreeMatch")
            return _row(run, **labels, loss=kind, **{"lambda": lam}, seed=seed)

        return launch

    selection = launch_at(study.select_at)

    def select(kind: str) -> list[dict]:
        return [selection(kind, lam, study.seeds[0]) for lam in study.lambdas]

    rows = []
    for num_labels in study.label_counts:
        for seed in study.seeds:
            run = runs.run(STORE, baseline_config(fm, num_labels, seed), supervised.train)
            base = dict(dataset=fm.dataset, model=fm.model, num_labels=num_labels, method="supervised")
            rows.append(_row(run, **base, loss="", **{"lambda": 0.0}, seed=seed, role="chosen"))
        rows += _with_lambda_chosen(KINDS, study.lambdas, study.seeds, launch_at(num_labels), select)
    candidates = [dict(r, role="candidate") for kind in KINDS for r in select(kind)]
    chosen = {(r["loss"], r["lambda"]) for r in rows if r["loss"]}
    rows += [r for r in candidates if (r["loss"], r["lambda"]) not in chosen]
    return pd.DataFrame(rows)


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
