"""What every experiment's settings share: the profile names, the rules for changing a setting, and the
rules a setting's value must follow.

A config is a frozen dataclass, possibly with nested dataclass groups (``recipe``, ``train``, ``freematch``).
A setting is named by its dotted path (``train.recipe.steps``) or, where that is unambiguous, by a shortening
(``steps``, ``train.steps``). ``override`` applies such changes and refuses unknown or ambiguous names with
the list of what exists; ``parse_overrides`` turns the command line's ``key=value`` strings into typed values.
Each field declares what it allows (``setting(default, RULE)``) and every config validates itself when it is
built (``validate`` in ``__post_init__``), so a bad value fails in one line, from the command line, a notebook
or Python, before anything runs.
"""

from __future__ import annotations

import dataclasses
import json
import math
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
    """``cfg`` with each named setting replaced (keys as in ``resolve``; lists become tuples). All changes to
    one group are applied together, so a rule between settings (``select_at`` in ``label_counts``) sees the
    final values. A value its setting does not allow is a ``SettingError`` naming the setting's full path."""
    tree: dict = {}
    for key, value in changes.items():
        *groups, leaf = resolve(cfg, key, experiment).split(".")
        node = tree
        for group in groups:
            node = node.setdefault(group, {})
        node[leaf] = _as_tuple(value)
    return _apply(cfg, tree, "")


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _apply(cfg: Any, tree: dict, prefix: str) -> Any:
    """``cfg`` with the changes of ``tree`` (setting -> value, or group -> subtree) applied."""
    values = {
        name: _apply(getattr(cfg, name), sub, f"{prefix}{name}.") if isinstance(sub, dict) else sub
        for name, sub in tree.items()
    }
    try:
        return dataclasses.replace(cfg, **values)
    except SettingError as err:
        if "." in err.name:
            raise
        raise SettingError(prefix + err.name, err.value, err.allowed) from None


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


# ------------------------------------------------------------------------------------------------ validation


class SettingError(ValueError):
    """A setting with a value it does not allow; the message names the setting, the value and the rule."""

    def __init__(self, name: str, value: Any, allowed: str) -> None:
        self.name, self.value, self.allowed = name, value, allowed
        super().__init__(f"setting {name} = {value!r} is not allowed: it must be {allowed}")


@dataclasses.dataclass(frozen=True)
class Rule:
    """What a setting allows: a test and the words that say it."""

    test: Any  # Callable[[Any], bool]
    allowed: str

    def __call__(self, value: Any) -> bool:
        try:
            return bool(self.test(value))
        except (TypeError, ValueError):
            return False


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, int | float) and not isinstance(v, bool)) and math.isfinite(v)


POSITIVE_INT = Rule(lambda v: _is_int(v) and v > 0, "a positive integer")
NONNEGATIVE_INT = Rule(lambda v: _is_int(v) and v >= 0, "an integer >= 0")
INT = Rule(_is_int, "an integer")
OPTIONAL_INT = Rule(lambda v: v is None or _is_int(v), "an integer or null")
OPTIONAL_POSITIVE_INT = Rule(
    lambda v: v is None or (_is_int(v) and v > 0), "a positive integer or null (all)"
)
POSITIVE = Rule(lambda v: _is_number(v) and v > 0, "a finite number > 0")
NONNEGATIVE = Rule(lambda v: _is_number(v) and v >= 0, "a finite number >= 0")
FRACTION = Rule(lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)")
OPEN_FRACTION = Rule(lambda v: _is_number(v) and 0 < v < 1, "a number in (0, 1)")
BOOL = Rule(lambda v: isinstance(v, bool), "true or false")


def one_of(choices: Any) -> Rule:
    """A rule accepting exactly the given names."""
    names = tuple(choices)
    return Rule(lambda v: v in names, "one of " + ", ".join(map(repr, names)))


def tuple_of(item: Rule, nonempty: bool = True) -> Rule:
    """A rule for a tuple (a JSON list on the command line, e.g. [0,1,2]) whose items all follow ``item``."""
    return Rule(
        lambda v: isinstance(v, tuple) and (len(v) > 0 or not nonempty) and all(item(x) for x in v),
        f"a {'non-empty ' if nonempty else ''}list such as [1,2], each item {item.allowed}",
    )


def group_of(cls: type) -> Rule:
    """A rule for a nested group of settings of class ``cls``."""
    return Rule(lambda v: isinstance(v, cls), f"a group of settings ({cls.__name__})")


def parsed_by(parse: Any, allowed: str) -> Rule:
    """A rule for a string that ``parse`` accepts (it raises ValueError otherwise)."""
    return Rule(lambda v: isinstance(v, str) and (parse(v) or True), allowed)


def setting(default: Any = dataclasses.MISSING, rule: Rule | None = None, **kwargs: Any) -> Any:
    """A dataclass field with the rule its values must follow (checked by ``validate``)."""
    metadata = {**kwargs.pop("metadata", {}), "rule": rule}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=metadata, **kwargs)
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


def validate(cfg: Any) -> None:
    """Check every field of ``cfg`` that declares a rule (call from ``__post_init__``); a nested group must
    be an instance of its default's class."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        rule = f.metadata.get("rule")
        if rule is not None and not rule(value):
            raise SettingError(f.name, value, rule.allowed)
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default) and not isinstance(value, type(default)):
            raise SettingError(f.name, value, f"a group of settings ({type(default).__name__})")
