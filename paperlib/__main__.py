"""Command line.

``python -m paperlib run EXPERIMENT --profile P [--set key=value ...]``  train (or fetch) an experiment's runs
    (also under ``torchrun --standalone --nproc_per_node=N -m paperlib run ...``, one process per GPU)
``python -m paperlib claims --profile P [--json | --markdown] [--store]`` print the scorecard (cpu: the shipped one)
``python -m paperlib book --profile P [--executed DIR | --execute]``   build the book (cpu: from the shipped build)
``python -m paperlib reproduce --profile cpu``                         execute the chapters from an empty store, ship
``python -m paperlib plan --profile P``                                runs, steps and estimated hours per experiment
``python -m paperlib launch EXPERIMENT...|all --profile P --executor slurm|local|debug [--dry-run | --status]``
    submit every run of the plan not yet done in the run store, one job each (submitit); other ``--key=value``
    options go to sbatch
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import registry
from .configs import PROFILES
from .runs import StoreError


def runnable_names() -> list[str]:
    return [name for name, spec in registry.experiments_by_name().items() if spec.runnable]


def parser() -> argparse.ArgumentParser:
    """The command line's commands and their options."""
    top = argparse.ArgumentParser(prog="paperlib", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    p_claims = sub.add_parser("claims", help="print the scorecard of the paper's claims")
    p_claims.add_argument("--profile", default="cpu", choices=PROFILES)
    p_claims.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p_claims.add_argument("--json", action="store_true", help="print every row with its evidence as JSON")
    p_claims.add_argument(
        "--store",
        action="store_true",
        help="read the verdicts the notebooks recorded in the run store ($PAPERLIB_RUNS) instead of the "
        "shipped build (profiles that ship one: cpu)",
    )
    shipped_dir = dict(type=Path, default=None, metavar="DIR", help="the shipped build to read or write")
    p_claims.add_argument("--shipped", **shipped_dir)
    p_book = sub.add_parser("book", help="execute every notebook and build the HTML book")
    p_book.add_argument("--profile", default="cpu", choices=PROFILES)
    p_book.add_argument("--out", type=Path, default=None, help="build into this folder instead of book/")
    p_book.add_argument(
        "--executed",
        type=Path,
        default=None,
        metavar="DIR",
        help="compile the chapters already executed under the profile in DIR instead of running them "
        "(notebooks/ holds the smoke ones); the scorecard still comes from the run store's verdicts",
    )
    p_book.add_argument(
        "--execute",
        action="store_true",
        help="execute every notebook (through the run store) even for a profile that ships its build (cpu)",
    )
    p_book.add_argument("--shipped", **shipped_dir)
    p_repro = sub.add_parser(
        "reproduce",
        help="execute every chapter from an empty run store, compare with the shipped build, ship",
    )
    p_repro.add_argument("--profile", default="cpu", choices=PROFILES)
    p_repro.add_argument("--shipped", **shipped_dir)
    p_repro.add_argument(
        "--store", type=Path, default=None, help="an empty folder for the runs (default: temporary)"
    )
    p_plan = sub.add_parser("plan", help="print the runs, steps and estimated hours each experiment trains")
    p_plan.add_argument("--profile", default="paper", choices=PROFILES)
    p_launch = sub.add_parser(
        "launch",
        help="submit every pending run of the plan as a job (SLURM job array, local processes or in-process)",
    )
    p_launch.add_argument(
        "experiments",
        nargs="+",
        choices=["all", *runnable_names()],
        metavar="EXPERIMENT",
        help=f"all, or one or more of: {', '.join(runnable_names())}",
    )
    p_launch.add_argument("--profile", default="paper", choices=PROFILES)
    p_launch.add_argument("--executor", default="slurm", choices=["slurm", "local", "debug"])
    p_launch.add_argument("--dry-run", action="store_true", help="print the runs and the sbatch script only")
    p_launch.add_argument("--status", action="store_true", help="per experiment: done/running/failed/pending")
    p_launch.add_argument("--partition")
    p_launch.add_argument("--account")
    p_launch.add_argument("--qos")
    p_launch.add_argument(
        "--gpus-per-job", type=int, help="default: 1 on SLURM; locally 1 with a GPU, else 0"
    )
    p_launch.add_argument("--cpus-per-job", type=int, help="CPUs per job (also torch's thread count)")
    p_launch.add_argument(
        "--timeout-min", type=int, default=24 * 60, help="time limit per job; requeued after"
    )
    p_launch.add_argument(
        "--array-parallelism", type=int, help="jobs at once (SLURM's %% throttle; local: default 1)"
    )
    p_launch.add_argument("--max-requeues", type=int, default=20, help="time-limit requeues per job")
    p_launch.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one experiment only",
    )
    p_run = sub.add_parser("run", help="train an experiment's runs (cached in the run store, resumable)")
    p_run.add_argument("experiment", choices=runnable_names())
    p_run.add_argument("--profile", default="cpu", choices=PROFILES)
    p_run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    return top


