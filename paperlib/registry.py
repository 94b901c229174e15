"""The experiments of the study, discovered from the modules of ``paperlib.experiments`` that declare ``SPEC``.

The command line, the scorecard and the book read this registry, so adding an experiment is adding a module
(plus its notebook and a line in ``book/_toc.yml``).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from typing import Any

from . import experiments
from .experiments.spec import Experiment


@cache
def experiments_by_name() -> dict[str, Experiment]:
    """Every experiment's spec by name, in notebook order."""
    found = []
    for info in pkgutil.iter_modules(experiments.__path__):
        module = importlib.import_module(f"{experiments.__name__}.{info.name}")
        spec = getattr(module, "SPEC", None)
        if isinstance(spec, Experiment):
            found.append(spec)
    names = [s.name for s in found]
    if len(set(names)) != len(names):
        raise RuntimeError(f"two experiment modules declare the same name: {sorted(names)}")
    return {s.name: s for s in sorted(found, key=lambda s: (s.notebook, s.name))}


def get(name: str) -> Experiment:
    """The spec of experiment ``name``; an unknown name is a ``ValueError`` listing the known ones."""
    known = experiments_by_name()
    if name not in known:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(known)}")
    return known[name]


def config(name: str, profile: str, **overrides: Any) -> Any:
    """The frozen settings of experiment ``name`` under ``profile``, with ``overrides`` applied."""
    return get(name).config(profile, **overrides)


def sweep(name: str, profile: str, **overrides: Any) -> list:
    """Every config experiment ``name`` runs under ``profile``."""
    return get(name).sweep(profile, **overrides)


@dataclass(frozen=True)
class Claim:
    """A claim id with its text and the notebooks that decide it."""

    id: str
    text: str
    notebooks: tuple[str, ...]
    experiments: tuple[str, ...] = ()

    @property
    def notebook(self) -> str:
        return "/".join(self.notebooks)


_SECTION_ORDER = "TDLSPGEX"  # theory, then the paper's sections in order, then the study's own (X)


@cache
def claims() -> dict[str, Claim]:
    """Every claim id decided by some experiment, in the paper's order (T, D, L, S, P, G, E, then X)."""
    texts: dict[str, str] = {}
    books: dict[str, list[str]] = {}
    owners: dict[str, list[str]] = {}
    for spec in experiments_by_name().values():
        for cid, text in spec.claims.items():
            if texts.setdefault(cid, text) != text:
                raise RuntimeError(f"claim {cid} has two texts: {texts[cid]!r} and {text!r}")
            books.setdefault(cid, []).append(spec.notebook)
            owners.setdefault(cid, []).append(spec.name)

    def order(cid: str) -> tuple:
        return (_SECTION_ORDER.find(cid[0]) % len(_SECTION_ORDER), int(cid[1:]) if cid[1:].isdigit() else 0)

    return {
        cid: Claim(cid, texts[cid], tuple(books[cid]), tuple(owners[cid])) for cid in sorted(texts, key=order)
    }
