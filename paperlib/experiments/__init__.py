"""Experiment procedures built from the metrics, theory, models and trainers."""

from __future__ import annotations

from ..runs import Run

RUNNABLE = ("dynamics", "label_smoothing", "lmc", "pruning", "grokking", "supervised_info", "freematch")


def describe(run: Run) -> str:
    """One line on a finished run: its folder and its last accuracies and ratios."""
    rows = run.metrics()
    last = rows[(rows.step == rows.step.max()) & (rows.metric.isin(["acc", "mir", "hdr"]))]
    values = "  ".join(f"{r.split} {r.metric} {r.value:.4f}" for r in last.itertuples())
    return f"{run.folder}  step {int(rows.step.max())}  {values}"


def run_from_shell(name: str, profile: str, **overrides) -> str:
    """Run experiment ``name`` (from the store where done) and return a short report for the terminal."""
    from .. import configs

    if name in ("dynamics", "label_smoothing"):
        from .supervised import run_all

        return "\n".join(describe(r) for r in run_all(name, profile, **overrides))
    if name == "grokking":
        from .grokking import run_all

        return "\n".join(describe(r) for r in run_all(name, profile, **overrides))
    if name == "lmc":
        from . import lmc

        table = lmc.sweep(configs.get(name, profile, **overrides))
        barriers = table.groupby("lr").apply(lmc.barrier, include_groups=False)
        return "accuracy barrier along the path, per learning rate:\n" + barriers.round(4).to_string()
    if name == "pruning":
        from . import pruning

        table = pruning.run(configs.get(name, profile, **overrides))
        cols = ["sparsity", "reached", "acc_pruned", "acc_finetuned", "mir", "hdr"]
        return table[cols].round(4).to_string(index=False)
    if name in ("supervised_info", "freematch"):
        from . import info_losses as il

        studies = configs.sweep(name, profile, **overrides)
        go = il.run_supervised if name == "supervised_info" else il.run_semi_supervised
        tables = []
        for study in studies:
            stats = il.summarize(go(study), error=name == "freematch")
            cfg = study.train if name == "supervised_info" else study.freematch
            what = "test accuracy %" if name == "supervised_info" else "test error %"
            table = il.formatted(stats, None if name == "supervised_info" else "num_labels")
            tables.append(f"{cfg.dataset} / {cfg.model}, {what}, mean ± sd over seeds:\n{table.to_string()}")
        return "\n\n".join(tables)
    raise ValueError(f"unknown experiment {name!r}; runnable: {', '.join(RUNNABLE)}")
