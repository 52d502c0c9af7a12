"""Entry point of the probe's child process.

Started by `initlint.probe.runner` as `python -c "...; main()" REQUEST.json`, in its own
session (process group). Reads the request, imports torch, sets the memory limit, then for
each job: seeds every RNG, imports the user's module, builds the model, measures it, and
writes `job-N.json` into the result folder. Progress goes to a status file the parent polls.
Nothing here is imported by the parent.
"""

from __future__ import annotations

import faulthandler
import importlib
import json
import os
import random
import sys
import sysconfig
import time
import traceback

_HERE = os.path.dirname(os.path.abspath(__file__))
_PKG = os.path.dirname(_HERE)


class Status:
    def __init__(self, path: str):
        self.path = path
        self.job = -1  # -1: starting up (importing torch)

    def __call__(self, stage: str, job: int | None = None) -> None:
        if job is not None:
            self.job = job
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump({"job": self.job, "stage": stage, "t": time.time()}, fh)
            os.replace(tmp, self.path)
        except OSError:
            pass


def _write(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def _skip_dirs() -> tuple[str, ...]:
    dirs = [_PKG]
    for key in ("stdlib", "platstdlib"):
        p = sysconfig.get_paths().get(key)
        if p:
            dirs.append(os.path.realpath(p))
    torch_mod = sys.modules.get("torch")
    if torch_mod is not None and getattr(torch_mod, "__file__", None):
        dirs.append(os.path.dirname(os.path.realpath(torch_mod.__file__)))
    return tuple(d.rstrip(os.sep) + os.sep for d in dirs)


def _user_frame(exc: BaseException) -> dict | None:
    """The deepest traceback frame in the user's code (not initlint, torch or the stdlib)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return {"file": exc.filename, "line": exc.lineno or 0, "func": "<module>",
                "code": (exc.text or "").strip()}
    skip = _skip_dirs()
    frames = traceback.extract_tb(exc.__traceback__)
    user = [f for f in frames if not f.filename.startswith("<") and
            not os.path.realpath(f.filename).startswith(skip)]
    pick = user[-1] if user else None
    if pick is None:
        return None
    return {"file": pick.filename, "line": pick.lineno or 0, "func": pick.name,
            "code": (pick.line or "").strip()}


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "can't allocate memory" in text or "out of memory" in text.lower() or
        "Cannot allocate memory" in text)


def _error(stage: str, exc: BaseException, hint: str = "", **context) -> dict:
    msg = str(exc) if not isinstance(exc, SystemExit) else f"the code called sys.exit({exc.code!r})"
    lines = [ln for ln in msg.strip().splitlines() if ln.strip()]
    short = " ".join(ln.strip() for ln in lines[:3])
    if len(short) > 600:
        short = short[:600] + "…"
    if _is_oom(exc):
        stage_of = stage
        stage = "memory"
        context["during"] = stage_of
    return {"ok": False, "stage": stage, "exc_type": type(exc).__name__, "exc_message": short,
            "where": _user_frame(exc), "hint": hint,
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            "context": context}


def _seed_all(seed: int) -> None:
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    if "numpy" in sys.modules or importlib.util.find_spec("numpy") is not None:
        try:
            import numpy

            numpy.random.seed(seed % (2 ** 32))
        except Exception:  # a broken numpy must not break the probe
            pass


def _resolve_device(name: str):
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from initlint.probe.measure import ProbeError

        built = "without CUDA" if torch.version.cuda is None else f"with CUDA {torch.version.cuda}"
        raise ProbeError("device", f"--device cuda was asked for, but CUDA is not available "
                         f"(torch {torch.__version__} built {built})",
                         "use --device cpu or --device auto")
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            from initlint.probe.measure import ProbeError

            raise ProbeError("device", "--device mps was asked for, but MPS is not available",
                             "use --device cpu or --device auto")
    return torch.device(name)


def _vm_size() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _limit_memory(memory_mb: int) -> tuple[int | None, str]:
    """RLIMIT_AS = what the interpreter and torch map now + `memory_mb`. Returns (limit in
    MiB or None, note)."""
    try:
        import resource
    except ImportError:
        return None, "no memory limit: the resource module is not available on this platform"
    base = _vm_size()
    if base is None:
        return None, "no memory limit: the address-space size cannot be read on this platform"
    limit = base + memory_mb * 1024 * 1024
    try:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError) as exc:
        return None, f"no memory limit: setrlimit failed ({exc})"
    return memory_mb, ""


def _peak_rss_mb() -> float | None:
    try:  # VmHWM: ru_maxrss would include the parent's high-water mark from before exec
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource
    except ImportError:
        return None
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / (1024 * 1024)


def _import_target(job: dict, modname: str | None = None, attr: str | None = None,
                   target: str | None = None):
    from initlint.probe.measure import ProbeError

    modname, attr = modname or job["module"], attr or job["attr"]
    target = target or job["target"]
    try:
        module = importlib.import_module(modname)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (modname == missing or modname.startswith(missing + ".")):
            err = _error("import", exc, f"the probe imports from {job['path']} (--path); is "
                         f"`{modname}` importable from there? Pass --path with the directory "
                         "that contains the top-level package")
            err["context"]["not_found"] = True
            return None, err
        return None, _error("import", exc, f"`{modname}` imports `{missing}`, which is not "
                            "installed in this environment")
    except BaseException as exc:  # noqa: BLE001 - any failure of user code is reported
        if isinstance(exc, KeyboardInterrupt):
            raise
        return None, _error("import", exc, f"importing `{modname}` runs its top-level code; fix "
                            "the error there")
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            import torch.nn as nn

            found = sorted(n for n, v in vars(module).items() if isinstance(v, type) and
                           issubclass(v, nn.Module) and getattr(v, "__module__", "") == modname)
            hint = (f"`{modname}` defines these nn.Module classes: {', '.join(found[:8])}"
                    if found else f"check the name after the colon in `{target}`")
            raise ProbeError("attribute", f"`{modname}` has no attribute `{attr}`", hint)
        obj = getattr(obj, part)
    return obj, None


def _run_job(i: int, job: dict, req: dict, status: Status, device) -> dict:
    import torch
    import torch.nn as nn

    from initlint.probe import measure as M

    seed = int(req["seed"])
    stage = "import"
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        status(f"importing {job['module']}", i)
        _seed_all(seed)
        factory, err = _import_target(job)
        if err is not None:
            return err
        timings["import_s"] = time.perf_counter() - t0
        stage = "build"
        status("building the model", i)
        if not callable(factory):
            raise M.ProbeError("build", f"`{job['target']}` is a {type(factory).__name__}, not a "
                               "class or callable",
                               "the target must be an nn.Module class or a function that "
                               "returns an nn.Module")
        _seed_all(seed)
        t1 = time.perf_counter()
        kwargs = job.get("kwargs") or {}
        try:
            model, how = _build(factory, kwargs)
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, KeyboardInterrupt):
                raise
            shown = json.dumps(kwargs) if kwargs else "no arguments"
            return _error("build", exc, f"the probe called `{job['target']}` with {shown} "
                          "(--kwargs)", kwargs=kwargs)
        if not isinstance(model, nn.Module):
            raise M.ProbeError("build", f"`{job['target']}` returned a value of type "
                               f"{type(model).__name__}, not a torch.nn.Module",
                               "the target must be an nn.Module class or a function that "
                               "returns an nn.Module")
        timings["build_s"] = time.perf_counter() - t1
        n_params = sum(p.numel() for p in model.parameters())
        modules = M.class_info(model)
        stage = "device"
        status(f"moving the model to {device}", i)
        model.to(device)
        stage = "input"
        if job.get("inputs"):
            x, input_info = _user_batch(job, model, device)
        else:
            x, input_info = M.build_input(model, job.get("input_shape"),
                                          int(job["batch_size"]), device,
                                          bool(job.get("batch_given")))
        if how:
            input_info["built"] = how
        loss_fn = None
        if job.get("loss"):
            lmod, _, lattr = job["loss"].rpartition(":")
            loss_fn, err = _import_target(job, lmod, lattr, job["loss"])
            if err is not None:
                return err
        static = _static(job, req, model, modules) if req.get("predict", True) else {}
        stage = "forward"
        status("forward and backward pass", i)
        _seed_all(seed)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        t2 = time.perf_counter()
        try:
            data = M.measure(model, x, seed=seed, static=static, loss_fn=loss_fn,
                             predict=req.get("predict", True))
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, (KeyboardInterrupt, M.ProbeError)):
                raise
            hint = (f"the input {tuple(input_info['input_shape'])} was "
                    f"{input_info['input_note']}; pass --input-shape (batch size first) if the "
                    "model expects another shape")
            if isinstance(exc, TypeError) and "argument" in str(exc):
                hint = ("the probe calls the model with what --inputs returns, or with one "
                        "input tensor (pass --inputs module:make_batch for any other "
                        "arguments); " + hint)
            stage = "backward" if "backward" in _tb_funcs(exc) else "forward"
            return _error(stage, exc, hint, **input_info)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        timings["measure_s"] = time.perf_counter() - t2
        data["warnings"] = data.get("warnings", []) + job.get("_notes", [])
        result = {"ok": True, "target": job["target"], "device": str(device),
                  "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
                  "parameters": n_params, "seed": seed, "batch_size": x.size(),
                  **input_info, **data, "modules": modules}
        if req.get("lsuv"):
            stage = "lsuv"
            for p in model.parameters():
                p.grad = None
            order = M.weight_layer_order(data["layers"])
            t3 = time.perf_counter()
            rows, scaled = M.lsuv(model, x, order, lambda: _seed_all(seed),
                                  status=lambda s: status(s, i),
                                  skip=M.normalized_after(data["layers"]))
            result["lsuv"] = {"layers": rows, "tolerance": 0.1}
            if req.get("lsuv_apply"):
                status("measuring the LSUV-scaled copy", i)
                _seed_all(seed)
                result["lsuv"]["after"] = M.measure(scaled, x, seed=seed, predict=False)
            del scaled
            timings["lsuv_s"] = time.perf_counter() - t3
        if device.type == "cuda":
            result["cuda_peak_mb"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
        result["timings"] = timings
        result["peak_rss_mb"] = _peak_rss_mb()
        return result
    except M.ProbeError as exc:
        return {"ok": False, "stage": exc.stage, "exc_type": None, "exc_message": exc.message,
                "where": None, "hint": exc.hint, "traceback": "", "context": {}}
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        return _error(stage, exc)


def _build(factory, kwargs: dict):
    """factory(**kwargs); for a Hugging Face model class (one with a `config_class`), the
    model built from its config: Class(Class.config_class(**kwargs)) (random init, no
    download); for an Auto class, AutoConfig.for_model(model_type, ...). Returns (model, how)."""
    cfg_cls = getattr(factory, "config_class", None)
    if isinstance(factory, type) and "config" not in kwargs:
        if cfg_cls is not None and callable(cfg_cls) and hasattr(factory, "from_pretrained"):
            model = factory(cfg_cls(**kwargs))
            return model, f"from {cfg_cls.__name__}({_kw_text(kwargs)})"
        if hasattr(factory, "from_config") and "model_type" in kwargs:
            import transformers

            kw = dict(kwargs)
            conf = transformers.AutoConfig.for_model(kw.pop("model_type"), **kw)
            return factory.from_config(conf), f"from {type(conf).__name__}({_kw_text(kwargs)})"
    return factory(**kwargs), ""


def _kw_text(kwargs: dict) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return text if len(text) <= 200 else text[:200] + "…"


def _user_batch(job: dict, model, device):
    """Call the --inputs function: fn(batch_size) when it takes an argument (fn(batch_size,
    model) when it takes two, or a `model` parameter), else fn()."""
    import inspect

    from initlint.probe import measure as M

    spec = job["inputs"]
    mod, _, attr = spec.rpartition(":")
    fn, err = _import_target(job, mod, attr, spec)
    if err is not None:
        raise M.ProbeError("input", f"could not import --inputs {spec}: {err['exc_type']}: "
                           f"{err['exc_message']}", err.get("hint", ""))
    if not callable(fn):
        raise M.ProbeError("input", f"--inputs {spec} is a {type(fn).__name__}, not a function",
                           "give a function that returns the batch")
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    pos = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
           and p.default is p.empty]
    args: list = []
    kwargs: dict = {}
    if any(p.name == "model" for p in params):
        kwargs["model"] = model
        pos = [p for p in pos if p.name != "model"]
    if pos:
        args.append(int(job["batch_size"]))
    if len(pos) >= 2:
        args.append(model)
    _seed_all(int(job.get("seed", 0)))
    try:
        value = fn(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        w = _user_frame(exc)
        at = f" (at {w['file']}:{w['line']})" if w else ""
        raise M.ProbeError("input", f"--inputs {spec} raised {type(exc).__name__}: "
                           f"{str(exc).strip()[:300]}{at}", "fix the batch function") from None
    return M.batch_from(value, model, device, f"--inputs {spec}")


def _static(job: dict, req: dict, model, modules: list[dict]) -> dict:
    """The static analysis's init moments per parameter, for the prediction (empty when the
    analysis cannot read the model's source)."""
    import torch

    from initlint.probe import predict as P

    files = sorted({m["file"] for m in modules if m.get("file") and m["file"].endswith(".py")
                    and os.path.isfile(m["file"])})
    if not files:
        return {}
    try:
        from initlint.analysis.names import module_name_for
        from initlint.config import load

        cfg = load(req.get("config_path"))
        inits = P.static_inits(files, cfg)
        names = {f: module_name_for(f) for f in files}
        rows = [dict(m, static_key=f"{names[m['file']]}.{m['qualname']}" if m.get("file") in
                     names else None) for m in modules]
        shapes = {}
        for n, p in model.named_parameters():
            # a bias takes the fans of its layer's weight
            owner = model.get_submodule(n.rpartition(".")[0]) if "." in n else model
            w = p if p.dim() >= 2 else getattr(owner, "weight", None)
            f = P.fans(tuple(w.shape)) if isinstance(w, torch.Tensor) else None
            if f is not None:
                shapes[n] = f
        return P.static_moments(rows, inits, shapes)
    except Exception as exc:  # noqa: BLE001 - the analysis failing costs only the static inits
        job.setdefault("_notes", []).append(
            f"the static analysis could not be read for the prediction ({type(exc).__name__}: "
            f"{exc}); it uses the built parameters")
        return {}


def _tb_funcs(exc: BaseException) -> set[str]:
    return {f.name for f in traceback.extract_tb(exc.__traceback__)}


def _subreaper() -> None:
    """Orphans of this process's descendants are re-parented to it (Linux prctl
    PR_SET_CHILD_SUBREAPER), so the parent finds them under it when it kills the tree."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    with open(argv[1], encoding="utf-8") as fh:
        req = json.load(fh)
    faulthandler.enable()
    _subreaper()
    status = Status(req["status_file"])
    out_dir = req["result_dir"]
    first = int(req.get("first_job", 0))
    jobs = req["jobs"]
    # import path: --path first (instead of the '' entry `-c` adds), then the package roots of
    # targets given as files
    sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]
    for p in reversed([req["path"]] + [j["extra_path"] for j in jobs if j.get("extra_path")]):
        if p not in sys.path[:1]:
            sys.path.insert(0, p)
    root = os.path.dirname(_PKG)  # initlint itself stays importable, behind the user's paths
    if root not in sys.path:
        sys.path.append(root)
    status("importing torch", -1)
    try:
        import torch  # noqa: F401
    except BaseException as exc:  # noqa: BLE001
        err = _error("torch", exc, "install the probe extra: pip install 'initlint[probe]'")
        for k in range(first, len(jobs)):
            _write(os.path.join(out_dir, f"job-{k}.json"), err)
        return 0
    from initlint.probe.measure import ProbeError

    try:
        device = _resolve_device(req["device"])
    except ProbeError as exc:
        err = {"ok": False, "stage": exc.stage, "exc_type": None, "exc_message": exc.message,
               "where": None, "hint": exc.hint, "traceback": "", "context": {}}
        for k in range(first, len(jobs)):
            _write(os.path.join(out_dir, f"job-{k}.json"), err)
        return 0
    limit_mb, note = (None, "no memory limit on CUDA (its driver reserves large address "
                      "ranges)") if device.type == "cuda" else _limit_memory(int(req["memory_mb"]))
    for k in range(first, len(jobs)):
        job = dict(jobs[k], path=req["path"])
        res = _run_job(k, job, req, status, device)
        res["memory_limit_mb"] = limit_mb
        if note:
            res.setdefault("warnings", []).append(note)
        _write(os.path.join(out_dir, f"job-{k}.json"), res)
        status("done", k)
        import gc

        gc.collect()
    _end_descendants()
    return 0


def _end_descendants() -> None:
    """Processes the user's code started and left running die with the probe (once this
    process exits they would be re-parented away, out of the parent's reach)."""
    if os.name != "posix":
        return
    import signal

    from initlint.probe.runner import descendants

    for pid in descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
