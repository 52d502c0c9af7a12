"""`initlint probe`: the click command. Importing this module does not import torch (the
parent process never does; the measurement runs in a child, see runner.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import time

import click

from initlint.probe import PLOT_EXTRA_HINT, PROBE_EXTRA_HINT

EXIT_OK, EXIT_PROBLEM, EXIT_ERROR = 0, 1, 2
DEVICES = ("auto", "cpu", "cuda", "mps")
DEFAULTS = {"threshold": 4.0, "timeout": 120.0, "device": "auto", "batch-size": 64}
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class UsageError(Exception):
    pass


def _fail(message: str) -> None:
    click.echo(f"initlint: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def torch_available() -> bool:
    """Whether torch is installed (found, not imported: the parent never imports it)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


# ---------------------------------------------------------------------------- parsing

def parse_shape(value, where: str) -> list[int]:
    if isinstance(value, list):
        items = value
    elif isinstance(value, str):
        items = [s.strip() for s in value.replace("x", ",").replace("×", ",").split(",")]
    else:
        raise UsageError(f"{where}: expected comma-separated positive integers, batch size "
                         f"first (e.g. 8,3,224,224), got {value!r}")
    try:
        shape = [int(s) for s in items]
    except (TypeError, ValueError):
        shape = []
    if not shape or any(s < 1 for s in shape) or any(isinstance(s, bool) for s in items):
        raise UsageError(f"{where}: expected comma-separated positive integers, batch size "
                         f"first (e.g. 8,3,224,224), got {value!r}")
    return shape


def parse_kwargs(text: str | None, where: str = "--kwargs") -> dict:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{where}: invalid JSON ({exc}); expected an object like "
                         "'{\"depth\": 20}'") from None
    if not isinstance(value, dict):
        raise UsageError(f"{where}: expected a JSON object like '{{\"depth\": 20}}', got "
                         f"{type(value).__name__}")
    return value


def parse_target(spec: str, base: str):
    """(module, attr, extra_path) for `pkg.module:Factory` or `path/to/file.py:Factory`."""
    from initlint.analysis.names import module_name_for

    if not isinstance(spec, str) or ":" not in spec:
        raise UsageError(f"target {spec!r}: expected MODULE:FACTORY, e.g. models.mlp:MLP or "
                         "models/mlp.py:make_model")
    mod, _, attr = spec.rpartition(":")
    if not _DOTTED.match(attr or ""):
        raise UsageError(f"target {spec!r}: {attr!r} after the colon is not a Python name")
    if mod.endswith(".py") or "/" in mod or os.sep in mod:
        path = mod if os.path.isabs(mod) else os.path.join(base, mod)
        if not os.path.isfile(path):
            raise UsageError(f"target {spec!r}: {mod}: no such file")
        path = os.path.abspath(path)
        name = module_name_for(path)
        root = os.path.dirname(path)
        for _ in range(name.count(".")):
            root = os.path.dirname(root)
        return name, attr, root
    if not _DOTTED.match(mod):
        raise UsageError(f"target {spec!r}: {mod!r} is not a dotted module name")
    return mod, attr, None


def _check_function(spec, where: str = "--inputs") -> str:
    """`module:function` (a dotted module, imported in the child from --path)."""
    if not isinstance(spec, str) or ":" not in spec:
        raise UsageError(f"{where} {spec!r}: expected MODULE:FUNCTION, e.g. data:make_batch")
    mod, _, attr = spec.rpartition(":")
    if not _DOTTED.match(mod) or not _DOTTED.match(attr):
        raise UsageError(f"{where} {spec!r}: expected a dotted module name and a function "
                         "name, e.g. data:make_batch")
    return spec


def _number(table, key, where, kind, minimum, open_min=False):
    if key not in table:
        return None
    v = table[key]
    ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    if kind is int:
        ok = ok and isinstance(v, int)
    if ok:
        ok = v > minimum if open_min else v >= minimum
    if not ok:
        rel = ">" if open_min else "≥"
        what = "an integer" if kind is int else "a number"
        raise UsageError(f"{where}.{key}: expected {what} {rel} {minimum:g}, got {v!r}")
    return v


