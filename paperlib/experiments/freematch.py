"""Table 1 of Sec 6 (notebook 07): a supervised-only baseline on the labeled images, FreeMatch, FreeMatch + MI
and FreeMatch + HDR per number of labels, lambda chosen on a validation split (``info_losses``), and the
claim E2."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .. import runs
from ..configs import (
    BOOL,
    NONNEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    SettingError,
    group_of,
    setting,
    tuple_of,
    validate,
)
from ..data import NUM_CLASSES
from ..intervals import LEVEL, familywise
from ..train import freematch
from ..train.freematch import FreeMatchConfig
from ..train.info_loss import KINDS
from ..train.supervised import Recipe, TrainConfig
from ..verdicts import Check
from . import common
from . import info_losses as il
from .spec import SEEDS, Experiment

STORE = "freematch"
VARIANTS = ("FreeMatch + MI", "FreeMatch + HDR")

# The paper's Table 1, test error %, printed beside ours.
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
# The paper's other SSL settings: (data set, model, label counts, weak-augmentation padding).
PAPER_SSL_SETTINGS = (
    ("cifar100", "wrn-28-8", (400, 2500), 4),
    ("stl10", "wrn-37-2", (40, 1000), 12),
)


@dataclass(frozen=True)
class SemiSupervisedInfo:
    """For each number of labels: the baseline, FreeMatch and FreeMatch with each term. Lambda is chosen per
    term at ``select_at`` labels by the validation accuracy of selection runs at ``select_seed`` (not one of
    the reported ``seeds``), then used at every count."""

    freematch: FreeMatchConfig = setting(rule=group_of(FreeMatchConfig))
    label_counts: tuple[int, ...] = setting((40, 250), tuple_of(POSITIVE_INT))
    seeds: tuple[int, ...] = setting((0, 1), SEEDS)
    lambdas: tuple[float, ...] = setting((0.1, 1.0), tuple_of(POSITIVE))
    select_at: int = setting(250, POSITIVE_INT)
    select_seed: int = setting(100, NONNEGATIVE_INT)
    detach_head: bool = setting(False, BOOL)

    def __post_init__(self) -> None:
        validate(self)
        if self.select_at not in self.label_counts:
            raise SettingError("select_at", self.select_at, f"one of label_counts {self.label_counts}")
        if self.select_seed in self.seeds:
            raise SettingError("select_seed", self.select_seed, f"a seed outside seeds {self.seeds}")


def _sweep(study: SemiSupervisedInfo, profile: str, overrides: dict) -> list:
    """The paper profile adds CIFAR-100 and STL-10 (Table 1's columns), unless a data set was asked for."""
    out = [study]
    if profile == "paper" and not common.names_setting(overrides, "dataset"):
        for dataset, model, counts, pad in PAPER_SSL_SETTINGS:
            fm = common.with_recipe(study.freematch, dataset=dataset, model=model)
            fm = dataclasses.replace(fm, pad=pad)
            out.append(dataclasses.replace(study, freematch=fm, label_counts=counts, select_at=counts[-1]))
    return out


def baseline_config(fm: FreeMatchConfig, num_labels: int, seed: int) -> TrainConfig:
    """Supervised-only training on FreeMatch's labeled images: same recipe (hold-out, steps, batch), the same
    labeled draw, and the weak augmentation."""
    per_class = num_labels // NUM_CLASSES[fm.recipe.dataset]
    return TrainConfig(recipe=fm.recipe, train_per_class=per_class, augment=True, seed=seed)


def run_study(study: SemiSupervisedInfo) -> pd.DataFrame:
    """One row per run (baseline, FreeMatch, candidates and chosen), per label count."""
    fm, r = study.freematch, study.freematch.recipe

    def launch_at(num_labels: int) -> Callable[[str, float, int], dict]:
        def launch(kind: str, lam: float, seed: int) -> dict:
            spec = il.loss_spec(kind, lam, study.detach_head)
            cfg = dataclasses.replace(fm, num_labels=num_labels, seed=seed, extra_loss=spec)
            run = runs.run(STORE, cfg, freematch.train)
            labels = dict(dataset=r.dataset, model=r.model, num_labels=num_labels, method="FreeMatch")
            return il.result_row(run, **labels, loss=kind, **{"lambda": lam}, seed=seed)

        return launch

    selection = launch_at(study.select_at)

    def select(kind: str, lam: float) -> dict:
        return selection(kind, lam, study.select_seed)

    rows, selected = [], []
    for num_labels in study.label_counts:
        for seed in study.seeds:
            run = common.train_supervised(baseline_config(fm, num_labels, seed))
            base = dict(dataset=r.dataset, model=r.model, num_labels=num_labels, method="supervised")
            rows.append(il.result_row(run, **base, loss="", **{"lambda": 0.0}, seed=seed, role="chosen"))
        out = il.with_lambda_chosen(KINDS, study.lambdas, study.seeds, launch_at(num_labels), select)
        rows += [row for row in out if row["role"] == "chosen"]
        selected = [row for row in out if row["role"] == "selection"]  # the same runs at every count
    return pd.DataFrame(rows + selected)


def run_all(profile: str, **overrides: Any) -> dict[str, pd.DataFrame]:
    """Each setting's table of runs, by setting name."""
    return {common.setting(s.freematch.recipe): run_study(s) for s in SPEC.sweep(profile, **overrides)}


def differences(frames: dict[str, pd.DataFrame], level: float = LEVEL) -> pd.DataFrame:
    """Each FreeMatch variant's test error minus FreeMatch's, paired by seed, with its interval at ``level``,
    per setting and label count."""
    d = pd.concat(
        {
            n: il.paired(
                f, "FreeMatch", error=True, paper=il.paper_effects(il.PAPER_TABLE1_GAINS, f), level=level
            )
            for n, f in frames.items()
        },
        names=["setting"],
    )
    return d[d.method.str.startswith("FreeMatch")]


def decided(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The differences as E2 decides them: each interval at the familywise level over all comparisons
    (variants x label counts x settings, Bonferroni; column ``level``), so a table printed beside the verdict shows its intervals."""
    return differences(frames, familywise(max(1, len(differences(frames)))))


def check_E2(frames: dict[str, pd.DataFrame]) -> Check:
    """E2: "FreeMatch + MI / + HDR beat FreeMatch in most label settings": each variant (composition: each
    part), in every setting, lowers FreeMatch's test error at most label counts (composition: most parts).
    Each comparison (variant x label count x setting) is paired by seed with its t interval at the familywise
    level over all comparisons (Bonferroni: 97.5 % for two variants at one count). A variant holds in a setting
    when its interval lies below 0 at more than half of the counts, fails when it lies above 0 (error up) at
    half of them or more; the claim holds when every variant holds in every setting and fails when one fails
    (``verdicts.compose``); inconclusive otherwise (underpowered when an undecided count's paper effect is
    below what the seeds can detect), or when a setting lacks FreeMatch or a variant. With one label count
    (the cpu profile), "most label settings" is that one count, and the row says so. The reference effects are
    the paper's CIFAR-10 Table 1 numbers wherever the data set is one the paper does not run."""
    have = [set(f[f.role == "chosen"].apply(il.method_name, axis=1)) for f in frames.values()]
    if not frames or not all({"FreeMatch", *VARIANTS} <= h for h in have):
        return Check.of("E2", False, "a setting lacks FreeMatch or a variant", "", inconclusive=True)
    d = decided(frames)
    words = d.apply(il.decide_term, axis=1, better=-1)
    keys = [d.index.get_level_values("setting"), d.method]
    share = words.groupby(keys).agg(lambda w: ((w == "holds").mean(), (w == "fails").mean()))
    parts = [
        il.part_of(
            f"{n}: {m}",
            [il.term_part(il.term_name(n, r, True), r, -1) for _, r in g.iterrows()],
            "most",
        )
        for (n, m), g in d.groupby(keys, sort=False)
    ]
    counts = {n: sorted(g.num_labels.unique()) for n, g in d.groupby(level="setting")}
    single = [f"{n} ({c[0]} labels)" for n, c in counts.items() if len(c) == 1]
    threshold = "each variant's interval below 0 at most label counts"
    if single:
        threshold += f"; at one label count in {', '.join(single)}, 'most label counts' is that one count"
    return il.combine(
        "E2",
        d,
        -1,
        "error points",
        threshold,
        parts=parts,
        paper_note=il.paper_source(il.PAPER_TABLE1_GAINS, frames, "Table 1"),
        share_holds_fails={f"{n} {m}": list(v) for (n, m), v in share.items()},
    )


def report(profile: str, **overrides: Any) -> str:
    tables = []
    for name, frame in run_all(profile, **overrides).items():
        table = il.formatted(il.summarize(frame, error=True), "num_labels")
        tables.append(f"{name}, test error %, mean ± sd over seeds:\n{table.to_string()}")
    return "\n\n".join(tables)


_FM_FMNIST = Recipe(
    dataset="fashion_mnist", model="wrn-10-1", bn_momentum=0.1, batch_size=16, val_per_class=100
)

SPEC = Experiment(
    name="freematch",
    title="Information losses in FreeMatch (Table 1)",
    notebook="07",
    profiles={
        "smoke": lambda: SemiSupervisedInfo(
            freematch=FreeMatchConfig(
                # lr 0.1: at the recipe's 0.03, 20 steps left FreeMatch (raw and EMA weights) at chance,
                # 90.00 % error at every seed, so E2's smoke differences could not move; 0.1 costs nothing.
                recipe=dataclasses.replace(
                    _FM_FMNIST, steps=20, eval_every=20, ckpt_every=20, eval_per_class=20, lr=0.1
                ),
                ema_model=0.8,
                uratio=3,
            ),
            seeds=(0, 1),
        ),
        # 300 steps with 16 labeled + 48 unlabeled images each (uratio 3 against the paper's 7; each
        # unlabeled image in a weak and a strong view), so that three seeds of every method fit into the cpu
        # book's hour: an EMA momentum of 0.999 would still weigh the initialization heavily, so 0.99 here.
        # One label count (250, where lambda is chosen) for the same hour: a second count costs nine FreeMatch
        # runs, and at 40 labels the variants' spread over three seeds was two to three times larger. (This
        # choice dates from 2026-11-30, after the first cpu build of 2026-11-28 had run 40 and 250 labels; E2's
        # row states that "most label counts" rests on this one count. E2's "more than half of the counts" was
        # set on 2026-11-28, commit 58b0154, before chapter 07's first cpu run.)
        "cpu": lambda: SemiSupervisedInfo(
            freematch=FreeMatchConfig(
                recipe=dataclasses.replace(_FM_FMNIST, steps=300, eval_every=300, ckpt_every=150),
                ema_model=0.99,
                uratio=3,
            ),
            label_counts=(250,),
            seeds=(0, 1, 2),
        ),
        # The paper reports no validation split; choosing lambda needs one, so 100 images per class are held out.
        "paper": lambda: SemiSupervisedInfo(
            freematch=FreeMatchConfig(
                recipe=Recipe(
                    dataset="cifar10", model="wrn-28-2", eval_every=2**14, ckpt_every=2**14, val_per_class=100
                )
            ),
            label_counts=(10, 40, 250),
            seeds=(0, 1, 2),
        ),
    },
    store=STORE,
    sweep_fn=_sweep,
    report=report,
    claims={"E2": "FreeMatch + MI / + HDR beat FreeMatch in most label settings (Table 1)"},
)
