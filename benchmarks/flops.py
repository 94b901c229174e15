"""The counted work of every kind of training step the profiles train, for ``python -m paperlib plan``.

``python -m benchmarks.flops`` counts each kind's floating-point operations per image and dispatched operations
per step with ``paperlib.costs.count`` (FlopCounterMode on the meta device: no arithmetic, a few seconds in all)
and writes them to ``benchmarks/flops.json``, so ``plan`` reads them instead of counting at every call. The
counts depend on the models and the torch version only; ``tests/test_plan.py`` keeps the file equal to a fresh
count.
"""

from __future__ import annotations

import json
import sys

import torch

from benchmarks.steps import kinds
from paperlib import costs


def counts() -> dict[str, dict[str, float]]:
    """Counted work by step kind, for one config of every kind the profiles train."""
    return {name: costs.count(cfg) for name, cfg in sorted(kinds().items())}


def main() -> int:
    record = {"torch": torch.__version__, "kinds": counts()}
    costs.FLOPS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {costs.FLOPS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