def settings_from_config(cfg) -> dict:
    """Validated `[tool.initlint.probe]` values (keys as written there)."""
    t = cfg.probe or {}
    where = f"{cfg.path}: tool.initlint.probe" if cfg.path else "tool.initlint.probe"
    out: dict = {}
    for key, kind, minimum, open_min in (("threshold", float, 1, True), ("timeout", float, 0, True),
                                         ("batch-size", int, 1, False),
                                         ("memory-mb", int, 1, False)):
        v = _number(t, key, where, kind, minimum, open_min)
        if v is not None:
            out[key] = v
    if "device" in t:
        if t["device"] not in DEVICES:
            raise UsageError(f"{where}.device: expected one of {', '.join(DEVICES)}, got "
                             f"{t['device']!r}")
        out["device"] = t["device"]
    if "input-shape" in t:
        out["input-shape"] = parse_shape(t["input-shape"], f"{where}.input-shape")
    for key in ("inputs", "loss"):
        if key in t:
            out[key] = _check_function(t[key], f"{where}.{key}")
    if "path" in t:
        if not isinstance(t["path"], str):
            raise UsageError(f"{where}.path: expected a string")
        out["path"] = os.path.normpath(os.path.join(cfg.root or ".", t["path"]))
    if "targets" in t:
        targets = t["targets"]
        if isinstance(targets, (str, dict)):
            targets = [targets]
        if not isinstance(targets, list):
            raise UsageError(f"{where}.targets: expected a list of \"module:Factory\" strings or "
                             "tables {target = ..., kwargs = {...}, input-shape = ...}")
        items = []
        for k, item in enumerate(targets):
            w = f"{where}.targets[{k}]"
            if isinstance(item, str):
                items.append({"target": item})
            elif isinstance(item, dict):
                unknown = set(item) - {"target", "kwargs", "input-shape", "batch-size",
                                       "inputs", "loss"}
                if unknown:
                    raise UsageError(f"{w}: unknown key {sorted(unknown)[0]!r} (known: "
                                     "batch-size, input-shape, inputs, kwargs, loss, target)")
                if not isinstance(item.get("target"), str):
                    raise UsageError(f"{w}: needs target = \"module:Factory\"")
                entry = {"target": item["target"]}
                if "kwargs" in item:
                    if not isinstance(item["kwargs"], dict):
                        raise UsageError(f"{w}.kwargs: expected a table")
                    entry["kwargs"] = item["kwargs"]
                if "input-shape" in item:
                    entry["input-shape"] = parse_shape(item["input-shape"], f"{w}.input-shape")
                if "batch-size" in item:
                    entry["batch-size"] = _number(item, "batch-size", w, int, 1)
                for key in ("inputs", "loss"):
                    if key in item:
                        entry[key] = _check_function(item[key], f"{w}.{key}")
                items.append(entry)
            else:
                raise UsageError(f"{w}: expected a string or a table, got {item!r}")
        out["targets"] = items
    return out


# ---------------------------------------------------------------------------- progress

class Progress:
    """A progress line on stderr for slow models: live on a terminal after `after` seconds;
    otherwise one line per stage that is still running after `after` seconds."""

    def __init__(self, targets: list[str], enabled: bool):
        self.targets = targets
        self.enabled = enabled
        self.tty = enabled and sys.stderr.isatty()
        try:
            self.after = float(os.environ.get("INITLINT_PROBE_PROGRESS_AFTER", "") or
                               (1.0 if self.tty else 5.0))
        except ValueError:
            self.after = 5.0
        self.last_key = None
        self.last_t = 0.0
        self.live = False

    def __call__(self, index: int, stage: str, elapsed: float) -> None:
        if not self.enabled or elapsed < self.after or stage == "done":
            return
        target = self.targets[index] if 0 <= index < len(self.targets) else "?"
        msg = f"initlint probe: {target}: {stage}… ({elapsed:.0f} s)"
        now = time.monotonic()
        if self.tty:
            if now - self.last_t >= 0.25:
                sys.stderr.write("\r\033[K" + msg)
                sys.stderr.flush()
                self.live, self.last_t = True, now
            return
        key = (index, stage)
        if key != self.last_key or now - self.last_t >= 30:
            click.echo(msg, err=True)
            self.last_key, self.last_t = key, now

    def done(self) -> None:
        if self.live:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self.live = False


# ---------------------------------------------------------------------------- command

@click.command("probe")
@click.argument("targets", nargs=-1, metavar="[MODULE:FACTORY]...")
@click.option("--kwargs", "kwargs_json", metavar="JSON",
              help="Keyword arguments for the factory, as a JSON object.")
