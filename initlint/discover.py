"""Finding the files to lint, deterministically."""

from __future__ import annotations

import os
from dataclasses import dataclass

from initlint.config import Config

EXTENSIONS = (".py", ".pyi", ".ipynb")


@dataclass
class Target:
    path: str  # path to open
    display: str  # as the user wrote it, joined with the relative path found under it


class DiscoveryError(Exception):
    pass


def discover(paths: list[str], config: Config) -> tuple[list[Target], list[str]]:
    """Targets, plus messages for paths that do not exist. A path named explicitly is linted
    even when an exclude pattern matches it, unless `config.force_exclude` (`--force-exclude`,
    what the pre-commit hooks pass: pre-commit names every staged file)."""
    out: list[Target] = []
    missing: list[str] = []
    seen: set[str] = set()
    for given in paths:
        if config.force_exclude and os.path.lexists(given) and config.excluded_anywhere(given):
            continue
        if os.path.isdir(given):
            for t in _walk(given, config):
                key = os.path.realpath(t.path)
                if key not in seen:
                    seen.add(key)
                    out.append(t)
        elif os.path.lexists(given):
            key = os.path.realpath(given)
            if key not in seen:
                seen.add(key)
                out.append(Target(given, given))
        else:
            missing.append(given)
    return out, missing


def _walk(top: str, config: Config):
    stack = [top]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except PermissionError:
            # reported, not skipped in silence: reading it gives IL001 "permission denied"
            yield Target(d, d)
            continue
        except OSError:  # vanished meanwhile, or not a directory any more
            continue
        dirs = []
        for e in entries:
            full = os.path.join(d, e.name)
            try:
                is_dir = e.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if not config.excluded(full, True):
                    dirs.append(full)
                continue
            if e.name.endswith(EXTENSIONS) and not config.excluded(full, False):
                try:
                    # regular files and links to them only: a dangling link, a link loop, a
                    # FIFO (opening one would block), a socket or a device is not source
                    regular = e.is_file(follow_symlinks=True)
                except OSError:
                    regular = False
                if regular:
                    yield Target(full, full)
        stack.extend(reversed(dirs))
