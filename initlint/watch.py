"""`initlint --watch`: lint, then lint again whenever a linted file or the configuration
changes. Polls modification times (no extra dependency); Ctrl-C stops it with status 0."""

from __future__ import annotations

import os
import time
from datetime import datetime

import click

POLL_S = 0.3


def _stamp(paths) -> dict:
    out = {}
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            continue
        out[p] = (st.st_mtime_ns, st.st_size)
    return out


def watch(run_once, watched, poll: float = POLL_S, max_runs: int | None = None) -> int:
    """run_once() lints and prints; watched() lists the files whose change starts a new run
    (asked again after each run: a new file in a linted folder counts)."""
    now = datetime.now().strftime("%H:%M:%S")
    click.echo(f"[{now}] Starting linter in watch mode...")
    runs = 0
    try:
        while True:
            run_once()
            runs += 1
            if max_runs is not None and runs >= max_runs:
                return 0
            now = datetime.now().strftime("%H:%M:%S")
            click.echo(f"[{now}] Watching for file changes.")
            before = _stamp(watched())
            while True:
                time.sleep(poll)
                after = _stamp(watched())
                if after != before:
                    break
            now = datetime.now().strftime("%H:%M:%S")
            click.echo(f"[{now}] File change detected...")
    except KeyboardInterrupt:
        return 0
