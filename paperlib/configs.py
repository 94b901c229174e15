"""What every experiment's settings share: the profile names and the rules for changing a setting.

A config is a frozen dataclass, possibly with nested dataclass groups (``recipe``, ``train``, ``freematch``).
A setting is named by its dotted path (``train.recipe.steps``) or, where that is unambiguous, by its last part
(``steps``). ``override`` applies such changes and refuses unknown or ambiguous names with the list of what
exists; ``parse_overrides`` turns the command line's ``key=value`` strings into typed values.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

PROFILES = ("smoke", "cpu", "paper")


def check_profile(profile: str) -> None:
    """A ``ValueError`` naming the profiles when ``profile`` is not one of them."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")


def paths(cfg: Any, prefix: str = "") -> list[str]:
    """Every leaf setting of a config instance as a dotted path, in declaration order."""
    out = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        is_group = dataclasses.is_dataclass(value) and not isinstance(value, type)
        out += paths(value, f"{prefix}{f.name}.") if is_group else [prefix + f.name]
    return out


def resolve(cfg: Any, key: str, experiment: str = "") -> str:
    """The full dotted path that ``key`` names in ``cfg``: itself, or the one path that ends in the same
    setting and contains the groups ``key`` names, in order (``steps`` or ``train.steps`` for
    ``train.recipe.steps``)."""
    known = paths(cfg)
    if key in known:
        return key
    matches = [p for p in known if _names(key.split("."), p.split("."))]
    what = f" for {experiment}" if experiment else ""
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ValueError(f"setting {key!r}{what} is ambiguous: say one of {matches}")
    raise ValueError(f"unknown setting(s) [{key!r}]{what}; settings are {known}")


def _names(key: list[str], path: list[str]) -> bool:
    """Whether ``key`` ends with ``path``'s last part and its other parts appear in ``path`` in order."""
    if key[-1] != path[-1]:
        return False
    rest = iter(path[:-1])
    return all(part in rest for part in key[:-1])


def override(cfg: Any, experiment: str = "", **changes: Any) -> Any:
    """``cfg`` with each named setting replaced (keys as in ``resolve``; lists become tuples)."""
    for key, value in changes.items():
        cfg = _replace_path(cfg, resolve(cfg, key, experiment).split("."), _as_tuple(value))
    return cfg


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _replace_path(cfg: Any, parts: list[str], value: Any) -> Any:
    head = parts[0]
    if len(parts) == 1:
        return dataclasses.replace(cfg, **{head: value})
    return dataclasses.replace(cfg, **{head: _replace_path(getattr(cfg, head), parts[1:], value)})


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["steps=100", "lr=0.01", "seeds=[0,1]"]`` -> ``{"steps": 100, "lr": 0.01, "seeds": (0, 1)}``: JSON
    values where they parse, strings otherwise. Names are checked when the overrides are applied."""
    out = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key] = _as_tuple(value)
    return out
