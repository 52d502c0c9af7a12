"""Rule registry. A rule is one module `ilNNN_<name>.py` in this package holding one `Rule`
subclass: its code, docs, typed examples, `check`, remedy and probe hook. The registry
discovers the modules (pkgutil); adding a rule is adding its file."""

from __future__ import annotations

import importlib
import pkgutil
import re
from types import ModuleType

from initlint.rules.base import Rule

RULE_MODULE = re.compile(r"^il\d{3}_[a-z0-9_]+$")

RULES: dict[str, type[Rule]] = {}


def register(cls: type[Rule]) -> type[Rule]:
    if cls.code in RULES:
        raise ValueError(f"duplicate rule code {cls.code}")
    RULES[cls.code] = cls
    return cls


def rule_of(module: ModuleType) -> type[Rule]:
    """The one Rule subclass a rule module defines; its file is named by its code and name."""
    found = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Rule)
             and v is not Rule and v.__module__ == module.__name__]
    if len(found) != 1:
        raise ValueError(f"{module.__name__} defines {len(found)} rules, not exactly one")
    cls = found[0]
    want = f"{cls.code.lower()}_{cls.name.replace('-', '_')}"
    if module.__name__.rsplit(".", 1)[-1] != want:
        raise ValueError(f"{module.__name__}: a module holding {cls.code} ({cls.name}) is "
                         f"named {want}.py")
    return cls


def discover(package: str = __name__, path=None) -> list[type[Rule]]:
    """Import every rule module of `package` (in name order) and return their rules."""
    path = path if path is not None else __path__
    names = sorted(m.name for m in pkgutil.iter_modules(path) if RULE_MODULE.match(m.name))
    return [rule_of(importlib.import_module(f"{package}.{n}")) for n in names]


def refresh(rules: list[type[Rule]]) -> None:
    """Register `rules` (after a discovery) and recompute CODES."""
    for cls in rules:
        if RULES.get(cls.code) is not cls:
            register(cls)
    CODES[:] = sorted(RULES)


CODES: list[str] = []
refresh(discover())


def all_rules() -> list[type[Rule]]:
    return [RULES[c] for c in CODES]
