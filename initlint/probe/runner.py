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
    inputs: str | None = None  # module:function returning the batch (--inputs)
    loss: str | None = None  # module:function(output) -> scalar (--loss)
    batch_given: bool = False  # the batch size was chosen by the user

    def to_json(self) -> dict:
        return {"target": self.target, "module": self.module, "attr": self.attr,
                "kwargs": self.kwargs, "input_shape": self.input_shape,
                "batch_size": self.batch_size, "extra_path": self.extra_path,
                "inputs": self.inputs, "loss": self.loss, "batch_given": self.batch_given}


@dataclass
class Options:
    path: str
    device: str = "auto"
    memory_mb: int = 0
    seed: int = 0
    timeout: float = 120.0
    lsuv: bool = False
    lsuv_apply: bool = False
    config_path: str | None = None


MEMORY_CAP_MB = 4096     # the default budget: at most 4 GiB ...
MEMORY_SHARE = 0.5       # ... and at most half of the memory available when the probe starts
MEMORY_FLOOR_MB = 1024


def _available_mb() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") // 2 ** 20
    except (ValueError, OSError, AttributeError):
        return None


def default_memory_mb() -> int:
    """The default address-space budget of the child above torch's own baseline, MiB:
    min(4 GiB, half the memory available now), at least 1 GiB, so a probe on a shared machine
    cannot take it over. --memory-mb (or `memory-mb`) overrides it."""
    avail = _available_mb()
    if avail is None:
        return MEMORY_CAP_MB
    return max(MEMORY_FLOOR_MB, min(MEMORY_CAP_MB, int(avail * MEMORY_SHARE)))


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


def _proc_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (parent pid, process group, start time) of every process /proc shows."""
    out = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        rest = data[data.rfind(b")") + 2:].split()
        try:  # state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
            out[int(name)] = (int(rest[1]), int(rest[2]), int(rest[19]))  # ... starttime
        except (IndexError, ValueError):
            continue
    return out


def descendants(pid: int, table: dict | None = None) -> dict[int, tuple[int, int]]:
    """Every process below `pid` (through parent links, whatever session or group it moved
    to): pid -> (process group, start time)."""
    table = _proc_table() if table is None else table
    kids: dict[int, list[int]] = {}
    for p, (ppid, _g, _t) in table.items():
        kids.setdefault(ppid, []).append(p)
    out, todo = {}, [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in out and k != pid:
                out[k] = (table[k][1], table[k][2])
                todo.append(k)
    return out


class Tree:
    """The child and every process it starts. The child makes itself a subreaper (orphans of
    its descendants are re-parented to it, not to init), and the parent samples the tree while
    it waits, so a grandchild that calls setsid() or double-forks is still found and killed."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.seen: dict[int, tuple[int, int]] = {}
        self.last = 0.0

    def sample(self, every: float = 0.25) -> None:
        now = time.monotonic()
        if os.name != "posix" or now - self.last < every:
            return
        self.last = now
        self.seen.update(descendants(self.proc.pid))

    def kill(self) -> int:
        """SIGKILL the child's group, every descendant (and its group); returns how many
        processes besides the child were killed."""
        if os.name != "posix":  # pragma: no cover - Windows
            try:
                self.proc.kill()
            except OSError:
                pass
            return 0
        killed: set[int] = set()
        for _round in range(10):
            table = _proc_table()
            found = descendants(self.proc.pid, table)
            # processes seen earlier whose parent has exited: the same pid with the same start
            # time is the same process
            for pid, (grp, start) in self.seen.items():
                now = table.get(pid)
                if now is not None and now[2] == start:
                    found.setdefault(pid, (now[1], start))
            fresh = {p: v for p, v in found.items() if p not in killed}
            for pid, (grp, _start) in fresh.items():
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                if grp > 1 and grp != os.getpgrp():
                    try:
                        os.killpg(grp, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
            killed.update(fresh)
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if not fresh:
                break
        return len(killed)


def _n_procs(n: int) -> str:
    return "no other process" if n == 0 else f"the {n} process{'es' if n != 1 else ''}"


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
        req = {"path": opts.path, "device": opts.device, "config_path": opts.config_path,
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
        tree = Tree(proc)
        killed = 0
        try:
            while not _exited(proc):
                time.sleep(POLL_S)
                tree.sample()
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
            killed = tree.kill()  # on expiry, on Ctrl-C, and leftovers of a normal exit
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
                              "hint": f"the probe process and {_n_procs(killed)} it started "
                              "were killed; raise "
                              "--timeout (or `timeout` in [tool.initlint.probe]) if the model "
                              "is just slow, or use a smaller --batch-size",
                              "context": {"elapsed_s": round(elapsed, 2), "during": stage,
                                          "killed_descendants": killed}}
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
