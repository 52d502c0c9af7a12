#!/usr/bin/env python3
"""Fault campaign: the kinds of faults that issue 18's campaign threw at initlint, repeated
on this checkout, with counts.

    python bench/faults.py              # every kind, the default number of tries
    python bench/faults.py --only cache-corrupt,lsp-framing --tries 3

Each kind runs its tries in fresh temporary folders and checks one invariant per try:

  kill-during-fix   SIGKILL at a random moment of `--fix`: the file is the original or the
                    whole fixed version, never truncated; the next run leaves no temp file
  save-during-fix   an editor saves the file at a random moment of `--fix`: the save is never
                    overwritten by a fix computed from the older text
  cache-corrupt     random bytes flipped or the file truncated in a pack or the join memo:
                    same exit status and output as a clean run, on that run and the next
  cache-crafted     a pickle that runs code, a FIFO, a symlink in place of the cache files:
                    nothing runs, nothing hangs, same output
  disk-full         `--fix` under RLIMIT_FSIZE (writes fail with EFBIG): the file intact,
                    exit 2, "cannot write", no temp file; the cache cannot be written: lint ok
  read-only         `--fix` on a 0444 file: left as it is, exit 2, never "Fixed"
  hostile-input     FIFO, socket, NUL bytes, invalid UTF-8, 5 MB file, deep nesting, symlink
                    loop, a folder named x.py: exit 0/1 with IL001 or a finding, no traceback
  lsp-framing       a badly framed message (wrong/negative/non-numeric/missing/huge
                    Content-Length, LF-only, garbage), then a good request: it is answered
  orphan-workers    SIGKILL of initlint while its pool runs: every worker is gone in 10 s
  hot-paths         650k statements, a 5,000-deep class chain, 10,000 chained layers: done
                    within the 240 s hang guard

Prints per kind: tried, survived, defects (with what broke). Exit 1 if any defect.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import pickle
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
ENV = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))

MODEL = '''import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(256, 256)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(256, 10)
        nn.init.xavier_uniform_(self.fc1.weight)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))
'''


def initlint(*args, cwd=None, timeout=240, **kw):
    return subprocess.run([PY, "-m", "initlint", *args], cwd=cwd, env=kw.pop("env", ENV),
                          capture_output=True, timeout=timeout, **kw)


def big_model(n_funcs: int) -> str:
    return MODEL + "".join(f"\n\ndef helper_{i}(x):\n    return x * {i} + 1\n"
                           for i in range(n_funcs))


def fixed_version(text: str, d: str) -> str:
    p = os.path.join(d, "ref.py")
    with open(p, "w") as fh:
        fh.write(text)
    initlint(p, "--fix", "--no-cache")
    with open(p) as fh:
        return fh.read()


# ---------------------------------------------------------------------- the kinds
def kill_during_fix(rng, d):
    text = big_model(3000)
    fixed = fixed_version(text, d)
    p = os.path.join(d, "m.py")
    with open(p, "w") as fh:
        fh.write(text)
    proc = subprocess.Popen([PY, "-m", "initlint", p, "--fix", "--no-cache"], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0.2, 2.5))
    proc.kill()
    proc.wait()
    with open(p) as fh:
        now = fh.read()
    if now not in (text, fixed):
        return f"file is neither the original nor the fixed version ({len(now)} chars)"
    initlint(p, "--no-cache")
    initlint(p, "--fix", "--no-cache")
    left = [n for n in os.listdir(d) if n.endswith(".initlint")]
    return f"temp files left: {left}" if left else None


def save_during_fix(rng, d):
    text = big_model(20000)
    saved = text + "# the user's save\n"
    fixed_old = fixed_version(text, d)
    p = os.path.join(d, "m.py")
    with open(p, "w") as fh:
        fh.write(text)
    proc = subprocess.Popen([PY, "-m", "initlint", p, "--fix", "--no-cache"], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0.3, 4.0))
    with open(p, "w") as fh:  # the editor's save (in place, as most editors do)
        fh.write(saved)
    proc.wait(timeout=240)
    with open(p) as fh:
        now = fh.read()
    if now == fixed_old:
        return "the user's save was overwritten"
    if not now.endswith("# the user's save\n"):
        return f"the file is something else ({len(now)} chars)"
    return None


def _project(d):
    proj = os.path.join(d, "proj")
    os.makedirs(proj)
    for i in range(3):
        with open(os.path.join(proj, f"m{i}.py"), "w") as fh:
            fh.write(MODEL.replace("Net", f"Net{i}"))
    return proj


def _packs(proj):
    return sorted(glob.glob(os.path.join(proj, ".initlint_cache", "*", "*.pickle")))


def cache_corrupt(rng, d):
    proj = _project(d)
    env = dict(ENV, INITLINT_KEY_FILE=os.path.join(d, "key"))
    clean = initlint(".", "--output-format", "json", cwd=proj, env=env)
    packs = _packs(proj)
    if len(packs) != 2:
        return f"expected 2 cache files, found {len(packs)}"
    p = rng.choice(packs)
    with open(p, "rb") as fh:
        data = bytearray(fh.read())
    if rng.random() < 0.3:
        data = data[:rng.randrange(len(data))]
    else:
        n = rng.randint(1, 64)
        at = rng.randrange(max(1, len(data) - n))
        for k in range(at, min(len(data), at + n)):
            data[k] = rng.randrange(256)
    with open(p, "wb") as fh:
        fh.write(bytes(data))
    for _ in range(2):
        r = initlint(".", "--output-format", "json", cwd=proj, env=env)
        if r.returncode != clean.returncode or r.stdout != clean.stdout:
            return f"exit {r.returncode} (clean: {clean.returncode}): {r.stderr[-200:]!r}"
    return None


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def cache_crafted(rng, d, variant=None):
    proj = _project(d)
    env = dict(ENV, INITLINT_KEY_FILE=os.path.join(d, "key"))
    clean = initlint(".", "--output-format", "json", cwd=proj, env=env)
    marker = os.path.join(d, "pwned")
    variant = variant or rng.choice(["pickle", "pickle-memo", "fifo", "symlink", "sealed-looking"])
    for p in _packs(proj):
        if variant == "pickle-memo" and not p.endswith(".memo.pickle"):
            continue
        os.unlink(p)
        if variant in ("pickle", "pickle-memo"):
            with open(p, "wb") as fh:
                pickle.dump({"format": 3, "entries": _Evil(marker)}, fh)
        elif variant == "fifo":
            os.mkfifo(p)
        elif variant == "symlink":
            os.symlink("/etc/passwd", p)
        else:  # the magic and a MAC-sized prefix, with a pickle after it
            try:
                from initlint.cache import PACK_MAGIC
            except ImportError:  # a checkout from before the packs were sealed
                PACK_MAGIC = b""
            with open(p, "wb") as fh:
                fh.write(PACK_MAGIC + b"\0" * 32 + pickle.dumps(_Evil(marker)))
    r = initlint(".", "--output-format", "json", cwd=proj, env=env, timeout=60)
    if os.path.exists(marker):
        return f"{variant}: the crafted cache ran code"
    if r.returncode != clean.returncode or r.stdout != clean.stdout:
        return f"{variant}: exit {r.returncode}, output differs"
    return None


def disk_full(rng, d):
    import resource

    text = big_model(400)
    p = os.path.join(d, "m.py")
    with open(p, "w") as fh:
        fh.write(text)
    limit = rng.choice([0, 1, 4096, len(text) // 2])

    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = subprocess.run([PY, "-m", "initlint", p, "--fix", "--no-cache"], env=ENV,
                       capture_output=True, timeout=240, preexec_fn=pre)
    with open(p) as fh:
        if fh.read() != text:
            return f"limit {limit}: the file changed"
    if r.returncode != 2 or b"cannot write" not in r.stderr or b"Traceback" in r.stderr:
        return f"limit {limit}: exit {r.returncode}, {r.stderr[-200:]!r}"
    if [n for n in os.listdir(d) if n.endswith(".initlint")]:
        return f"limit {limit}: temp file left"
    proj = _project(d)  # the cache cannot be written: lint anyway
    r = subprocess.run([PY, "-m", "initlint", "."], cwd=proj, capture_output=True, timeout=240,
                       env=dict(ENV, INITLINT_KEY_FILE=os.path.join(d, "key")), preexec_fn=pre)
    if r.returncode != 1 or b"Traceback" in r.stderr:
        return f"limit {limit}: lint with an unwritable cache: exit {r.returncode}"
    return None


def read_only(rng, d):
    p = os.path.join(d, "m.py")
    with open(p, "w") as fh:
        fh.write(MODEL)
    os.chmod(p, 0o444)
    r = initlint(p, "--fix", "--no-cache")
    with open(p) as fh:
        same = fh.read() == MODEL
    os.chmod(p, 0o644)
    if not same or r.returncode != 2 or b"Fixed" in r.stderr:
        return f"exit {r.returncode}, changed: {not same}"
    return None


def hostile_input(rng, d, variant=None):
    variant = variant or rng.choice(["fifo", "socket", "nul", "utf8", "huge", "nesting",
                                     "loop", "dir"])
    p = os.path.join(d, "x.py")
    sock = None
    if variant == "fifo":
        os.mkfifo(p)
    elif variant == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(p)
    elif variant == "nul":
        with open(p, "wb") as fh:
            fh.write(MODEL.encode() + b"\0\0x = 1\n")
    elif variant == "utf8":
        with open(p, "wb") as fh:
            fh.write(MODEL.encode() + b"# \xff\xfe\n")
    elif variant == "huge":
        with open(p, "w") as fh:
            fh.write(MODEL + "x = 1\n" * 900_000)
    elif variant == "nesting":
        with open(p, "w") as fh:
            fh.write(MODEL + "y = " + "(" * 3000 + "1" + ")" * 3000 + "\n")
    elif variant == "loop":
        os.symlink(os.path.join(d, "y.py"), p)
        os.symlink(p, os.path.join(d, "y.py"))
    else:
        os.mkdir(p)
        with open(os.path.join(p, "m.py"), "w") as fh:
            fh.write(MODEL)
    try:
        r = initlint(p, "--no-cache", timeout=120)
    finally:
        if sock is not None:
            sock.close()
    if r.returncode not in (0, 1) or b"Traceback" in r.stdout + r.stderr:
        return f"{variant}: exit {r.returncode}: {r.stderr[-200:]!r}"
    return None


LSP_FAULTS = {
    "too long": lambda b: b"Content-Length: %d\r\n\r\n" % (len(b) + 33) + b,
    "too short": lambda b: b"Content-Length: %d\r\n\r\n" % (len(b) - 5) + b,
    "negative": lambda b: b"Content-Length: -3\r\n\r\n" + b,
    "non-numeric": lambda b: b"Content-Length: abc\r\n\r\n" + b,
    "missing": lambda b: b"X-Nothing: 1\r\n\r\n" + b,
    "huge": lambda b: b"Content-Length: %d\r\n\r\n" % (1 << 40) + b,
    "lf-only": lambda b: b"Content-Length: %d\n\n" % len(b) + b,
    "garbage": lambda b: bytes(random.Random(len(b)).randrange(256) for _ in range(500)),
}


def _lsp_read(out, deadline):
    """One framed message from the server's stdout, or None."""
    import select

    buf = b""
    while time.monotonic() < deadline:
        r, _, _ = select.select([out], [], [], 0.2)
        if not r:
            continue
        chunk = os.read(out.fileno(), 65536)
        if not chunk:
            return None
        buf += chunk
        while b"\r\n\r\n" in buf:
            head, rest = buf.split(b"\r\n\r\n", 1)
            n = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                     if line.lower().startswith(b"content-length"))
            if len(rest) < n:
                break
            yield json.loads(rest[:n])
            buf = rest[n:]
    return None


