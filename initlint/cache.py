"""Content-hash cache of per-file analysis results (`FileResult`: parse errors, suppressions,
file facts) in `.initlint_cache/`.

What is cached and why that is enough: everything `engine.analyze_file` computes from one
file alone. Cross-file results (the class hierarchy, inits applied from another module, the
rules) come from the project join in `engine.finish`, which runs on every invocation over the
facts of all files, cached or fresh. So a changed dependency file only invalidates its own
entry; the files that subclass or apply it are re-judged by the join. The join itself is
memoized too, but only on *everything* it reads (see `initlint.parallel.Analyzer.finish`):
when any file, the configuration or the working directory differs, it runs.

Layout::

    .initlint_cache/
      CACHEDIR.TAG                      (https://bford.info/cachedir/)
      .gitignore                        ("*": never committed)
      <version>-<code hash>/<config fingerprint>.pickle        per-file entries
      <version>-<code hash>/<config fingerprint>.memo.pickle   the last few join reports

One pack file per initlint build (version plus a hash of its own source files, so an edited
checkout never reads stale facts) and per configuration fingerprint (`Config.fingerprint()`).
A pack maps (absolute path, path as given) to an `Entry`: size and mtime_ns from `stat` for
the fast path, the content hash, the module name the file had (it depends on `__init__.py`
files up the tree), and the pickled `FileResult` (its facts pickled apart, so that they are
only unpickled when the join needs them). Lookup: stat; same size and mtime_ns →
hit without reading; otherwise read and hash; same content → hit (the stat is refreshed);
else a miss. An mtime too close to the moment it was recorded is not trusted (a write in the
same clock tick could go unseen); such entries are re-hashed on the next run.

Packs are written atomically (temporary file + `os.replace`); two concurrent runs can at
worst drop each other's new entries, never corrupt the pack. An unreadable or foreign pack
is ignored and rewritten. `INITLINT_CACHE_DIR` overrides the location; `initlint clean`
removes it.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass

import click

from initlint import __version__

CACHE_DIR_NAME = ".initlint_cache"
ENV_VAR = "INITLINT_CACHE_DIR"
TAG_SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55"
TAG_TEXT = (TAG_SIGNATURE + "\n# This file is a cache directory tag created by initlint.\n"
            "# For information about cache directory tags see https://bford.info/cachedir/\n")
PACK_FORMAT = 2
MEMO_SLOTS = 16  # join reports and their fixes kept per pack (two per file set / config / cwd)
# an mtime within this many seconds of the moment it was recorded is not trusted
RACY_SECONDS = 2.0

_CODE_HASH: str | None = None


def code_hash() -> str:
    """Hash of initlint's own source files: a changed analyzer never reads old facts."""
    global _CODE_HASH
    if _CODE_HASH is None:
        root = os.path.dirname(os.path.abspath(__file__))
        h = hashlib.blake2b(digest_size=8)
        h.update(f"{__version__}|{sys.version_info[:2]}|{PACK_FORMAT}".encode())
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(".py"):
                    full = os.path.join(dirpath, name)
                    h.update(os.path.relpath(full, root).encode())
                    try:
                        with open(full, "rb") as fh:
                            h.update(fh.read())
                    except OSError:
                        pass
        _CODE_HASH = h.hexdigest()
    return _CODE_HASH


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def cache_dir_for(config=None, cwd: str | None = None) -> str:
    """Where the cache lives: $INITLINT_CACHE_DIR, else next to the config file, else cwd."""
    env = os.environ.get(ENV_VAR)
    if env:
        return os.path.abspath(env)
    if config is not None and getattr(config, "path", None):
        base = os.path.dirname(os.path.abspath(config.path))
    else:
        base = os.path.abspath(cwd or os.getcwd())
    return os.path.join(base, CACHE_DIR_NAME)


@dataclass
class Entry:
    size: int
    mtime_ns: int | None  # None: not trusted, check the content hash
    digest: str
    module: str
    blob: bytes  # pickled FileResult without its facts
    facts: bytes  # pickled FileFacts (loaded only when the project join needs them)


