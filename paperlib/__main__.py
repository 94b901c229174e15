"""Command line.

``python -m paperlib run EXPERIMENT --profile P [--set key=value ...]``  train (or fetch) an experiment's runs
    (also under ``torchrun --standalone --nproc_per_node=N -m paperlib run ...``, one process per GPU)
``python -m paperlib claims --profile P [--json | --markdown] [--store]`` print the scorecard (cpu: the shipped one)
``python -m paperlib book --profile P [--executed DIR | --execute]``   build the book (cpu: from the shipped build)
``python -m paperlib reproduce --profile cpu``                         execute the chapters from an empty store, ship
``python -m paperlib plan --profile P``                                runs, steps and estimated hours per experiment
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import registry
from .configs import PROFILES
from .runs import StoreError


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
    p_run = sub.add_parser("run", help="train an experiment's runs (cached in the run store, resumable)")
    runnable = [name for name, spec in registry.experiments_by_name().items() if spec.runnable]
    p_run.add_argument("experiment", choices=runnable)
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


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    commands = {"run": _run, "claims": _claims, "book": _book, "reproduce": _reproduce, "plan": _plan}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