def lsp_framing(rng, d, variant=None):
    variant = variant or rng.choice(sorted(LSP_FAULTS))
    proc = subprocess.Popen([PY, "-m", "initlint", "lsp"], env=ENV, cwd=d,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        bad = json.dumps({"jsonrpc": "2.0", "method": "$/noSuchNotification"}).encode()
        proc.stdin.write(LSP_FAULTS[variant](bad))
        good = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                           "params": {"processId": None, "rootUri": None,
                                      "capabilities": {}}}).encode()
        proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(good) + good)
        proc.stdin.flush()
        for msg in _lsp_read(proc.stdout, time.monotonic() + 20):
            if msg.get("id") == 1 and "result" in msg:
                return None
        return f"{variant}: the good request was never answered"
    finally:
        proc.kill()
        proc.wait()


def _children(pid):
    out = []
    for st in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(st) as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(st.split("/")[2]))
    return out


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def orphan_workers(rng, d):
    text = big_model(3000)
    for i in range(10):
        with open(os.path.join(d, f"m{i}.py"), "w") as fh:
            fh.write(text.replace("Net", f"Net{i}"))
    code = ("import initlint.parallel as p; p.available_cores = lambda: 2; "
            "from initlint.cli import main; main(['.', '--no-cache', '--jobs', '2'])")
    proc = subprocess.Popen([PY, "-c", code], cwd=d, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    workers = []
    deadline = time.monotonic() + 60
    while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
        workers = _children(proc.pid)
        time.sleep(0.01)
    if len(workers) < 2:
        proc.kill()
        proc.wait()
        return "the pool never started"
    time.sleep(rng.uniform(0, 0.5))
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.05)
    left = [w for w in workers if _alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    return f"workers outlived their parent: {left}" if left else None


def hot_paths(rng, d, variant=None):
    variant = variant or rng.choice(["statements", "inheritance", "chain"])
    if variant == "statements":
        text = "import torch.nn as nn\n" + "a=1\n" * 650_000
    elif variant == "inheritance":
        text = ("import torch.nn as nn\n\nclass C0(nn.Module):\n    def __init__(self):\n"
                "        super().__init__()\n        self.fc = nn.Linear(4, 4)\n\n" +
                "".join(f"class C{i}(C{i - 1}):\n    pass\n\n" for i in range(1, 5000)))
    else:
        text = ("import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n"
                "        super().__init__()\n" +
                "".join(f"        self.l{i} = nn.Linear(8, 8)\n" for i in range(10_000)) +
                "\n    def forward(self, x):\n" +
                "".join(f"        x = self.l{i}(x)\n" for i in range(10_000)) + "        return x\n")
    p = os.path.join(d, "gen.py")
    with open(p, "w") as fh:
        fh.write(text)
    t0 = time.monotonic()
    try:
        r = initlint(p, "--no-cache", timeout=240)
    except subprocess.TimeoutExpired:
        return f"{variant}: still running after 240 s"
    if r.returncode not in (0, 1):
        return f"{variant}: exit {r.returncode}"
    print(f"    {variant}: {time.monotonic() - t0:.1f} s", flush=True)
    return None


KINDS = {
    "kill-during-fix": (kill_during_fix, 12),
    "save-during-fix": (save_during_fix, 10),
    "cache-corrupt": (cache_corrupt, 22),
    "cache-crafted": (cache_crafted, 5),
    "disk-full": (disk_full, 4),
    "read-only": (read_only, 2),
    "hostile-input": (hostile_input, 8),
    "lsp-framing": (lsp_framing, 8),
    "orphan-workers": (orphan_workers, 3),
    "hot-paths": (hot_paths, 3),
}
# kinds whose tries go through every variant once, in order
VARIANTS = {
    "cache-crafted": ["pickle", "pickle-memo", "fifo", "symlink", "sealed-looking"],
    "hostile-input": ["fifo", "socket", "nul", "utf8", "huge", "nesting", "loop", "dir"],
    "lsp-framing": sorted(LSP_FAULTS),
    "hot-paths": ["statements", "inheritance", "chain"],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated kinds")
    ap.add_argument("--tries", type=int, help="tries per kind (default: each kind's own)")
    ap.add_argument("--seed", type=int, default=18)
    args = ap.parse_args()
    kinds = args.only.split(",") if args.only else list(KINDS)
    rng = random.Random(args.seed)
    rows = []
    for kind in kinds:
        fn, n = KINDS[kind]
        n = args.tries or n
        variants = VARIANTS.get(kind)
        defects = []
        print(f"{kind}: {n} tries", flush=True)
        for i in range(n):
            d = tempfile.mkdtemp(prefix=f"initlint-fault-{kind}-")
            try:
                kw = {"variant": variants[i % len(variants)]} if variants else {}
                problem = fn(rng, d, **kw)
            except Exception as exc:  # the harness itself, or a hang past its timeout
                problem = f"{type(exc).__name__}: {exc}"
            finally:
                shutil.rmtree(d, ignore_errors=True)
            if problem:
                defects.append(problem)
                print(f"    defect: {problem}", flush=True)
        rows.append((kind, n, n - len(defects), defects))
    print()
    print(f"{'kind':<18}{'tried':>6}{'survived':>10}{'defects':>9}")
    for kind, n, ok, defects in rows:
        print(f"{kind:<18}{n:>6}{ok:>10}{len(defects):>9}")
    total = sum(r[1] for r in rows)
    bad = sum(len(r[3]) for r in rows)
    print(f"{'total':<18}{total:>6}{total - bad:>10}{bad:>9}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
