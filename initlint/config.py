"""Configuration: `[tool.initlint]` in the nearest pyproject.toml, or initlint.toml /
.initlint.toml; validated (an unknown key or code is an error naming it and the file)."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_EXCLUDE = (".git", ".hg", ".svn", ".venv", "venv", "build", "dist", "__pycache__",
                   "node_modules", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
                   ".initlint_cache", ".eggs", "*.egg-info")
CONFIG_FILES = ("initlint.toml", ".initlint.toml", "pyproject.toml")
KNOWN_KEYS = {"select", "extend-select", "ignore", "per-file-ignores", "exclude",
              "extend-exclude", "force-exclude", "relu-like", "min-chain", "probe", "show-info",
              "docs-url"}
PROBE_KEYS = {"targets", "threshold", "timeout", "device", "input-shape", "batch-size",
              "path", "memory-mb", "inputs", "loss"}


class ConfigError(Exception):
    pass


@dataclass
class Config:
    select: list[str] | None = None
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    exclude: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE))
    extend_exclude: list[str] = field(default_factory=list)
    relu_like: list[str] = field(default_factory=list)
    min_chain: int = 6
    show_info: bool = False
    force_exclude: bool = False  # excludes apply to files named on the command line too
    docs_url: str | None = None  # base of the rule pages' links (see initlint.findings)
    probe: dict = field(default_factory=dict)
    path: str | None = None  # the file it came from
    root: str = "."

    # ------------------------------------------------------------------ selection
    def enabled_codes(self) -> set[str]:
        from initlint.rules import RULES

        all_codes = set(RULES)
        default = {c for c, r in RULES.items() if not r.opt_in}
        chosen = expand(self.select, all_codes) if self.select is not None else set(default)
        chosen |= expand(self.extend_select, all_codes)
        chosen -= expand(self.ignore, all_codes)
        return chosen

    def explicit_codes(self) -> set[str]:
        """Codes named in full by select/extend-select: their `info` findings are shown."""
        names = list(self.select or []) + list(self.extend_select)
        from initlint.rules import RULES

        return {n for n in names if n in RULES}

    def ignored_for(self, relpath: str) -> set[str]:
        from initlint.rules import RULES

        out: set[str] = set()
        rel = relpath.replace(os.sep, "/")
        for pattern, codes in self.per_file_ignores.items():
            if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(os.path.basename(rel), pattern) \
                    or fnmatch.fnmatch(rel, pattern.rstrip("/") + "/*") \
                    or (pattern.startswith("**/") and fnmatch.fnmatch(rel, pattern[3:])):
                out |= expand(codes, set(RULES))
        return out

    def fingerprint(self) -> str:
        data = json.dumps([sorted(self.enabled_codes()), self.relu_like, self.min_chain],
                          sort_keys=True)
        return hashlib.sha1(data.encode()).hexdigest()[:16]

    def excluded(self, path: str, is_dir: bool) -> bool:
        name = os.path.basename(path.rstrip("/\\")) or path
        rel = os.path.relpath(path, self.root).replace(os.sep, "/") if self.root else path
        for pattern in list(self.exclude) + list(self.extend_exclude):
            p = pattern.rstrip("/")
            if fnmatch.fnmatch(name, p) or fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(
                    path.replace(os.sep, "/"), p):
                return True
        return False

    def excluded_anywhere(self, path: str) -> bool:
        """A path named explicitly (`--force-exclude`): excluded when it or any folder above
        it, up to the configuration's root, matches an exclude pattern, as a walk from the
        root would have found."""
        full = os.path.abspath(path)
        root = os.path.abspath(self.root or ".")
        try:
            inside = os.path.commonpath([full, root]) == root
        except ValueError:  # another drive
            inside = False
        if not inside:  # outside the project: only the path itself
            return self.excluded(full, os.path.isdir(full))
        while full != root:
            if self.excluded(full, os.path.isdir(full)):
                return True
            full = os.path.dirname(full)
        return False


def expand(selectors, all_codes: set[str]) -> set[str]:
    out: set[str] = set()
    for s in selectors or []:
        s = s.strip().upper()
        if s == "ALL":
            out |= all_codes
        else:
            out |= {c for c in all_codes if c.startswith(s)}
    return out


def validate_codes(selectors, where: str) -> None:
    from initlint.rules import RULES

    for s in selectors or []:
        if not isinstance(s, str):
            raise ConfigError(f"{where}: expected a rule code, got {s!r}")
        u = s.strip().upper()
        if u == "ALL":
            continue
        if not any(c.startswith(u) for c in RULES) or not u.startswith("IL"):
            raise ConfigError(f"{where}: unknown rule code or prefix {s!r}")


def find_config(start: str) -> str | None:
    d = os.path.abspath(start)
    if os.path.isfile(d):
        d = os.path.dirname(d)
    while True:
        for name in CONFIG_FILES:
            p = os.path.join(d, name)
            if os.path.isfile(p):
                if name != "pyproject.toml":
                    return p
                try:
                    with open(p, "rb") as fh:
                        data = tomllib.load(fh)
                except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
                    return p  # report it when loading
                if "initlint" in data.get("tool", {}):
                    return p
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def load(path: str | None) -> Config:
    cfg = Config()
    if path is None:
        return cfg
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if os.path.basename(path) == "pyproject.toml":
        table = data.get("tool", {}).get("initlint", {})
        prefix = "tool.initlint."
    else:
        table = data.get("tool", {}).get("initlint", data) if "tool" in data else data
        prefix = ""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.initlint] must be a table")
    cfg.path = path
    cfg.root = os.path.dirname(os.path.abspath(path))
    apply_table(cfg, table, f"{path}: {prefix}")
    return cfg


def _strlist(v, where) -> list[str]:
    if isinstance(v, str):
        return [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ConfigError(f"{where}: expected a list of strings")
    return list(v)


def apply_table(cfg: Config, table: dict, where: str) -> None:
    for key, value in table.items():
        if key not in KNOWN_KEYS:
            raise ConfigError(f"{where}{key}: unknown configuration key '{key}' (known: "
                              f"{', '.join(sorted(KNOWN_KEYS))})")
        w = f"{where}{key}"
        if key == "select":
            cfg.select = _strlist(value, w)
            validate_codes(cfg.select, w)
        elif key == "extend-select":
            cfg.extend_select = _strlist(value, w)
            validate_codes(cfg.extend_select, w)
        elif key == "ignore":
            cfg.ignore = _strlist(value, w)
            validate_codes(cfg.ignore, w)
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise ConfigError(f"{w}: expected a table of glob = [codes]")
            for pattern, codes in value.items():
                if os.path.isabs(pattern) or re.match(r"^[A-Za-z]:[\\/]", pattern):
                    raise ConfigError(f"{w}: key \"{pattern}\" is an absolute path; keys are globs "
                                      f"matched against paths relative to the project "
                                      f"(e.g. \"tests/*\"), so it would never match")
                codes = _strlist(codes, f"{w}.{pattern}")
                validate_codes(codes, f"{w}.\"{pattern}\"")
                cfg.per_file_ignores[pattern] = codes
        elif key == "exclude":
            cfg.exclude = _strlist(value, w)
        elif key == "extend-exclude":
            cfg.extend_exclude = _strlist(value, w)
        elif key == "relu-like":
            cfg.relu_like = [s.lower() for s in _strlist(value, w)]
        elif key == "min-chain":
            if not isinstance(value, int) or isinstance(value, bool) or value < 2:
                raise ConfigError(f"{w}: expected an integer ≥ 2, got {value!r}")
            cfg.min_chain = value
        elif key in ("show-info", "force-exclude"):
            if not isinstance(value, bool):
                raise ConfigError(f"{w}: expected true or false")
            setattr(cfg, key.replace("-", "_"), value)
        elif key == "docs-url":
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{w}: expected a URL (the folder of the rule pages)")
            cfg.docs_url = value.strip()
        elif key == "probe":
            if not isinstance(value, dict):
                raise ConfigError(f"{w}: expected a table")
            for k in value:
                if k not in PROBE_KEYS:
                    raise ConfigError(f"{w}.{k}: unknown probe key '{k}' (known: "
                                      f"{', '.join(sorted(PROBE_KEYS))})")
            cfg.probe = dict(value)
