"""Parent side of the probe: runs jobs in a child process with a wall-clock limit per target,
kills the child's whole process group on expiry, and never imports torch or user code.

Several targets share one child (torch is imported once); a target that hangs or crashes
costs only itself: the parent kills that child and starts a fresh one for the rest.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

POLL_S = 0.05
# glibc raises its mmap threshold each time a large block is freed, so the hooks' short-lived
# temporaries push later activations onto the heap, where fragmentation kept the peak RSS of a
# ResNet-style probe ~1.4× that of a bare forward+backward. A fixed threshold (glibc's default
# value; fixing it turns the adjustment off) keeps the two peaks equal. Ignored elsewhere.
CHILD_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072"}
STARTUP_EXTRA_S = 60.0
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_BOOT = ("import sys; sys.path.insert(0, {root!r}); from initlint.probe.child import main; "
         "sys.path.remove({root!r}); sys.exit(main())")


@dataclass
class Job:
    target: str  # as the user wrote it
    module: str
    attr: str
    kwargs: dict = field(default_factory=dict)
    input_shape: list[int] | None = None
    batch_size: int = 64
    extra_path: str | None = None  # package root of a target given as a file

    def to_json(self) -> dict:
        return {"target": self.target, "module": self.module, "attr": self.attr,
                "kwargs": self.kwargs, "input_shape": self.input_shape,
                "batch_size": self.batch_size, "extra_path": self.extra_path}


@dataclass
class Options:
    path: str
    device: str = "auto"
    memory_mb: int = 0
    seed: int = 0
    timeout: float = 120.0
    lsuv: bool = False
    lsuv_apply: bool = False


def default_memory_mb() -> int:
    """Physical memory in MiB (the address-space budget above torch's own baseline)."""
    try:
        return max(2048, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2 ** 20)
    except (ValueError, OSError, AttributeError):
        return 16384


def _read_status(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _exited(proc: subprocess.Popen) -> bool:
    """Has the child exited? Leaves it unreaped (a zombie still holds its process group id, so
    the group can be killed afterwards without hitting a recycled id)."""
    if hasattr(os, "waitid"):
        try:
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None
    return proc.poll() is not None


def _kill_group(proc: subprocess.Popen) -> None:
    if os.name == "posix":
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    else:  # pragma: no cover - Windows
        try:
            proc.kill()
        except OSError:
            pass


def _tail(path: str, limit: int = 4000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


def run(jobs: list[Job], opts: Options, progress=None) -> list[dict]:
    """Run every job; returns one result dict per job (ok or an error with a `stage`).
    `progress(index, stage, elapsed_s)` is called while waiting."""
    results: list[dict | None] = [None] * len(jobs)
    start = 0
    while start < len(jobs):
        start = _run_child(jobs, start, opts, results, progress)
    return [r for r in results if r is not None]


def _run_child(jobs, start, opts: Options, results, progress) -> int:
    """Run jobs[start:] in one child; returns the index of the first job still to run."""
    with tempfile.TemporaryDirectory(prefix="initlint-probe-") as tmp:
        req = {"path": opts.path, "device": opts.device,
               "memory_mb": opts.memory_mb or default_memory_mb(), "seed": opts.seed,
               "lsuv": opts.lsuv or opts.lsuv_apply, "lsuv_apply": opts.lsuv_apply,
               "jobs": [j.to_json() for j in jobs], "first_job": start,
               "status_file": os.path.join(tmp, "status.json"), "result_dir": tmp}
        req_path = os.path.join(tmp, "request.json")
        with open(req_path, "w", encoding="utf-8") as fh:
            json.dump(req, fh)
        log_path = os.path.join(tmp, "child.log")
        env = dict(CHILD_ENV)
        env.update(os.environ)  # the user's own malloc settings win
        env.update(PYTHONHASHSEED=str(opts.seed % (2 ** 32)), PYTHONUNBUFFERED="1")
        kw: dict = {"start_new_session": True} if os.name == "posix" else {
            "creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([sys.executable, "-c", _BOOT.format(root=_ROOT), req_path],
                                    stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=env, **kw)
        # the clock of a target starts when the child begins it (importing its module); the
        # child's own start-up (the interpreter, `import torch`) gets the limit plus a minute
        current, job_start, stage = -1, time.monotonic(), "starting the probe process"
        timed_out = False
        try:
            while not _exited(proc):
                time.sleep(POLL_S)
                st = _read_status(req["status_file"])
                now = time.monotonic()
                if st is not None:
                    if int(st.get("job", -1)) > current:
                        current, job_start = int(st["job"]), now
                    stage = st.get("stage", stage)
                limit = opts.timeout if current >= 0 else opts.timeout + STARTUP_EXTRA_S
                if now - job_start > limit:
                    timed_out = True
                    break
                if progress is not None:
                    progress(max(current, start), stage, now - job_start)
        finally:
            _kill_group(proc)  # on expiry, on Ctrl-C, and leftovers of a normal exit
            rc = proc.wait()
        in_startup = current < 0
        current = max(current, start)
        elapsed = time.monotonic() - job_start
        for k in range(start, len(jobs)):
            p = os.path.join(tmp, f"job-{k}.json")
            if os.path.exists(p):
                try:
                    with open(p, encoding="utf-8") as fh:
                        results[k] = json.load(fh)
                    continue
                except (OSError, ValueError):
                    pass
            log_tail = _tail(log_path)
            if timed_out and k == current:
                results[k] = {"ok": False, "stage": "timeout", "exc_type": None,
                              "exc_message": (
                                  f"the probe process was still {stage} after "
                                  f"{opts.timeout + STARTUP_EXTRA_S:g} s" if in_startup else
                                  f"the time limit of {opts.timeout:g} s was hit while {stage}"),
                              "where": None, "traceback": "", "log": log_tail,
                              "hint": "the probe process and its children were killed; raise "
                              "--timeout (or `timeout` in [tool.initlint.probe]) if the model "
                              "is just slow, or use a smaller --batch-size",
                              "context": {"elapsed_s": round(elapsed, 2), "during": stage}}
            else:
                how = (f"was killed by {_signal_name(rc)}" if rc < 0 else
                       f"exited with status {rc}")
                hint = ("a crash in native code (see the log below)"
                        if rc < 0 and -rc in (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS)
                        else "see the log below")
                if rc < 0 and -rc in (signal.SIGKILL, signal.SIGABRT):
                    hint += ("; if it ran out of memory, raise --memory-mb or use a smaller "
                             "--batch-size")
                results[k] = {"ok": False, "stage": "crash", "exc_type": None,
                              "exc_message": f"the probe process {how} while {stage}",
                              "where": None, "traceback": "", "log": log_tail, "hint": hint,
                              "context": {"returncode": rc, "during": stage}}
            return k + 1
    return len(jobs)
