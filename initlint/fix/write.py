"""Writing a fixed file, with the trust guarantees: an atomic replace (a temp file beside the
target, permissions and owner kept, fsync, `os.replace`), never over a file that changed on
disk since it was linted or while the temp file was written, never over a read-only file;
SIGTERM/SIGINT/SIGHUP remove the temp file, and the next run sweeps up after a SIGKILL."""

from __future__ import annotations

import os
import re
import stat
import tempfile

from initlint.fix.sources import Source

TEMP_SUFFIX = ".initlint"
CHANGED_ON_DISK = "it changed on disk while initlint was fixing it; your version is kept as it is"
_PENDING_TEMPS: set[str] = set()  # temp files being written now (removed on SIGTERM/INT/HUP)


def _writable(st: os.stat_result, path: str) -> bool:
    """May the user write this file? The permission bits decide, also for root (whose
    `access()` ignores them): a file the user made read-only is not replaced."""
    if not os.access(path, os.W_OK):
        return False
    if not hasattr(os, "geteuid"):  # pragma: no cover - Windows: the read-only attribute
        return bool(st.st_mode & stat.S_IWRITE)
    if st.st_uid == os.geteuid():
        return bool(st.st_mode & stat.S_IWUSR)
    if st.st_gid in os.getgroups() or st.st_gid == os.getegid():
        return bool(st.st_mode & stat.S_IWGRP)
    return bool(st.st_mode & stat.S_IWOTH)


def _same_bytes(path: str, expected: bytes) -> bool:
    """Does the file hold exactly `expected` now (compared by content hash)?"""
    import hashlib

    try:
        with open(path, "rb") as fh:
            now = fh.read()
    except OSError:
        return False
    return len(now) == len(expected) and \
        hashlib.blake2b(now).digest() == hashlib.blake2b(expected).digest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, it is someone else's
        return True
    return True


def remove_stale_temps(directory: str, base: str) -> None:
    """Temp files of `base` that a killed initlint left behind (`.base.PID.XXXX.initlint`
    whose PID is gone; older pid-less ones after an hour)."""
    import time

    pat = re.compile(re.escape(f".{base}.") + r"(?:(\d+)\.)?[A-Za-z0-9_]+" + re.escape(TEMP_SUFFIX))
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        m = pat.fullmatch(name)
        if m is None:
            continue
        full = os.path.join(directory, name)
        try:
            if m.group(1) is not None:
                if int(m.group(1)) == os.getpid() or _pid_alive(int(m.group(1))):
                    continue
            elif time.time() - os.lstat(full).st_mtime < 3600:
                continue
            os.unlink(full)
        except OSError:
            pass


class _CleanupOnSignal:
    """While a temp file exists, SIGTERM/SIGINT/SIGHUP remove it before the process dies
    (SIGKILL cannot be caught: `remove_stale_temps` sweeps up after it on the next run)."""

    SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP")

    def __enter__(self):
        import signal
        import threading

        self.old = {}
        if threading.current_thread() is not threading.main_thread():
            return self
        for name in self.SIGNALS:
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            try:
                self.old[sig] = signal.signal(sig, self._handler)
            except (OSError, ValueError):
                pass
        return self

    def _handler(self, sig, frame):
        import signal

        for tmp in list(_PENDING_TEMPS):
            try:
                os.unlink(tmp)
            except OSError:
                pass
        _PENDING_TEMPS.clear()
        signal.signal(sig, self.old.get(sig, signal.SIG_DFL))
        os.kill(os.getpid(), sig)  # die (or raise KeyboardInterrupt) as the signal meant

    def __exit__(self, *exc):
        import signal

        for sig, old in self.old.items():
            try:
                signal.signal(sig, old)
            except (OSError, ValueError):
                pass
        return False


def write_atomic(src: Source, data: bytes) -> str | None:
    """Atomic replace: temp file beside the target, permissions kept, then os.replace; None,
    or why the file was left as it is. The file is compared with the bytes the fixes were
    computed from twice: before anything is written, and again after the temp file is
    complete, right before the rename (an editor's save meanwhile is never overwritten)."""
    real = os.path.realpath(src.path)
    try:
        st = os.stat(real)
    except OSError as exc:
        return exc.strerror or str(exc)
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if not _writable(st, real):
        return "it is read-only (no write permission); left as it is"
    if not _same_bytes(real, src.data):
        return CHANGED_ON_DISK
    directory = os.path.dirname(real) or "."
    base = os.path.basename(real)
    remove_stale_temps(directory, base)
    with _CleanupOnSignal():
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{base}.{os.getpid()}.", suffix=TEMP_SUFFIX,
                                       dir=directory)
        except OSError as exc:
            return exc.strerror or str(exc)
        _PENDING_TEMPS.add(tmp)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
            if hasattr(os, "chown") and (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
                try:
                    os.chown(tmp, st.st_uid, st.st_gid)
                except OSError:
                    pass
            # the last look, as late as it can be: a save while the temp file was written
            if not _same_bytes(real, src.data):
                os.unlink(tmp)
                return CHANGED_ON_DISK
            os.replace(tmp, real)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return exc.strerror or str(exc)
        finally:
            _PENDING_TEMPS.discard(tmp)
    return None