@click.option("--path", "path", type=click.Path(file_okay=False),
              help="Directory put first on the child's import path (default: the current one).")
@click.option("--input-shape", metavar="N,C,H,W",
              help="Input shape, batch size first (default: inferred from the first layer).")
@click.option("--inputs", "inputs_spec", metavar="MODULE:FUNCTION",
              help="A function that returns the batch: a tensor (model(x)), a tuple (model(*args)), "
                   "a dict (model(**d), or model(d) when forward takes one argument) or "
                   "(args, kwargs). Called with the batch size when it takes an argument.")
@click.option("--loss", "loss_spec", metavar="MODULE:FUNCTION",
              help="A function of the model output returning the scalar to backpropagate "
                   "(default: a fixed, seeded random direction).")
@click.option("--batch-size", type=click.IntRange(min=1),
              help="Batch size for an inferred input shape (default 64).")
@click.option("--threshold", type=click.FloatRange(min=1, min_open=True),
              help="Factor in output std, first to last weight layer, that counts as vanishing "
                   "or exploding (default 4).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
              help="Wall-clock limit per target in seconds (default 120).")
@click.option("--memory-mb", type=click.IntRange(min=1),
              help="Address-space budget of the child on top of torch's own, MiB (default: "
                   "4096 or half the memory available, whichever is less; not applied on CUDA).")
@click.option("--device", type=click.Choice(DEVICES), help="Where to run (default auto).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for every RNG.")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("-o", "--output-file", type=click.Path(dir_okay=False),
              help="Write the report to a file.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), metavar="FILE.png|svg",
              help="Plot activation and gradient std per layer (needs the `plot` extra).")
@click.option("--lsuv", is_flag=True, help="Print LSUV scale factors for unit output variance.")
@click.option("--lsuv-apply", is_flag=True,
              help="Also measure a copy with the LSUV scales applied (writes nothing).")