def _run(args: argparse.Namespace) -> int:
    from . import configs, distributed

    distributed.setup()  # under torchrun: join the process group (NCCL on GPUs, gloo on CPU)
    spec = registry.get(args.experiment)
    try:
        overrides = configs.parse_overrides(args.overrides)
        spec.config(args.profile, **overrides)  # refuse bad settings before anything runs
        report = spec.shell_report(args.profile, **overrides)
    except (ValueError, FileNotFoundError, StoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if distributed.is_main():
        print(report)
    return 0


def _claims(args: argparse.Namespace) -> int:
    from . import claims, shipped

    try:
        build = None if args.store else shipped.folder_of(args.profile, args.shipped)
        folder = shipped.require(args.profile, build) / shipped.VERDICTS if build is not None else None
        if args.markdown:
            print(claims.scorecard_markdown(args.profile, folder=folder), end="")
            return 0
        if args.json:
            print(claims.to_json(args.profile, folder))
            return 0
        print(claims.scorecard_text(args.profile, folder=folder))
    except (ValueError, shipped.ShippedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _book(args: argparse.Namespace) -> int:
    from .book import BookError, build
    from .shipped import ShippedError

    try:
        index = build(args.profile, args.out, args.executed, args.shipped, args.execute)
    except (BookError, ShippedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"book built: {index}")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from .book import BookError
    from .reproduce import reproduce
    from .shipped import ShippedError

    try:
        reproduce(args.profile, args.shipped, args.store)
    except (BookError, ShippedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def _plan(args: argparse.Namespace) -> int:
    from .plan import report

    print(report(args.profile))
    return 0


def _sbatch_extras(tokens: list[str]) -> dict[str, str | bool]:
    """Options launch does not know, as sbatch options: ``--constraint=a100`` or ``--constraint a100``."""
    out: dict[str, str | bool] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or len(token) < 3:
            raise ValueError(f"unexpected argument {token!r}: sbatch options are given as --name=value")
        name, eq, text = token[2:].partition("=")
        value: str | bool = text
        if not eq:
            following = tokens[i + 1] if i + 1 < len(tokens) else ""
            if following and not following.startswith("--"):
                value, i = following, i + 1
            else:
                value = True  # a flag such as --exclusive
        out[name.replace("-", "_")] = value
        i += 1
    return out


def _launch(args: argparse.Namespace, extra: list[str]) -> int:
    from . import configs, launch

    names = runnable_names() if "all" in args.experiments else list(dict.fromkeys(args.experiments))
    try:
        if args.overrides and len(names) > 1:
            raise ValueError("--set needs one experiment, not several or all")
        overrides = {names[0]: configs.parse_overrides(args.overrides)} if args.overrides else {}
        for name in names:
            registry.get(name).config(args.profile, **overrides.get(name, {}))  # refuse bad settings first
        if args.status:
            print(launch.status(names, args.profile, overrides))
            return 0
        if extra and args.executor != "slurm":
            raise ValueError(
                f"{' '.join(extra)}: options launch does not know go to sbatch, so they need --executor slurm; "
                "check the spelling (python -m paperlib launch --help)"
            )
        options = launch.Options(
            executor=args.executor,
            partition=args.partition,
            gpus_per_job=args.gpus_per_job,
            cpus_per_job=args.cpus_per_job,
            timeout_min=args.timeout_min,
            array_parallelism=args.array_parallelism,
            account=args.account,
            qos=args.qos,
            max_requeues=args.max_requeues,
            extra=_sbatch_extras(extra),
        )
        if args.dry_run:
            print(launch.dry_run(names, args.profile, options, overrides))
            return 0
        found, items, outcome = launch.launch(names, args.profile, options, overrides)
    except (ValueError, RuntimeError, StoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"{len(items)} run(s) submitted through the {args.executor} executor; "
        f"{len(found.runs) - len(items)} done, running or queued; {len(found.waiting)} waiting for their "
        f"selection runs (launch again once those are done)"
    )
    if args.executor == "slurm" and outcome.jobs:
        print(
            f"jobs {outcome.jobs[0]['job']} .. {outcome.jobs[-1]['job']}; logs under {launch.job_folder().parent}"
        )
    for failure in outcome.failed:
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if outcome.failed else 0


def main(argv: list[str] | None = None) -> int:
    args, extra = parser().parse_known_args(argv)
    if extra and args.command != "launch":
        parser().error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "launch":
        return _launch(args, extra)
    commands = {"run": _run, "claims": _claims, "book": _book, "reproduce": _reproduce, "plan": _plan}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
