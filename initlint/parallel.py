"""The per-file half of a lint run, fast: a process pool over files, and the cache.

`make_analyzer(jobs, config, use_cache)` returns `analyze(targets) -> list[FileResult]`: the
results of `[engine.analyze_file(t.path, t.display) for t in targets]`, in order, field by
field (facts, errors with their message and position, suppressions, notebook cell maps).

- Cached files (see `initlint.cache`) are not read or parsed again; only the rest is analysed.
- Few or small files are analysed in this process: starting workers costs more than it saves.
- Otherwise a pool of `jobs` worker processes (0: one per available core) takes chunks of
  files, largest first, so that no worker is left holding one big file at the end. Workers
  send back pickled results, which is also the form the cache stores.
- Results from the cache keep their file facts pickled until something reads `.facts`
  (`LazyResult`): when nothing changed, nothing needs them. Results from workers are
  unpickled as they arrive, while the other workers still run.
- The analyzer also brings its own `finish` (engine.lint calls it): the project join, memoized
  in the cache on everything it depends on (every file's pickled result and facts, module
  name, path and display name, the whole configuration, the working directory, initlint's
  own code): an edit that changes no facts re-analyses its file and reuses the join.
- A worker that dies (a crash in the parser, the OOM killer) does not lose the run: the files
  it had not finished are analysed again in this process.
- The cyclic garbage collector is paused while results pile up and during the join (the facts
  of thousands of files are all live: full collections find nothing and cost time that grows
  with the heap).
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from initlint import engine
from initlint.engine import FileResult, analyze_file

# below these, the pool's start-up costs more than it saves
MIN_PARALLEL_FILES = 8
MIN_PARALLEL_BYTES = 256 * 1024
# per worker, this many chunks: small enough to balance the load, large enough to batch
CHUNKS_PER_WORKER = 10

_PROTO = pickle.HIGHEST_PROTOCOL
# what this process did, for the benchmark: INITLINT_TIMINGS=FILE writes it there at exit
TIMINGS: dict = {}


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def worker_count(jobs: int) -> int:
    """Workers for `--jobs N`: N, but never more than the cores this process may use (the
    work is CPU-bound: more processes only cost memory and start-up); 0 means all of them."""
    cores = available_cores()
    return min(jobs, cores) if jobs and jobs > 0 else cores


def module_of(path: str) -> str:
    """The module name `engine.analyze_file` gives the file (part of the cache key)."""
    from initlint.analysis.names import module_name_for

    if os.path.exists(path):
        return module_name_for(path)
    return os.path.splitext(os.path.basename(path))[0]


class _GCPaused:
    """Pause automatic cyclic GC (restoring the previous state on exit)."""

    def __enter__(self):
        self.was = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc):
        if self.was:
            gc.enable()
        return False


# ---------------------------------------------------------------------- results
class LazyResult(FileResult):
    """A FileResult whose facts stay pickled until first read. Compares equal to the
    FileResult it stands for."""

    @property
    def facts(self):
        d = self.__dict__
        if "_facts" not in d:
            blob = d.pop("_facts_blob", None)
            d["_facts"] = pickle.loads(blob) if blob is not None else None
        return d["_facts"]

    @facts.setter
    def facts(self, value) -> None:
        self.__dict__.pop("_facts_blob", None)
        self.__dict__["_facts"] = value

    @classmethod
    def make(cls, blob: bytes, facts_blob: bytes | None) -> FileResult:
        base = pickle.loads(blob)
        res = cls.__new__(cls)
        d = dict(base.__dict__)
        d.pop("facts", None)
        res.__dict__.update(d)
        res.__dict__["_facts_blob"] = facts_blob
        return res

    def __eq__(self, other):
        if not isinstance(other, FileResult):
            return NotImplemented
        return _fields(self) == _fields(other)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self):
        return _plain, (_fields(self),)


def _fields(r: FileResult) -> tuple:
    import dataclasses

    return tuple(getattr(r, f.name) for f in dataclasses.fields(FileResult))


def _plain(values: tuple) -> FileResult:
    return FileResult(*values)


def _join_digest(blob: bytes, facts: bytes) -> str:
    """What the project join reads of one file: its pickled result and facts (the same facts
    pickle to the same bytes in every process). An edit that leaves them as they were (a
    comment reworded on its line, code the analysis does not read, text after the last
    statement) keeps the join's memo valid; the file's own cache entry is renewed by its
    content hash either way."""
    h = hashlib.blake2b(blob, digest_size=16)
    h.update(facts)
    return h.hexdigest()


def _split(res: FileResult) -> tuple[bytes, bytes]:
    """(the result without its facts and content hash, the facts), pickled. The hash travels
    apart (the cache entry's digest): an edit that changes no facts keeps the join's memo."""
    facts, digest = res.facts, res.digest
    res.facts = res.digest = None
    try:
        blob = pickle.dumps(res, _PROTO)
    finally:
        res.facts, res.digest = facts, digest
    return blob, pickle.dumps(facts, _PROTO)


# ---------------------------------------------------------------------- one file
def _analyze_one(path: str, display: str, data: bytes | None, st, want_hash: bool):
    """(FileResult, stat, digest). With `want_hash`, stat before reading, then read once and
    analyse exactly the bytes that were hashed. `data` comes with the stat taken before it
    was read (a stat taken after could describe a newer write than the bytes analysed)."""
    from initlint.cache import content_hash, file_stat

    if not want_hash:
        return analyze_file(path, display, data), None, None
    if data is None:
        st = file_stat(path)
        from initlint.source import SourceError, read_bytes

        try:
            data = read_bytes(path)  # never blocks on a FIFO or a device
        except SourceError:
            return analyze_file(path, display), None, None  # the error, uncached
    return analyze_file(path, display, data), st, content_hash(data)


def _work(chunk: list[tuple], want_hash: bool) -> tuple[int, float, list[tuple]]:
    """In a worker: analyse a chunk. (pid, CPU seconds spent, per file (index, result blob,
    facts blob, stat, digest))."""
    out = []
    t0 = time.process_time()
    with _GCPaused():
        for i, path, display, data, st in chunk:
            res, st, digest = _analyze_one(path, display, data, st, want_hash)
            blob, facts = _split(res)
            out.append((i, blob, facts, st, digest, res.digest))
    return os.getpid(), time.process_time() - t0, out


def _worker_init(parent: int) -> None:
    # a worker's objects are dropped chunk by chunk; cyclic GC would only cost time
    gc.disable()
    _die_with_parent(parent)


PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """A worker must not outlive the run that started it (`kill -9` of initlint leaves
    no process blocked on the pool's queue forever): on Linux the kernel sends it SIGKILL
    when its parent dies (prctl PR_SET_PDEATHSIG); everywhere, a daemon thread checks
    that the parent is still there."""
    import signal

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            pass
    if os.getppid() != parent:  # it died before the prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="initlint-parent-watch", daemon=True).start()


# ---------------------------------------------------------------------- the pool
def _mp_context():
    import multiprocessing as mp

    methods = mp.get_all_start_methods()
    # fork starts in milliseconds and needs no re-import; only safe without other threads
    if sys.platform.startswith("linux") and "fork" in methods and threading.active_count() == 1:
        return mp.get_context("fork"), True
    return mp.get_context("spawn"), False


def _chunks(items: list, sizes: list[int], workers: int) -> list[list]:
    """Largest first, cut into about workers × CHUNKS_PER_WORKER chunks of similar bytes."""
    order = sorted(range(len(items)), key=lambda k: -sizes[k])
    total = sum(sizes) or 1
    target = max(total / (workers * CHUNKS_PER_WORKER), 1)
    chunks: list[list] = []
    cur: list = []
    cur_bytes = 0
    for k in order:
        cur.append(items[k])
        cur_bytes += sizes[k]
        if cur_bytes >= target:
            chunks.append(cur)
            cur, cur_bytes = [], 0
    if cur:
        chunks.append(cur)
    return chunks


def run_pool(items: list[tuple], sizes: list[int], workers: int, want_hash: bool,
             sink) -> list[tuple]:
    """Analyse `items` in `workers` processes; call sink(i, blob, facts, stat, digest, hash
    of the bytes read) per file. Returns the items that were not analysed because the pool
    broke. Adds the CPU time of each worker to TIMINGS["workers_cpu"] (by pid)."""
    ctx, forked = _mp_context()
    if forked:
        gc.freeze()  # the children share the parent's heap pages without touching them
    chunks = _chunks(items, sizes, workers)
    done: set[int] = set()
    try:
        with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=ctx,
                                 initializer=_worker_init, initargs=(os.getpid(),)) as pool:
            futures = [pool.submit(_work, chunk, want_hash) for chunk in chunks]
            for fut in futures:
                try:
                    pid, cpu, part = fut.result()
                except BrokenProcessPool:
                    break
                per = TIMINGS.setdefault("workers_cpu", {})
                per[pid] = per.get(pid, 0.0) + cpu
                for i, blob, facts, st, digest, read in part:
                    sink(i, blob, facts, st, digest, read)
                    done.add(i)
    except (BrokenProcessPool, OSError):
        pass
    finally:
        if forked:
            gc.unfreeze()
    return [it for it in items if it[0] not in done]


# ---------------------------------------------------------------------- the analyzer
class Analyzer:
    """`analyze(targets)` for engine.lint, with a memoizing `finish`."""

    def __init__(self, jobs: int, config, use_cache: bool):
        self.workers = worker_count(jobs)
        self.config = config
        self.use_cache = use_cache
        self.cache = None
        self._cache_opened = False
        # id(result) -> (result, join memo key part, content hash of the file's bytes): what
        # the join memo and the fixes memo need per file
        self._keys: dict[int, tuple] = {}
        self._join_key: str | None = None  # the memo key of the last join

    # -------------------------------------------------------------- per file
    def __call__(self, targets) -> list[FileResult]:
        targets = list(targets)
        with _GCPaused():
            return self._analyze(targets)

    def _open_cache(self):
        if not self._cache_opened:
            self._cache_opened = True
            if self.use_cache:
                try:
                    from initlint.cache import Cache

                    self.cache = Cache.for_config(self.config)
                except Exception:  # an unusable cache must never stop a lint run
                    self.cache = None
        return self.cache

    def _analyze(self, targets) -> list[FileResult]:
        from initlint.cache import file_stat

        results: list[FileResult | None] = [None] * len(targets)
        cache = self._open_cache()
        modules: dict[int, str] = {}
        todo: list[tuple] = []  # (index, path, display, bytes already read, their stat)
        sizes: list[int] = []
        for i, t in enumerate(targets):
            if cache is not None:
                module = modules[i] = module_of(t.path)
                entry, data, st = cache.lookup(t.path, module)
                if entry is not None:
                    try:
                        res = LazyResult.make(entry.blob, entry.facts)
                    except Exception:  # an entry from a broken pack: analyse again
                        res = None
                    if isinstance(res, FileResult):
                        res.display = t.display
                        res.digest = entry.digest  # the hash of the bytes just checked
                        results[i] = res
                        self._keys[id(res)] = (res, (module, _join_digest(entry.blob, entry.facts)),
                                               entry.digest)
                        continue
                todo.append((i, t.path, t.display, data, st))
                sizes.append(st.size if st is not None else 0)
            else:
                todo.append((i, t.path, t.display, None, None))
                st = file_stat(t.path)
                sizes.append(st.size if st is not None else 0)

        want_hash = cache is not None

        def sink(i: int, blob: bytes, facts: bytes, st, digest, read) -> None:
            # unpickled now, while the workers still run: fresh files mostly mean the join runs
            res = pickle.loads(blob)
            res.facts = pickle.loads(facts)
            res.digest = read
            results[i] = res
            if digest is not None:
                self._keys[id(res)] = (res, (modules[i], _join_digest(blob, facts)), digest)
                if res.internal_error is None:
                    cache.store(targets[i].path, st, digest, modules[i], blob, facts)

        parallel = (self.workers > 1 and len(todo) >= MIN_PARALLEL_FILES
                    and sum(sizes) >= MIN_PARALLEL_BYTES)
        if parallel:
            todo = run_pool(todo, sizes, self.workers, want_hash, sink)
        for i, path, display, data, st in todo:
            res, st, digest = _analyze_one(path, display, data, st, want_hash)
            results[i] = res
            if digest is not None:
                blob, facts = _split(res)
                self._keys[id(res)] = (res, (modules[i], _join_digest(blob, facts)), digest)
                if res.internal_error is None:
                    cache.store(path, st, digest, modules[i], blob, facts)
        if cache is not None:
            cache.save()
            TIMINGS["cache_hits"], TIMINGS["cache_misses"] = cache.hits, cache.misses
        TIMINGS["pool"] = TIMINGS.get("pool", False) or parallel
        return results  # type: ignore[return-value]

    # -------------------------------------------------------------- the project join
    def _memo_key(self, results: list[FileResult]) -> str | None:
        from initlint.cache import code_hash

        h = hashlib.blake2b(digest_size=20)
        h.update(f"{code_hash()}\0{os.getcwd()}\0{self.config!r}\0".encode())
        for r in results:
            known = self._keys.get(id(r))
            if known is None or known[0] is not r:
                return None  # not analysed here (stdin, a caller's own result)
            module, digest = known[1]
            h.update(repr((r.path, r.display, bool(r.context), module, digest)).encode())
        return h.hexdigest()

    def finish(self, results: list[FileResult], config) -> engine.Report:
        cache = self._open_cache() if config is self.config else None
        key = self._memo_key(results) if cache is not None else None
        self._join_key = key
        if key is not None:
            blob = cache.memo_get(key)
            if blob is not None:
                try:
                    report, kept = pickle.loads(blob)
                    report.files = [results[i] for i in kept]
                    TIMINGS["join"] = "memo"
                    return report
                except Exception:
                    pass
        t0 = time.process_time()
        with _GCPaused():
            report = engine.finish(results, config)
        TIMINGS["join"] = time.process_time() - t0
        if key is not None:
            ids = {id(r): i for i, r in enumerate(results)}
            kept = [ids[id(r)] for r in report.files if id(r) in ids]
            if len(kept) == len(report.files):
                files, report.files = report.files, []
                try:
                    cache.memo_put(key, pickle.dumps((report, kept), _PROTO))
                except Exception:
                    pass
                finally:
                    report.files = files
        return report

    # -------------------------------------------------------------- fixes for the report
    def attach_fixes(self, findings: list, report, stdin=None) -> list[str]:
        """`fix.attach_fixes`, memoized beside the join. A finding's fix depends on what the
        join read (its memo key) and on the text of the file it edits, so the key is the
        join's key, the findings, and the content hash of each file they are in."""
        from initlint import fix as fixer

        key = self._join_key
        by_display = {r.display: r for r in report.files}
        digests = []
        for f in findings:
            r = by_display.get(f.filename)
            known = self._keys.get(id(r))
            digests.append(known[2] if known is not None and known[0] is r else None)
        if key is None or stdin is not None or self.cache is None or None in digests:
            return fixer.attach_fixes(findings, report, stdin=stdin)
        h = hashlib.blake2b(b"fixes\0" + key.encode(), digest_size=20)
        for f, digest in zip(findings, digests):
            h.update(repr((f.code, f.filename, f.row, f.col, f.end_row, f.end_col, f.message,
                           digest)).encode())
        fkey = h.hexdigest()
        blob = self.cache.memo_get(fkey)
        if blob is not None:
            try:
                fixes = pickle.loads(blob)
                if isinstance(fixes, list) and len(fixes) == len(findings):
                    for f, fx in zip(findings, fixes):
                        f.fix = fx
                    TIMINGS["fixes"] = "memo"
                    return []
            except Exception:
                pass
        errors = fixer.attach_fixes(findings, report, stdin=stdin)
        if not errors:
            try:
                self.cache.memo_put(fkey, pickle.dumps([f.fix for f in findings], _PROTO))
            except Exception:
                pass
        return errors


def make_analyzer(jobs: int, config, use_cache: bool):
    """`analyze(targets) -> list[FileResult]` for `engine.lint(analyze=...)`."""
    _timings_at_exit()
    return Analyzer(jobs, config, use_cache)


_AT_EXIT = False


def _timings_at_exit() -> None:
    """With INITLINT_TIMINGS=FILE, write what this run did there as JSON when the process
    exits: CPU seconds of this process itself and of each pool worker, cache hits and misses,
    the join's CPU seconds (or "memo"). The benchmark reads it to tell the critical path of
    a parallel run (this process + its busiest worker) from the time a busy machine adds."""
    global _AT_EXIT
    path = os.environ.get("INITLINT_TIMINGS")
    if not path or _AT_EXIT:
        return
    _AT_EXIT = True
    import atexit

    def write() -> None:
        import json

        try:
            import resource

            ru = resource.getrusage(resource.RUSAGE_SELF)
            cpu = ru.ru_utime + ru.ru_stime
        except ImportError:  # pragma: no cover - Windows
            cpu = time.process_time()
        data = dict(TIMINGS, self_cpu=cpu,
                    workers_cpu={str(k): v for k, v in TIMINGS.get("workers_cpu", {}).items()})
        try:
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
        except OSError:
            pass

    atexit.register(write)
