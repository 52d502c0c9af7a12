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
A pack maps (absolute path, path as given) to an `Entry`: the size (a quick miss), the
content hash, the module name the file had (it depends on `__init__.py` files up the tree),
and the pickled `FileResult` (its facts pickled apart, so that they are only unpickled when
the join needs them). Lookup: stat; a different size is a miss; else read and hash; same
content → hit, else a miss.

Packs are written atomically (temporary file + `os.replace`); two concurrent runs can at
worst drop each other's new entries, never corrupt the pack. An unreadable or foreign pack
is ignored and rewritten. `INITLINT_CACHE_DIR` overrides the location; `initlint clean`
removes it.

Trust: the cache directory sits in the linted tree, and a repository can ship anything
there. Packs are pickles, so each pack (and memo) file is sealed with an HMAC-SHA256 under a
per-user secret key that lives outside the tree (`$XDG_CACHE_HOME/initlint/key`, else
`~/.cache/initlint/key`, created 0600 in a 0700 folder), and the MAC is checked before a
single byte is unpickled: a file this user's initlint did not write is a miss, whatever it
holds (a crafted pickle, a corruption, a pack copied from another machine). Where no key can
be created or read (a read-only home, a key other users could read) there is no cache at
all, never an unauthenticated load. Every lookup reads and hashes the file: a content change
is seen even when size and mtime were kept (the hash costs a fraction of the parse it saves).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import shutil
import sys
import tempfile
from dataclasses import dataclass

import click

from initlint import __version__

CACHE_DIR_NAME = ".initlint_cache"
ENV_VAR = "INITLINT_CACHE_DIR"
TAG_SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55"
TAG_TEXT = (TAG_SIGNATURE + "\n# This file is a cache directory tag created by initlint.\n"
            "# For information about cache directory tags see https://bford.info/cachedir/\n")
PACK_FORMAT = 4  # 4: findings carry a typed remedy (initlint.remedies), not a hint dict
PACK_MAGIC = b"initlint-sealed-pack\x00"  # then the 32-byte MAC, then the pickle
KEY_BYTES = 32
KEY_ENV = "INITLINT_KEY_FILE"  # where the secret key lives (default: the user's cache dir)
MEMO_SLOTS = 16  # join reports and their fixes kept per pack (two per file set / config / cwd)

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
    mtime_ns: int  # informative only: the content hash decides
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


class Cache:
    """One pack: entries for one initlint build and one configuration fingerprint."""

    def __init__(self, directory: str, fingerprint: str):
        self.directory = directory
        self.fingerprint = fingerprint
        self.key_bytes = secret_key()
        if self.key_bytes is None:
            raise CacheUnavailable("no usable secret key for the cache")
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
        data = read_sealed(self.pack_path, self.key_bytes)
        if data is None:
            self.dirty = os.path.lexists(self.pack_path)  # foreign or corrupt: rewrite it
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
            _check_dirs(self.directory, self.pack_dir)
            _atomic_write(self.pack_dir, self.pack_path, payload, self.key_bytes)
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
        bytes are given when the file was read (analyse those, not a re-read). The content
        hash always decides: size and mtime can be kept across an edit (`touch -r`, a
        checkout tool, a copy), the bytes cannot."""
        st = file_stat(path)
        entry = self.entries.get(self.key(path))
        if st is None or entry is None or entry.module != module or entry.size != st.size:
            self.misses += 1
            return None, None, st
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            self.misses += 1
            return None, None, st
        if len(data) == entry.size and content_hash(data) == entry.digest:
            self.hits += 1
            return entry, data, st
        self.misses += 1
        return None, data, st

    def store(self, path: str, st: Stat | None, digest: str, module: str, blob: bytes,
              facts: bytes) -> None:
        if st is None:
            return
        self.entries[self.key(path)] = Entry(st.size, st.mtime_ns, digest, module, blob,
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
            data = read_sealed(self.memo_path, self.key_bytes)
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
            _check_dirs(self.directory, self.pack_dir)
            _atomic_write(self.pack_dir, self.memo_path, memo, self.key_bytes)
        except OSError:
            pass


def _atomic_write(directory: str, path: str, payload, key: bytes) -> None:
    """Pickle and seal `payload` to `path` so that readers see the old file or the new,
    never half."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pickle", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.writelines(seal(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL), key))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ---------------------------------------------------------------------- authentication
