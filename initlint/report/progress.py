"""A progress line on stderr for runs long enough to wonder about (a terminal only).

`initlint: linting 534 files… 3 s` appears after PROGRESS_DELAY_S and is erased before the
report prints, so output redirected to a file or a pipe never contains it. The engine does
its work in worker processes and a project-wide join, so the line counts time, not files.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time

PROGRESS_DELAY_S = 1.0
_ENV_DELAY = "INITLINT_PROGRESS_DELAY"  # seconds; for tests of the line itself


@contextlib.contextmanager
def progress(n_files: int, enabled: bool = True, stream=None):
    stream = stream or sys.stderr
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if not (enabled and tty and n_files and os.environ.get("TERM") != "dumb"):
        yield
        return
    try:
        delay = float(os.environ.get(_ENV_DELAY, PROGRESS_DELAY_S))
    except ValueError:
        delay = PROGRESS_DELAY_S
    done = threading.Event()
    shown = []
    start = time.monotonic()
    what = f"{n_files} file{'s' if n_files != 1 else ''}"

    def tick() -> None:
        if done.wait(delay):
            return
        while True:
            line = f"initlint: linting {what}… {time.monotonic() - start:.0f} s"
            try:
                stream.write("\r" + line + "\x1b[K")
                stream.flush()
            except (OSError, ValueError):
                return
            shown.append(True)
            if done.wait(0.5):
                return

    thread = threading.Thread(target=tick, name="initlint-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        if shown:
            try:
                stream.write("\r\x1b[K")  # erase it: the report starts on a clean line
                stream.flush()
            except (OSError, ValueError):
                pass
