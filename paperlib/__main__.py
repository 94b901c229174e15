"""Command line.

``python -m paperlib run EXPERIMENT --profile P [--set key=value ...]``  train (or fetch) an experiment's runs
    (also under ``torchrun --standalone --nproc_per_node=N -m paperlib run ...``, one process per GPU)
``python -m paperlib claims --profile P [--json | --markdown]``        print the scorecard (--json: with evidence)
``python -m paperlib book --profile P [--executed DIR]``               execute the notebooks, build the book
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
    """The command line's four commands and their options."""
    top = argparse.ArgumentParser(prog="paperlib", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    p_claims = sub.add_parser("claims", help="print the scorecard of the paper's claims")
    p_claims.add_argument("--profile", default="cpu", choices=PROFILES)
    p_claims.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p_claims.add_argument("--json", action="store_true", help="print every row with its evidence as JSON")
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
    from . import claims

    try:
        if args.markdown:
            print(claims.scorecard_markdown(args.profile), end="")
            return 0
        if args.json:
            print(claims.to_json(args.profile))
            return 0
        print(claims.scorecard_text(args.profile))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _book(args: argparse.Namespace) -> int:
    from .book import BookError, build

    try:
        index = build(args.profile, args.out, args.executed)
    except BookError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"book built: {index}")
    return 0


def _plan(args: argparse.Namespace) -> int:
    from .plan import report

    print(report(args.profile))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return {"run": _run, "claims": _claims, "book": _book, "plan": _plan}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