@dataclass
class Stat:
    size: int
    mtime_ns: int


def file_stat(path: str) -> Stat | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return Stat(st.st_size, st.st_mtime_ns)


def trusted_mtime(st: Stat, now: float | None = None) -> int | None:
    now = time.time() if now is None else now
    return st.mtime_ns if st.mtime_ns / 1e9 < now - RACY_SECONDS else None


class Cache:
    """One pack: entries for one initlint build and one configuration fingerprint."""

    def __init__(self, directory: str, fingerprint: str):
        self.directory = directory
        self.fingerprint = fingerprint
        self.pack_dir = os.path.join(directory, f"{__version__}-{code_hash()}")
        self.pack_path = os.path.join(self.pack_dir, f"{fingerprint}.pickle")
        self.entries: dict[tuple[str, str], Entry] = {}
        self.dirty = False
        self.hits = 0
        self.misses = 0
        self._memo_data: dict | None = None
        self._load()

    @classmethod
    def for_config(cls, config) -> "Cache":
        return cls(cache_dir_for(config), config.fingerprint())

    # ------------------------------------------------------------------ pack file
    def _load(self) -> None:
        try:
            with open(self.pack_path, "rb") as fh:
                data = pickle.load(fh)
        except FileNotFoundError:
            return
        except Exception:  # corrupt, truncated, foreign: start afresh
            self.dirty = True
            return
        if isinstance(data, dict) and data.get("format") == PACK_FORMAT and \
                data.get("fingerprint") == self.fingerprint and isinstance(data.get("entries"), dict):
            self.entries = data["entries"]
        else:
            self.dirty = True

    def save(self) -> bool:
        """Write the pack if anything changed; False (and no error) where that is impossible."""
        if not self.dirty:
            return True
        try:
            ensure_dir(self.directory)
            os.makedirs(self.pack_dir, exist_ok=True)
            # forget files that no longer exist (paths a test or a branch left behind)
            for key in [k for k in self.entries if not os.path.exists(k[0])]:
                del self.entries[key]
            payload = {"format": PACK_FORMAT, "fingerprint": self.fingerprint,
                       "entries": self.entries}
            _atomic_write(self.pack_dir, self.pack_path, payload)
        except OSError:
            return False
        self.dirty = False
        return True

    # ------------------------------------------------------------------ entries
    @staticmethod
    def key(path: str) -> tuple[str, str]:
        return (os.path.abspath(path), path)

    def lookup(self, path: str, module: str) -> tuple[Entry | None, bytes | None, Stat | None]:
        """(entry, file bytes read while checking, stat). The entry is None on a miss; the
        bytes are given when the file had to be read (analyse those, not a re-read)."""
        st = file_stat(path)
        entry = self.entries.get(self.key(path))
        if st is None or entry is None or entry.module != module or entry.size != st.size:
            self.misses += 1
            return None, None, st
        if entry.mtime_ns is not None and entry.mtime_ns == st.mtime_ns:
            self.hits += 1
            return entry, None, st
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            self.misses += 1
            return None, None, st
        if len(data) == entry.size and content_hash(data) == entry.digest:
            self.hits += 1
            new_mtime = trusted_mtime(st)
            if new_mtime != entry.mtime_ns:
                entry.mtime_ns = new_mtime
                self.dirty = True
            return entry, data, st
        self.misses += 1
        return None, data, st

    def store(self, path: str, st: Stat | None, digest: str, module: str, blob: bytes,
              facts: bytes) -> None:
        if st is None:
            return
        self.entries[self.key(path)] = Entry(st.size, trusted_mtime(st), digest, module, blob,
                                             facts)
        self.dirty = True

    # ------------------------------------------------------------------ project-join memo
    # The join (engine.finish) is a pure function of the per-file results, the configuration
    # and the working directory (per-file-ignores are matched on paths relative to it). When
    # all of those are what they were on an earlier run, its report is reused.
    @property
    def memo_path(self) -> str:
        return os.path.join(self.pack_dir, f"{self.fingerprint}.memo.pickle")

    def _memo(self) -> dict:
        """The memo file, read once per run (the join and the fixes both look in it)."""
        if self._memo_data is None:
            try:
                with open(self.memo_path, "rb") as fh:
                    data = pickle.load(fh)
            except Exception:
                data = {}
            self._memo_data = data if isinstance(data, dict) else {}
        return self._memo_data

    def memo_get(self, key: str) -> bytes | None:
        return self._memo().get(key)

    def memo_put(self, key: str, blob: bytes) -> None:
        memo = self._memo()
        memo.pop(key, None)
        memo[key] = blob
        while len(memo) > MEMO_SLOTS:
            del memo[next(iter(memo))]
        try:
            ensure_dir(self.directory)
            os.makedirs(self.pack_dir, exist_ok=True)
            _atomic_write(self.pack_dir, self.memo_path, memo)
        except OSError:
            pass