class CacheUnavailable(Exception):
    """No cache this run (no usable key): lint without one."""


_KEY: bytes | None | bool = False  # False: not looked up yet


def key_path() -> str:
    env = os.environ.get(KEY_ENV)
    if env:
        return os.path.abspath(env)
    base = os.environ.get("XDG_CACHE_HOME")
    if not base or not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "initlint", "key")


def _read_key(path: str) -> bytes | None:
    """The key, if it is a regular file of the right size that only this user can read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        import stat as stat_mod

        if not stat_mod.S_ISREG(st.st_mode) or st.st_size != KEY_BYTES:
            return None
        if hasattr(os, "geteuid") and (st.st_uid != os.geteuid() or st.st_mode & 0o077):
            return None  # another user could read or write it: it proves nothing
        data = os.read(fd, KEY_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) == KEY_BYTES else None


def _create_key(path: str) -> None:
    """Write a fresh key, atomically: concurrent first runs agree on one key."""
    import secrets

    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".key-", dir=folder)  # mode 0600
    try:
        os.write(fd, secrets.token_bytes(KEY_BYTES))
        os.fsync(fd)
        os.close(fd)
        fd = -1
        try:
            os.link(tmp, path)  # fails if another run created it meanwhile: use theirs
        except FileExistsError:
            pass
    finally:
        if fd >= 0:
            os.close(fd)
        os.unlink(tmp)


def secret_key() -> bytes | None:
    """This user's cache key (created on first use); None where there is none to be had."""
    global _KEY
    if _KEY is False:
        path = key_path()
        key = _read_key(path)
        if key is None and not os.path.lexists(path):
            try:
                _create_key(path)
            except OSError:
                pass
            key = _read_key(path)
        _KEY = key
    return _KEY  # type: ignore[return-value]


def _mac(key: bytes, payload) -> bytes:
    h = hmac.new(key, PACK_MAGIC, hashlib.sha256)
    h.update(payload)
    return h.digest()


def seal(payload: bytes, key: bytes) -> list:
    """The pieces of a sealed file (written one after the other: a pack is tens of MB, and
    joining them would copy it)."""
    return [PACK_MAGIC, _mac(key, payload), payload]


def unseal(data: bytes, key: bytes):
    """The payload (a view into `data`, not a copy), if `data` was sealed with `key`; else
    None."""
    n = len(PACK_MAGIC)
    if len(data) < n + 32 or not data.startswith(PACK_MAGIC):
        return None
    view = memoryview(data)
    mac, payload = view[n:n + 32], view[n + 32:]
    return payload if hmac.compare_digest(mac, _mac(key, payload)) else None


def read_sealed(path: str, key: bytes):
    """The object sealed in `path`, or None (missing, foreign, corrupt, not ours)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        import stat as stat_mod

        if not stat_mod.S_ISREG(os.fstat(fd).st_mode):
            return None  # a FIFO or a device planted in the tree: never read
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            data = fh.read()
    except OSError:
        return None
    finally:
        if fd >= 0:
            os.close(fd)
    payload = unseal(data, key)
    if payload is None:
        return None
    try:
        return pickle.loads(payload)  # authenticated: written by this user's initlint
    except Exception:
        return None


def _check_dirs(*dirs: str) -> None:
    """Refuse to write through a symlinked cache folder a repository may have planted (the
    folder $INITLINT_CACHE_DIR names is the user's own choice)."""
    env = os.environ.get(ENV_VAR)
    for d in dirs:
        if os.path.islink(d) and not (env and os.path.abspath(env) == d):
            raise OSError(f"{d} is a symbolic link")


# ---------------------------------------------------------------------- directory upkeep
def ensure_dir(directory: str) -> None:
    """Create the cache directory with its CACHEDIR.TAG and its own .gitignore (never
    following a link a repository planted in their place)."""
    os.makedirs(directory, exist_ok=True)
    _check_dirs(directory)
    for name, text in (("CACHEDIR.TAG", TAG_TEXT),
                       (".gitignore", "# Automatically created by initlint.\n*\n")):
        try:
            fd = os.open(os.path.join(directory, name),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)


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