@click.option("--no-static", is_flag=True, help="Do not lint the model's source files.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Configuration file to use.")
@click.option("--quiet", "-q", is_flag=True, help="No progress line.")
@click.option("--verbose", "-v", is_flag=True, help="Print the child's traceback and output on errors.")
def probe(targets, kwargs_json, path, inputs_spec, loss_spec, input_shape, batch_size,
          threshold, timeout, memory_mb,
          device, seed, output_format, output_file, plot_path, lsuv, lsuv_apply, no_static,
          config_path, quiet, verbose) -> None:
    """Build the model TARGET (`pkg.module:Factory`, a class or a callable returning an
    nn.Module) in a child process, push a random batch through it and measure activation and
    gradient std layer by layer. Without TARGET, runs the `targets` of [tool.initlint.probe].

    Exit status: 0 healthy, 1 a problem was measured, 2 the model could not be imported,
    built or run, or the time limit was hit.
    """
    from initlint.cli import build_config
    from initlint.config import ConfigError

    cwd = os.getcwd()
    try:
        cfg = build_config(config_path, [path or cwd], (), (), (), False)
        conf = settings_from_config(cfg)
    except (ConfigError, UsageError) as exc:
        _fail(str(exc))
    try:
        kwargs = parse_kwargs(kwargs_json)
        shape = parse_shape(input_shape, "--input-shape") if input_shape else None
    except UsageError as exc:
        _fail(str(exc))
    if not torch_available():
        _fail(f"`initlint probe` needs PyTorch, which is not installed in this environment; "
              f"install the probe extra: {PROBE_EXTRA_HINT}")
    if plot_path:
        if os.path.splitext(plot_path)[1].lower() not in (".png", ".svg"):
            _fail(f"--plot {plot_path}: the file name must end in .png or .svg")
        from initlint.probe import plot as plotmod

        if not plotmod.available():
            _fail(f"--plot needs matplotlib, which is not installed; install the plot extra: "
                  f"{PLOT_EXTRA_HINT}")
        pdir = os.path.dirname(os.path.abspath(plot_path))
        if not os.path.isdir(pdir):
            _fail(f"--plot {plot_path}: no such directory {pdir}")
    import_path = os.path.abspath(path) if path else conf.get("path", cwd)
    if not os.path.isdir(import_path):
        _fail(f"--path {import_path}: no such directory")
    bs = batch_size or conf.get("batch-size") or DEFAULTS["batch-size"]

    from initlint.probe.runner import Job, Options, run

    specs = ([{"target": t} for t in targets] if targets else conf.get("targets", []))
    if not specs:
        where = f" in {cfg.path}" if cfg.path else ""
        _fail("no target: give one, e.g. `initlint probe models.mlp:MLP`, or list them as "
              f"`targets = [\"models.mlp:MLP\"]` under [tool.initlint.probe]{where}")
    jobs = []
    try:
        for spec in (inputs_spec, loss_spec):
            if spec:
                _check_function(spec)
        for s in specs:
            module, attr, extra = parse_target(s["target"], cwd)
            jobs.append(Job(
                target=s["target"], module=module, attr=attr,
                kwargs=kwargs if targets else s.get("kwargs", kwargs),
                input_shape=shape or s.get("input-shape") or conf.get("input-shape"),
                batch_size=s.get("batch-size") or bs, extra_path=extra,
                inputs=inputs_spec or s.get("inputs") or conf.get("inputs"),
                loss=loss_spec or s.get("loss") or conf.get("loss"),
                batch_given=bool(batch_size or s.get("batch-size") or conf.get("batch-size"))))
    except UsageError as exc:
        _fail(str(exc))
    thr = threshold or conf.get("threshold") or DEFAULTS["threshold"]
    opts = Options(path=import_path, device=device or conf.get("device") or DEFAULTS["device"],
                   memory_mb=memory_mb or conf.get("memory-mb") or 0, seed=seed,
                   timeout=timeout or conf.get("timeout") or DEFAULTS["timeout"],
                   lsuv=lsuv, lsuv_apply=lsuv_apply, config_path=cfg.path)
    prog = Progress([j.target for j in jobs], enabled=not quiet)
    try:
        results = run(jobs, opts, progress=prog)
    finally:
        prog.done()

    from initlint.probe import join as joinmod
    from initlint.probe import report as rep
    from initlint.probe import verdicts as V

    uni = output_file is not None or rep.unicode_ok()
    texts, objs, codes = [], [], []
    for k, (job, res) in enumerate(zip(jobs, results)):
        if not res.get("ok"):
            para = rep.error_paragraph(res, job.target)
            click.echo(f"initlint probe: error: {para}", err=True)
            if verbose:
                if res.get("traceback"):
                    click.echo(res["traceback"].rstrip(), err=True)
                if res.get("log"):
                    click.echo("--- output of the probe process ---\n" + res["log"].rstrip(),
                               err=True)
            elif res.get("log") and res.get("stage") == "crash":
                click.echo("--- last output of the probe process ---\n" +
                           "\n".join(res["log"].rstrip().splitlines()[-8:]), err=True)
            objs.append(rep.to_json(job.target, res, [], None, thr))
            codes.append(EXIT_ERROR)
            continue
        verdicts = V.compute(res, thr)
        after = (res.get("lsuv") or {}).get("after")
        if after is not None:
            after["verdicts"] = V.compute(after, thr)
        static = None
        if not no_static:
            files = joinmod.source_files(res)
            findings, errors = joinmod.lint_files(files, cfg) if files else ([], [])
            static = {"files": files, "findings": joinmod.join(res, findings),
                      "errors": [[w, r.splitlines()[0] if r else ""] for w, r in errors]}
        if output_format == "json":
            objs.append(rep.to_json(job.target, res, verdicts, static, thr))
        else:
            texts.append(rep.render_text(job.target, res, verdicts, static, thr, uni))
        if plot_path:
            from initlint.probe import plot as plotmod

            dest = rep.plot_name(plot_path, k, len(jobs))
            try:
                plotmod.plot(dest, job.target, res, verdicts, thr)
            except OSError as exc:
                _fail(f"--plot: cannot write {dest}: {exc.strerror or exc}")
            if output_format == "text" and not quiet:
                texts.append(f"plot written to {dest}\n")
        codes.append(EXIT_PROBLEM if verdicts else EXIT_OK)
    if output_format == "json":
        out = json.dumps(objs[0] if len(objs) == 1 else objs, indent=2) + "\n"
    else:
        out = "\n".join(texts)
    if output_file:
        try:
            with open(output_file, "w", encoding="utf-8") as fh:
                fh.write(out)
        except OSError as exc:
            _fail(f"cannot write {output_file}: {exc.strerror or exc}")
    elif out:
        click.echo(out, nl=False)
    sys.exit(max(codes) if codes else EXIT_OK)