def _atomic_write(directory: str, path: str, payload) -> None:
    """Pickle `payload` to `path` so that readers see the old file or the new, never half."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pickle", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ---------------------------------------------------------------------- directory upkeep
def ensure_dir(directory: str) -> None:
    """Create the cache directory with its CACHEDIR.TAG and its own .gitignore."""
    os.makedirs(directory, exist_ok=True)
    tag = os.path.join(directory, "CACHEDIR.TAG")
    if not os.path.exists(tag):
        with open(tag, "w", encoding="utf-8") as fh:
            fh.write(TAG_TEXT)
    ignore = os.path.join(directory, ".gitignore")
    if not os.path.exists(ignore):
        with open(ignore, "w", encoding="utf-8") as fh:
            fh.write("# Automatically created by initlint.\n*\n")


def is_initlint_cache(directory: str) -> bool:
    try:
        with open(os.path.join(directory, "CACHEDIR.TAG"), encoding="utf-8") as fh:
            head = fh.read(512)
    except OSError:
        return False
    return head.startswith(TAG_SIGNATURE) and "initlint" in head


def find_caches(top: str) -> list[str]:
    """`.initlint_cache` directories (with initlint's tag) under `top`, not descending into
    virtual environments or VCS folders."""
    out: list[str] = []
    skip = {".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".nox"}
    for dirpath, dirnames, _ in os.walk(top):
        if CACHE_DIR_NAME in dirnames:
            full = os.path.join(dirpath, CACHE_DIR_NAME)
            if is_initlint_cache(full):
                out.append(full)
        dirnames[:] = [d for d in dirnames if d not in skip and d != CACHE_DIR_NAME]
    return out


@click.command("clean")
@click.argument("paths", nargs=-1, type=click.Path(file_okay=False))
@click.option("--quiet", "-q", is_flag=True, help="Print nothing.")
def clean_command(paths, quiet) -> None:
    """Remove initlint's caches (.initlint_cache/) under PATHS (default: the current
    folder), and the one $INITLINT_CACHE_DIR names."""
    targets: list[str] = []
    for top in paths or (".",):
        if not os.path.isdir(top):
            click.echo(f"initlint: error: {top}: no such directory", err=True)
            sys.exit(2)
        targets += find_caches(top)
    env = os.environ.get(ENV_VAR)
    if env and os.path.isdir(env) and is_initlint_cache(env):
        targets.append(env)
    removed = 0
    seen: set[str] = set()
    for d in targets:
        real = os.path.realpath(d)
        if real in seen:
            continue
        seen.add(real)
        try:
            shutil.rmtree(d)
        except OSError as exc:
            click.echo(f"initlint: error: cannot remove {d}: {exc.strerror or exc}", err=True)
            sys.exit(2)
        removed += 1
        if not quiet:
            click.echo(f"Removed {d}")
    if not quiet and not removed:
        click.echo("No cache to remove.")
